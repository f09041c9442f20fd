/**
 * The command phase of one live connection: read each command, turn it into a request, ask the
 * matcher, and send the recorded response rendered for this client's capabilities (or an ERR
 * naming the closest recorded request). Trivial commands are answered without the recording.
 *
 * @module
 */

import { Capability, Command, ServerStatus } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import { type ClientCommand, parseCommand } from "../protocol/commands.ts";
import { parseComChangeUser } from "../protocol/change_user.ts";
import { type OkPacket, serializeEof, serializeOk } from "../protocol/generic.ts";
import { framePacket } from "../protocol/writer.ts";
import type { Logger } from "../log.ts";
import type { Request } from "./keys.ts";
import type { PacketWriter } from "../protocol/writer.ts";
import type { Catalog } from "./catalog.ts";
import type { Closest, LiveConnection, Matcher, MatchKind } from "./matcher.ts";
import type { Exchange } from "./catalog.ts";
import {
  fallbackExchange,
  rememberStatementSql,
  type ReplayFallback,
  statementSql,
} from "./fallback.ts";
import type { PacketIO } from "./io.ts";
import { accessDenied, authenticate, type AuthSwitch, errPayload, loginOk } from "./handshake.ts";
import {
  type LiveStatement,
  prepareStatement,
  respond,
  responseBytes,
  updateColumns,
} from "./respond.ts";
import { requestOf, sqlText } from "./requests.ts";
import type { UserPolicy } from "./handshake.ts";

/** A command the recording had no answer for. */
export interface Miss {
  /** The live connection (numbered from 1 in the order clients connected). */
  connection: number;
  /** The command name: `query`, `stmt-execute`, ... */
  cmd: string;
  /** What the client sent, in short: `query "SELECT ..."`. */
  request: string;
  /** The recorded request that came closest, and how close. */
  closest?: { request: string; recording: string; how: string };
  /** The message of the ERR the client got. */
  message: string;
  /** When it happened. */
  at: Date;
}

/** How a command was answered, for the statistics. */
export type Outcome = MatchKind | "synthesized" | "forwarded" | "miss";

/** What every connection of one replay server shares. */
export interface SessionServices {
  catalog: Catalog;
  matcher: Matcher;
  logger: Logger;
  /** Scales recorded latency: a response waits `us / speed` before it is sent. */
  speed?: number;
  users?: UserPolicy;
  switchFor(user: string): AuthSwitch | undefined;
  publicKey(): string;
  /** Counts every command answered. */
  count(outcome: Outcome): void;
  /** Reports a miss (already counted). */
  miss(miss: Miss): void;
  /** Answers misses instead (the `new` cassette mode). */
  fallback?: ReplayFallback;
}

/** One live connection after login. */
export interface LiveSession extends LiveConnection {
  context: CodecContext;
  database?: string;
  host: string;
  /** Server status flags to put in synthesized OKs. */
  status: number;
  statements: Map<number, LiveStatement>;
  nextStatementId: number;
  lastPrepared?: LiveStatement;
  /** Commands answered on this connection, and how many of them missed. */
  answered: number;
  missed: number;
  /** Renders this connection's responses (one buffer, reused). */
  writer: PacketWriter;
}

function tally(services: SessionServices, session: LiveSession, outcome: Outcome): void {
  services.count(outcome);
  session.answered++;
  if (outcome === "miss") session.missed++;
}

/**
 * The status flags that describe the session, kept for synthesized OKs; the others (no index
 * used, more results, cursor, state changed, ...) describe one statement's answer only.
 */
const SESSION_STATUS = ServerStatus.SERVER_STATUS_IN_TRANS | ServerStatus.SERVER_STATUS_AUTOCOMMIT |
  ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES | ServerStatus.SERVER_STATUS_IN_TRANS_READONLY;

/** ER_UNKNOWN_ERROR: what a miss answers. */
export const MISS_ERROR = { code: 1105, sqlState: "HY000" } as const;
const LAST_PREPARED = 0xffffffff;

/** Serves commands until the client quits or closes. */
export async function serveCommands(
  io: PacketIO,
  session: LiveSession,
  services: SessionServices,
): Promise<void> {
  const lookup = {
    get: (id: number) => id === LAST_PREPARED ? session.lastPrepared : session.statements.get(id),
  };
  for (;;) {
    // Pipelined commands are already read: take them without a round through the event loop.
    const packet = io.take() ?? await io.next();
    if (!packet || packet.payload.length === 0) return;
    const payload = packet.payload;
    const seq = (packet.lastSequenceId + 1) & 0xff;
    switch (payload[0]) {
      case Command.COM_QUIT:
        return;
      case Command.COM_PING:
        await io.write(framePacket(ok(session), seq));
        tally(services, session, "synthesized");
        continue;
      case Command.COM_RESET_CONNECTION:
        session.statements.clear();
        session.lastPrepared = undefined;
        await io.write(framePacket(ok(session), seq));
        tally(services, session, "synthesized");
        continue;
      case Command.COM_CHANGE_USER:
        if (!(await changeUser(io, session, services, payload, seq))) return;
        continue;
    }
    let command: ClientCommand;
    try {
      command = parseCommand(payload, session.context, lookup);
    } catch (error) {
      const message = `Malformed packet: ${(error as Error).message}`;
      await io.write(framePacket(errPayload(1835, "HY000", message), seq));
      tally(services, session, "miss");
      reportError(services, session, `command 0x${payload[0].toString(16)}`, message);
      continue;
    }
    switch (command.kind) {
      case "COM_STMT_CLOSE":
        session.statements.delete(command.statementId);
        tally(services, session, "synthesized");
        continue;
      case "COM_STMT_SEND_LONG_DATA": {
        const statement = lookup.get(command.statementId);
        if (statement) {
          const parts = statement.longData.get(command.parameterId) ?? [];
          statement.longData.set(command.parameterId, [...parts, command.data.slice()]);
        }
        tally(services, session, "synthesized");
        continue;
      }
      case "COM_STMT_RESET": {
        const statement = lookup.get(command.statementId);
        if (!statement) {
          await io.write(framePacket(unknownStatement(command.statementId, "reset"), seq));
        } else {
          statement.longData.clear();
          await io.write(framePacket(ok(session), seq));
        }
        tally(services, session, "synthesized");
        continue;
      }
    }
    const request = requestOf(command, services.catalog, lookup);
    if (typeof request === "string") {
      const unknown = request === "unknown-statement";
      const id = (command as { statementId: number }).statementId;
      await io.write(
        framePacket(
          unknown
            ? unknownStatement(id, command.kind === "COM_STMT_FETCH" ? "fetch" : "execute")
            : errPayload(MISS_ERROR.code, MISS_ERROR.sqlState, request),
          seq,
        ),
      );
      tally(services, session, "miss");
      reportError(
        services,
        session,
        command.kind,
        unknown ? `Unknown prepared statement handler (${id})` : request,
      );
      continue;
    }
    const reply = answer(io, session, services, request, seq, command);
    if (reply instanceof Uint8Array) await io.write(reply);
    else await reply;
  }
}

/**
 * Answers a request: the bytes to send, or (with `--speed`, or for LOCAL INFILE) the promise of
 * a response being sent. The common case stays synchronous: no extra trip through the event loop
 * per command.
 */
function answer(
  io: PacketIO,
  session: LiveSession,
  services: SessionServices,
  request: Request,
  seq: number,
  command: ClientCommand,
): Uint8Array | Promise<void> {
  const result = services.matcher.match(session, request);
  if (result.kind === "miss") {
    const synthesized = synthesize(session, services, request);
    if (synthesized) {
      tally(services, session, "synthesized");
      return framePacket(synthesized, seq);
    }
    if (services.fallback) {
      return forward(io, session, services, request, seq, command, result.closest);
    }
    return missReply(session, services, request, seq, result.closest);
  }
  return serveExchange(io, session, services, seq, command, result.exchange, result.kind);
}

/** The fallback's answer, served like a recorded one; a miss when it has none. */
async function forward(
  io: PacketIO,
  session: LiveSession,
  services: SessionServices,
  request: Request,
  seq: number,
  command: ClientCommand,
  closest: Closest | undefined,
): Promise<void> {
  const statement = "statementId" in command
    ? (command.statementId === LAST_PREPARED
      ? session.lastPrepared
      : session.statements.get(command.statementId))
    : undefined;
  const answer = await services.fallback!.answer({
    connection: session.id,
    user: session.user,
    context: session.context,
    database: session.database,
    command,
    request: request.text,
    statementSql: statementSql(statement),
  });
  const reply = answer
    ? serveExchange(
      io,
      session,
      services,
      seq,
      command,
      fallbackExchange(answer, request, services.catalog),
      "forwarded",
    )
    : missReply(session, services, request, seq, closest);
  if (reply instanceof Uint8Array) await io.write(reply);
  else await reply;
}

/**
 * Reports a command replay could not even look up (a malformed packet, a statement never
 * prepared): a miss like any other for the logs, `misses` and strict mode.
 */
function reportError(
  services: SessionServices,
  session: LiveSession,
  what: string,
  message: string,
): void {
  services.miss({
    connection: session.id,
    cmd: commandLabel(what),
    request: what,
    message,
    at: new Date(),
  });
}

function commandLabel(kind: string): string {
  return kind.replace(/^COM_/, "").toLowerCase().replaceAll("_", "-");
}

/** The ERR a miss gets, naming the closest recorded request; the miss is reported. */
function missReply(
  session: LiveSession,
  services: SessionServices,
  request: Request,
  seq: number,
  closest: Closest | undefined,
): Uint8Array {
  const message = `Replay has no recorded answer for ${request.text}` +
    (closest
      ? `; closest recorded: ${closest.exchange.request.text} (${closest.how})`
      : "; the recording has nothing like it");
  tally(services, session, "miss");
  const miss: Miss = {
    connection: session.id,
    cmd: request.cmd,
    request: request.text,
    message,
    at: new Date(),
  };
  if (closest) {
    miss.closest = {
      request: closest.exchange.request.text,
      recording: closest.exchange.connection.name,
      how: closest.how,
    };
  }
  services.miss(miss);
  return framePacket(errPayload(MISS_ERROR.code, MISS_ERROR.sqlState, message), seq);
}

/** Sends an exchange's response and follows what it does to the session. */
function serveExchange(
  io: PacketIO,
  session: LiveSession,
  services: SessionServices,
  seq: number,
  command: ClientCommand,
  exchange: Exchange,
  kind: Outcome,
): Uint8Array | Promise<void> {
  const request = exchange.request;
  let statement: LiveStatement | undefined;
  if (command.kind === "COM_STMT_PREPARE") {
    statement = prepareStatement(exchange, session, sqlText(command, services.catalog.redactor));
    if (statement && services.fallback) rememberStatementSql(statement, command.sql);
  }
  const statementOf = "statementId" in command
    ? (command.statementId === LAST_PREPARED
      ? session.lastPrepared
      : session.statements.get(command.statementId))
    : undefined;
  const options = {
    context: session.context,
    seq,
    statementId: statement?.id,
    statementColumns: (statement ?? statementOf)?.columns,
    speed: services.speed,
    writer: session.writer,
  };
  const reply = services.speed === undefined && !exchange.infile
    ? responseBytes(exchange, options)
    : respond(io, exchange, options);
  if (statement) {
    session.statements.set(statement.id, statement);
    session.lastPrepared = statement;
  }
  // An execute that sent definitions changes the statement's columns for later skipped ones.
  if (statementOf && command.kind === "COM_STMT_EXECUTE") {
    updateColumns(statementOf, exchange, session.context);
  }
  if (request.schema !== undefined && exchange.statusAfter !== undefined) {
    session.database = request.schema;
  }
  if (exchange.statusAfter !== undefined) session.status = exchange.statusAfter & SESSION_STATUS;
  tally(services, session, kind);
  return reply;
}

/**
 * Answers that need no recording: SET statements get an OK, USE/COM_INIT_DB of a database the
 * recordings know (or any, without a user policy) gets the OK a server sends.
 */
function synthesize(
  session: LiveSession,
  services: SessionServices,
  request: Request,
): Uint8Array | undefined {
  if (request.session === "set") return ok(session);
  if (request.session === "use" && request.schema !== undefined) {
    const known = services.catalog.databases.has(request.schema) ||
      request.schema === session.database;
    if (!known && services.users) {
      return errPayload(1049, "42000", `Unknown database '${request.schema}'`);
    }
    if (!known) return undefined;
    session.database = request.schema;
    return loginOk(session.context, session.status, request.schema);
  }
  if (request.cmd === "set-option") {
    return serializeEof({ kind: "eof", warnings: 0, statusFlags: session.status }, session.context);
  }
  return undefined;
}

async function changeUser(
  io: PacketIO,
  session: LiveSession,
  services: SessionServices,
  payload: Uint8Array,
  seq: number,
): Promise<boolean> {
  let change;
  try {
    change = parseComChangeUser(payload, session.context);
  } catch {
    await io.write(framePacket(errPayload(1047, "08S01", "Unknown command"), seq));
    return true;
  }
  if (services.users && !services.users.users.has(change.username)) {
    await io.write(
      framePacket(accessDenied(change.username, session.host, change.authResponse), seq),
    );
    return false;
  }
  const pluginAuth = (session.context.capabilities & Capability.CLIENT_PLUGIN_AUTH) !== 0;
  const outcome = await authenticate(io, {
    seq,
    plugin: change.authPluginName ?? "mysql_native_password",
    data: change.authResponse,
    switchTo: pluginAuth ? services.switchFor(change.username) : undefined,
    publicKey: services.publicKey,
  });
  if (!outcome) return false;
  const schema = change.schema || undefined;
  if (schema !== undefined && services.users && !services.users.databases.has(schema)) {
    await io.write(
      framePacket(errPayload(1049, "42000", `Unknown database '${schema}'`), outcome.seq),
    );
    return false;
  }
  session.statements.clear();
  session.lastPrepared = undefined;
  session.user = change.username;
  session.database = schema;
  if (change.characterSet !== undefined) session.characterSet = change.characterSet;
  services.matcher.release(session);
  session.status = 2;
  await io.write(framePacket(loginOk(session.context, session.status, schema), outcome.seq));
  tally(services, session, "synthesized");
  return true;
}

function ok(session: LiveSession): Uint8Array {
  const packet: OkPacket = {
    kind: "ok",
    header: 0,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: session.status,
    warnings: 0,
  };
  return serializeOk(packet, session.context);
}

function unknownStatement(id: number, what: string): Uint8Array {
  return errPayload(
    1243,
    "HY000",
    `Unknown prepared statement handler (${id}) given to mysqld_stmt_${what}`,
  );
}
