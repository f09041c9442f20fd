/**
 * The transparent proxy: accepts MySQL clients, dials the server for each, relays bytes unchanged
 * in both directions and lets a decoder watch them.
 *
 * @module
 */

import {
  type Endpoint,
  formatEndpoint,
  listen,
  listenerEndpoint,
  parseEndpoint,
} from "./endpoint.ts";
import { type Logger, silentLogger } from "../log.ts";
import { handleConnection } from "./connection.ts";
import { acceptConnections } from "./accept.ts";
import { closeQuietly, writeAll } from "./relay.ts";
import { serializeErr } from "../protocol/generic.ts";
import { framePacket } from "../protocol/writer.ts";
import { type CertificateSource, loadServerCertificate } from "./certificate.ts";
import { type ProxyTls, serverHostname } from "./handshake.ts";
import { parseTlsMode, TlsError, type TlsMode } from "../client/tls.ts";
import type { ConnectionInfo, ConnectionTap } from "../session/tap.ts";
import { createPlanner } from "../hooks/plan.ts";
import { loadScript } from "../hooks/load.ts";
import type { Hooks } from "../hooks/types.ts";
import { type FaultControl, FaultSet } from "../faults/set.ts";
import { EpollRelay } from "./epoll/relay.ts";
import type { RelayForward } from "./epoll/forward.ts";

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** Where clients connect: `HOST:PORT` or `unix:/path`. Default `127.0.0.1:3307`; port 0 picks one. */
  listen?: string | Endpoint;
  /**
   * The MySQL server: `HOST:PORT` or `unix:/path`. Default `127.0.0.1:3306`. `null` with a
   * `script`: no server, the script answers everything (docs/hooks.md).
   */
  server?: string | Endpoint | null;
  /** Receives connection events and decode problems. Default: silent. */
  logger?: Logger;
  /** Creates the decoder that watches each connection's bytes (see `src/session/tap.ts`). */
  tap?: (info: ConnectionInfo) => ConnectionTap;
  /** Milliseconds to wait for the server's TCP connect before answering the client with an ERR. */
  connectTimeoutMs?: number;
  /**
   * Asked at each accept: a reason to refuse the connection (it gets an ERR 1053 naming the
   * reason, and one log line), or undefined to serve it. `record --on-record-error refuse` uses it.
   */
  refuse?: () => string | undefined;
  /**
   * Terminate clients' TLS with this certificate (`"auto"`: a self-signed one made at start), so
   * clients that want TLS get it and the traffic is still decoded. Without it the proxy clears
   * CLIENT_SSL in the greeting (clients connect in plaintext) and answers an SSLRequest with an
   * ERR.
   */
  tls?: CertificateSource;
  /**
   * TLS to the server, as a client's `--ssl-mode`: `off` (default), `preferred` (when the server
   * offers it), `required`, `verify-ca`, `verify-identity`.
   */
  serverTls?: TlsMode;
  /** CA certificates (PEM text) that `serverTls` `verify-ca`/`verify-identity` trust. */
  serverCa?: string | string[];
  /** A file of CA certificates (PEM), read at start; with {@link serverCa}, both are trusted. */
  serverCaFile?: string;
  /** Hooks (docs/hooks.md): an object, or the path of a module to import (`--script`). */
  script?: Hooks | string;
  /** Faults in force from the start (docs/faults.md); more at run time through `faults`. */
  faults?: readonly string[];
  /**
   * How the command phase of a plain TCP connection is relayed: `epoll` (the default on Linux
   * when FFI is allowed) hands it to a worker thread that copies with raw system calls and sleeps
   * in `epoll_wait`, the taps still seeing every byte in order, a few milliseconds later; `deno`
   * relays with `conn.read`/`conn.write` in line. TLS, unix sockets, hooks and faults always use
   * `deno`.
   */
  relay?: RelayMode;
  /**
   * With the epoll relay: where the bytes of connections whose tap asks for it go, straight from
   * the relay's worker (src/net/epoll/forward.ts); `proxy --compare` sends them to its comparing
   * worker this way.
   */
  relayForward?: RelayForward;
}

/** See {@link ProxyOptions.relay}. */
export type RelayMode = "epoll" | "deno";

/** A running proxy. */
export interface ProxyServer extends AsyncDisposable {
  /** The address it listens on (with the real port when 0 was asked). */
  readonly endpoint: Endpoint;
  /** TCP host name, or the socket path for unix listeners. */
  readonly hostname: string;
  /** TCP port (0 for unix listeners). */
  readonly port: number;
  /** Connections currently open. */
  readonly activeConnections: number;
  /** SHA-256 fingerprint of the certificate clients get with TLS; absent without `tls`. */
  readonly tlsFingerprint?: string;
  /** The faults in force: add, remove and list them while the proxy runs (docs/faults.md). */
  readonly faults: FaultControl;
  /**
   * Resolves once every byte relayed so far has been through the taps (decoded, recorded). The
   * epoll relay hands bytes to the taps a few milliseconds after forwarding them; call this
   * before looking at what a tap saw right after a client call returned.
   */
  settled(): Promise<void>;
  /** Stops accepting and waits until every open connection has ended by itself. */
  drain(): Promise<void>;
  /** Stops accepting and closes every connection now. */
  close(): Promise<void>;
}

/**
 * Starts a proxy. Resolves once it listens.
 *
 * @example
 * ```ts ignore
 * import { startProxy } from "./proxy.ts";
 * await using proxy = await startProxy({ listen: "127.0.0.1:0", server: "127.0.0.1:3306" });
 * console.log(`connect to port ${proxy.port}`);
 * ```
 */
export async function startProxy(options: ProxyOptions = {}): Promise<ProxyServer> {
  const listenAt = toEndpoint(options.listen ?? "127.0.0.1:3307");
  const logger = options.logger ?? silentLogger;
  // --- hooks and faults (src/hooks/plan.ts) ---
  const hooks = typeof options.script === "string"
    ? await loadScript(options.script)
    : options.script;
  if (options.server === null && !hooks) {
    throw new TypeError("Cannot start a proxy without a server: a script must answer (script)");
  }
  const faults = new FaultSet(options.faults ?? []);
  const plan = createPlanner({ hooks, faults, serverless: options.server === null, logger });
  const server = toEndpoint(options.server ?? "127.0.0.1:3306");
  // --- end of hooks and faults ---
  const tls = await proxyTls(options, server);
  const epoll = relayMode(options.relay, logger) === "epoll"
    ? new EpollRelay({ logger, forward: options.relayForward })
    : undefined;
  epoll?.start();
  const listener = await listen(listenAt);
  const endpoint = listenerEndpoint(listener);
  const connections = acceptConnections(listener, {
    endpoint,
    logger,
    serve(conn, id) {
      // --- refusal (options.refuse) ---
      const refusal = options.refuse?.();
      if (refusal !== undefined) {
        refuseConnection(conn, id, refusal, logger);
        return undefined;
      }
      // --- end of refusal ---
      return handleConnection(conn, {
        id,
        server,
        logger,
        tap: options.tap,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        tls: tls.settings,
        plan,
        epoll,
      });
    },
  });

  const close = async () => {
    await connections.closeAll();
    await epoll?.stop();
  };

  return {
    endpoint,
    hostname: endpoint.transport === "tcp" ? endpoint.hostname : endpoint.path,
    port: endpoint.transport === "tcp" ? endpoint.port : 0,
    get activeConnections() {
      return connections.size;
    },
    ...(tls.fingerprint ? { tlsFingerprint: tls.fingerprint } : {}),
    faults,
    settled: () => epoll?.settled() ?? Promise.resolve(),
    async drain() {
      await connections.drain();
      await epoll?.stop();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The relay asked for, or the default: `epoll` where it can run (said in a debug line if not). */
function relayMode(asked: RelayMode | undefined, logger: Logger): RelayMode {
  const unavailable = EpollRelay.unavailable();
  if (asked === "epoll" && unavailable !== undefined) {
    throw new TypeError(`Cannot relay with epoll: ${unavailable}`);
  }
  if (asked !== undefined) return asked;
  if (unavailable === undefined) return "epoll";
  logger.log("debug", "relay-deno", `Relaying with Deno's sockets: ${unavailable}`);
  return "deno";
}

/** The TLS settings of every connection, certificates and CA files read once. */
async function proxyTls(
  options: ProxyOptions,
  server: Endpoint,
): Promise<{ settings: ProxyTls; fingerprint?: string }> {
  const settings: ProxyTls = { serverHostname: serverHostname(server) };
  let fingerprint: string | undefined;
  if (options.tls !== undefined) {
    const certificate = await loadServerCertificate(options.tls);
    settings.certificate = { cert: certificate.cert, key: certificate.key };
    fingerprint = certificate.fingerprint;
  }
  if (options.serverTls !== undefined) settings.serverMode = parseTlsMode(options.serverTls);
  const ca = options.serverCa === undefined ? [] : [options.serverCa].flat();
  if (options.serverCaFile !== undefined) {
    try {
      ca.push(await Deno.readTextFile(options.serverCaFile));
    } catch (error) {
      throw new TlsError(`Cannot read the CA file ${options.serverCaFile}: ${describe(error)}`, {
        cause: error,
      });
    }
  }
  if (ca.length > 0) settings.serverCa = ca;
  return fingerprint ? { settings, fingerprint } : { settings };
}

/**
 * Answers a client the proxy will not serve with an ERR in place of the greeting (as a server
 * shutting down does: ER_SERVER_SHUTDOWN 1053, 08S01), logs one line, and closes.
 */
function refuseConnection(conn: Deno.Conn, id: number, reason: string, logger: Logger): void {
  logger.log("warn", "connection-refused", `Connection refused: ${reason}`, { connection: id });
  const payload = serializeErr({ kind: "err", code: 1053, sqlState: "08S01", message: reason });
  writeAll(conn, framePacket(payload, 0)).catch(() => {}).finally(() => closeQuietly(conn));
}

function toEndpoint(value: string | Endpoint): Endpoint {
  return typeof value === "string" ? parseEndpoint(value) : value;
}

/** A short description of an error for a log line. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export { formatEndpoint };
