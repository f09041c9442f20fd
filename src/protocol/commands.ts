/**
 * The packets a client sends in the command phase: one union over every COM_* command, told
 * apart by the first byte (in the command phase nothing else can arrive from the client, except
 * the continuation of LOAD DATA LOCAL INFILE, which the session must recognise by state).
 *
 * Text the client wrote (SQL, schema and table names) is a `string` when it is valid UTF-8; when
 * it is not (a latin1 client sending 'é' as 0xe9), the raw bytes are kept beside it in a `*Bytes`
 * field, which serialization prefers, so every packet encodes back to the same bytes. Optional
 * fields keep their presence, and bytes after the last field are kept as `trailing`.
 * Parsed commands may share memory with the payload they came from.
 *
 * COM_CHANGE_USER is decoded by `change_user.ts` (its layout is the handshake response's);
 * replication commands and MariaDB's COM_MULTI and COM_STMT_BULK_EXECUTE stay an opaque body.
 *
 * @module
 */

import { Capability, Command, commandName } from "./constants.ts";
import { type CodecContext, hasCapability } from "./context.ts";
import { ProtocolError } from "./errors.ts";
import { PacketReader } from "./reader.ts";
import { readMinimalLenenc } from "./binary.ts";
import {
  type BinaryParameter,
  type ComStmtExecute,
  parseStmtExecute,
  readParameterBlock,
  serializeStmtExecute,
  type StatementInfo,
  writeParameterBlock,
} from "./statement.ts";
import { type ComChangeUser, parseComChangeUser, serializeComChangeUser } from "./change_user.ts";
import { redactSqlSecrets } from "./sql_secrets.ts";
import { utf8Decode, utf8Encode, utf8Exact } from "./text.ts";
import { type UnknownPacket, unknownPacket } from "./unknown.ts";
import { PacketWriter } from "./writer.ts";

export type { UnknownPacket } from "./unknown.ts";

/** Commands that are only their command byte. */
export const SIMPLE_COMMANDS = [
  "COM_SLEEP",
  "COM_QUIT",
  "COM_STATISTICS",
  "COM_PROCESS_INFO",
  "COM_CONNECT",
  "COM_DEBUG",
  "COM_PING",
  "COM_TIME",
  "COM_DELAYED_INSERT",
  "COM_DAEMON",
  "COM_RESET_CONNECTION",
] as const;

/** Commands kept as an opaque body: replication, cloning, MariaDB's batching. */
export const OPAQUE_COMMANDS = [
  "COM_BINLOG_DUMP",
  "COM_TABLE_DUMP",
  "COM_CONNECT_OUT",
  "COM_REGISTER_SLAVE",
  "COM_BINLOG_DUMP_GTID",
  "COM_CLONE",
  "COM_SUBSCRIBE_GROUP_REPLICATION_STREAM",
  "COM_MULTI",
  "COM_STMT_BULK_EXECUTE",
] as const;

/** A command that is only its command byte (COM_QUIT, COM_PING, ...). */
export interface SimpleCommand {
  /** Which packet this is. */
  kind: typeof SIMPLE_COMMANDS[number];
  /** Bytes after the command byte, if a client sent any. */
  trailing?: Uint8Array;
}

/** A command this codec does not decode further: its body is everything after the command byte. */
export interface OpaqueCommand {
  /** Which packet this is. */
  kind: typeof OPAQUE_COMMANDS[number];
  /** Everything after the command byte. */
  body: Uint8Array;
}

/** COM_INIT_DB, COM_CREATE_DB, COM_DROP_DB: a schema name (string<EOF>). */
export interface SchemaCommand {
  /** Which packet this is. */
  kind: "COM_INIT_DB" | "COM_CREATE_DB" | "COM_DROP_DB";
  /** The schema name. */
  schema: string;
  /** The name's bytes, kept only when they are not valid UTF-8. */
  schemaBytes?: Uint8Array;
}

/** Query attributes of COM_QUERY (MySQL 8 with CLIENT_QUERY_ATTRIBUTES). */
export interface QueryAttributes {
  /** parameter_set_count: always 1. */
  parameterSetCount: number;
  /** The attributes, each with its name (parameter_count is their number). */
  params: BinaryParameter[];
  /** The NULL bitmap as sent, kept only when it differs from what `params` imply. */
  nullBitmap?: Uint8Array;
}

/** COM_QUERY: SQL text, with query attributes before it under CLIENT_QUERY_ATTRIBUTES. */
export interface ComQuery {
  /** Which packet this is. */
  kind: "COM_QUERY";
  /** The SQL text (a lossy rendering when `sqlBytes` is set). */
  sql: string;
  /** The SQL's bytes, kept only when they are not valid UTF-8 (`sql` is then a lossy rendering). */
  sqlBytes?: Uint8Array;
  /** Present exactly when CLIENT_QUERY_ATTRIBUTES was negotiated. */
  attributes?: QueryAttributes;
}

/** COM_STMT_PREPARE: SQL text with `?` placeholders. */
export interface ComStmtPrepare {
  /** Which packet this is. */
  kind: "COM_STMT_PREPARE";
  /** The SQL text (a lossy rendering when `sqlBytes` is set). */
  sql: string;
  /** The SQL's bytes, kept only when they are not valid UTF-8. */
  sqlBytes?: Uint8Array;
}

/** COM_FIELD_LIST: a table name (string<NUL>) and a LIKE wildcard (string<EOF>, may be empty). */
export interface ComFieldList {
  /** Which packet this is. */
  kind: "COM_FIELD_LIST";
  /** The table whose columns to list. */
  table: string;
  /** The table name's bytes, kept only when they are not valid UTF-8. */
  tableBytes?: Uint8Array;
  /** A LIKE pattern for the column names; `""` for all. */
  wildcard: string;
  /** The wildcard's bytes, kept only when they are not valid UTF-8. */
  wildcardBytes?: Uint8Array;
}

/** COM_PROCESS_KILL: kills a connection (int<4>). */
export interface ComProcessKill {
  /** Which packet this is. */
  kind: "COM_PROCESS_KILL";
  /** The connection (thread) id to kill. */
  connectionId: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** COM_SET_OPTION: `SetOption` value (int<2>), e.g. multi-statements on (0) or off (1). */
export interface ComSetOption {
  /** Which packet this is. */
  kind: "COM_SET_OPTION";
  /** 0 turns multi-statements on, 1 turns them off. */
  option: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** COM_REFRESH: REFRESH_* flags (int<1>). */
export interface ComRefresh {
  /** Which packet this is. */
  kind: "COM_REFRESH";
  /** REFRESH_* flags: what to flush. */
  flags: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** COM_SHUTDOWN: an optional shutdown level byte (old clients send none). */
export interface ComShutdown {
  /** Which packet this is. */
  kind: "COM_SHUTDOWN";
  /** The level byte, absent when the packet has none. */
  level?: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** COM_STMT_FETCH: fetches `rowCount` rows from a statement's cursor. */
export interface ComStmtFetch {
  /** Which packet this is. */
  kind: "COM_STMT_FETCH";
  /** The statement's id, from its COM_STMT_PREPARE_OK. */
  statementId: number;
  /** How many rows to fetch. */
  rowCount: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** COM_STMT_CLOSE (no response) and COM_STMT_RESET. */
export interface StatementIdCommand {
  /** Which packet this is. */
  kind: "COM_STMT_CLOSE" | "COM_STMT_RESET";
  /** The statement's id, from its COM_STMT_PREPARE_OK. */
  statementId: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** COM_STMT_SEND_LONG_DATA: a chunk of one parameter's value (no response). */
export interface ComStmtSendLongData {
  /** Which packet this is. */
  kind: "COM_STMT_SEND_LONG_DATA";
  /** The statement's id, from its COM_STMT_PREPARE_OK. */
  statementId: number;
  /** 0-based parameter index. */
  parameterId: number;
  /** This chunk of the parameter's value. */
  data: Uint8Array;
}

/** Every packet a client can send in the command phase. */
export type ClientCommand =
  | SimpleCommand
  | OpaqueCommand
  | SchemaCommand
  | ComQuery
  | ComStmtPrepare
  | ComFieldList
  | ComProcessKill
  | ComSetOption
  | ComRefresh
  | ComShutdown
  | ComStmtFetch
  | StatementIdCommand
  | ComStmtSendLongData
  | ComStmtExecute
  | ComChangeUser
  | UnknownPacket;

/**
 * Where the session keeps its prepared statements; a `Map<number, StatementInfo>` fits. For
 * MariaDB's statement id 0xffffffff it should answer with the statement prepared last.
 */
export interface StatementLookup {
  get(statementId: number): StatementInfo | undefined;
}

const commandKinds = new Map<number, string>(
  Object.entries(Command).map(([name, code]) => [code, name]),
);
const simpleKinds = new Set<string>(SIMPLE_COMMANDS);
const opaqueKinds = new Set<string>(OPAQUE_COMMANDS);

function isSimple(kind: string): kind is SimpleCommand["kind"] {
  return simpleKinds.has(kind);
}

function isOpaque(kind: string): kind is OpaqueCommand["kind"] {
  return opaqueKinds.has(kind);
}

/** Text that must round-trip: the string, plus the bytes when they are not UTF-8. */
function exactText(bytes: Uint8Array): { text: string; bytes?: Uint8Array } {
  const text = utf8Exact(bytes);
  return text === undefined ? { text: utf8Decode(bytes), bytes } : { text };
}

function withTrailing<T extends { trailing?: Uint8Array }>(message: T, reader: PacketReader): T {
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

function parseQuery(reader: PacketReader, context: CodecContext): ComQuery {
  let attributes: QueryAttributes | undefined;
  if (hasCapability(context, Capability.CLIENT_QUERY_ATTRIBUTES)) {
    const count = readMinimalLenenc(reader, "parameter_count");
    const parameterSetCount = readMinimalLenenc(reader, "parameter_set_count");
    attributes = { parameterSetCount, params: [] };
    if (count > 0) {
      const block = readParameterBlock(reader, count, true);
      // The SQL follows the values, so values that cannot be delimited cannot be skipped.
      if (!block.newParamsBound) reader.fail(`query attributes without their types`);
      attributes.params = block.params;
      if (block.nullBitmap !== undefined) attributes.nullBitmap = block.nullBitmap;
    }
  }
  const { text, bytes } = exactText(reader.restBytes());
  const query: ComQuery = { kind: "COM_QUERY", sql: text };
  if (bytes) query.sqlBytes = bytes;
  if (attributes) query.attributes = attributes;
  return query;
}

/**
 * Decodes a command-phase packet from the client. `context` gives the negotiated capabilities
 * (COM_QUERY and COM_STMT_EXECUTE change layout with CLIENT_QUERY_ATTRIBUTES); `statements`
 * lets COM_STMT_EXECUTE decode its parameters (see `parseStmtExecute`). An unknown command byte
 * gives `{ kind: "unknown" }` with the whole payload; a known command whose fields are cut short
 * throws {@link ProtocolError}.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./commands.ts";
 * import { DEFAULT_CONTEXT } from "./context.ts";
 * const command = parseCommand(new Uint8Array([0x03, 0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x31]), DEFAULT_CONTEXT);
 * console.assert(command.kind === "COM_QUERY" && command.sql === "SELECT 1");
 * ```
 */
export function parseCommand(
  payload: Uint8Array,
  context: CodecContext,
  statements?: StatementLookup,
): ClientCommand {
  if (payload.length === 0) {
    throw new ProtocolError("Cannot parse command: the packet is empty");
  }
  const code = payload[0];
  const kind = commandKinds.get(code);
  if (kind === undefined) {
    return unknownPacket(payload, `unknown command byte 0x${code.toString(16).padStart(2, "0")}`);
  }
  if (code === Command.COM_STMT_EXECUTE) {
    const statementId = payload.length >= 5
      ? new DataView(payload.buffer, payload.byteOffset + 1, 4).getUint32(0, true)
      : 0;
    return parseStmtExecute(payload, context, statements?.get(statementId));
  }
  if (code === Command.COM_CHANGE_USER) return parseComChangeUser(payload, context);
  const reader = new PacketReader(payload, kind);
  reader.skip(1);
  if (isSimple(kind)) return withTrailing<SimpleCommand>({ kind }, reader);
  if (isOpaque(kind)) return { kind, body: reader.restBytes() };
  switch (kind) {
    case "COM_QUERY":
      return parseQuery(reader, context);
    case "COM_INIT_DB":
    case "COM_CREATE_DB":
    case "COM_DROP_DB": {
      const { text, bytes } = exactText(reader.restBytes());
      const message: SchemaCommand = { kind, schema: text };
      if (bytes) message.schemaBytes = bytes;
      return message;
    }
    case "COM_STMT_PREPARE": {
      const { text, bytes } = exactText(reader.restBytes());
      const message: ComStmtPrepare = { kind, sql: text };
      if (bytes) message.sqlBytes = bytes;
      return message;
    }
    case "COM_FIELD_LIST": {
      const table = exactText(reader.nulBytes());
      const wildcard = exactText(reader.restBytes());
      const message: ComFieldList = { kind, table: table.text, wildcard: wildcard.text };
      if (table.bytes) message.tableBytes = table.bytes;
      if (wildcard.bytes) message.wildcardBytes = wildcard.bytes;
      return message;
    }
    case "COM_PROCESS_KILL":
      return withTrailing<ComProcessKill>({ kind, connectionId: reader.u32() }, reader);
    case "COM_SET_OPTION":
      return withTrailing<ComSetOption>({ kind, option: reader.u16() }, reader);
    case "COM_REFRESH":
      return withTrailing<ComRefresh>({ kind, flags: reader.u8() }, reader);
    case "COM_SHUTDOWN": {
      const message: ComShutdown = { kind };
      if (!reader.atEnd) message.level = reader.u8();
      return withTrailing(message, reader);
    }
    case "COM_STMT_FETCH": {
      const statementId = reader.u32();
      return withTrailing<ComStmtFetch>({ kind, statementId, rowCount: reader.u32() }, reader);
    }
    case "COM_STMT_CLOSE":
    case "COM_STMT_RESET":
      return withTrailing<StatementIdCommand>({ kind, statementId: reader.u32() }, reader);
    case "COM_STMT_SEND_LONG_DATA": {
      const statementId = reader.u32();
      const parameterId = reader.u16();
      return { kind, statementId, parameterId, data: reader.restBytes() };
    }
    default:
      // Every name in `Command` is handled above; a new one must be added here.
      return unknownPacket(payload, `${kind} is not decoded`);
  }
}

function writeText(writer: PacketWriter, text: string, bytes: Uint8Array | undefined): void {
  writer.bytes(bytes ?? utf8Encode(text));
}

function writeQuery(writer: PacketWriter, query: ComQuery, context: CodecContext): void {
  if (hasCapability(context, Capability.CLIENT_QUERY_ATTRIBUTES)) {
    const attributes = query.attributes ?? { parameterSetCount: 1, params: [] };
    writer.lenencInt(attributes.params.length).lenencInt(attributes.parameterSetCount);
    if (attributes.params.length > 0) {
      const block = { newParamsBound: true, params: attributes.params };
      writeParameterBlock(
        writer,
        attributes.nullBitmap ? { ...block, nullBitmap: attributes.nullBitmap } : block,
        true,
      );
    }
  } else if (query.attributes !== undefined && query.attributes.params.length > 0) {
    throw new RangeError(
      "Cannot serialize COM_QUERY: query attributes need CLIENT_QUERY_ATTRIBUTES",
    );
  }
  writeText(writer, query.sql, query.sqlBytes);
}

/**
 * Encodes a command-phase packet: the inverse of {@link parseCommand}. `context` decides the
 * layout of COM_QUERY and COM_STMT_EXECUTE under CLIENT_QUERY_ATTRIBUTES.
 *
 * @example
 * ```ts
 * import { serializeCommand } from "./commands.ts";
 * import { DEFAULT_CONTEXT } from "./context.ts";
 * const payload = serializeCommand({ kind: "COM_STMT_CLOSE", statementId: 4 }, DEFAULT_CONTEXT);
 * console.assert(payload.join() === "25,4,0,0,0");
 * ```
 */
export function serializeCommand(command: ClientCommand, context: CodecContext): Uint8Array {
  if (command.kind === "unknown") return command.bytes.slice();
  if (command.kind === "COM_STMT_EXECUTE") return serializeStmtExecute(command, context);
  if (command.kind === "COM_CHANGE_USER") return serializeComChangeUser(command, context);
  const code = Command[command.kind];
  const writer = new PacketWriter(32);
  writer.u8(code);
  switch (command.kind) {
    case "COM_QUERY":
      writeQuery(writer, command, context);
      break;
    case "COM_INIT_DB":
    case "COM_CREATE_DB":
    case "COM_DROP_DB":
      writeText(writer, command.schema, command.schemaBytes);
      break;
    case "COM_STMT_PREPARE":
      writeText(writer, command.sql, command.sqlBytes);
      break;
    case "COM_FIELD_LIST":
      writeText(writer, command.table, command.tableBytes);
      writer.u8(0);
      writeText(writer, command.wildcard, command.wildcardBytes);
      break;
    case "COM_PROCESS_KILL":
      writer.u32(command.connectionId);
      break;
    case "COM_SET_OPTION":
      writer.u16(command.option);
      break;
    case "COM_REFRESH":
      writer.u8(command.flags);
      break;
    case "COM_SHUTDOWN":
      if (command.level !== undefined) writer.u8(command.level);
      break;
    case "COM_STMT_FETCH":
      writer.u32(command.statementId).u32(command.rowCount);
      break;
    case "COM_STMT_CLOSE":
    case "COM_STMT_RESET":
      writer.u32(command.statementId);
      break;
    case "COM_STMT_SEND_LONG_DATA":
      writer.u32(command.statementId).u16(command.parameterId).bytes(command.data);
      break;
    default:
      if ("body" in command) writer.bytes(command.body);
  }
  if ("trailing" in command && command.trailing) writer.bytes(command.trailing);
  return writer.finish();
}

const SUMMARY_LENGTH = 120;
/**
 * SQL for a trace line: whitespace collapsed, passwords in known places replaced by `'***'`,
 * truncated to about `max` characters.
 */
function summarizeSql(sql: string, max: number): string {
  const text = redactSqlSecrets(sql.replace(/\s+/g, " ").trim());
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/**
 * A one-line description of a command for traces: the command name and its main field, SQL
 * truncated to about 120 characters, passwords in SQL masked, and no parameter values or data.
 *
 * @example
 * ```ts
 * import { summarizeCommand } from "./commands.ts";
 * console.assert(summarizeCommand({ kind: "COM_QUERY", sql: "SELECT 1" }) === "COM_QUERY SELECT 1");
 * console.assert(summarizeCommand({
 *   kind: "COM_QUERY",
 *   sql: "CREATE USER a IDENTIFIED BY 'hunter2'",
 * }) === "COM_QUERY CREATE USER a IDENTIFIED BY '***'");
 * ```
 */
export function summarizeCommand(command: ClientCommand): string {
  const name = command.kind;
  const budget = SUMMARY_LENGTH - name.length - 1;
  switch (command.kind) {
    case "COM_QUERY": {
      const attributes = command.attributes?.params.length ?? 0;
      const suffix = attributes > 0 ? ` (${plural(attributes, "attribute")})` : "";
      return `${name} ${summarizeSql(command.sql, budget - suffix.length)}${suffix}`;
    }
    case "COM_STMT_PREPARE":
      return `${name} ${summarizeSql(command.sql, budget)}`;
    case "COM_INIT_DB":
    case "COM_CREATE_DB":
    case "COM_DROP_DB":
      return `${name} ${command.schema}`;
    case "COM_FIELD_LIST":
      return command.wildcard === ""
        ? `${name} ${command.table}`
        : `${name} ${command.table} ${command.wildcard}`;
    case "COM_PROCESS_KILL":
      return `${name} ${command.connectionId}`;
    case "COM_SET_OPTION":
      return `${name} ${
        command.option === 0
          ? "MULTI_STATEMENTS_ON"
          : command.option === 1
          ? "MULTI_STATEMENTS_OFF"
          : command.option
      }`;
    case "COM_REFRESH":
      return `${name} 0x${command.flags.toString(16).padStart(2, "0")}`;
    case "COM_SHUTDOWN":
      return command.level === undefined ? name : `${name} level ${command.level}`;
    case "COM_STMT_EXECUTE": {
      const id = command.statementId === 0xffffffff ? "-1 (last prepared)" : command.statementId;
      const count = command.undecoded !== undefined && command.params.length === 0
        ? "params not decoded"
        : plural(command.params.length, "param");
      return `${name} stmt ${id} (${count})`;
    }
    case "COM_STMT_FETCH":
      return `${name} stmt ${command.statementId} (${plural(command.rowCount, "row")})`;
    case "COM_STMT_CLOSE":
    case "COM_STMT_RESET":
      return `${name} stmt ${command.statementId}`;
    case "COM_STMT_SEND_LONG_DATA":
      return `${name} stmt ${command.statementId} param ${command.parameterId} (${
        plural(command.data.length, "byte")
      })`;
    case "COM_CHANGE_USER":
      // Never the auth response: it is a password hash, or with clear-text plugins the password.
      return `${name} user=${JSON.stringify(command.username)}${
        command.schema ? ` db=${JSON.stringify(command.schema)}` : ""
      }${command.authPluginName ? ` plugin=${command.authPluginName}` : ""}`;
    case "unknown":
      return `unknown command ${commandName(command.bytes[0] ?? 0)} (${
        plural(command.bytes.length, "byte")
      })`;
    default:
      return "body" in command ? `${name} (${plural(command.body.length, "byte")})` : name;
  }
}
