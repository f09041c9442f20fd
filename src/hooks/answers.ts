/**
 * Answers a script makes from plain JS values (`{ columns, rows }`, OK, ERR), and their packets:
 * built with the codec's serializers under the client's negotiated capabilities (EOF packets or
 * CLIENT_DEPRECATE_EOF's OK, MariaDB's metadata byte and extended metadata), numbered from the
 * sequence id the client expects.
 *
 * @module
 */

import {
  BINARY_CHARSET,
  Capability,
  ColumnFlag,
  ColumnType,
  MariaDbCapability,
} from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import { serializeEof, serializeErr, serializeOk } from "../protocol/generic.ts";
import {
  serializeColumnCount,
  serializeColumnDefinition41,
  serializeTextRow,
} from "../protocol/resultset.ts";
import { utf8Encode } from "../protocol/text.ts";
import { PacketWriter } from "../protocol/writer.ts";
import { jsonToColumn } from "../record/columns.ts";
import { typeFromName, typeName } from "../record/values.ts";
import type {
  Answer,
  CellValue,
  ColumnSpec,
  ErrorAnswer,
  OkAnswer,
  ResultSetAnswer,
  RewriteDecision,
} from "./types.ts";

/**
 * A result set from plain values; column types are inferred from the first non-null value of
 * each column (integers `LONGLONG`, other numbers `DOUBLE`, strings `VAR_STRING`, `Date`
 * `DATETIME`, bytes `BLOB`, booleans `TINY`) unless given as `{ name, type }`.
 *
 * @example
 * ```ts
 * import { resultSet } from "./answers.ts";
 * const answer = resultSet({ columns: ["Database"], rows: [["db_1"], ["db_2"]] });
 * console.assert(answer.kind === "result-set" && answer.rows.length === 2);
 * ```
 */
export function resultSet(
  table: { columns: ColumnSpec[]; rows: CellValue[][] },
): ResultSetAnswer {
  return { kind: "result-set", columns: table.columns, rows: table.rows };
}

/**
 * An OK packet answer.
 *
 * @example
 * ```ts
 * import { okAnswer } from "./answers.ts";
 * console.assert(okAnswer({ affectedRows: 1 }).kind === "ok");
 * ```
 */
export function okAnswer(fields: Omit<OkAnswer, "kind"> = {}): OkAnswer {
  return { kind: "ok", ...fields };
}

/**
 * An ERR packet answer (SQLSTATE `HY000` unless given).
 *
 * @example
 * ```ts
 * import { errorAnswer } from "./answers.ts";
 * const err = errorAnswer(1290, "The proxy is read-only", "HY000");
 * console.assert(err.code === 1290);
 * ```
 */
export function errorAnswer(code: number, message: string, sqlState = "HY000"): ErrorAnswer {
  return { kind: "error", code, message, sqlState };
}

/**
 * Sends the command on with other SQL.
 *
 * @example
 * ```ts
 * import { rewrite } from "./answers.ts";
 * console.assert(rewrite("SELECT 1 LIMIT 10").sql.endsWith("LIMIT 10"));
 * ```
 */
export function rewrite(sql: string): RewriteDecision {
  return { kind: "rewrite", sql };
}

/** Whether a hook's return value is an answer the proxy can send (checked, not trusted). */
export function isAnswer(value: unknown): value is Answer {
  if (typeof value !== "object" || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === "result-set" || kind === "ok" || kind === "error";
}

/** Whether a hook's return value asks for a rewrite. */
export function isRewrite(value: unknown): value is RewriteDecision {
  return typeof value === "object" && value !== null &&
    (value as { kind?: unknown }).kind === "rewrite" &&
    typeof (value as { sql?: unknown }).sql === "string";
}

/**
 * The answer to send for `command`: a result set answers COM_QUERY only (other commands' result
 * sets have other shapes), anything else becomes an ERR 1105 saying so.
 */
export function answerFor(answer: Answer, command: { kind: string }): Answer {
  if (answer.kind !== "result-set" || command.kind === "COM_QUERY") return answer;
  return {
    kind: "error",
    code: 1105,
    sqlState: "HY000",
    message: `Proxy script answered ${command.kind} with a result set: only COM_QUERY takes one`,
  };
}

/** Server status flags of made-up answers: autocommit. */
const STATUS_AUTOCOMMIT = 2;

/**
 * The framed packets of an answer, from sequence id `seq` (1 for the answer to a command).
 * Throws a TypeError naming what is wrong when the answer is malformed.
 *
 * @example
 * ```ts
 * import { answerFrames, resultSet } from "./answers.ts";
 * import { DEFAULT_CONTEXT } from "../protocol/context.ts";
 * const bytes = answerFrames(resultSet({ columns: ["n"], rows: [[1]] }), DEFAULT_CONTEXT, 1);
 * console.assert(bytes[3] === 1); // the column count packet is sequence id 1
 * ```
 */
export function answerFrames(answer: Answer, context: CodecContext, seq: number): Uint8Array {
  const writer = new PacketWriter(256);
  let next = seq & 0xff;
  const push = (payload: Uint8Array) => {
    writer.packet(payload, next);
    next = writer.nextSequenceId;
  };
  switch (answer.kind) {
    case "ok":
      push(serializeOk({
        kind: "ok",
        header: 0,
        affectedRows: answer.affectedRows ?? 0,
        lastInsertId: answer.insertId ?? 0,
        statusFlags: STATUS_AUTOCOMMIT,
        warnings: answer.warnings ?? 0,
        ...(answer.info !== undefined ? { info: answer.info } : {}),
      }, context));
      break;
    case "error":
      if (!Number.isInteger(answer.code) || answer.code < 0 || answer.code > 0xffff) {
        throw new TypeError(`Cannot send the error: code ${answer.code} is not 0 to 65535`);
      }
      push(serializeErr({
        kind: "err",
        code: answer.code,
        sqlState: answer.sqlState ?? "HY000",
        message: String(answer.message ?? ""),
      }));
      break;
    case "result-set":
      resultSetPayloads(answer, context).forEach(push);
      break;
    default:
      throw new TypeError(
        `Cannot send the answer: unknown kind ${
          JSON.stringify((answer as { kind: unknown }).kind)
        }`,
      );
  }
  return writer.finish();
}

function resultSetPayloads(answer: ResultSetAnswer, context: CodecContext): Uint8Array[] {
  const { columns, rows } = answer;
  if (!Array.isArray(columns) || columns.length === 0) {
    throw new TypeError("Cannot send the result set: it needs at least one column");
  }
  if (!Array.isArray(rows)) throw new TypeError("Cannot send the result set: rows is not an array");
  rows.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== columns.length) {
      throw new TypeError(
        `Cannot send the result set: row ${i} has ${
          Array.isArray(row) ? row.length : "no"
        } values for ${columns.length} columns`,
      );
    }
  });
  const deprecateEof = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  const extended =
    (context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA) !== 0;
  const payloads = [serializeColumnCount({ kind: "column-count", count: columns.length }, context)];
  columns.forEach((spec, index) => {
    const column = jsonToColumn(
      columnJson(spec, rows.map((row) => row[index])),
      extended,
      `column ${index}`,
    );
    payloads.push(serializeColumnDefinition41(column, context));
  });
  const eof = serializeEof(
    { kind: "eof", warnings: 0, statusFlags: STATUS_AUTOCOMMIT },
    context,
  );
  if (!deprecateEof) payloads.push(eof);
  for (const row of rows) {
    payloads.push(serializeTextRow({ kind: "text-row", values: row.map(textValue) }));
  }
  payloads.push(
    deprecateEof
      ? serializeOk({
        kind: "ok",
        header: 0xfe,
        affectedRows: 0,
        lastInsertId: 0,
        statusFlags: STATUS_AUTOCOMMIT,
        warnings: 0,
      }, context)
      : eof,
  );
  return payloads;
}

const STRING_TYPES = new Set<number>([
  ColumnType.MYSQL_TYPE_VAR_STRING,
  ColumnType.MYSQL_TYPE_STRING,
  ColumnType.MYSQL_TYPE_VARCHAR,
  ColumnType.MYSQL_TYPE_JSON,
  ColumnType.MYSQL_TYPE_ENUM,
  ColumnType.MYSQL_TYPE_SET,
]);

/** utf8mb4_general_ci: what MariaDB sends for text columns to a utf8mb4 client. */
const UTF8MB4 = 45;

function columnJson(spec: ColumnSpec, values: CellValue[]) {
  const name = typeof spec === "string" ? spec : spec?.name;
  if (typeof name !== "string") {
    throw new TypeError("Cannot send the result set: a column has no name");
  }
  const given = typeof spec === "object" && spec.type !== undefined
    ? typeFromName(spec.type.toUpperCase().replace(/^MYSQL_TYPE_/, ""), `column ${name}`)
    : undefined;
  const type = given ?? inferType(values.find((value) => value !== null && value !== undefined));
  const text = STRING_TYPES.has(type);
  const numeric = !text && type !== ColumnType.MYSQL_TYPE_DATETIME && !isBlob(type);
  let flags = text ? 0 : ColumnFlag.BINARY_FLAG;
  if (numeric) flags |= ColumnFlag.NUM_FLAG;
  if (isBlob(type)) flags |= ColumnFlag.BLOB_FLAG;
  const longest = values.reduce<number>(
    (max, value) => Math.max(max, value === null ? 0 : textValue(value)!.length),
    0,
  );
  return {
    name,
    type: typeName(type),
    length: Math.max(text ? longest * 4 : longest, 1),
    charset: text ? UTF8MB4 : BINARY_CHARSET,
    flags,
    decimals: type === ColumnType.MYSQL_TYPE_DOUBLE ? 31 : 0,
  };
}

function isBlob(type: number): boolean {
  return type >= ColumnType.MYSQL_TYPE_TINY_BLOB && type <= ColumnType.MYSQL_TYPE_BLOB;
}

function inferType(value: CellValue | undefined): number {
  if (typeof value === "number") {
    return Number.isInteger(value) ? ColumnType.MYSQL_TYPE_LONGLONG : ColumnType.MYSQL_TYPE_DOUBLE;
  }
  if (typeof value === "bigint") return ColumnType.MYSQL_TYPE_LONGLONG;
  if (typeof value === "boolean") return ColumnType.MYSQL_TYPE_TINY;
  if (value instanceof Date) return ColumnType.MYSQL_TYPE_DATETIME;
  if (value instanceof Uint8Array) return ColumnType.MYSQL_TYPE_BLOB;
  return ColumnType.MYSQL_TYPE_VAR_STRING;
}

/** A value as the text protocol sends it; dates in UTC as `YYYY-MM-DD HH:MM:SS`. */
function textValue(value: CellValue): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return value;
  if (value instanceof Date) return utf8Encode(value.toISOString().slice(0, 19).replace("T", " "));
  if (typeof value === "boolean") return utf8Encode(value ? "1" : "0");
  return utf8Encode(String(value));
}
