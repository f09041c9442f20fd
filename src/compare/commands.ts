/**
 * Recorded commands turned back into the codec commands a client sends: the inverse of the
 * fields the recorder writes (src/record/assemble.ts), with the live connection's statement ids
 * in place of the recorded ones (recordings name statements by their SQL).
 *
 * @module
 */

import type { ClientCommand } from "../protocol/commands.ts";
import type { BinaryParameter, ComStmtExecute, ParameterType } from "../protocol/statement.ts";
import { ColumnType } from "../protocol/constants.ts";
import type { CommandEvent, ResponseElement } from "../record/events.ts";
import { jsonToBinaryValue, jsonToBytes, jsonToMessage, typeFromName } from "../record/values.ts";
import { utf8Decode } from "../protocol/text.ts";

/** What to do with a recorded command. */
export type Planned =
  /** Send this codec command. */
  | { kind: "send"; command: ClientCommand }
  /** COM_CHANGE_USER: log in again (with the verifying credentials) to this schema. */
  | { kind: "change-user"; schema?: string }
  /** Do not send it, for this reason. */
  | { kind: "skip"; reason: string };

/** An id no server gives a statement: an execute of a statement that failed to prepare live. */
const UNPREPARED = 0;

/**
 * A live connection's prepared statements by their SQL (recordings name statements by their
 * text, never by the server's id), with the parameter types each was last bound with.
 *
 * @example
 * ```ts
 * import { LiveStatements } from "./commands.ts";
 * const statements = new LiveStatements();
 * statements.prepared("SELECT ?", 7);
 * console.assert(statements.idOf("SELECT ?") === 7);
 * ```
 */
export class LiveStatements {
  #ids = new Map<string, number[]>();
  #byRecordedId = new Map<number, number>();
  #types = new Map<string, ParameterType[]>();

  /** A statement was prepared live with `id` (`recordedId`: the id the recording shows). */
  prepared(sql: string, id: number, recordedId?: number): void {
    const list = this.#ids.get(sql) ?? [];
    list.push(id);
    this.#ids.set(sql, list);
    if (recordedId !== undefined) this.#byRecordedId.set(recordedId, id);
  }

  /** The live id of the statement the recording knew as `recordedId`. */
  liveId(recordedId: number): number | undefined {
    return this.#byRecordedId.get(recordedId);
  }

  /** The live id of the statement last prepared with `sql`, if any. */
  idOf(sql: string): number | undefined {
    return this.#ids.get(sql)?.at(-1);
  }

  /** The statement last prepared with `sql` was closed. */
  closed(sql: string): void {
    this.#ids.get(sql)?.pop();
  }

  /** Every statement is gone (COM_CHANGE_USER, COM_RESET_CONNECTION). */
  reset(): void {
    this.#ids.clear();
    this.#byRecordedId.clear();
  }

  /** The types an execute of `sql` last bound. */
  types(sql: string): ParameterType[] | undefined {
    return this.#types.get(sql);
  }

  /** Remembers the types an execute of `sql` bound. */
  bind(sql: string, types: ParameterType[]): void {
    this.#types.set(sql, types);
  }
}

/** A recorded text field (SQL, schema, table) as the codec's text and bytes. */
function text(value: unknown, where: string): { text: string; bytes?: Uint8Array } {
  if (typeof value === "string") return { text: value };
  const bytes = jsonToBytes(value, where);
  return { text: utf8Decode(bytes), bytes };
}

/** The key a statement's SQL is known by: its recorded form. */
export function statementKey(sql: unknown): string {
  return typeof sql === "string" ? sql : JSON.stringify(sql);
}

function parameterType(name: string): ParameterType {
  const [type, ...marks] = name.split("!");
  const parameter: ParameterType = {
    type: typeFromName(type, "parameter type"),
    unsigned: marks.includes("u"),
  };
  const flags = marks.find((m) => m.startsWith("flags="));
  if (flags) parameter.flags = Number(flags.slice(6));
  return parameter;
}

/** A type for a value whose execute bound no types and whose statement has none remembered. */
function inferredType(value: unknown): ParameterType {
  if (value === null) return { type: ColumnType.MYSQL_TYPE_NULL, unsigned: false };
  if (typeof value === "number") {
    return Number.isInteger(value)
      ? { type: ColumnType.MYSQL_TYPE_LONGLONG, unsigned: false }
      : { type: ColumnType.MYSQL_TYPE_DOUBLE, unsigned: false };
  }
  return { type: ColumnType.MYSQL_TYPE_VAR_STRING, unsigned: false };
}

/** Commands that are their command byte only, by recorded name. */
const SIMPLE: Record<string, ClientCommand["kind"]> = {
  ping: "COM_PING",
  statistics: "COM_STATISTICS",
  "process-info": "COM_PROCESS_INFO",
  debug: "COM_DEBUG",
  "reset-connection": "COM_RESET_CONNECTION",
  time: "COM_TIME",
  quit: "COM_QUIT",
};

/** Options of {@link planCommand}. */
export interface PlanContext {
  statements: LiveStatements;
  /** The live id of a recorded server connection id (for COM_PROCESS_KILL), if known. */
  liveConnectionId(recorded: number): number | undefined;
}

/**
 * What to send for a recorded command line. Never throws: a command that cannot be rebuilt is
 * skipped with the reason.
 *
 * @example
 * ```ts
 * import { LiveStatements, planCommand } from "./commands.ts";
 * const plan = planCommand(
 *   { type: "command", conn: 1, t: 0, cmd: "query", sql: "SELECT 1" },
 *   { statements: new LiveStatements(), liveConnectionId: () => undefined },
 * );
 * console.assert(plan.kind === "send" && plan.command.kind === "COM_QUERY");
 * ```
 */
export function planCommand(event: CommandEvent, context: PlanContext): Planned {
  try {
    return plan(event, context);
  } catch (error) {
    return { kind: "skip", reason: `cannot rebuild the command: ${(error as Error).message}` };
  }
}

function plan(event: CommandEvent, context: PlanContext): Planned {
  const { statements } = context;
  const where = `${event.cmd} command`;
  const statementId = () => statements.idOf(statementKey(event.sql)) ?? UNPREPARED;
  const simple = SIMPLE[event.cmd];
  if (simple) return { kind: "send", command: { kind: simple } as ClientCommand };
  switch (event.cmd) {
    case "query": {
      const sql = text(event.sql, where);
      return { kind: "send", command: { kind: "COM_QUERY", sql: sql.text, sqlBytes: sql.bytes } };
    }
    case "stmt-prepare": {
      const sql = text(event.sql, where);
      return {
        kind: "send",
        command: { kind: "COM_STMT_PREPARE", sql: sql.text, sqlBytes: sql.bytes },
      };
    }
    case "stmt-execute":
      return { kind: "send", command: execute(event, statementId(), statements) };
    case "stmt-fetch":
      return {
        kind: "send",
        command: {
          kind: "COM_STMT_FETCH",
          statementId: statementId(),
          rowCount: Number(event.count),
        },
      };
    case "stmt-close": {
      const id = statementId();
      statements.closed(statementKey(event.sql));
      return { kind: "send", command: { kind: "COM_STMT_CLOSE", statementId: id } };
    }
    case "stmt-reset":
      return { kind: "send", command: { kind: "COM_STMT_RESET", statementId: statementId() } };
    case "stmt-send-long-data":
      return {
        kind: "send",
        command: {
          kind: "COM_STMT_SEND_LONG_DATA",
          statementId: statementId(),
          parameterId: Number(event.param),
          data: jsonToBytes(event.data, where),
        },
      };
    case "init-db":
    case "create-db":
    case "drop-db": {
      const schema = text(event.schema, where);
      const kind = event.cmd === "init-db"
        ? "COM_INIT_DB"
        : event.cmd === "create-db"
        ? "COM_CREATE_DB"
        : "COM_DROP_DB";
      return { kind: "send", command: { kind, schema: schema.text, schemaBytes: schema.bytes } };
    }
    case "field-list": {
      const table = text(event.table, where);
      const wildcard = text(event.wildcard ?? "", where);
      return {
        kind: "send",
        command: {
          kind: "COM_FIELD_LIST",
          table: table.text,
          tableBytes: table.bytes,
          wildcard: wildcard.text,
          wildcardBytes: wildcard.bytes,
        },
      };
    }
    case "set-option":
      return { kind: "send", command: { kind: "COM_SET_OPTION", option: Number(event.option) } };
    case "refresh":
      return { kind: "send", command: { kind: "COM_REFRESH", flags: Number(event.flags) } };
    case "process-kill": {
      const live = context.liveConnectionId(Number(event.id));
      if (live === undefined) {
        return {
          kind: "skip",
          reason: `it kills server connection ${event.id}, which no driven connection stands for`,
        };
      }
      return { kind: "send", command: { kind: "COM_PROCESS_KILL", connectionId: live } };
    }
    case "change-user":
      return {
        kind: "change-user",
        schema: typeof event.schema === "string" && event.schema !== "" ? event.schema : undefined,
      };
    case "stmt-bulk-execute": {
      // MariaDB's bulk execute: an opaque body that starts with the statement id.
      const body = jsonToBytes(event.body, where).slice();
      if (body.length < 4) return { kind: "skip", reason: "its body is too short" };
      const view = new DataView(body.buffer, body.byteOffset, body.length);
      const recordedId = view.getUint32(0, true);
      if (recordedId !== 0xffffffff) {
        view.setUint32(0, statements.liveId(recordedId) ?? UNPREPARED, true);
      }
      return { kind: "send", command: { kind: "COM_STMT_BULK_EXECUTE", body } };
    }
    case "shutdown":
      return { kind: "skip", reason: "COM_SHUTDOWN is never sent to a live server" };
    default:
      return { kind: "skip", reason: `${event.cmd} commands are not replayed` };
  }
}

function execute(
  event: CommandEvent,
  statementId: number,
  statements: LiveStatements,
): ComStmtExecute {
  const key = statementKey(event.sql);
  if (event.packet !== undefined && !Array.isArray(event.params)) {
    // An execute the recorder could not decode (pipelined): its bytes as they were.
    const recorded = jsonToMessage(event.packet) as ComStmtExecute;
    return { ...recorded, statementId };
  }
  const values = Array.isArray(event.params) ? event.params as unknown[] : [];
  const longData = new Set(Array.isArray(event.longData) ? event.longData as number[] : []);
  let types: ParameterType[] | undefined;
  if (Array.isArray(event.types)) {
    types = (event.types as string[]).map(parameterType);
    statements.bind(key, types);
  } else types = statements.types(key);
  const params: BinaryParameter[] = values.map((value, i) => {
    const type = types?.[i] ?? inferredType(value);
    const bound = {
      type: type.type,
      unsigned: type.unsigned,
      ...(type.flags === undefined ? {} : { flags: type.flags }),
    };
    if (longData.has(i)) return { ...bound, longData: true as const };
    return { ...bound, value: jsonToBinaryValue(value, type.type, `parameter ${i + 1}`) };
  });
  const command: ComStmtExecute = {
    kind: "COM_STMT_EXECUTE",
    statementId,
    flags: typeof event.flags === "number" ? event.flags : 0,
    iterationCount: 1,
    params,
  };
  // Types are always sent: the live statement may not have had this execute's predecessor.
  if (params.length > 0) command.newParamsBound = true;
  return command;
}

/**
 * The content of the file a recorded LOCAL INFILE request was answered with (`null`: an empty
 * file or a refusal), or `undefined` when the response asked for none.
 *
 * @example
 * ```ts
 * import { recordedInfile } from "./commands.ts";
 * console.assert(recordedInfile([{ infile: { filename: "f", data: "1\n" } }])?.length === 2);
 * ```
 */
export function recordedInfile(
  elements: readonly ResponseElement[],
): Uint8Array | null | undefined {
  for (const element of elements) {
    if ("infile" in element) {
      const data = element.infile.data;
      return data === null ? null : jsonToBytes(data, "infile data");
    }
  }
  return undefined;
}
