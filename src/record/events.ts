/**
 * The events of a recording (docs/recording-format.md), as TypeScript types.
 *
 * @module
 */

import type { JsonBytes, JsonValue } from "./values.ts";

/** The format name in every header. */
export const FORMAT_NAME = "mysql-proxy-recording";
/** The format version this code writes and reads. */
export const FORMAT_VERSION = 1;

/** The upstream server, as the first greeting described it. */
export interface ServerInfo {
  /** `HOST:PORT` (or `unix:/PATH`) the recorder forwarded to. */
  address: string;
  /** The server version string of the greeting. */
  version: string | null;
  /** The 32 capability bits the greeting offered, as clients saw them. */
  capabilities: number | null;
  /** MariaDB's extended capabilities of the greeting. */
  mariadbCapabilities: number | null;
  /** The greeting's character set (collation id). */
  characterSet: number | null;
  /** The greeting's status flags. */
  statusFlags: number | null;
  /** The auth plugin the greeting offered. */
  authPlugin: string | null;
}

/** What was redacted before writing. */
export interface RedactionInfo {
  /** Auth data of logins, auth switches and COM_CHANGE_USER. */
  auth: boolean;
  /** Passwords in SQL text. */
  sqlPasswords: boolean;
  /** The `--redact` rules, as given. */
  rules: string[];
  /**
   * With rules: whether pseudonyms were keyed with a key the user gave (`given`: the same key
   * gives the same pseudonyms in other recordings) or a random one (`random`). The key itself is
   * never written.
   */
  key?: "given" | "random";
}

/** Line 1. */
export interface HeaderEvent {
  /** Always `header`. */
  type: "header";
  /** Always `mysql-proxy-recording`. */
  format: typeof FORMAT_NAME;
  /** The format version (1). */
  version: number;
  /** When recording started (ISO 8601); every `t` counts from here. */
  created: string;
  /** The program that wrote it (`mysql-proxy 0.1.0`). */
  tool: string;
  /** The upstream server. */
  server: ServerInfo;
  /** What was removed before writing. */
  redaction: RedactionInfo;
}

/** Fields every event but the header has. */
export interface ConnectionEventBase {
  /** The connection, numbered from 1 in the order clients connected. */
  conn: number;
  /** Microseconds since the header's `created`. */
  t: number;
}

/** A client connected. */
export interface OpenEvent extends ConnectionEventBase {
  /** Always `open`. */
  type: "open";
  /** The client's address (`127.0.0.1:54012`). */
  client: string;
}

/** The connection ended. */
export interface CloseEvent extends ConnectionEventBase {
  /** Always `close`. */
  type: "close";
  /** Why it ended (`closed`, `closed by proxy`, an error). */
  reason: string;
  /** Bytes relayed from the client and from the server. */
  bytes: { client: number; server: number };
}

/** The server's greeting (a HandshakeV10 as the codec decodes it, bytes as base64). */
export interface GreetingEvent extends ConnectionEventBase {
  /** Always `greeting`. */
  type: "greeting";
  /** The decoded HandshakeV10. */
  packet: Record<string, unknown>;
}

/** One packet of the authentication exchange. */
export interface AuthEvent extends ConnectionEventBase {
  /** Always `auth`. */
  type: "auth";
  /** Who sent the packet. */
  from: "client" | "server";
  /** The decoded packet, auth data redacted. */
  packet: Record<string, unknown>;
  /**
   * On the server's OK that ends a login which negotiated the compressed protocol: `zlib`. The
   * bytes after it travelled in compressed frames; the recording holds the packets they carried.
   */
  compression?: "zlib";
}

/** Decoding stopped for the rest of the connection (TLS, compression). */
export interface OpaqueEvent extends ConnectionEventBase {
  /** Always `opaque`. */
  type: "opaque";
  /** Why decoding stopped. */
  reason: string;
}

/** One column of a column set (ColumnDefinition41, compactly). */
export interface ColumnJson {
  /** The column's name (or alias). */
  name: string;
  /** The table's alias. */
  table?: string;
  /** The table's real name. */
  orgTable?: string;
  /** The column's real name. */
  orgName?: string;
  /** The column's database. */
  schema?: string;
  /** The catalog, when not `def`. */
  catalog?: string;
  /** The `MYSQL_TYPE_*` name without its prefix (`LONG`, `VAR_STRING`). */
  type: string;
  /** Maximum length of the column's values. */
  length: number;
  /** Character set and collation id (63 is binary). */
  charset: number;
  /** Column flags. */
  flags: number;
  /** Decimal digits, when not 0. */
  decimals?: number;
  /** MariaDB's extended metadata: the data type's name (`uuid`, `inet6`). */
  dataType?: string;
  /** MariaDB's extended metadata: the format's name (`json`). */
  format?: string;
  /** COM_FIELD_LIST only: the default value, `null` for none. */
  default?: JsonBytes | null;
  /** Anything else the codec keeps for an exact round trip (raw names, filler, ...). */
  exact?: Record<string, unknown>;
}

/** A set of column definitions, referred to by id. */
export interface ColumnsEvent {
  /** Always `columns`. */
  type: "columns";
  /** The set's id, unique within the file. */
  id: number;
  /** The definitions, in order. */
  columns: ColumnJson[];
}

/** A place that holds a compact form, or the codec's whole packet when that form would not do. */
export type Slot<T> = T | { packet: Record<string, unknown> };

/** End of a result set (EOF, or OK with CLIENT_DEPRECATE_EOF), defaults omitted. */
export interface EndJson {
  /** Server status flags, when not 2 (autocommit). */
  status?: number;
  /** Warning count, when not 0. */
  warnings?: number;
  /** Affected rows, when not 0 (a string above 2^53). */
  affected?: number | string;
  /** Last insert id, when not 0 (a string above 2^53). */
  insertId?: number | string;
  /** The human-readable info, when sent. */
  info?: JsonBytes;
  /** Session state changes, as the codec decodes them. */
  state?: unknown[];
}

/** An OK packet, defaults omitted. */
export type OkJson = EndJson;

/** An ERR packet. */
export interface ErrorJson {
  /** The error code. */
  code: number;
  /** The SQLSTATE, when the server sent one. */
  sqlState?: string;
  /** The error message. */
  message: JsonBytes;
}

/** A result set. */
export interface ResultSetJson {
  /**
   * The column set; omitted when the server skipped the definitions (`metadata` false: they are
   * the statement's, from its prepare or an earlier execute).
   */
  columns?: number;
  /** Explicitly false in the recordings of earlier writers: definitions skipped. */
  metadata?: false;
  /** The column count packet, when it had bytes the compact form does not hold. */
  countPacket?: { packet: Record<string, unknown> };
  /** The rows: arrays of values, or a row packet kept whole. */
  rows: (JsonValue[] | { packet: Record<string, unknown> })[];
  /** The EOF after the column definitions, when it differs from `end`'s. */
  columnsEnd?: Slot<EndJson>;
  /** Omitted: an EOF with defaults. `null`: no end packet (an error ended the rows). */
  end?: Slot<EndJson> | null;
}

/** COM_STMT_PREPARE_OK and its definitions. */
export interface PreparedJson {
  /** The server's statement id (for reference; replay assigns its own). */
  id: number;
  /** The column set of the parameter definitions. */
  params?: number;
  /** The column set of the result column definitions. */
  columns?: number;
  /** Warning count, when not 0. */
  warnings?: number;
  /** The EOF after the parameter definitions, when not default. */
  paramsEnd?: Slot<EndJson>;
  /** The EOF after the column definitions, when not default. */
  columnsEnd?: Slot<EndJson>;
  /** The whole COM_STMT_PREPARE_OK, when it had bytes the compact form does not hold. */
  packet?: Record<string, unknown>;
}

/** The answer to COM_FIELD_LIST: column definitions (with defaults) and an EOF. */
export interface FieldListJson {
  /** The column set of the definitions. */
  fields: number;
  /** The EOF that ends them. */
  end?: Slot<EndJson>;
}

/** One element of a response, in wire order. */
export type ResponseElement =
  | { ok: OkJson }
  | { eof: EndJson }
  | { error: ErrorJson }
  | ResultSetJson
  | { prepared: PreparedJson }
  | FieldListJson
  | { infile: { filename: JsonBytes; data: JsonBytes | null } }
  | { statistics: JsonBytes }
  | { progress: Record<string, unknown> }
  | { packets: Record<string, unknown>[] };

/** The response keys that may be flattened into a command line. */
export const RESPONSE_KEYS = [
  "ok",
  "eof",
  "error",
  "columns",
  "metadata",
  "countPacket",
  "rows",
  "columnsEnd",
  "end",
  "prepared",
  "fields",
  "infile",
  "statistics",
  "progress",
  "packets",
] as const;

/** A command and its response (or its first part, when `more` is set). */
export interface CommandEvent extends ConnectionEventBase {
  /** `command` (left out of the line by writers). */
  type: "command";
  /** The command's number on its connection; only on commands split across lines. */
  n?: number;
  /** Microseconds from `t` to the first response byte and to the last. */
  us?: [number, number];
  /** The command name (`query`, `stmt-execute`, ...). */
  cmd: string;
  /** The command's fields (`sql`, `params`, ...) and its response. */
  [field: string]: unknown;
}

/** More rows of a split command's open result set. */
export interface RowsEvent {
  /** Always `rows`. */
  type: "rows";
  /** The connection. */
  conn: number;
  /** The split command these rows belong to. */
  n: number;
  /** The rows. */
  rows: ResultSetJson["rows"];
}

/**
 * A split command's response moved on: `end` closes the open result set, `results` adds the
 * elements that followed it (the last may be open again).
 */
export interface ResultsEvent {
  /** Always `results`. */
  type: "results";
  /** The connection. */
  conn: number;
  /** The split command this continues. */
  n: number;
  /** The end of the open result set. */
  end?: ResultSetJson["end"];
  /** The elements that followed it. */
  results?: ResponseElement[];
}

/** The last piece of a split command's response, with its timing. */
export interface EndEvent {
  /** Always `end`. */
  type: "end";
  /** The connection. */
  conn: number;
  /** The split command this completes. */
  n: number;
  /** Microseconds from `t` to the first response byte and to the last. */
  us: [number, number];
  /** The end of the open result set. */
  end?: ResultSetJson["end"];
  /** The elements that followed it. */
  results?: ResponseElement[];
  /** The connection ended before the response did. */
  incomplete?: true;
}

/** Any line after the header. */
export type RecordingEvent =
  | OpenEvent
  | CloseEvent
  | GreetingEvent
  | AuthEvent
  | OpaqueEvent
  | ColumnsEvent
  | CommandEvent
  | RowsEvent
  | ResultsEvent
  | EndEvent;
