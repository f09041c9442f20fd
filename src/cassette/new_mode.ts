/**
 * The `new` cassette mode's other half: replay serves what the cassette knows, and hands every
 * command it cannot answer to {@link startNewEpisodes}'s fallback, which forwards it to the real
 * server over a connection of its own (one per live connection, logged in with the cassette's
 * credentials), records the exchange, and gives the answer back to replay to serve. On close the
 * recorded connections are appended to the cassette, so the next run replays them.
 *
 * What the forwarding connection knows of the live session: its database (kept in step with
 * `USE`), and the SQL of its prepared statements (re-prepared on demand). What it does not: a
 * transaction, session variables or temporary tables the replayed part of the session set up,
 * and the rows replayed writes would have changed. A forwarded command runs against the real
 * server's data as it is.
 *
 * @module
 */

import { Capability } from "../protocol/constants.ts";
import type { ClientCommand } from "../protocol/commands.ts";
import { connect, type MysqlConnection } from "../client/connection.ts";
import { ConnectionRecorder } from "../record/assemble.ts";
import { ColumnRegistry } from "../record/columns.ts";
import type { ColumnJson, CommandEvent, RecordingEvent } from "../record/events.ts";
import { CommandMerger } from "../record/merge.ts";
import { loadRecording } from "../record/reader.ts";
import { createRedactor, type RedactRule } from "../record/redact.ts";
import type { FallbackAnswer, FallbackRequest, ReplayFallback } from "../replay/fallback.ts";
import type { Logger } from "../log.ts";
import { describeServer, SERVER_VARIABLE, type ServerTarget } from "./config.ts";
import { shiftColumnIds } from "./append.ts";

/** What the `new` mode needs from the cassette's options. */
export interface NewEpisodesOptions {
  redact?: (string | RedactRule)[];
  redactKey?: string;
  connectTimeoutMs?: number;
  logger?: Logger;
}

/** The forwarding side of a `new` cassette. */
export interface NewEpisodes {
  /** Give it to `replay()`. */
  fallback: ReplayFallback;
  /** Commands forwarded and recorded so far. */
  readonly forwarded: number;
  /** Why commands could not be forwarded (they missed instead). */
  readonly problems: readonly string[];
  /** Closes the forwarding connections and appends what they recorded to the cassette. */
  close(): Promise<void>;
}

interface Upstream {
  client: MysqlConnection;
  recorder: ConnectionRecorder;
  database?: string;
  /** Statement ids on the real server, by SQL. */
  statements: Map<string, number>;
  /** SQL of statements whose last forwarded execute opened a cursor. */
  cursors: Set<string>;
  /** The command line the recorder emitted last. */
  capture: { event?: CommandEvent };
}

/** Capabilities the forwarding connection takes from the live client (what shapes responses). */
const MIRRORED = Capability.CLIENT_FOUND_ROWS | Capability.CLIENT_MULTI_STATEMENTS |
  Capability.CLIENT_MULTI_RESULTS | Capability.CLIENT_PS_MULTI_RESULTS |
  Capability.CLIENT_LOCAL_FILES | Capability.CLIENT_DEPRECATE_EOF |
  Capability.CLIENT_SESSION_TRACK | Capability.CLIENT_IGNORE_SPACE;

/**
 * Prepares the fallback of a `new` cassette: reads the cassette (to number what it appends after
 * what it holds) and checks that the server's credentials are known.
 *
 * @example
 * ```ts ignore
 * const episodes = await startNewEpisodes("cassettes/shop.jsonl", target, {});
 * await using db = await replay("cassettes/shop.jsonl", { fallback: episodes.fallback });
 * // ... then, after db.close():
 * await episodes.close();
 * ```
 */
export async function startNewEpisodes(
  path: string,
  server: ServerTarget,
  options: NewEpisodesOptions,
): Promise<NewEpisodes> {
  if (server.user === undefined) {
    throw new TypeError(
      `Cannot extend cassette ${path} in mode "new": it forwards new commands over connections ` +
        `of its own, which need credentials. Give the server as ` +
        `mysql://USER:PASSWORD@HOST:PORT/DATABASE (${SERVER_VARIABLE} or options.server; now ` +
        `${describeServer(server)})`,
    );
  }
  const text = await Deno.readTextFile(path);
  if (text.length > 0 && !text.endsWith("\n")) {
    throw new SyntaxError(
      `Cannot extend cassette ${path}: its last line is cut short; record it again`,
    );
  }
  const recording = await loadRecording(path);
  const created = Date.parse(recording.header.created);
  const firstConn = Math.max(0, ...recording.connections.keys()) + 1;
  const columnOffset = Math.max(0, ...recording.columnSets.keys());
  const rules = [...(recording.header.redaction?.rules ?? [])];
  for (const rule of options.redact ?? []) {
    if (typeof rule !== "string" || !rules.includes(rule)) rules.push(rule as string);
  }
  const redactor = createRedactor({ rules, key: options.redactKey });
  const lines: string[] = [];
  const sets = new Map<number, ColumnJson[]>();
  const upstreams = new Map<number, Promise<Upstream | undefined>>();
  const closing: Promise<void>[] = [];
  const problems: string[] = [];
  let nextConn = firstConn;
  let forwarded = 0;
  const now = () => Math.max(0, Math.round((Date.now() - created) * 1000));

  const write = (event: RecordingEvent) => {
    const line = JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
    if (line.type === "columns") line.id = (line.id as number) + columnOffset;
    else shiftColumnIds(line, columnOffset);
    // As the recording writer does: command lines go without their `type`.
    if (line.type === "command") delete line.type;
    lines.push(JSON.stringify(line) + "\n");
  };
  const registry = new ColumnRegistry((event) => {
    sets.set(event.id, event.columns);
    write(event);
  });

  const problem = (request: FallbackRequest, why: string) => {
    const text = `${request.request}: ${why}`;
    problems.push(text);
    options.logger?.log("warn", "cassette-not-forwarded", `Cannot forward ${text}`, {
      connection: request.connection,
    });
    return undefined;
  };

  const open = async (request: FallbackRequest): Promise<Upstream | undefined> => {
    const conn = nextConn++;
    const client = await connect({
      server: server.endpoint,
      user: server.user!,
      password: server.password,
      database: request.database ?? server.database,
      capabilities: (request.context.capabilities & MIRRORED) | Capability.CLIENT_LONG_PASSWORD |
        Capability.CLIENT_LONG_FLAG | Capability.CLIENT_TRANSACTIONS |
        Capability.CLIENT_CONNECT_ATTRS,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    const capture: Upstream["capture"] = {};
    const recorder = new ConnectionRecorder({
      conn,
      now,
      context: () => client.context,
      columns: registry,
      emit: (event) => {
        // Serialized now: the assembler reuses its arrays after emitting.
        if (event.type === "command") capture.event = JSON.parse(JSON.stringify(event));
        write(event);
      },
      redactor,
      chunkBytes: Number.MAX_SAFE_INTEGER,
    });
    const upstream: Upstream = {
      client,
      recorder,
      capture,
      database: request.database ?? server.database,
      statements: new Map(),
      cursors: new Set(),
    };
    upstream.recorder.open(`new mode for live connection ${request.connection}`);
    for (const packet of client.loginPackets) upstream.recorder.packet(packet);
    return upstream;
  };

  const run = async (upstream: Upstream, command: ClientCommand) => {
    upstream.capture.event = undefined;
    const result = await upstream.client.command(command);
    for (const packet of result.packets) upstream.recorder.packet(packet);
    const event = upstream.capture.event;
    return { result, recorded: event && new CommandMerger().command(event) };
  };

  const prepared = async (upstream: Upstream, sql: string): Promise<number | undefined> => {
    const known = upstream.statements.get(sql);
    if (known !== undefined) return known;
    const { result } = await run(upstream, { kind: "COM_STMT_PREPARE", sql });
    if (!result.prepared) return undefined;
    upstream.statements.set(sql, result.prepared.statementId);
    return result.prepared.statementId;
  };

  /** The command to send upstream, or why it cannot be forwarded. */
  const translate = async (
    upstream: Upstream,
    request: FallbackRequest,
  ): Promise<ClientCommand | string> => {
    const command = request.command;
    switch (command.kind) {
      case "COM_QUERY":
        return /\bLOCAL\s+INFILE\b/i.test(command.sql)
          ? "LOAD DATA LOCAL INFILE is not forwarded (the client's file is not at hand)"
          : command;
      case "COM_STMT_EXECUTE":
      case "COM_STMT_FETCH": {
        const sql = request.statementSql;
        if (sql === undefined) return "the statement's SQL is not known";
        if (command.kind === "COM_STMT_FETCH" && !upstream.cursors.has(sql)) {
          return "its cursor was opened by a replayed execute, not on the real server";
        }
        if (command.kind === "COM_STMT_EXECUTE" && command.params.some((p) => "longData" in p)) {
          return "parameters sent as long data are not forwarded";
        }
        const id = await prepared(upstream, sql);
        if (id === undefined) return "the real server refused to prepare it";
        if (command.kind === "COM_STMT_FETCH") return { ...command, statementId: id };
        if (command.flags !== 0) upstream.cursors.add(sql);
        else upstream.cursors.delete(sql);
        return { ...command, statementId: id, newParamsBound: true };
      }
      default:
        return command;
    }
  };

  const answer = async (request: FallbackRequest): Promise<FallbackAnswer | undefined> => {
    let pending = upstreams.get(request.connection);
    if (!pending) {
      pending = open(request).catch((error) => {
        upstreams.delete(request.connection);
        return problem(request, `cannot log in to ${describeServer(server)}: ${error.message}`);
      });
      upstreams.set(request.connection, pending);
    }
    const upstream = await pending;
    if (!upstream) return undefined;
    try {
      if (request.database !== undefined && request.database !== upstream.database) {
        await run(upstream, { kind: "COM_INIT_DB", schema: request.database });
        upstream.database = request.database;
      }
      const command = await translate(upstream, request);
      if (typeof command === "string") return problem(request, command);
      const { result, recorded } = await run(upstream, command);
      if (!recorded) return problem(request, "the exchange could not be recorded");
      if (command.kind === "COM_STMT_PREPARE" && result.prepared) {
        upstream.statements.set(command.sql, result.prepared.statementId);
      }
      forwarded++;
      return { command: recorded, columnSets: sets };
    } catch (error) {
      upstreams.delete(request.connection);
      return problem(request, `the forwarding connection failed: ${(error as Error).message}`);
    }
  };

  const finish = async (pending: Promise<Upstream | undefined>) => {
    const upstream = await pending;
    if (!upstream) return;
    await upstream.client.close().catch(() => {});
    const bytes = upstream.client.bytes;
    upstream.recorder.close("closed", { client: bytes.out, server: bytes.in });
  };

  return {
    fallback: {
      answer,
      closed(connection) {
        const pending = upstreams.get(connection);
        if (!pending) return;
        upstreams.delete(connection);
        closing.push(finish(pending));
      },
    },
    get forwarded() {
      return forwarded;
    },
    problems,
    async close() {
      for (const pending of upstreams.values()) closing.push(finish(pending));
      upstreams.clear();
      await Promise.all(closing);
      if (lines.length > 0) await Deno.writeTextFile(path, lines.join(""), { append: true });
      lines.length = 0;
    },
  };
}
