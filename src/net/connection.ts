/**
 * One proxied connection: dial the server, relay the greeting (with the capabilities the proxy
 * cannot serve cleared), then relay both directions until either side ends.
 *
 * @module
 */

import { connect, type Endpoint, formatEndpoint } from "./endpoint.ts";
import { type ByteStream, closeQuietly, pump, type PumpEnd, writeAll } from "./relay.ts";
import { negotiate, type ProxyTls, serverHostname } from "./handshake.ts";
import type { Logger } from "../log.ts";
import type { ConnectionInfo, ConnectionTap } from "../session/tap.ts";
import { serializeErr } from "../protocol/generic.ts";
import { Capability } from "../protocol/constants.ts";
import { framePacket } from "../protocol/writer.ts";
import type { ConnectionPlan, Planner, RelayIo } from "../hooks/plan.ts";
import type { AdoptedConnection, EpollRelay } from "./epoll/relay.ts";

/**
 * Capabilities the proxy clears in the server greeting, so clients do not use what it cannot
 * decode: TLS it does not terminate, and zstd compression (MySQL 8.0.18+; no client or server
 * here speaks it to test against). zlib compression (CLIENT_COMPRESS) is decoded: see
 * `src/protocol/compression.ts`.
 */
export const UNSUPPORTED_CAPABILITIES = Capability.CLIENT_SSL |
  Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM;

/** Options of {@link handleConnection}. */
export interface ConnectionOptions {
  id: number;
  server: Endpoint;
  logger: Logger;
  tap?: (info: ConnectionInfo) => ConnectionTap;
  connectTimeoutMs: number;
  /** TLS towards the client and the server (see `src/net/handshake.ts`); default none. */
  tls?: ProxyTls;
  /** Hooks and faults (see `src/hooks/plan.ts`): asked once per connection when set. */
  plan?: Planner;
  /** Relays the command phase of plain TCP connections in a worker (`src/net/epoll/`). */
  epoll?: EpollRelay;
}

/** A connection being served. */
export interface ConnectionHandle {
  /** Closes both sides now. */
  close(): void;
  /** Settles when the connection has ended and been logged; never rejects. */
  done: Promise<void>;
}

/** Serves one accepted client connection. */
export function handleConnection(client: Deno.Conn, options: ConnectionOptions): ConnectionHandle {
  let upstream: Deno.Conn | undefined;
  // The plaintext streams the handshake ends with (TLS sessions over the sockets, or them).
  let streams: { client: ByteStream; server: ByteStream } | undefined;
  let adopted: AdoptedConnection | undefined;
  let closed = false;
  const abort = new AbortController();
  const close = () => {
    if (closed) return;
    closed = true;
    abort.abort(new Deno.errors.Interrupted("proxy is closing"));
    adopted?.close();
    closeQuietly(client);
    if (upstream) closeQuietly(upstream);
    if (streams) {
      closeQuietly(streams.client);
      closeQuietly(streams.server);
    }
  };
  const done = serve().catch((error) => {
    options.logger.log("error", "connection-failed", `Connection failed: ${describeError(error)}`, {
      connection: options.id,
    });
  }).finally(close);
  return { close, done };

  async function serve(): Promise<void> {
    const { id, logger } = options;
    const info: ConnectionInfo = {
      id,
      client: describeAddr(client.remoteAddr),
      server: formatEndpoint(options.server),
      openedAt: new Date(),
    };
    const started = performance.now();
    logger.log("info", "connection-opened", `Connection from ${info.client}`, {
      connection: id,
      client: info.client,
    });
    // --- hooks and faults (src/hooks/plan.ts): refuse, serve without a server, wrap ---
    const plan: ConnectionPlan = options.plan ? await options.plan(info) : {};
    if (plan.refusal || plan.serve) {
      const tap = guardTap(options.tap?.(info), logger, id);
      const bytes = { client: 0, server: 0 };
      let ends: PumpEnd[] = [{ kind: "eof" }];
      if (plan.refusal) await writeAll(client, plan.refusal).catch(() => {});
      else ends = await plan.serve!(client, relayIo(tap, bytes));
      const reason = plan.refusal ? "refused" : closeReason(ends, closed);
      close();
      tap.close(reason, bytes);
      plan.closed?.(reason);
      logger.log(
        "info",
        "connection-closed",
        `Closed after ${((performance.now() - started) / 1000).toFixed(3)} s (${reason}): ` +
          `${tap.commands} commands`,
        { connection: id, reason, commands: tap.commands },
      );
      return;
    }
    const clientConn = plan.wrapClient ? plan.wrapClient(client) : client;
    // --- end of hooks and faults before dialing ---
    try {
      upstream = await connect(
        options.server,
        AbortSignal.any([abort.signal, AbortSignal.timeout(options.connectTimeoutMs)]),
      );
    } catch (error) {
      if (closed) return;
      const reason = describeError(error);
      logger.log("warn", "server-unreachable", `Cannot reach server ${info.server}: ${reason}`, {
        connection: id,
        server: info.server,
      });
      await answerUnreachable(client, info.server, reason);
      logger.log(
        "info",
        "connection-closed",
        `Closed after ${((performance.now() - started) / 1000).toFixed(3)} s (server unreachable)`,
        { connection: id, reason: "server unreachable", commands: 0 },
      );
      return;
    }
    const tap = guardTap(options.tap?.(info), logger, id);
    let fromClient = 0;
    let fromServer = 0;
    /** The Deno relay: a pump each way, the tap seeing each chunk before it is written on. */
    const relayInline = (clientSide: ByteStream, serverSide: ByteStream) => {
      const serverToClient = pump(serverSide, clientSide, {
        onChunk: tap.server,
        onBytes: (n) => fromServer += n,
      });
      const clientToServer = pump(clientSide, serverSide, {
        onChunk: tap.client,
        onBytes: (n) => fromClient += n,
      });
      // An error on one side ends the other at once; a clean end (half-close) lets it finish.
      const stopOnError = (end: PumpEnd) => {
        if (end.kind !== "eof") close();
        return end;
      };
      return Promise.all([clientToServer.then(stopOnError), serverToClient.then(stopOnError)]);
    };
    // --- handshake phase (src/net/handshake.ts): greeting, TLS, login renumbering ---
    const phase = await negotiate(clientConn, upstream, {
      id,
      logger,
      tap,
      unsupported: UNSUPPORTED_CAPABILITIES | (plan.unsupported ?? 0),
      tls: options.tls ?? { serverHostname: serverHostname(options.server) },
      timeoutMs: options.connectTimeoutMs,
    });
    fromServer += phase.bytes.server;
    fromClient += phase.bytes.client;
    if (phase.kind === "ok") streams = { client: phase.client, server: phase.server };
    if (closed && streams) {
      // The proxy closed while the handshake ran: the streams it made are closed now.
      closeQuietly(streams.client);
      closeQuietly(streams.server);
    }
    // --- end of the handshake phase: `streams` carry plaintext both ways ---
    let ends: PumpEnd[];
    if (phase.kind === "ok" && plan.relay) {
      // Hooks or decoded faults: the mediated command phase (src/hooks/mediate.ts).
      const bytes = { client: 0, server: 0 };
      ends = await plan.relay(phase.client, phase.server, relayIo(tap, bytes));
      fromClient += bytes.client;
      fromServer += bytes.server;
    } else if (phase.kind === "ok") {
      // The sockets themselves both ways (no TLS session, no fault wrapper): the epoll worker may
      // take them (TCP over IPv4); the tap still sees every byte in order. Else the Deno relay.
      const plain = !closed && phase.client === client && phase.server === upstream;
      adopted = plain
        ? options.epoll?.adopt(client, upstream, {
          tap,
          onClientBytes: (n) => fromClient += n,
          onServerBytes: (n) => fromServer += n,
        })
        : undefined;
      ends = adopted ? await adopted.ends : await relayInline(phase.client, phase.server);
    } else {
      ends = [phase.end];
    }
    const seconds = (performance.now() - started) / 1000;
    const reason = closeReason(ends, closed);
    // Close first, so whoever acts on the log line finds the connection gone.
    close();
    tap.close(reason, { client: fromClient, server: fromServer });
    plan.closed?.(reason);
    logger.log(
      "info",
      "connection-closed",
      `Closed after ${seconds.toFixed(3)} s (${reason}): ${tap.commands} commands, ` +
        `${formatBytes(fromClient)} from client, ${formatBytes(fromServer)} from server`,
      {
        connection: id,
        seconds: Number(seconds.toFixed(6)),
        reason,
        commands: tap.commands,
        bytesFromClient: fromClient,
        bytesFromServer: fromServer,
      },
    );
  }
}

/** The tap and byte counters the hooks' relay reports to. */
function relayIo(tap: Required<ConnectionTap>, bytes: { client: number; server: number }): RelayIo {
  return {
    tap,
    onClientBytes: (n) => bytes.client += n,
    onServerBytes: (n) => bytes.server += n,
  };
}

/**
 * Tells a client that the server is unreachable the way a server refusing it would: an ERR packet
 * in place of the greeting (sequence id 0), with the client library's own "can't connect" code.
 */
async function answerUnreachable(client: Deno.Conn, server: string, reason: string): Promise<void> {
  const payload = serializeErr({
    kind: "err",
    code: 2003,
    sqlState: "HY000",
    message: `Can't connect to MySQL server on '${server}' through the proxy (${reason})`,
  });
  try {
    await writeAll(client, framePacket(payload, 0));
  } catch {
    // The client left already.
  }
}

/** Wraps a tap so a decoding failure costs a log line, never the connection. */
function guardTap(
  tap: ConnectionTap | undefined,
  logger: Logger,
  id: number,
): Required<ConnectionTap> {
  let broken = !tap;
  const fail = (direction: string, error: unknown) => {
    broken = true;
    logger.log(
      "warn",
      "decode-failed",
      `Cannot decode ${direction} bytes, forwarding goes on without decoding: ${
        describeError(error)
      }`,
      { connection: id },
    );
  };
  return {
    client(chunk) {
      if (broken) return;
      try {
        tap!.client(chunk);
      } catch (error) {
        fail("client", error);
      }
    },
    server(chunk) {
      if (broken) return;
      try {
        tap!.server(chunk);
      } catch (error) {
        fail("server", error);
      }
    },
    get commands() {
      return tap?.commands ?? 0;
    },
    close(reason, bytes) {
      try {
        tap?.close?.(reason, bytes);
      } catch (error) {
        fail("final", error);
      }
    },
    detach(relay) {
      // A broken tap, or none, needs no bytes at all.
      if (broken) return new Uint8Array(0);
      try {
        return tap!.detach?.(relay);
      } catch (error) {
        fail("detached", error);
        return new Uint8Array(0);
      }
    },
    reattach(report) {
      if (report.failed) fail(report.failed.direction, new Error(report.failed.message));
      try {
        tap?.reattach?.(report);
      } catch (error) {
        fail("final", error);
      }
    },
  };
}

function closeReason(ends: PumpEnd[], closedByProxy: boolean): string {
  for (const end of ends) {
    if (end.kind === "read-error" || end.kind === "write-error") {
      return `${end.kind}: ${describeError(end.error)}`;
    }
  }
  if (ends.some((end) => end.kind === "stopped") && closedByProxy) return "closed by proxy";
  return "closed";
}

function describeAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return "unix";
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** `1.4 KiB`, `20.0 MiB`, `312 B`. */
export function formatBytes(count: number): string {
  if (count < 1024) return `${count} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = count / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
