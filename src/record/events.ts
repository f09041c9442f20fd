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
  address: string;
  version: string | null;
  capabilities: number | null;
  mariadbCapabilities: number | null;
  characterSet: number | null;
  statusFlags: number | null;
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
  type: "header";
  format: typeof FORMAT_NAME;
  version: number;
  created: string;
  tool: string;
  server: ServerInfo;
  redaction: RedactionInfo;
}

/** Fields every event but the header has. */
export interface ConnectionEventBase {
  conn: number;
  /** Microseconds since the header's `created`. */
  t: number;
}

/** A client connected. */
export interface OpenEvent extends ConnectionEventBase {
  type: "open";
  client: string;
}

/** The connection ended. */
export interface CloseEvent extends ConnectionEventBase {
  type: "close";
  reason: string;
  bytes: { client: number; server: number };
}

/** The server's greeting (a HandshakeV10 as the codec decodes it, bytes as base64). */
export interface GreetingEvent extends ConnectionEventBase {
  type: "greeting";
  packet: Record<string, unknown>;
}

/** One packet of the authentication exchange. */
export interface AuthEvent extends ConnectionEventBase {
  type: "auth";
  from: "client" | "server";
  packet: Record<string, unknown>;
}

/** Decoding stopped for the rest of the connection (TLS, compression). */
export interface OpaqueEvent extends ConnectionEventBase {
  type: "opaque";
  reason: string;
}

/** One column of a column set (ColumnDefinition41, compactly). */
export interface ColumnJson {
  name: string;
  table?: string;
  orgTable?: string;
  orgName?: string;
  schema?: string;
  catalog?: string;
  type: string;
  length: number;
  charset: number;
  flags: number;
  decimals?: number;
  dataType?: string;
  format?: string;
  default?: JsonBytes | null;
  /** Anything else the codec keeps for an exact round trip (raw names, filler, ...). */
  exact?: Record<string, unknown>;
}

/** A set of column definitions, referred to by id. */
export interface ColumnsEvent {
  type: "columns";
  id: number;
  columns: ColumnJson[];
}

/** A place that holds a compact form, or the codec's whole packet when that form would not do. */
export type Slot<T> = T | { packet: Record<string, unknown> };

/** End of a result set (EOF, or OK with CLIENT_DEPRECATE_EOF), defaults omitted. */
export interface EndJson {
  status?: number;
  warnings?: number;
  affected?: number | string;
  insertId?: number | string;
  info?: JsonBytes;
  state?: unknown[];
}

/** An OK packet, defaults omitted. */
export type OkJson = EndJson;

/** An ERR packet. */
export interface ErrorJson {
  code: number;
  sqlState?: string;
  message: JsonBytes;
}

/** A result set. */
export interface ResultSetJson {
  /**
   * The column set; omitted when the server skipped the definitions (`metadata` false: they are
   * the statement's, from its prepare or an earlier execute).
   */
  columns?: number;
  metadata?: false;
  /** The column count packet, when it had bytes the compact form does not hold. */
  countPacket?: { packet: Record<string, unknown> };
  rows: (JsonValue[] | { packet: Record<string, unknown> })[];
  columnsEnd?: Slot<EndJson>;
  /** Omitted: an EOF with defaults. `null`: no end packet (an error ended the rows). */
  end?: Slot<EndJson> | null;
}

/** COM_STMT_PREPARE_OK and its definitions. */
export interface PreparedJson {
  /** The server's statement id (for reference; replay assigns its own). */
  id: number;
  params?: number;
  columns?: number;
  warnings?: number;
  paramsEnd?: Slot<EndJson>;
  columnsEnd?: Slot<EndJson>;
  /** The whole COM_STMT_PREPARE_OK, when it had bytes the compact form does not hold. */
  packet?: Record<string, unknown>;
}

/** The answer to COM_FIELD_LIST: column definitions (with defaults) and an EOF. */
export interface FieldListJson {
  fields: number;
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
  type: "command";
  /** The command's number on its connection; only on commands split across lines. */
  n?: number;
  /** Microseconds from `t` to the first response byte and to the last. */
  us?: [number, number];
  cmd: string;
  [field: string]: unknown;
}

/** More rows of a split command's open result set. */
export interface RowsEvent {
  type: "rows";
  conn: number;
  n: number;
  rows: ResultSetJson["rows"];
}

/**
 * A split command's response moved on: `end` closes the open result set, `results` adds the
 * elements that followed it (the last may be open again).
 */
export interface ResultsEvent {
  type: "results";
  conn: number;
  n: number;
  end?: ResultSetJson["end"];
  results?: ResponseElement[];
}

/** The last piece of a split command's response, with its timing. */
export interface EndEvent {
  type: "end";
  conn: number;
  n: number;
  us: [number, number];
  end?: ResultSetJson["end"];
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
