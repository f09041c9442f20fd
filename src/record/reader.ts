/**
 * Reading recordings: a streaming line reader that validates every event, and a loader that
 * gathers a recording per connection for replay and inspection.
 *
 * @module
 */

import {
  type CommandEvent,
  FORMAT_NAME,
  FORMAT_VERSION,
  type HeaderEvent,
  type RecordingEvent,
} from "./events.ts";
import { commandElements, CommandMerger, type RecordedCommand } from "./merge.ts";
import type { ColumnJson } from "./events.ts";

/** A recording line that is not valid: `line` says which (from 1). */
export class RecordingError extends SyntaxError {
  /** The 1-based line number. */
  readonly line: number;
  /** The file, when reading one. */
  readonly path: string | undefined;

  /** An error about line `line` (1-based) of `path`. */
  constructor(message: string, options: { line: number; path?: string; cause?: unknown }) {
    const where = options.path ? `${options.path}:${options.line}` : `line ${options.line}`;
    super(`Invalid recording at ${where}: ${message}`, { cause: options.cause });
    this.name = "RecordingError";
    this.line = options.line;
    this.path = options.path;
  }
}

/** One parsed line. */
export interface RecordingLine {
  /** 1-based line number. */
  line: number;
  /** The event, validated. */
  event: HeaderEvent | RecordingEvent;
}

/** Options of {@link readRecording}. */
export interface ReadRecordingOptions {
  /** Skip invalid lines (each reported to `onWarning`) instead of throwing. */
  lenient?: boolean;
  /** Receives warnings: a truncated last line, skipped lines in lenient mode. */
  onWarning?: (warning: string) => void;
}

type Check = (value: unknown) => boolean;
const isNumber: Check = (v) => typeof v === "number" && Number.isFinite(v);
const isString: Check = (v) => typeof v === "string";
const isObject: Check = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isArray: Check = Array.isArray;

/** Required fields of each event type (beyond `type`). */
const REQUIRED: Record<string, Record<string, Check>> = {
  open: { conn: isNumber, t: isNumber, client: isString },
  close: { conn: isNumber, t: isNumber, reason: isString, bytes: isObject },
  greeting: { conn: isNumber, t: isNumber, packet: isObject },
  auth: {
    conn: isNumber,
    t: isNumber,
    from: (v) => v === "client" || v === "server",
    packet: isObject,
  },
  opaque: { conn: isNumber, t: isNumber, reason: isString },
  columns: { id: isNumber, columns: isArray },
  command: { conn: isNumber, t: isNumber, cmd: isString },
  rows: { conn: isNumber, n: isNumber, rows: isArray },
  results: { conn: isNumber, n: isNumber },
  end: { conn: isNumber, n: isNumber, us: isArray },
};

/**
 * Parses and validates one line. `header` says whether this is the first line, which must be the
 * header.
 *
 * @example
 * ```ts
 * import { parseRecordingLine } from "./reader.ts";
 * const event = parseRecordingLine('{"type":"open","conn":1,"t":5,"client":"127.0.0.1:1"}', 2, false);
 * console.assert(event.type === "open");
 * ```
 */
export function parseRecordingLine(
  text: string,
  line: number,
  header: boolean,
  path?: string,
): HeaderEvent | RecordingEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RecordingError(`not valid JSON (${(error as Error).message})`, {
      line,
      path,
      cause: error,
    });
  }
  if (!isObject(value)) throw new RecordingError("a line must be a JSON object", { line, path });
  const record = value as Record<string, unknown>;
  // Writers leave `type` out of command lines: a line with `cmd` and no `type` is a command.
  if (record.type === undefined && !header && typeof record.cmd === "string") {
    record.type = "command";
  }
  const type = record.type;
  if (header) {
    if (type !== "header") {
      throw new RecordingError(
        `the first line must be the header ({"type":"header",...}), got type ${
          JSON.stringify(type)
        }`,
        { line, path },
      );
    }
    if (record.format !== FORMAT_NAME) {
      throw new RecordingError(
        `not a ${FORMAT_NAME} file (format ${JSON.stringify(record.format)})`,
        { line, path },
      );
    }
    if (record.version !== FORMAT_VERSION) {
      throw new RecordingError(
        `format version ${
          JSON.stringify(record.version)
        } is not supported (this tool reads version ${FORMAT_VERSION})`,
        { line, path },
      );
    }
    return value as HeaderEvent;
  }
  if (type === "header") throw new RecordingError("a second header", { line, path });
  if (typeof type !== "string" || !(type in REQUIRED)) {
    throw new RecordingError(`unknown event type ${JSON.stringify(type)}`, { line, path });
  }
  for (const [field, check] of Object.entries(REQUIRED[type])) {
    if (!check(record[field])) {
      throw new RecordingError(
        `a "${type}" event needs a valid "${field}" (got ${
          JSON.stringify(record[field]) ?? "nothing"
        })`,
        { line, path },
      );
    }
  }
  return value as RecordingEvent;
}

/**
 * Streams the lines of a recording as validated events, holding one line at a time. A last line
 * cut short (no newline, not valid JSON: a recording killed mid-write) is dropped with a warning;
 * any other invalid line throws a {@link RecordingError} naming its line, unless `lenient`.
 *
 * @example
 * ```ts ignore
 * import { readRecording } from "./reader.ts";
 * for await (const { line, event } of readRecording("recordings/demo.jsonl")) {
 *   if (event.type === "command") console.log(line, event.cmd, event.sql);
 * }
 * ```
 */
export async function* readRecording(
  path: string | URL,
  options: ReadRecordingOptions = {},
): AsyncGenerator<RecordingLine> {
  const name = path instanceof URL ? path.pathname : path;
  const file = await Deno.open(path, { read: true });
  const decoder = new TextDecoder();
  // The pieces of the line being read: a long line (a 20 MB blob) arrives over many chunks, and
  // only each new chunk is searched for its end, never the whole line again.
  let pending: string[] = [];
  let line = 0;
  let sawHeader = false;
  const parse = (text: string, last: boolean): RecordingLine | undefined => {
    line++;
    if (text.trim() === "") return undefined;
    try {
      const event = parseRecordingLine(text, line, !sawHeader, name);
      sawHeader = true;
      return { line, event };
    } catch (error) {
      if (last && error instanceof RecordingError && (error.cause instanceof SyntaxError)) {
        options.onWarning?.(
          `${name}:${line}: the last line is cut short (the recording was interrupted); ignored`,
        );
        return undefined;
      }
      if (options.lenient && sawHeader && error instanceof RecordingError) {
        options.onWarning?.(`${error.message}; line skipped (lenient)`);
        return undefined;
      }
      throw error;
    }
  };
  try {
    const take = (piece: string): string => {
      pending.push(piece);
      const text = pending.length === 1 ? pending[0] : pending.join("");
      pending = [];
      return text;
    };
    for await (const chunk of file.readable) {
      const text = decoder.decode(chunk, { stream: true });
      let start = 0;
      let newline = text.indexOf("\n");
      while (newline >= 0) {
        const parsed = parse(take(text.slice(start, newline)), false);
        if (parsed) yield parsed;
        start = newline + 1;
        newline = text.indexOf("\n", start);
      }
      if (start < text.length) pending.push(text.slice(start));
    }
    const rest = take(decoder.decode());
    if (rest !== "") {
      const parsed = parse(rest, true);
      if (parsed) yield parsed;
    }
    if (!sawHeader) {
      throw new RecordingError("the file is empty: no header", { line: 1, path: name });
    }
  } finally {
    try {
      file.close();
    } catch {
      // the readable stream closed it
    }
  }
}

/** Everything recorded about one connection. */
export interface RecordedConnection {
  /** The connection number. */
  conn: number;
  /** The client's address. */
  client?: string;
  /** When it opened (`t` of its `open` event). */
  opened?: number;
  /** How it ended, when the recording says. */
  closed?: { t: number; reason: string; bytes: { client: number; server: number } };
  /** The server's greeting, as recorded. */
  greeting?: Record<string, unknown>;
  /** The authentication exchange, in order. */
  auth: { from: "client" | "server"; packet: Record<string, unknown> }[];
  /** Why decoding stopped, when it did. */
  opaque?: string;
  /** `zlib` when the connection used the compressed protocol after its login. */
  compression?: "zlib";
  /** Its commands, whole, in recorded order. */
  commands: RecordedCommand[];
}

/** A whole recording, gathered per connection. */
export interface Recording {
  /** The file read. */
  path: string;
  /** Its header. */
  header: HeaderEvent;
  /** Its connections by number. */
  connections: Map<number, RecordedConnection>;
  /** Column sets by id. */
  columnSets: Map<number, ColumnJson[]>;
  /** Lines read. */
  lines: number;
}

/**
 * Loads a recording into memory, connection by connection, with split commands put together.
 *
 * @example
 * ```ts ignore
 * import { loadRecording } from "./reader.ts";
 * const recording = await loadRecording("recordings/demo.jsonl");
 * for (const connection of recording.connections.values()) console.log(connection.commands.length);
 * ```
 */
export async function loadRecording(
  path: string | URL,
  options: ReadRecordingOptions = {},
): Promise<Recording> {
  const name = path instanceof URL ? path.pathname : path;
  const connections = new Map<number, RecordedConnection>();
  const columnSets = new Map<number, ColumnJson[]>();
  const merger = new CommandMerger();
  let header: HeaderEvent | undefined;
  let lines = 0;
  const connection = (conn: number) => {
    let c = connections.get(conn);
    if (!c) {
      c = { conn, auth: [], commands: [] };
      connections.set(conn, c);
    }
    return c;
  };
  const addCommand = (command: RecordedCommand | undefined) => {
    if (command) connection(command.event.conn).commands.push(command);
  };
  // Order checks (the same as `inspect`): what a line refers to must come before it.
  const opened = new Set<number>();
  const closed = new Set<number>();
  const early = new Set<number>();
  const ordered = (conn: number, line: number, type: string) => {
    if (closed.has(conn)) {
      throw new RecordingError(`connection ${conn} has a "${type}" line after its "close" line`, {
        line,
        path: name,
      });
    }
    if (type !== "open" && !opened.has(conn) && !early.has(conn)) {
      early.add(conn);
      options.onWarning?.(`${name}:${line}: connection ${conn} has events before its "open" line`);
    }
  };
  const defined = (elements: readonly unknown[], line: number) => {
    for (const element of elements) {
      const e = element as Record<string, unknown>;
      const prepared = e.prepared as Record<string, unknown> | undefined;
      for (const id of [e.columns, e.fields, prepared?.params, prepared?.columns]) {
        if (id !== undefined && (typeof id !== "number" || !columnSets.has(id))) {
          throw new RecordingError(
            `column set ${JSON.stringify(id)} is used before a "columns" line defines it`,
            { line, path: name },
          );
        }
      }
    }
  };
  for await (const { line, event } of readRecording(path, options)) {
    lines = line;
    try {
      if (event.type !== "header" && event.type !== "columns") {
        ordered(event.conn, line, event.type);
      }
      switch (event.type) {
        case "header":
          header = event;
          break;
        case "open": {
          if (opened.has(event.conn)) {
            throw new RecordingError(`connection ${event.conn} is opened twice`, {
              line,
              path: name,
            });
          }
          opened.add(event.conn);
          const c = connection(event.conn);
          c.client = event.client;
          c.opened = event.t;
          break;
        }
        case "close":
          closed.add(event.conn);
          connection(event.conn).closed = { t: event.t, reason: event.reason, bytes: event.bytes };
          break;
        case "greeting":
          connection(event.conn).greeting = event.packet;
          break;
        case "auth":
          connection(event.conn).auth.push({ from: event.from, packet: event.packet });
          if (event.compression === "zlib") connection(event.conn).compression = "zlib";
          break;
        case "opaque":
          connection(event.conn).opaque = event.reason;
          break;
        case "columns":
          columnSets.set(event.id, event.columns);
          break;
        case "command":
          defined(commandElements(event as CommandEvent), line);
          addCommand(merger.command(event as CommandEvent));
          break;
        case "rows":
          merger.rows(event);
          break;
        case "results":
          defined(Array.isArray(event.results) ? event.results : [], line);
          merger.results(event);
          break;
        case "end":
          defined(Array.isArray(event.results) ? event.results : [], line);
          addCommand(merger.end(event));
          break;
      }
    } catch (error) {
      if (!(error instanceof TypeError || error instanceof RecordingError)) throw error;
      const problem = error instanceof RecordingError
        ? error
        : new RecordingError(error.message, { line, path: name, cause: error });
      if (!options.lenient) throw problem;
      options.onWarning?.(`${problem.message}; line skipped (lenient)`);
    }
  }
  for (const command of merger.drain()) {
    options.onWarning?.(
      `${name}: command ${command.event.n} of connection ${command.event.conn} was cut short; kept as far as it got`,
    );
    addCommand(command);
  }
  for (const c of connections.values()) c.commands.sort((a, b) => a.event.t - b.event.t);
  return { path: name, header: header!, connections, columnSets, lines };
}
