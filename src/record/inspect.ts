/**
 * Validating and summarizing a recording in one streaming pass (for `inspect`): what the reader
 * checks line by line, plus what needs the lines before (column sets defined before use,
 * continuation lines of a started command, row values that fit their columns), and a digest of
 * the traffic: connections, commands by type, errors by code, query fingerprints by count and
 * time, like pt-query-digest. Memory grows with the number of connections and distinct
 * fingerprints, never with the size of results.
 *
 * @module
 */

import type { ColumnJson, HeaderEvent, ResponseElement } from "./events.ts";
import { commandElements } from "./merge.ts";
import { readRecording, RecordingError } from "./reader.ts";
import { fingerprint } from "./fingerprint.ts";
import { jsonToBinaryValue, jsonToTextValue, typeFromName } from "./values.ts";

/** One connection, as `inspect` reports it. */
export interface InspectedConnection {
  conn: number;
  client?: string;
  user?: string;
  database?: string;
  /** Microseconds since the recording started. */
  opened?: number;
  closed?: number;
  reason?: string;
  bytes?: { client: number; server: number };
  commands: number;
  /** Set when decoding stopped (TLS, compression). */
  opaque?: string;
  /** True when the client asked for TLS (an SSLRequest, terminated by the proxy). */
  tls?: boolean;
}

/** A query shape with its figures. */
export interface Digest {
  fingerprint: string;
  /** The first statement seen of this shape. */
  example: string;
  count: number;
  /** Total and largest response time (`us` to the last byte), microseconds. */
  totalUs: number;
  maxUs: number;
  rows: number;
  errors: number;
}

/** An error code with how often it was answered. */
export interface ErrorCount {
  code: number;
  sqlState?: string;
  count: number;
  /** The first message seen. */
  message: string;
}

/** What {@link inspectRecording} found. */
export interface InspectReport {
  path: string;
  lines: number;
  header: HeaderEvent;
  /** Microseconds from `created` to the last thing recorded. */
  durationUs: number;
  connections: InspectedConnection[];
  commands: { total: number; byType: Record<string, number> };
  /** Commands whose response was cut short (the connection or the recording ended first). */
  incomplete: number;
  errors: { total: number; byCode: ErrorCount[] };
  /** Every SQL shape (`query` and `stmt-execute`), most frequent first. */
  digests: Digest[];
  /** Bytes on the wire, summed over the connections' `close` lines. */
  wire: { client: number; server: number };
  warnings: string[];
}

const BINARY_COMMANDS = new Set(["stmt-execute", "stmt-fetch"]);
const FINGERPRINT_CACHE_LIMIT = 10_000;

interface Open {
  conn: number;
  cmd: string;
  sql: string;
  digest?: Digest;
  binary: boolean;
  /** Columns of the open result set, for checking `rows` lines. */
  columns?: ColumnJson[];
  errors: number;
  rows: number;
}

/**
 * Reads a recording once, validating it, and summarizes it. Throws a {@link RecordingError}
 * naming the line and the problem at the first invalid line; warnings (a cut-short last line,
 * connections never closed, commands never finished) go to the report.
 *
 * @example
 * ```ts ignore
 * import { inspectRecording } from "./inspect.ts";
 * const report = await inspectRecording("recordings/demo.jsonl");
 * console.log(report.commands.total, report.digests[0]?.fingerprint);
 * ```
 */
export async function inspectRecording(path: string): Promise<InspectReport> {
  const warnings: string[] = [];
  const connections = new Map<number, InspectedConnection>();
  const columnSets = new Map<number, ColumnJson[]>();
  /** A statement's columns, per connection and SQL: for executes whose metadata was skipped. */
  const statementColumns = new Map<string, ColumnJson[]>();
  const pending = new Map<string, Open>();
  const digests = new Map<string, Digest>();
  const fingerprints = new Map<string, string>();
  const errors = new Map<string, ErrorCount>();
  const byType: Record<string, number> = {};
  let header: HeaderEvent | undefined;
  let lines = 0;
  let total = 0;
  let incomplete = 0;
  let errorTotal = 0;
  let last = 0;
  const wire = { client: 0, server: 0 };

  const connection = (conn: number, line: number, type: string): InspectedConnection => {
    let c = connections.get(conn);
    if (c?.closed !== undefined) {
      throw new RecordingError(`connection ${conn} has a "${type}" line after its "close" line`, {
        line,
        path,
      });
    }
    if (!c) {
      warnings.push(`${path}:${line}: connection ${conn} has events before its "open" line`);
      c = { conn, commands: 0 };
      connections.set(conn, c);
    }
    return c;
  };
  const columnSet = (id: unknown, line: number): ColumnJson[] => {
    const set = typeof id === "number" ? columnSets.get(id) : undefined;
    if (!set) {
      throw new RecordingError(
        `column set ${JSON.stringify(id)} is used before a "columns" line defines it`,
        { line, path },
      );
    }
    return set;
  };
  const shapeOf = (sql: string): string => {
    let shape = fingerprints.get(sql);
    if (shape === undefined) {
      shape = fingerprint(sql).fingerprint;
      if (fingerprints.size >= FINGERPRINT_CACHE_LIMIT) fingerprints.clear();
      fingerprints.set(sql, shape);
    }
    return shape;
  };
  const countError = (error: { code: number; sqlState?: string; message: unknown }) => {
    errorTotal++;
    const key = `${error.code} ${error.sqlState ?? ""}`;
    const known = errors.get(key);
    if (known) known.count++;
    else {
      const entry: ErrorCount = {
        code: error.code,
        count: 1,
        message: typeof error.message === "string" ? error.message : "(not UTF-8)",
      };
      if (error.sqlState !== undefined) entry.sqlState = error.sqlState;
      errors.set(key, entry);
    }
  };
  /** Checks and counts what a command line or continuation adds to `open`. */
  const elements = (open: Open, list: ResponseElement[], line: number, sql: string) => {
    for (const element of list) {
      const e = element as Record<string, unknown>;
      if ("error" in e) {
        const error = e.error as { code: number; sqlState?: string; message: unknown };
        if (typeof error?.code !== "number") {
          throw new RecordingError(`an "error" needs a numeric "code"`, { line, path });
        }
        open.errors++;
        countError(error);
      } else if ("prepared" in e) {
        const prepared = e.prepared as { params?: unknown; columns?: unknown };
        if (prepared.params !== undefined) columnSet(prepared.params, line);
        if (prepared.columns !== undefined) {
          statementColumns.set(`${open.conn} ${sql}`, columnSet(prepared.columns, line));
        }
      } else if ("fields" in e) {
        columnSet(e.fields, line);
      } else if (Array.isArray(e.rows)) {
        const set = e.columns === undefined
          ? statementColumns.get(`${open.conn} ${sql}`)
          : columnSet(e.columns, line);
        if (e.columns !== undefined && open.cmd === "stmt-execute" && set) {
          statementColumns.set(`${open.conn} ${sql}`, set);
        }
        open.columns = set;
        checkRows(open, e.rows, line, path);
      }
    }
  };
  const finish = (open: Open, us: unknown, cut: boolean) => {
    if (cut) incomplete++;
    const digest = open.digest;
    if (!digest) return;
    const end = Array.isArray(us) && typeof us[1] === "number" ? us[1] : 0;
    digest.totalUs += end;
    if (end > digest.maxUs) digest.maxUs = end;
    digest.rows += open.rows;
    if (open.errors > 0) digest.errors++;
  };

  for await (const { line, event } of readRecording(path, { onWarning: (w) => warnings.push(w) })) {
    lines = line;
    if (event.type === "header") {
      header = event;
      continue;
    }
    if ("t" in event && typeof event.t === "number" && event.t > last) last = event.t;
    try {
      switch (event.type) {
        case "open":
          if (connections.has(event.conn) && connections.get(event.conn)!.opened !== undefined) {
            throw new RecordingError(`connection ${event.conn} is opened twice`, { line, path });
          }
          connections.set(event.conn, {
            ...connections.get(event.conn),
            conn: event.conn,
            client: event.client,
            opened: event.t,
            commands: connections.get(event.conn)?.commands ?? 0,
          });
          break;
        case "close": {
          const c = connection(event.conn, line, event.type);
          c.closed = event.t;
          c.reason = event.reason;
          c.bytes = event.bytes;
          wire.client += Number(event.bytes.client) || 0;
          wire.server += Number(event.bytes.server) || 0;
          break;
        }
        case "greeting":
          connection(event.conn, line, event.type);
          break;
        case "auth": {
          const c = connection(event.conn, line, event.type);
          const packet = event.packet as Record<string, unknown>;
          if (event.from === "client" && packet.kind === "ssl-request") c.tls = true;
          if (event.from === "client" && typeof packet.username === "string") {
            c.user = packet.username;
            if (typeof packet.database === "string") c.database = packet.database;
          }
          if (event.from === "server" && packet.kind === "err") {
            countError({
              code: Number(packet.code),
              sqlState: packet.sqlState as string | undefined,
              message: packet.message,
            });
          }
          break;
        }
        case "opaque":
          connection(event.conn, line, event.type).opaque = event.reason;
          break;
        case "columns": {
          const known = columnSets.get(event.id);
          if (known && JSON.stringify(known) !== JSON.stringify(event.columns)) {
            throw new RecordingError(`column set ${event.id} is defined twice, differently`, {
              line,
              path,
            });
          }
          for (const [i, column] of event.columns.entries()) {
            if (typeof column !== "object" || column === null || typeof column.name !== "string") {
              throw new RecordingError(`column ${i} of set ${event.id} needs a "name"`, {
                line,
                path,
              });
            }
            typeFromName(column.type, `column ${i} of set ${event.id}`);
          }
          columnSets.set(event.id, event.columns);
          break;
        }
        case "command": {
          const c = connection(event.conn, line, event.type);
          c.commands++;
          total++;
          byType[event.cmd] = (byType[event.cmd] ?? 0) + 1;
          const sql = typeof event.sql === "string" ? event.sql : "";
          const open: Open = {
            conn: event.conn,
            cmd: event.cmd,
            sql,
            binary: BINARY_COMMANDS.has(event.cmd),
            errors: 0,
            rows: 0,
          };
          if (event.cmd === "query" || event.cmd === "stmt-execute") {
            const shape = sql === "" ? "(SQL that is not UTF-8)" : shapeOf(sql);
            let digest = digests.get(shape);
            if (!digest) {
              digest = {
                fingerprint: shape,
                example: sql,
                count: 0,
                totalUs: 0,
                maxUs: 0,
                rows: 0,
                errors: 0,
              };
              digests.set(shape, digest);
            }
            digest.count++;
            open.digest = digest;
          }
          if (event.cmd === "stmt-fetch") {
            open.columns = statementColumns.get(`${event.conn} ${sql}`);
          }
          elements(open, commandElements(event), line, sql);
          if (event.more === true) {
            if (typeof event.n !== "number") {
              throw new RecordingError(`a command with "more" needs "n"`, { line, path });
            }
            pending.set(`${event.conn} ${event.n}`, open);
          } else finish(open, event.us, event.incomplete === true);
          break;
        }
        case "rows":
        case "results":
        case "end": {
          const key = `${event.conn} ${event.n}`;
          const open = pending.get(key);
          if (!open) {
            throw new RecordingError(
              `"${event.type}" continues command ${event.n} of connection ${event.conn}, which was not started`,
              { line, path },
            );
          }
          if (event.type === "rows") checkRows(open, event.rows, line, path);
          else elements(open, (event.results ?? []) as ResponseElement[], line, open.sql);
          if (event.type === "end") {
            pending.delete(key);
            finish(open, event.us, event.incomplete === true);
          }
          break;
        }
      }
    } catch (error) {
      if (error instanceof TypeError) {
        throw new RecordingError(error.message, { line, path, cause: error });
      }
      throw error;
    }
  }
  for (const open of pending.values()) {
    warnings.push(
      `${path}: a ${open.cmd} of connection ${open.conn} was cut short (no "end" line)`,
    );
    finish(open, undefined, true);
  }
  const unclosed = [...connections.values()].filter((c) => c.closed === undefined);
  if (unclosed.length > 0) {
    warnings.push(
      `${path}: ${unclosed.length} connection(s) have no "close" line (the recording was interrupted?): ` +
        unclosed.slice(0, 10).map((c) => c.conn).join(", "),
    );
  }
  return {
    path,
    lines,
    header: header!,
    durationUs: last,
    connections: [...connections.values()].sort((a, b) => a.conn - b.conn),
    commands: { total, byType },
    incomplete,
    errors: { total: errorTotal, byCode: [...errors.values()].sort((a, b) => b.count - a.count) },
    digests: [...digests.values()].sort((a, b) => b.count - a.count || b.totalUs - a.totalUs),
    wire,
    warnings,
  };
}

/** Checks that rows fit the result set's columns (when known) and counts them. */
function checkRows(open: Open, rows: unknown, line: number, path: string): void {
  if (!Array.isArray(rows)) throw new RecordingError(`"rows" must be an array`, { line, path });
  const columns = open.columns;
  for (const [r, row] of rows.entries()) {
    open.rows++;
    if (!Array.isArray(row)) {
      if (typeof row === "object" && row !== null && "packet" in row) continue;
      throw new RecordingError(`row ${r + 1} must be an array of values`, { line, path });
    }
    if (columns && row.length !== columns.length) {
      throw new RecordingError(
        `row ${r + 1} has ${row.length} values for ${columns.length} columns`,
        { line, path },
      );
    }
    for (const [i, value] of row.entries()) {
      const where = `row ${r + 1}, column ${i + 1}${columns ? ` (${columns[i].name})` : ""}`;
      if (open.binary && columns) {
        jsonToBinaryValue(value, typeFromName(columns[i].type, where), where);
      } else jsonToTextValue(value, where);
    }
  }
}
