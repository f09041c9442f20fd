/**
 * Drives the client side of a recording against a live server: each recorded connection logs in
 * with the credentials given (never the recorded, redacted auth data) and its recorded default
 * schema, then sends its recorded commands in recorded order; prepared statements are re-prepared
 * and their ids mapped; LOCAL INFILE requests are answered with the recorded file. Each command is
 * yielded with the live response next to the recorded one, both in recording form.
 *
 * Connections run at the same time, in the order the recording shows: a command waits for the
 * commands of other connections that had finished before it started (see `pacer.ts`).
 *
 * @module
 */

import { MariaDbCapability } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import type { Endpoint } from "../net/endpoint.ts";
import { loadRecording, type RecordedConnection, type Recording } from "../record/reader.ts";
import type { ColumnJson } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";
import type { Redactor } from "../record/assemble.ts";
import { connect, type MysqlConnection } from "../client/connection.ts";
import type { CommandResult } from "../client/result.ts";
import type { ClientTlsOptions } from "../client/tls.ts";
import { LiveStatements, planCommand, recordedInfile, statementKey } from "./commands.ts";
import { LiveColumns, LiveRecorder } from "./live_record.ts";
import { type PacedCommand, Pacer } from "./pacer.ts";

/** Options of {@link driveRecording}. */
export interface DriveOptions {
  /** The live server: `HOST:PORT`, `unix:/PATH` or an endpoint. */
  server: string | Endpoint;
  /** Every connection logs in as this user (recorded auth data is redacted and never used). */
  user: string;
  /** The password of `user`. */
  password?: string;
  /**
   * Passwords of recorded users: a connection recorded as one of them (or a COM_CHANGE_USER to
   * one of them) logs in as that user with this password, instead of `user`/`password`.
   */
  users?: Readonly<Record<string, string>>;
  /** The default schema of every connection; default each connection's recorded one. */
  database?: string;
  /** TLS for the live connections (default: none). */
  tls?: ClientTlsOptions;
  /** The server's RSA public key (PEM) for caching_sha2_password without TLS. */
  serverPublicKey?: string;
  /**
   * How many connections may be open at once; default unlimited (as the recording had them). With
   * 1, connections run one after another, each from its first command to its last.
   */
  concurrency?: number;
  /** How long connecting and logging in may take (ms). */
  connectTimeoutMs?: number;
  /**
   * Applied to live responses before they take recording form: pass the recording's redactor
   * (its rules and key, `createRedactor`) so that live values get the same pseudonyms.
   */
  redactor?: Redactor;
  /** Stops driving: open connections close, no new command is sent. */
  signal?: AbortSignal;
  /** Warnings about the recording (a truncated last line). */
  onWarning?: (warning: string) => void;
}

/** One recorded command and what the live server answered. */
export interface DrivenCommand {
  /** A command was sent (or skipped). */
  kind: "command";
  /** The recorded connection. */
  conn: number;
  /** The command's position on its recorded connection, from 0. */
  index: number;
  /** The recorded command, with its recorded response. */
  recorded: RecordedCommand;
  /** The live response in recording form; absent when the command was not sent. */
  live?: RecordedCommand;
  /** The raw live result (decoded packets, server payloads, timings). */
  result?: CommandResult;
  /** Why the command was not sent. */
  skipped?: string;
  /** The live connection's negotiated capabilities. */
  context?: Readonly<CodecContext>;
  /** Column sets of the recording, by id (what `recorded` refers to). */
  recordedColumns: ReadonlyMap<number, ColumnJson[]>;
  /** Column sets of the live responses, by id (what `live` refers to). */
  liveColumns: ReadonlyMap<number, ColumnJson[]>;
}

/** Something that happened to a whole connection. */
export interface DrivenConnection {
  /** Something happened to a whole connection. */
  kind: "connection";
  /** The recorded connection. */
  conn: number;
  /**
   * `opened`; `failed` (could not connect or log in); `lost` (the connection failed midway);
   * `not-driven` (nothing recorded to send: an opaque or login-only connection).
   */
  event: "opened" | "failed" | "lost" | "not-driven";
  /** What went wrong, for `failed` and `lost`. */
  error?: Error;
  /** Why, for `not-driven`. */
  reason?: string;
  /** Recorded commands left unsent because of the failure. */
  notRun?: number;
  /** The live server's id for the connection, once opened. */
  connectionId?: number;
}

/** What {@link driveRecording} yields. */
export type DriveEvent = DrivenCommand | DrivenConnection;

interface Shared {
  options: DriveOptions;
  recording: Recording;
  pacer: Pacer;
  columns: LiveColumns;
  emit(event: DriveEvent): void;
  slots: Semaphore;
  signal: AbortSignal;
  /** Recorded server connection id -> live one, for COM_PROCESS_KILL. */
  connectionIds: Map<number, number>;
}

/**
 * Drives a recording (a path, or one loaded with `loadRecording`) against a live server and
 * yields, per command, the live response next to the recorded one, plus connection events.
 * Commands of one connection come in recorded order; connections interleave.
 *
 * @example
 * ```ts ignore
 * import { driveRecording } from "./drive.ts";
 * for await (const event of driveRecording("recordings/demo.jsonl", {
 *   server: "127.0.0.1:3306", user: "app", password: "pw",
 * })) {
 *   if (event.kind === "command" && event.live) console.log(event.recorded.event.cmd, event.live.elements);
 * }
 * ```
 */
export async function* driveRecording(
  recording: string | Recording,
  options: DriveOptions,
): AsyncGenerator<DriveEvent> {
  const concurrency = options.concurrency ?? Infinity;
  if (!(concurrency >= 1)) {
    throw new RangeError(
      `Cannot drive a recording: concurrency must be at least 1, got ${concurrency}`,
    );
  }
  const loaded = typeof recording === "string"
    ? await loadRecording(recording, { onWarning: options.onWarning })
    : recording;
  const connections = [...loaded.connections.values()].sort((a, b) =>
    firstTime(a) - firstTime(b) || a.conn - b.conn
  );
  const paced: PacedCommand[] = [];
  const indexes = new Map<RecordedConnection, number>();
  for (const connection of connections) {
    indexes.set(connection, paced.length);
    for (const command of connection.commands) {
      const start = command.event.t;
      paced.push({ conn: connection.conn, start, end: start + (command.us?.[1] ?? 0) });
    }
  }
  const queue: DriveEvent[] = [];
  let wake: (() => void) | undefined;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const shared: Shared = {
    options,
    recording: loaded,
    pacer: new Pacer(paced),
    columns: new LiveColumns(),
    emit(event) {
      queue.push(event);
      const resume = wake;
      wake = undefined;
      resume?.();
    },
    slots: new Semaphore(concurrency),
    signal,
    connectionIds: new Map(),
  };
  signal.addEventListener("abort", () => {
    shared.pacer.stop();
    shared.slots.stop();
  }, { once: true });
  let running = connections.length;
  const tasks = connections.map((connection) =>
    driveConnection(connection, indexes.get(connection)!, shared).finally(() => {
      running--;
      const resume = wake;
      wake = undefined;
      resume?.();
    })
  );
  try {
    while (running > 0 || queue.length > 0) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => wake = resolve);
        continue;
      }
      yield queue.shift()!;
    }
  } finally {
    stop.abort();
    await Promise.allSettled(tasks);
  }
}

function firstTime(connection: RecordedConnection): number {
  return connection.opened ?? connection.commands[0]?.event.t ?? 0;
}

/** The recorded login: who, which schema, which capabilities and character set. */
function recordedLogin(connection: RecordedConnection) {
  const response = connection.auth.find((a) =>
    a.from === "client" && a.packet.kind === "handshake-response-41"
  )?.packet;
  const number = (value: unknown) => typeof value === "number" ? value : undefined;
  return {
    user: typeof response?.username === "string" ? response.username : undefined,
    database: typeof response?.database === "string" ? response.database : undefined,
    capabilities: number(response?.capabilities),
    mariadbCapabilities: number(response?.mariadbCapabilities),
    characterSet: number(response?.characterSet),
  };
}

async function driveConnection(
  recorded: RecordedConnection,
  first: number,
  shared: Shared,
): Promise<void> {
  const { pacer, options, signal } = shared;
  const commands = recorded.commands;
  if (commands.length === 0) {
    shared.emit({
      kind: "connection",
      conn: recorded.conn,
      event: "not-driven",
      reason: recorded.opaque
        ? `it was not decoded when recorded (${recorded.opaque})`
        : "no command was recorded on it",
    });
    return;
  }
  await shared.slots.acquire();
  let client: MysqlConnection | undefined;
  let sent = 0;
  try {
    if (signal.aborted) return;
    pacer.admit(recorded.conn);
    await pacer.turn(first);
    if (signal.aborted) return;
    const login = recordedLogin(recorded);
    try {
      client = await connect({
        server: options.server,
        ...credentials(options, login.user),
        database: options.database ?? login.database,
        tls: options.tls,
        serverPublicKey: options.serverPublicKey,
        connectTimeoutMs: options.connectTimeoutMs,
        // The recorded client's capabilities, so the server answers in the same form; without
        // MariaDB's metadata cache, so every live result carries its column definitions.
        capabilities: login.capabilities,
        mariadbCapabilities: login.mariadbCapabilities === undefined
          ? undefined
          : login.mariadbCapabilities & ~MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA,
        characterSet: login.characterSet,
      });
    } catch (error) {
      shared.emit({
        kind: "connection",
        conn: recorded.conn,
        event: "failed",
        error: error as Error,
        notRun: commands.length,
      });
      return;
    }
    const greetingId = recordedGreetingId(recorded);
    if (greetingId !== undefined) shared.connectionIds.set(greetingId, client.connectionId);
    shared.emit({
      kind: "connection",
      conn: recorded.conn,
      event: "opened",
      connectionId: client.connectionId,
    });
    const live = client;
    const recorder = new LiveRecorder(
      recorded.conn,
      shared.columns,
      () => live.context,
      options.redactor,
    );
    const statements = new LiveStatements();
    const planContext = {
      statements,
      liveConnectionId: (id: number) => shared.connectionIds.get(id),
    };
    for (let index = 0; index < commands.length; index++) {
      const command = commands[index];
      if (index > 0) await pacer.turn(first + index);
      if (signal.aborted) return;
      const base = {
        kind: "command" as const,
        conn: recorded.conn,
        index,
        recorded: command,
        context: live.context,
        recordedColumns: shared.recording.columnSets,
        liveColumns: shared.columns.sets,
      };
      const plan = planCommand(command.event, planContext);
      if (plan.kind === "skip") {
        shared.emit({ ...base, skipped: plan.reason });
        pacer.done(first + index);
        sent++;
        continue;
      }
      let result: CommandResult;
      if (plan.kind === "change-user") {
        result = await live.changeUser({
          ...credentials(
            options,
            typeof command.event.user === "string" ? command.event.user : undefined,
          ),
          database: plan.schema,
        });
        statements.reset();
      } else {
        const infile = recordedInfile(command.elements);
        result = await live.command(plan.command, { localInfile: () => infile ?? null });
        if (result.prepared && plan.command.kind === "COM_STMT_PREPARE") {
          statements.prepared(
            statementKey(command.event.sql),
            result.prepared.statementId,
            recordedStatementId(command),
          );
        }
        if (plan.command.kind === "COM_RESET_CONNECTION" && result.ok) statements.reset();
      }
      sent++;
      shared.emit({ ...base, live: recorder.record(result), result });
      pacer.done(first + index);
      if (live.closed) break;
    }
  } catch (error) {
    shared.emit({
      kind: "connection",
      conn: recorded.conn,
      event: "lost",
      error: error as Error,
      notRun: commands.length - sent,
    });
  } finally {
    pacer.retire(recorded.conn);
    if (client && !client.closed) await client.close().catch(() => {});
    shared.slots.release();
  }
}

/** Who to log in as for a recorded user: the user itself when `users` knows it. */
function credentials(options: DriveOptions, recorded: string | undefined) {
  const password = recorded === undefined ? undefined : options.users?.[recorded];
  return password === undefined
    ? { user: options.user, password: options.password }
    : { user: recorded!, password };
}

function recordedStatementId(command: RecordedCommand): number | undefined {
  for (const element of command.elements) {
    if ("prepared" in element) return element.prepared.id;
  }
  return undefined;
}

function recordedGreetingId(connection: RecordedConnection): number | undefined {
  const id = connection.greeting?.connectionId;
  return typeof id === "number" ? id : undefined;
}

/** Limits how many connections are open at once. */
class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  /** Wakes every waiter: driving stops (each sees the abort and returns). */
  stop(): void {
    this.#free = Infinity;
    for (const waiting of this.#waiting.splice(0)) waiting();
  }

  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
