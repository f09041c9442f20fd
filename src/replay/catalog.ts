/**
 * The recordings replay serves, loaded and merged: each recorded connection with its login and its
 * commands turned into {@link Exchange}s (a request to match, a response to render), the column
 * sets of each file, and the greeting to imitate.
 *
 * @module
 */

import { join } from "node:path";
import type { ColumnJson, HeaderEvent } from "../record/events.ts";
import { loadRecording, type ReadRecordingOptions } from "../record/reader.ts";
import type { RecordedCommand } from "../record/merge.ts";
import { jsonToColumn } from "../record/columns.ts";
import { jsonToMessage } from "../record/values.ts";
import type { ColumnDefinition41 } from "../protocol/resultset.ts";
import {
  type HandshakeResponse,
  type HandshakeV10,
  negotiatedContext,
} from "../protocol/handshake.ts";
import type { CodecContext } from "../protocol/context.ts";
import {
  boundParameterTypes,
  type ComStmtExecute,
  type ParameterType,
  parseStmtExecute,
  serializeStmtExecute,
} from "../protocol/statement.ts";
import { binaryValueToJson, typeFromName } from "../record/values.ts";
import { recordedRequest, type Request, SqlCache } from "./keys.ts";
import type { Redactor } from "../record/assemble.ts";

/** One recording file. */
export interface Source {
  path: string;
  header: HeaderEvent;
  /** Column sets by id, as written. */
  columnSets: Map<number, ColumnJson[]>;
  /** Decoded column sets by `id:extended`. */
  decoded: Map<string, ColumnDefinition41[]>;
}

/** How a recorded client logged in. */
export interface RecordedLogin {
  user?: string;
  database?: string;
  /** The plugin the client started with. */
  plugin?: string;
  /** The client's character set (collation id), which labels the text columns it was sent. */
  characterSet?: number;
  /** The server's auth switch, when it sent one: the plugin and the length of its data. */
  switchTo?: { pluginName: string; dataLength: number; nul: boolean };
}

/** A recorded connection. */
export interface RecordedConnection {
  /** `file.jsonl#3`. */
  name: string;
  /** Position among all recorded connections (files in order, then connection numbers). */
  order: number;
  source: Source;
  conn: number;
  login: RecordedLogin;
  /** Its commands that carry data (not session commands), in recorded order. */
  exchanges: Exchange[];
  /** Index in `exchanges` of the first one not served yet (advanced lazily). */
  progress: number;
  /** The live connection it serves, while one is bound to it. */
  boundTo?: number;
}

/** A recorded command with its response: what a live request is matched against. */
export interface Exchange {
  /** Position among all exchanges of all files (recorded order). */
  order: number;
  connection: RecordedConnection;
  /** Index in `connection.exchanges` (data exchanges only; -1 for session commands). */
  position: number;
  request: Request;
  command: RecordedCommand;
  /** Times served. */
  uses: number;
  /** The response asks the client for a file (LOCAL INFILE): only an exact match may serve it. */
  infile: boolean;
  /** The server status after the response, when the response says (OK, EOF or end of rows). */
  statusAfter?: number;
  /** The column set of the response's first result set that sent its definitions. */
  resultColumns?: number;
  /** Framed responses already rendered, by codec context. */
  rendered?: Map<string, Uint8Array>;
  /** The user the command ran as, when a COM_CHANGE_USER before it changed the login's. */
  user?: string;
}

/** Everything replay serves. */
export interface Catalog {
  sources: Source[];
  connections: RecordedConnection[];
  exchanges: Exchange[];
  /** The greeting to send (its scramble and connection id are replaced per client). */
  greeting: HandshakeV10 | undefined;
  /** User names that logged in (or changed user) in the recordings. */
  users: Set<string>;
  /** Databases the recordings used: at login, with USE and COM_INIT_DB. */
  databases: Set<string>;
  /** Commands left out, with the reason (responses cut short). */
  skipped: string[];
  /** The SQL normalizer shared with the live side. */
  sql: SqlCache;
  /**
   * The recordings' `--redact` rules with their key, when replay was given it: live SQL and
   * parameters get the same pseudonyms as the recorded ones, so they match exactly.
   */
  redactor?: Redactor;
  /** The `--redact` rules of the recordings (all files'), as written. */
  redactRules: string[];
}

/** Options of {@link loadCatalog}. */
export interface LoadOptions extends ReadRecordingOptions {}

/**
 * Lists the recording files of `paths`: files as given, directories as their `*.jsonl` files in
 * name order.
 *
 * @example
 * ```ts ignore
 * const files = await recordingFiles(["recordings/"]);
 * ```
 */
export async function recordingFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`Cannot read recording ${path}: no such file or directory`);
      }
      throw error;
    }
    if (!info.isDirectory) {
      files.push(path);
      continue;
    }
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile && entry.name.endsWith(".jsonl")) names.push(entry.name);
    }
    if (names.length === 0) {
      throw new Deno.errors.NotFound(`Cannot replay directory ${path}: it has no *.jsonl files`);
    }
    files.push(...names.sort().map((name) => join(path, name)));
  }
  if (files.length === 0) throw new TypeError("Cannot replay: no recording given");
  return files;
}

/**
 * Loads and merges recordings (files, or directories of `*.jsonl` files).
 *
 * @example
 * ```ts ignore
 * const catalog = await loadCatalog(["recordings/demo.jsonl"]);
 * console.log(catalog.exchanges.length);
 * ```
 */
export async function loadCatalog(
  paths: readonly string[],
  options: LoadOptions = {},
): Promise<Catalog> {
  const catalog: Catalog = {
    sources: [],
    connections: [],
    exchanges: [],
    greeting: undefined,
    users: new Set(),
    databases: new Set(),
    skipped: [],
    sql: new SqlCache(),
    redactRules: [],
  };
  for (const path of await recordingFiles(paths)) {
    const recording = await loadRecording(path, options);
    const source: Source = {
      path,
      header: recording.header,
      columnSets: recording.columnSets,
      decoded: new Map(),
    };
    catalog.sources.push(source);
    for (const rule of recording.header.redaction?.rules ?? []) {
      if (!catalog.redactRules.includes(rule)) catalog.redactRules.push(rule);
    }
    const numbers = [...recording.connections.keys()].sort((a, b) => a - b);
    for (const number of numbers) {
      const recorded = recording.connections.get(number)!;
      if (!catalog.greeting && recorded.greeting) {
        catalog.greeting = jsonToMessage(recorded.greeting) as HandshakeV10;
      }
      const connection: RecordedConnection = {
        name: `${path}#${number}`,
        order: catalog.connections.length,
        source,
        conn: number,
        login: loginOf(recorded.auth),
        exchanges: [],
        progress: 0,
      };
      catalog.connections.push(connection);
      if (connection.login.user !== undefined) catalog.users.add(connection.login.user);
      if (connection.login.database) catalog.databases.add(connection.login.database);
      const statements = new StatementTracker(contextOf(recorded.greeting, recorded.auth), source);
      let user: string | undefined;
      for (const command of recorded.commands) {
        const added = addCommand(catalog, connection, statements.resolve(command));
        if (added && user !== undefined) added.user = user;
        const event = command.event;
        if (event.cmd === "change-user" && typeof event.user === "string" && !isError(command)) {
          user = event.user;
        }
      }
    }
  }
  return catalog;
}

function addCommand(
  catalog: Catalog,
  connection: RecordedConnection,
  command: RecordedCommand,
): Exchange | undefined {
  const event = command.event;
  if (event.cmd === "change-user" && typeof event.user === "string") catalog.users.add(event.user);
  const request = recordedRequest(event, catalog.sql);
  if (!request) return;
  if (command.incomplete || command.us === undefined) {
    catalog.skipped.push(
      `${connection.name}: ${request.text} has no complete response (the recording cut it short)`,
    );
    return;
  }
  if (request.schema !== undefined && !isError(command)) catalog.databases.add(request.schema);
  const exchange: Exchange = {
    order: catalog.exchanges.length,
    connection,
    position: request.session ? -1 : connection.exchanges.length,
    request,
    command,
    uses: 0,
    infile: command.elements.some((element) => "infile" in element),
  };
  const status = finalStatus(command);
  if (status !== undefined) exchange.statusAfter = status;
  const resultSet = command.elements.find((e) => "rows" in e && e.columns !== undefined);
  if (resultSet && "columns" in resultSet && typeof resultSet.columns === "number") {
    exchange.resultColumns = resultSet.columns;
  }
  catalog.exchanges.push(exchange);
  if (!request.session) connection.exchanges.push(exchange);
  return exchange;
}

/** The recorded connection's negotiated capabilities, when its login was recorded. */
function contextOf(
  greeting: Record<string, unknown> | undefined,
  auth: { from: "client" | "server"; packet: Record<string, unknown> }[],
): CodecContext | undefined {
  const response = auth.find((a) =>
    a.from === "client" && String(a.packet.kind).startsWith("handshake-response")
  );
  if (!greeting || !response) return undefined;
  return negotiatedContext(
    jsonToMessage(greeting) as HandshakeV10,
    jsonToMessage(response.packet) as HandshakeResponse,
  );
}

/**
 * Follows a recorded connection's prepared statements (parameter counts and bound types) to
 * decode the executes the recorder could not: a client that pipelines (npm:mariadb sends
 * COM_STMT_EXECUTE for "the statement prepared last" before the PREPARE_OK comes back) leaves
 * them as `packet` with undecoded bytes, which the statement's prepare now explains.
 */
class StatementTracker {
  #statements = new Map<string, { parameterCount: number; previousTypes?: ParameterType[] }>();
  #context: CodecContext | undefined;
  #source: Source;

  constructor(context: CodecContext | undefined, source: Source) {
    this.#context = context;
    this.#source = source;
  }

  resolve(command: RecordedCommand): RecordedCommand {
    const event = command.event;
    if (typeof event.sql !== "string") return command;
    if (event.cmd === "stmt-prepare") {
      const element = command.elements.find((e) => "prepared" in e) as
        | { prepared: { params?: number; packet?: Record<string, unknown> } }
        | undefined;
      if (!element) return command;
      const { params, packet } = element.prepared;
      const parameterCount = typeof packet?.numParams === "number"
        ? packet.numParams
        : params === undefined
        ? 0
        : this.#source.columnSets.get(params)?.length ?? 0;
      this.#statements.set(event.sql, { parameterCount });
      return command;
    }
    if (event.cmd !== "stmt-execute") return command;
    const statement = this.#statements.get(event.sql);
    if (!statement) return command;
    if (Array.isArray(event.params)) {
      if (Array.isArray(event.types)) {
        try {
          statement.previousTypes = (event.types as string[]).map(parameterType);
        } catch {
          // A type this code cannot name: later undecoded executes stay undecoded.
        }
      }
      return command;
    }
    if (!event.packet || !this.#context) return command;
    try {
      const message = jsonToMessage(event.packet) as ComStmtExecute;
      const payload = serializeStmtExecute(message, this.#context);
      const decoded = parseStmtExecute(payload, this.#context, statement);
      if (decoded.undecoded !== undefined) return command;
      if (decoded.newParamsBound) statement.previousTypes = boundParameterTypes(decoded);
      const params = decoded.params.map((p) =>
        "longData" in p ? null : binaryValueToJson(p.value, p.type)
      );
      const longData = decoded.params.flatMap((p, i) => "longData" in p ? [i] : []);
      const resolved: typeof event = { ...event, params };
      if (longData.length > 0) resolved.longData = longData;
      return { ...command, event: resolved };
    } catch {
      return command;
    }
  }
}

/** `VAR_STRING!u` -> the type, unsigned. */
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

function isError(command: RecordedCommand): boolean {
  return command.elements.some((element) => "error" in element);
}

/** The status flags the last OK, EOF or end of rows of a response carries. */
function finalStatus(command: RecordedCommand): number | undefined {
  for (let i = command.elements.length - 1; i >= 0; i--) {
    const element = command.elements[i] as Record<string, unknown>;
    for (const key of ["ok", "eof", "end"]) {
      if (!(key in element)) continue;
      const value = element[key] as Record<string, unknown> | null | undefined;
      if (value === null) continue;
      if (value === undefined) return 2;
      if ("packet" in value) return undefined;
      return typeof value.status === "number" ? value.status : 2;
    }
    if ("rows" in element) return 2; // an end with all defaults is omitted
  }
  return undefined;
}

function loginOf(auth: { from: "client" | "server"; packet: Record<string, unknown> }[]) {
  const login: RecordedLogin = {};
  for (const { from, packet } of auth) {
    const kind = packet.kind;
    if (from === "client" && typeof kind === "string" && kind.startsWith("handshake-response")) {
      if (typeof packet.username === "string") login.user = packet.username;
      if (typeof packet.database === "string") login.database = packet.database;
      if (typeof packet.authPluginName === "string") login.plugin = packet.authPluginName;
      if (typeof packet.characterSet === "number") login.characterSet = packet.characterSet;
    } else if (from === "server" && kind === "auth-switch-request") {
      const data = jsonToMessage(packet.pluginData);
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(0);
      login.switchTo = {
        pluginName: String(packet.pluginName),
        dataLength: bytes.length > 0 && bytes[bytes.length - 1] === 0
          ? bytes.length - 1
          : bytes.length,
        nul: bytes.length > 0 && bytes[bytes.length - 1] === 0,
      };
    }
  }
  return login;
}

/**
 * The column definitions of column set `id` of `source`, with MariaDB's extended metadata when
 * the live client negotiated it.
 *
 * @example
 * ```ts ignore
 * const columns = columnSet(exchange.connection.source, 3, false);
 * ```
 */
export function columnSet(source: Source, id: number, extended: boolean): ColumnDefinition41[] {
  const key = `${id}:${extended}`;
  let columns = source.decoded.get(key);
  if (!columns) {
    const json = source.columnSets.get(id);
    if (!json) {
      throw new TypeError(`${source.path}: column set ${id} is used but never defined`);
    }
    columns = json.map((column, i) =>
      jsonToColumn(column, extended, `${source.path}: column ${i} of set ${id}`)
    );
    source.decoded.set(key, columns);
  }
  return columns;
}
