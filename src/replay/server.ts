/**
 * The fake server: listens, and serves each client from the recordings (login, then commands)
 * until it leaves. `replay()` is the library entry point.
 *
 * @module
 */

import { type Endpoint, listen, listenerEndpoint, parseEndpoint, tune } from "../net/endpoint.ts";
import { Capability } from "../protocol/constants.ts";
import { type Logger, silentLogger } from "../log.ts";
import { type Catalog, loadCatalog } from "./catalog.ts";
import { Matcher } from "./matcher.ts";
import { PacketWriter } from "../protocol/writer.ts";
import { createRedactor } from "../record/redact.ts";
import { PacketIO, type Transport } from "./io.ts";
import {
  type AuthSwitch,
  buildGreeting,
  generatePublicKey,
  serveLogin,
  type UserPolicy,
} from "./handshake.ts";
import { type LiveSession, type Miss, type Outcome, serveCommands } from "./session.ts";
import type { ReplayFallback } from "./fallback.ts";
import {
  type CertificateSource,
  loadServerCertificate,
  type ServerCertificate,
} from "../net/certificate.ts";
import { nodeAcceptTls } from "../net/node_tls.ts";
import { acceptConnections } from "../net/accept.ts";

export type { FallbackAnswer, FallbackRequest, ReplayFallback } from "./fallback.ts";

export type { Miss } from "./session.ts";

/** Options of {@link replay}. */
export interface ReplayOptions {
  /** Where clients connect: `HOST:PORT` or `unix:/path`. Default `127.0.0.1:3307`; port 0 picks one. */
  listen?: string | Endpoint;
  /**
   * Who may log in. `"recorded"`: only users that logged in in the recordings, with a database the
   * recordings used (else ERR 1045 / 1049, as a server answers). A list: those user names. Default:
   * anyone, any database.
   */
  users?: "recorded" | readonly string[];
  /** Replays recorded latency: each response waits its recorded duration divided by `speed`. */
  speed?: number;
  /**
   * The auth plugin to ask every client for (e.g. `caching_sha2_password` in the greeting, or
   * `client_ed25519` by an auth switch). Default: what the recorded server did.
   */
  authPlugin?: string;
  /** Serve the closest recorded statement of the same shape when no values match. Default true. */
  approximate?: boolean;
  /** Serve a recorded exchange again once all its equals were served. Default true. */
  repeat?: boolean;
  /** `close()` rejects with a {@link ReplayStrictError} if a command missed or an exchange went unused. */
  strict?: boolean;
  /** Skip invalid recording lines (each reported to `onWarning`) instead of failing. */
  lenient?: boolean;
  /**
   * The key the recordings were made with (`record --redact-key`): live SQL and parameters then
   * get the pseudonyms of the recordings' `--redact` rules, and match exactly. Without it, a
   * statement that carried a redacted value matches by shape (approximately).
   */
  redactKey?: string;
  /** Warnings while loading (truncated last lines, skipped lines, incomplete responses). */
  onWarning?: (warning: string) => void;
  /**
   * Asked for every command that would miss; what it answers is served instead (the `new`
   * cassette mode forwards the command to a real server and records the exchange).
   */
  fallback?: ReplayFallback;
  /** Connection events and misses. Default: silent. */
  logger?: Logger;
  /**
   * Offer TLS to clients with this certificate (`"auto"`: a self-signed one made at start);
   * without it CLIENT_SSL is cleared and an SSLRequest gets an ERR.
   */
  tls?: CertificateSource;
  /**
   * The largest request a client may send, in bytes (default 64 MiB): a longer one closes that
   * connection with a log line, so a client announcing a huge packet cannot make replay hold it.
   */
  maxPacketLength?: number;
}

/** Default of {@link ReplayOptions.maxPacketLength}: 64 MiB (MariaDB's max_allowed_packet is 16 MiB). */
export const DEFAULT_REPLAY_MAX_PACKET = 64 * 1024 * 1024;

/** Counts since the server started. */
export interface ReplayStats {
  /** Client connections accepted. */
  connections: number;
  /** Connections open now. */
  active: number;
  /** Commands answered (from the recording, synthesized, or with a miss's ERR). */
  commands: number;
  /** Answered from the recording: the sum of the four below. */
  matched: number;
  /** Answered by an exact match. */
  exact: number;
  /** Answered again (every equal one was served already). */
  repeated: number;
  /** Answered by the closest statement of the same shape. */
  approximate: number;
  /** Session commands answered from the recording. */
  session: number;
  /** Answered without the recording (PING, statement close/reset, unrecorded SET, ...). */
  synthesized: number;
  /** Answered by the `fallback`. */
  forwarded: number;
  /** Commands answered with a miss ERR. */
  misses: number;
  /** Recorded exchanges (session commands excepted). */
  recorded: number;
  /** Of those, never served. */
  unused: number;
}

/** A recorded exchange that was never served. */
export interface UnusedExchange {
  /** `file.jsonl#3`: the recording and its connection. */
  recording: string;
  /** The command name (`query`, `stmt-execute`, ...). */
  cmd: string;
  /** `query "SELECT ..."`. */
  request: string;
  /** When it was recorded, in microseconds since the recording started. */
  t: number;
}

/** A running replay server. */
export interface ReplayServer extends AsyncDisposable {
  /** The address it listens on (with the real port when 0 was asked). */
  readonly endpoint: Endpoint;
  /** TCP host name, or the socket path for unix listeners. */
  readonly hostname: string;
  /** TCP port (0 for unix listeners). */
  readonly port: number;
  /** Connections open now. */
  readonly activeConnections: number;
  /** SHA-256 fingerprint of the certificate clients get with TLS; absent without `tls`. */
  readonly tlsFingerprint?: string;
  /** The commands that missed so far, each with the closest recorded request. */
  readonly misses: readonly Miss[];
  /** Recorded exchanges never served so far. */
  unused(): UnusedExchange[];
  /** Counts since it started. */
  stats(): ReplayStats;
  /** Stops accepting and waits for open connections to end. */
  drain(): Promise<void>;
  /** Stops accepting and closes open connections; with `strict`, rejects if anything missed or went unused. */
  close(): Promise<void>;
}

/** What `close()` of a strict replay rejects with. */
export class ReplayStrictError extends Error {
  /** The commands that missed. */
  readonly misses: readonly Miss[];
  /** The recorded exchanges never used. */
  readonly unused: readonly UnusedExchange[];

  /** An error listing the misses and unused exchanges (the first five of each). */
  constructor(misses: readonly Miss[], unused: readonly UnusedExchange[]) {
    const lines = [
      ...misses.slice(0, 5).map((m) => `  miss: ${m.message}`),
      ...unused.slice(0, 5).map((u) => `  unused: ${u.request} (${u.recording})`),
    ];
    super(
      `Replay in strict mode: ${misses.length} miss(es), ${unused.length} recorded exchange(s) never used\n` +
        lines.join("\n"),
    );
    this.name = "ReplayStrictError";
    this.misses = misses;
    this.unused = unused;
  }
}

/**
 * Loads recordings (files, or directories of `*.jsonl`) and serves them as a MySQL server.
 *
 * @example
 * ```ts ignore
 * import { replay } from "./server.ts";
 * await using db = await replay("recordings/demo.jsonl", { listen: "127.0.0.1:0" });
 * console.log(`connect to ${db.hostname}:${db.port}`);
 * ```
 */
export async function replay(
  pathOrPaths: string | readonly string[],
  options: ReplayOptions = {},
): Promise<ReplayServer> {
  const paths = typeof pathOrPaths === "string" ? [pathOrPaths] : pathOrPaths;
  const catalog = await loadCatalog(paths, {
    lenient: options.lenient,
    onWarning: options.onWarning,
  });
  for (const skipped of catalog.skipped) options.onWarning?.(skipped);
  if (catalog.redactRules.length > 0) {
    if (options.redactKey !== undefined) {
      catalog.redactor = createRedactor({ rules: catalog.redactRules, key: options.redactKey });
    }
    const random = catalog.sources.some((s) => s.header.redaction?.key === "random");
    if (options.redactKey === undefined || random) {
      options.onWarning?.(
        `The recordings hide values with --redact rules (${catalog.redactRules.join(", ")}) ` +
          (random
            ? "under a random key, which no --redact-key reproduces"
            : "and no --redact-key was given") +
          ": statements that carried such values match by shape only (approximately)",
      );
    }
  }
  if (options.maxPacketLength !== undefined && !(options.maxPacketLength > 0)) {
    throw new RangeError(
      `Cannot replay: maxPacketLength must be a positive number, got ${options.maxPacketLength}`,
    );
  }
  if (options.speed !== undefined && !(options.speed > 0)) {
    throw new RangeError(`Cannot replay: speed must be a positive number, got ${options.speed}`);
  }
  const listenAt = typeof options.listen === "string"
    ? parseEndpoint(options.listen)
    : options.listen ?? parseEndpoint("127.0.0.1:3307");
  const certificate = options.tls === undefined
    ? undefined
    : await loadServerCertificate(options.tls);
  const listener = await listen(listenAt);
  return serve(listener, catalog, options, certificate);
}

function serve(
  listener: Deno.Listener,
  catalog: Catalog,
  options: ReplayOptions,
  certificate?: ServerCertificate,
): ReplayServer {
  const endpoint = listenerEndpoint(listener);
  const logger = options.logger ?? silentLogger;
  const matcher = new Matcher(catalog, {
    approximate: options.approximate,
    repeat: options.repeat,
  });
  const misses: Miss[] = [];
  const counts: Record<Outcome, number> = {
    exact: 0,
    repeat: 0,
    approximate: 0,
    session: 0,
    synthesized: 0,
    forwarded: 0,
    miss: 0,
  };
  const switches = recordedSwitches(catalog);
  let publicKey: string | undefined;
  const services = {
    catalog,
    matcher,
    logger,
    speed: options.speed,
    users: userPolicy(catalog, options.users),
    switchFor: (user: string) => forcedSwitch(options.authPlugin) ?? switches.get(user),
    publicKey: () => publicKey ??= generatePublicKey(),
    count: (outcome: Outcome) => counts[outcome]++,
    fallback: options.fallback,
    miss(miss: Miss) {
      misses.push(miss);
      logger.log("warn", "replay-miss", miss.message, { connection: miss.connection });
    },
  };
  const connections = acceptConnections(listener, {
    endpoint,
    logger,
    serve: (conn, id) => serveClient(tune(conn), id),
  });

  function serveClient(conn: Deno.Conn, id: number) {
    const io = new PacketIO(conn as Transport, {
      maxPacketLength: options.maxPacketLength ?? DEFAULT_REPLAY_MAX_PACKET,
    });
    const host = conn.remoteAddr.transport === "tcp" ? conn.remoteAddr.hostname : "localhost";
    const client = conn.remoteAddr.transport === "tcp"
      ? `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`
      : "unix";
    let session: LiveSession | undefined;
    const started = performance.now();
    const done = (async () => {
      logger.log("info", "connection-opened", `Connection from ${client}`, {
        connection: id,
        client,
      });
      const login = await serveLogin(io, {
        greeting: buildGreeting(catalog.greeting, id, options.authPlugin, !!certificate),
        host,
        users: services.users,
        switchFor: services.switchFor,
        publicKey: services.publicKey,
        startTls: certificate &&
          ((consumed) =>
            io.startTls(consumed, (transport, initial) =>
              nodeAcceptTls(transport as Deno.Conn, {
                cert: certificate.cert,
                key: certificate.key,
                initial,
              }))),
      });
      if (!login) return "login ended";
      // The compressed protocol starts right after the login's OK, in both directions.
      if (login.context.capabilities & Capability.CLIENT_COMPRESS) io.startCompression();
      session = {
        id,
        user: login.user,
        context: login.context,
        host,
        status: catalog.greeting?.statusFlags ?? 2,
        statements: new Map(),
        nextStatementId: 1,
        answered: 0,
        missed: 0,
        // One writer per connection, reused response after response (see PacketWriter.take()).
        writer: new PacketWriter(4096),
      };
      if (login.database !== undefined) session.database = login.database;
      if (login.characterSet !== undefined) session.characterSet = login.characterSet;
      await serveCommands(io, session, services);
      return "closed";
    })().catch((error) => `failed: ${describe(error)}`).then((reason) => {
      if (session) matcher.release(session);
      io.close();
      options.fallback?.closed?.(id);
      const seconds = (performance.now() - started) / 1000;
      logger.log(
        "info",
        "connection-closed",
        `Closed after ${seconds.toFixed(3)} s (${reason}): ${session?.answered ?? 0} commands, ` +
          `${session?.missed ?? 0} missed`,
        {
          connection: id,
          seconds: Number(seconds.toFixed(6)),
          reason,
          user: session?.user,
          commands: session?.answered ?? 0,
          misses: session?.missed ?? 0,
        },
      );
    });
    return { close: () => io.close(), done };
  }

  const unused = (): UnusedExchange[] =>
    matcher.unused().map((e) => ({
      recording: e.connection.name,
      cmd: e.request.cmd,
      request: e.request.text,
      t: e.command.event.t,
    }));

  const stats = (): ReplayStats => {
    const recorded = catalog.exchanges.filter((e) => !e.request.session).length;
    const matched = counts.exact + counts.repeat + counts.approximate + counts.session;
    return {
      connections: connections.accepted,
      active: connections.size,
      commands: total(counts),
      matched,
      exact: counts.exact,
      repeated: counts.repeat,
      approximate: counts.approximate,
      session: counts.session,
      synthesized: counts.synthesized,
      forwarded: counts.forwarded,
      misses: counts.miss,
      recorded,
      unused: matcher.unused().length,
    };
  };

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await connections.closeAll();
      if (options.strict) {
        const left = unused();
        if (misses.length > 0 || left.length > 0) throw new ReplayStrictError(misses, left);
      }
    })();

  return {
    endpoint,
    hostname: endpoint.transport === "tcp" ? endpoint.hostname : endpoint.path,
    port: endpoint.transport === "tcp" ? endpoint.port : 0,
    get activeConnections() {
      return connections.size;
    },
    ...(certificate ? { tlsFingerprint: certificate.fingerprint } : {}),
    misses,
    unused,
    stats,
    async drain() {
      await connections.drain();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function total(counts: Record<Outcome, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

function userPolicy(
  catalog: Catalog,
  users: ReplayOptions["users"],
): UserPolicy | undefined {
  if (users === undefined) return undefined;
  return {
    users: users === "recorded" ? catalog.users : new Set(users),
    databases: catalog.databases,
  };
}

/** The first auth switch the recorded server made for each user. */
function recordedSwitches(catalog: Catalog): Map<string, AuthSwitch> {
  const switches = new Map<string, AuthSwitch>();
  for (const connection of catalog.connections) {
    const { user, switchTo } = connection.login;
    if (user !== undefined && switchTo && !switches.has(user)) switches.set(user, switchTo);
  }
  return switches;
}

/** The switch that `authPlugin` asks for (a greeting may already carry it: then none happens). */
function forcedSwitch(plugin: string | undefined): AuthSwitch | undefined {
  if (plugin === undefined) return undefined;
  if (plugin === "client_ed25519") return { pluginName: plugin, dataLength: 32, nul: false };
  if (plugin === "mysql_clear_password") return { pluginName: plugin, dataLength: 0, nul: false };
  return { pluginName: plugin, dataLength: 20, nul: true };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
