/**
 * The hook API of `--script`: MySQL Proxy's six Lua hooks (connect_server, read_handshake,
 * read_auth, read_query, read_query_result, disconnect_client) as TypeScript functions, all
 * optional, each free to be async.
 *
 * @module
 */

import type { ClientCommand } from "../protocol/commands.ts";
import type { HandshakeV10 } from "../protocol/handshake.ts";

/** What a hook knows about its connection. */
export interface HookConnection {
  /** Sequential id within this proxy, from 1. */
  readonly id: number;
  /** The client's address (`127.0.0.1:51234` or `unix`). */
  readonly client: string;
  /** The server the connection is relayed to; `undefined` when the script is the server. */
  readonly server: string | undefined;
  /** The user the client logged in as (after {@link Hooks.readAuth}). */
  readonly user: string | undefined;
  /** The current default database, as the proxy follows it (COM_INIT_DB, `USE`). */
  readonly database: string | undefined;
  /** A place for the script's own per-connection state. */
  readonly state: Record<string, unknown>;
}

/** A column of a result set a hook builds: a name, or a name with a type. */
export type ColumnSpec = string | {
  /** The column's name. */
  name: string;
  /**
   * The `MYSQL_TYPE_*` name without its prefix (`LONGLONG`, `VAR_STRING`, `DOUBLE`,
   * `DATETIME`, `BLOB`...); inferred from the first non-null value when absent.
   */
  type?: string;
};

/** A value of a row a hook builds. */
export type CellValue = string | number | bigint | boolean | Date | Uint8Array | null;

/** A result set answering a query (see `resultSet()`). */
export interface ResultSetAnswer {
  /** Which answer this is. */
  kind: "result-set";
  /** The columns. */
  columns: ColumnSpec[];
  /** The rows: one value per column. */
  rows: CellValue[][];
}

/** An OK packet (see `okAnswer()`). */
export interface OkAnswer {
  /** Which answer this is. */
  kind: "ok";
  /** Affected rows (default 0). */
  affectedRows?: number;
  /** Last insert id (default 0). */
  insertId?: number;
  /** Warnings (default 0). */
  warnings?: number;
  /** The info text (`Rows matched: 1  Changed: 1  Warnings: 0`). */
  info?: string;
}

/** An ERR packet (see `errorAnswer()`). */
export interface ErrorAnswer {
  /** Which answer this is. */
  kind: "error";
  /** The MySQL error number (1290, 1213...). */
  code: number;
  /** The message. */
  message: string;
  /** The SQLSTATE (default `HY000`). */
  sqlState?: string;
}

/** A response the script makes up instead of the server's. */
export type Answer = ResultSetAnswer | OkAnswer | ErrorAnswer;

/** Send the command on with other SQL (COM_QUERY, COM_STMT_PREPARE), see `rewrite()`. */
export interface RewriteDecision {
  /** Which decision this is. */
  kind: "rewrite";
  /** The SQL the server gets instead. */
  sql: string;
}

/**
 * What {@link Hooks.readQuery} decides: `undefined` passes the command on unchanged, an
 * {@link Answer} answers it without the server, a {@link RewriteDecision} changes its SQL.
 */
export type CommandDecision = Answer | RewriteDecision | undefined | void;

/** A result set as a hook sees it. */
export interface ResultSetView {
  /** Column names. */
  columns: string[];
  /**
   * Rows: text-protocol values as strings (bytes for binary columns), binary-protocol values
   * typed (numbers, bigints, strings for dates and decimals), `null` for NULL.
   */
  rows: (string | number | bigint | Uint8Array | null)[][];
}

/** A response as a hook sees it: {@link Hooks.readQueryResult} and injected queries. */
export interface QueryResult {
  /** The result sets, in order (several for multi-statements and CALL). */
  resultSets: ResultSetView[];
  /** The OK that ended the response, if any. */
  ok?: {
    affectedRows: number | bigint;
    insertId: number | bigint;
    warnings: number;
    info?: string;
  };
  /** The error that answered the command, if any. */
  error?: { code: number; sqlState?: string; message: string };
  /** Milliseconds from sending the command to its last response packet. */
  elapsedMs: number;
}

/** What {@link Hooks.readQuery} gets. */
export interface QueryEvent {
  /** The command as the client sent it, decoded. */
  command: ClientCommand;
  /** The SQL of COM_QUERY and COM_STMT_PREPARE (the schema of COM_INIT_DB); else undefined. */
  sql: string | undefined;
  /**
   * Runs a query on this connection's server session before the command goes on and resolves
   * to its result (MySQL Proxy's injected queries); the client never sees it. Rejects when the
   * script is the server.
   */
  query(sql: string): Promise<QueryResult>;
}

/** What {@link Hooks.readQueryResult} gets. */
export interface QueryResultEvent extends QueryResult {
  /** The command as the server got it (after a rewrite). */
  command: ClientCommand;
  /** Its SQL, for COM_QUERY and COM_STMT_PREPARE. */
  sql: string | undefined;
  /** Runs a query on this connection's server session, as {@link QueryEvent.query}. */
  query(sql: string): Promise<QueryResult>;
}

/** What {@link Hooks.readAuth} gets. Passwords and auth data are never shown to scripts. */
export interface LoginEvent {
  /** The user the client logs in as. */
  user: string;
  /** The default database it asks for, if any. */
  database: string | undefined;
  /** The auth plugin the client used first. */
  plugin: string | undefined;
  /** The client's connection attributes (`_client_name`, `program_name`...). */
  attributes: Record<string, string>;
}

/**
 * Hooks a `--script` module exports (as named functions, or as its default export), all
 * optional, all free to return a promise. A hook that throws (or rejects) costs that step an ERR
 * packet and a log line, never the connection.
 *
 * @example
 * ```ts
 * import type { Hooks } from "./types.ts";
 * export default {
 *   readQuery({ sql }) {
 *     if (sql?.startsWith("DROP")) return { kind: "error", code: 1290, message: "Not here" };
 *   },
 * } satisfies Hooks;
 * ```
 */
export interface Hooks {
  /** connect_server: a client connected; return an {@link ErrorAnswer} to refuse it. */
  connectServer?(connection: HookConnection):
    | ErrorAnswer
    | undefined
    | void
    | Promise<
      ErrorAnswer | undefined | void
    >;
  /** read_handshake: the server's greeting; return a changed copy to send that instead. */
  readHandshake?(greeting: HandshakeV10, connection: HookConnection):
    | HandshakeV10
    | undefined
    | void
    | Promise<HandshakeV10 | undefined | void>;
  /** read_auth: the client's login; return an {@link ErrorAnswer} to deny it. */
  readAuth?(auth: LoginEvent, connection: HookConnection):
    | ErrorAnswer
    | undefined
    | void
    | Promise<
      ErrorAnswer | undefined | void
    >;
  /** read_query: every command; pass it, rewrite it, or answer it. */
  readQuery?(event: QueryEvent, connection: HookConnection):
    | CommandDecision
    | Promise<
      CommandDecision
    >;
  /** read_query_result: every response from the server; return an {@link Answer} to replace it. */
  readQueryResult?(event: QueryResultEvent, connection: HookConnection):
    | Answer
    | undefined
    | void
    | Promise<Answer | undefined | void>;
  /** disconnect_client: the connection ended. */
  disconnectClient?(connection: HookConnection, reason: string): void | Promise<void>;
}
