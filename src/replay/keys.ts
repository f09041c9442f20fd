/**
 * What replay matches on: every request (recorded or live) becomes a {@link Request} with three
 * keys, from the most to the least exact, and a session class for the commands drivers send on
 * connect. docs/matching.md is the user's description of these rules; keep the two in step.
 *
 * @module
 */

import { fingerprint, normalizeSql } from "../record/fingerprint.ts";
import type { JsonValue } from "../record/values.ts";

/**
 * Commands that match across connections and are served again and again (never consumed, never
 * reported unused): what drivers and pools send on connect and between uses.
 */
export type SessionClass =
  /** `SET ...` of any kind (NAMES, autocommit, sql_mode, SESSION x, @user_var, TRANSACTION ...). */
  | "set"
  /** `USE db` and COM_INIT_DB. */
  | "use"
  /** `SELECT` without FROM of system variables, literals and session functions (@@version, 1). */
  | "select-session"
  /** `SHOW [GLOBAL|SESSION] VARIABLES`, `SHOW COLLATION`, `SHOW CHARACTER SET`. */
  | "show-settings"
  /** `BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE SAVEPOINT`. */
  | "transaction"
  /** COM_STMT_PREPARE: the same statement prepared on any connection gets the same answer. */
  | "prepare"
  /** COM_SET_OPTION, COM_STATISTICS. */
  | "command";

/** A request, recorded or live, reduced to what matching compares. */
export interface Request {
  /** The command name as in recordings: `query`, `stmt-execute`, `init-db`, ... */
  cmd: string;
  /** Exact: the command and its normalized SQL (whitespace, comments, `;` ignored) and values. */
  key: string;
  /**
   * The exact key in two parts, for lookups that do not build it: the normalized SQL (one string
   * per distinct statement text, from {@link SqlCache}) and the command with its values.
   */
  exact: readonly [string, string];
  /** The statement's shape (fingerprint, lower case) and its literal values and parameters. */
  literalKey: string;
  /** The statement's shape alone: literals and parameters left out. */
  shapeKey: string;
  /** Literals of the SQL, then the parameters: what "closest" compares. */
  values: string[];
  /** Set for the commands in {@link SessionClass}. */
  session?: SessionClass;
  /** The schema of `USE db` / COM_INIT_DB. */
  schema?: string;
  /** The shape, for distances between statements (token lists). */
  shape: string;
  /** A short human description: `query "SELECT 1"`. */
  text: string;
}

const MAX_TEXT = 200;

/** Marks a NULL parameter in keys; no text value can hold this character. */
const NULL_VALUE = "\u0000NULL";
/** Marks a parameter sent with COM_STMT_SEND_LONG_DATA: its content is not compared. */
export const LONG_DATA_VALUE = "\u0000LONG_DATA";

/**
 * One parameter or row value as matching compares it: numbers and strings by their text, so
 * `5`, `5.0`-free `"5"` and a LONGLONG 5 from another driver are equal.
 *
 * @example
 * ```ts
 * import { canonicalValue } from "./keys.ts";
 * console.assert(canonicalValue(5) === canonicalValue("5"));
 * ```
 */
export function canonicalValue(value: JsonValue): string {
  if (value === null) return NULL_VALUE;
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return value;
  return `base64:${value.base64}`;
}

/** Text that a recording holds as a string, or `{"base64"}` when it was not UTF-8. */
export type RecordedText = string | { base64: string };

function textOf(sql: RecordedText): string | undefined {
  return typeof sql === "string" ? sql : undefined;
}

function clip(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_TEXT ? `${flat.slice(0, MAX_TEXT - 3)}...` : flat;
}

function shown(values: string[]): string {
  return values.map((v) =>
    v === NULL_VALUE ? "NULL" : v === LONG_DATA_VALUE ? "<long data>" : JSON.stringify(v)
  ).join(", ");
}

/** What {@link SqlCache} knows about a statement. */
export interface NormalizedSql {
  normalized: string;
  fingerprint: string;
  literals: string[];
  session: SessionClass | undefined;
  /** Requests without parameters made from this text, by command. */
  requests?: Map<string, Request>;
}

/**
 * Normalizes SQL, remembering the answers for texts seen before: the same statements come again
 * and again, and replay's hot path should not tokenize them each time.
 */
export class SqlCache {
  #normalized = new Map<string, NormalizedSql>();
  #limit: number;

  constructor(limit = 100_000) {
    this.#limit = limit;
  }

  /** Normalized SQL, fingerprint, literals and session class of `sql`. */
  get(sql: string): NormalizedSql {
    let entry = this.#normalized.get(sql);
    if (entry === undefined) {
      const shape = fingerprint(sql);
      entry = {
        normalized: normalizeSql(sql),
        fingerprint: shape.fingerprint,
        literals: shape.literals,
        session: sessionClass(shape.fingerprint),
      };
      if (this.#normalized.size >= this.#limit) this.#normalized.clear();
      this.#normalized.set(sql, entry);
    }
    return entry;
  }
}

const SESSION_FUNCTIONS =
  /\b(database|schema|version|connection_id|user|current_user|session_user|system_user|last_insert_id|found_rows|row_count)\(\)/g;

/** The session class of a statement, from its fingerprint. */
export function sessionClass(shape: string): SessionClass | undefined {
  if (/^set\b/.test(shape) && !/^set password\b/.test(shape)) return "set";
  if (/^use\b/.test(shape)) return "use";
  if (/^(begin|start transaction|commit|rollback|savepoint|release savepoint)\b/.test(shape)) {
    return "transaction";
  }
  if (
    /^show (global |session |local )?variables\b/.test(shape) ||
    /^show (collation|character set|charset)\b/.test(shape)
  ) {
    return "show-settings";
  }
  if (/^select\b/.test(shape) && !/\b(from|into)\b/.test(shape)) {
    // What is left once system variables, literals, session functions and aliases are gone.
    const rest = shape
      .replace(/^select\s+/, "")
      .replace(/\blimit \?$/, "")
      .replace(/@@[a-z0-9_$.`]+/g, "")
      .replace(SESSION_FUNCTIONS, "")
      .replace(/\bas\s+(`[^`]*`|[a-z0-9_$]+|\?)/g, "")
      .replace(/[?,\s]/g, "");
    if (rest === "") return "select-session";
  }
  return undefined;
}

function schemaName(text: string): string {
  const name = text.trim();
  return name.startsWith("`") && name.endsWith("`") && name.length >= 2
    ? name.slice(1, -1).replaceAll("``", "`")
    : name;
}

/**
 * A query or a statement: `cmd` is `query`, `stmt-prepare`, `stmt-execute` or `stmt-fetch`;
 * `params` are the canonical parameter values of an execute; `extra` (a fetch's row count) is
 * part of every key.
 *
 * @example
 * ```ts
 * import { SqlCache, sqlRequest } from "./keys.ts";
 * const a = sqlRequest("query", "SELECT  1 ;", new SqlCache());
 * const b = sqlRequest("query", "select 1", new SqlCache());
 * console.assert(a.key !== b.key && a.literalKey === b.literalKey);
 * ```
 */
export function sqlRequest(
  cmd: string,
  sql: RecordedText,
  cache: SqlCache,
  params: string[] = [],
  extra = "",
): Request {
  const text = textOf(sql);
  if (text === undefined) {
    const raw = `base64:${(sql as { base64: string }).base64}`;
    const key = `${cmd}\u0001${raw}\u0001${params.join("\u0002")}\u0001${extra}`;
    return {
      cmd,
      key,
      exact: [key, ""],
      literalKey: key,
      shapeKey: key,
      values: params,
      shape: raw,
      text: `${cmd} (SQL that is not UTF-8)`,
    };
  }
  const entry = cache.get(text);
  const { normalized, fingerprint: shape, literals, session } = entry;
  // Without parameters a request depends on its text only: the same statement sent again (the
  // common case) reuses the request made the first time.
  const reusable = params.length === 0 && extra === "";
  if (reusable) {
    const known = entry.requests?.get(cmd);
    if (known) return known;
  }
  let request: Request;
  if (session === "use" && cmd === "query") {
    request = useRequest(schemaName(normalized.replace(/^use\s+/i, "")), text);
  } else {
    const made = new SqlRequest(cmd, text, normalized, shape, literals, params, extra);
    if (cmd === "stmt-prepare") made.session = "prepare";
    else if (cmd === "query" && session) made.session = session;
    request = made;
  }
  if (reusable) (entry.requests ??= new Map()).set(cmd, request);
  return request;
}

/**
 * A request with SQL. Only the exact key is built up front: replay's hot path answers most
 * requests from it, so the other keys and the description are made when first asked for.
 */
class SqlRequest implements Request {
  readonly cmd: string;
  readonly exact: readonly [string, string];
  readonly shape: string;
  session?: SessionClass;
  #sql: string;
  #literals: string[];
  #params: string[];
  #extra: string;
  #values?: string[];
  #literalKey?: string;
  #shapeKey?: string;
  #text?: string;

  constructor(
    cmd: string,
    sql: string,
    normalized: string,
    shape: string,
    literals: string[],
    params: string[],
    extra: string,
  ) {
    this.cmd = cmd;
    this.exact = [
      normalized,
      params.length === 0 && extra === ""
        ? cmd
        : `${cmd}\u0001${params.join("\u0002")}\u0001${extra}`,
    ];
    this.shape = shape;
    this.#sql = sql;
    this.#literals = literals;
    this.#params = params;
    this.#extra = extra;
  }

  get key(): string {
    return `${this.exact[1]}\u0001${this.exact[0]}`;
  }

  get values(): string[] {
    return this.#values ??= this.#params.length === 0
      ? this.#literals
      : [...this.#literals, ...this.#params];
  }

  get literalKey(): string {
    return this.#literalKey ??= `${this.cmd}\u0001${this.shape}\u0001${
      this.values.join("\u0002")
    }\u0001${this.#extra}`;
  }

  get shapeKey(): string {
    return this.#shapeKey ??= `${this.cmd}\u0001${this.shape}\u0001${this.#extra}`;
  }

  get text(): string {
    return this.#text ??= this.#params.length === 0
      ? `${this.cmd} "${clip(this.#sql)}"`
      : `${this.cmd} "${clip(this.#sql)}" with [${clip(shown(this.#params))}]`;
  }
}

/**
 * `USE db` and COM_INIT_DB: one key, so either form answers the other.
 *
 * @example
 * ```ts
 * import { SqlCache, sqlRequest, useRequest } from "./keys.ts";
 * console.assert(useRequest("shop").key === sqlRequest("query", "USE `shop`", new SqlCache()).key);
 * ```
 */
export function useRequest(schema: string, text = `USE ${schema}`): Request {
  const key = `use\u0001${schema}`;
  return {
    cmd: "init-db",
    key,
    exact: [key, ""],
    literalKey: key,
    shapeKey: key,
    values: [],
    session: "use",
    schema,
    shape: `use ${schema}`,
    text: `"${clip(text)}"`,
  };
}

/**
 * Any other command, keyed on its recorded fields (`{"table":"t"}` for field-list, `{}` for
 * statistics, `{"option":0}` for set-option, ...).
 *
 * @example
 * ```ts
 * import { otherRequest } from "./keys.ts";
 * console.assert(otherRequest("set-option", { option: 1 }).session === "command");
 * ```
 */
export function otherRequest(cmd: string, fields: Record<string, unknown>): Request {
  const body = JSON.stringify(fields, Object.keys(fields).sort());
  const key = `${cmd}\u0001${body}`;
  const request: Request = {
    cmd,
    key,
    exact: [key, ""],
    literalKey: key,
    shapeKey: `${cmd}\u0001`,
    values: [body],
    shape: cmd,
    text: body === "{}" ? cmd : `${cmd} ${clip(body)}`,
  };
  if (cmd === "set-option" || cmd === "statistics") request.session = "command";
  return request;
}

/** Keys of a recorded command line that are request fields, not response or bookkeeping. */
const NOT_REQUEST_FIELDS = new Set([
  "type",
  "conn",
  "t",
  "us",
  "n",
  "more",
  "incomplete",
  "cmd",
  "results",
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
  "auth",
]);

/** The request fields of a recorded command line (for {@link otherRequest}). */
export function requestFields(event: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (!NOT_REQUEST_FIELDS.has(key)) fields[key] = value;
  }
  return fields;
}

/**
 * The request of a recorded command line, or `undefined` for commands replay synthesizes
 * (ping, quit, statement close/reset, long data, reset-connection, change-user).
 *
 * @example
 * ```ts
 * import { recordedRequest, SqlCache } from "./keys.ts";
 * const request = recordedRequest(
 *   { type: "command", conn: 1, t: 0, cmd: "stmt-execute", sql: "SELECT ?", params: [5] },
 *   new SqlCache(),
 * );
 * console.assert(request?.text === 'stmt-execute "SELECT ?" with ["5"]');
 * ```
 */
export function recordedRequest(
  event: { cmd: string; [field: string]: unknown },
  cache: SqlCache,
): Request | undefined {
  const sql = event.sql as RecordedText | undefined;
  switch (event.cmd) {
    case "ping":
    case "quit":
    case "stmt-close":
    case "stmt-reset":
    case "stmt-send-long-data":
    case "reset-connection":
    case "change-user":
      return undefined;
    case "query":
    case "stmt-prepare":
      return sql === undefined ? undefined : sqlRequest(event.cmd, sql, cache);
    case "stmt-execute": {
      if (sql === undefined || !Array.isArray(event.params)) return undefined;
      const longData = new Set(Array.isArray(event.longData) ? event.longData as number[] : []);
      const params = (event.params as JsonValue[]).map((value, i) =>
        longData.has(i) ? LONG_DATA_VALUE : canonicalValue(value)
      );
      return sqlRequest("stmt-execute", sql, cache, params);
    }
    case "stmt-fetch":
      return sql === undefined
        ? undefined
        : sqlRequest("stmt-fetch", sql, cache, [], String(event.count));
    case "init-db":
      return typeof event.schema === "string" ? useRequest(event.schema) : undefined;
    default:
      return otherRequest(event.cmd, requestFields(event));
  }
}
