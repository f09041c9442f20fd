/**
 * The connection phase of a proxied connection, up to where the relay takes over: the server's
 * greeting (with the capabilities the proxy cannot serve cleared, and CLIENT_SSL offered only
 * when the proxy has a certificate), the client's TLS terminated at the proxy, TLS to the server
 * as `--server-tls` says, and the sequence ids of the authentication renumbered when only one side
 * is TLS. It ends with two byte streams the relay (or a command-phase mediator) uses unchanged:
 * plaintext on both, whatever runs underneath. Without TLS on either side they are the sockets
 * themselves, so the plaintext path costs nothing more than before.
 *
 * @module
 */

import { type ByteStream, isClosedResource, type PumpEnd, writeAll } from "./relay.ts";
import { describeTls, nodeAcceptTls } from "./node_tls.ts";
import { renumberAuth } from "./renumber.ts";
import { startClientTls, type TlsMode, tlsRequired } from "../client/tls.ts";
import type { Logger } from "../log.ts";
import type { Endpoint } from "./endpoint.ts";
import type { ConnectionTap } from "../session/tap.ts";
import { Capability } from "../protocol/constants.ts";
import {
  clearGreetingCapabilities,
  isSslRequest,
  readGreetingCapabilities,
  setGreetingCapabilities,
} from "../protocol/handshake.ts";
import { serializeErr } from "../protocol/generic.ts";
import { framePacket } from "../protocol/writer.ts";

/** How the proxy uses TLS (see `ProxyOptions`). */
export interface ProxyTls {
  /** Certificate and key (PEM) to terminate clients' TLS with; absent: CLIENT_SSL is cleared. */
  certificate?: { cert: string; key: string };
  /** TLS to the server, as a client's `--ssl-mode` (default `off`). */
  serverMode?: TlsMode;
  /** CA certificates (PEM) that `verify-ca`/`verify-identity` trust; default the system's. */
  serverCa?: string[];
  /** The name the server's certificate must carry under `verify-identity`. */
  serverHostname: string;
}

/** Inputs of {@link negotiate}. */
export interface HandshakeOptions {
  id: number;
  logger: Logger;
  tap: Required<ConnectionTap>;
  /** Capabilities cleared in the greeting (CLIENT_SSL is decided here). */
  unsupported: number;
  tls: ProxyTls;
  /**
   * How long the server may take to send its greeting, and the client its first packet; a peer
   * silent that long ends the connection (a frozen server, a client that never logs in: MariaDB's
   * own connect_timeout). Default: no limit.
   */
  timeoutMs?: number;
}

/** How the connection phase ended. */
export type HandshakeResult =
  | {
    kind: "ok";
    /** The client, in plaintext (a TLS session the proxy terminated, or the socket). */
    client: ByteStream;
    /** The server, in plaintext (a TLS session, or the socket). */
    server: ByteStream;
    /** Bytes forwarded here (not by the relay), as the peers' plaintext. */
    bytes: { client: number; server: number };
  }
  | { kind: "ended"; end: PumpEnd; bytes: { client: number; server: number } };

const MAX_LOGIN_PACKET = 1024 * 1024;
const SSL_REQUEST_LENGTH = 32;
/** ER_HANDSHAKE_ERROR: what servers answer a handshake they cannot go on with. */
const HANDSHAKE_ERROR = 1043;

/** A first packet read whole, with any bytes behind it. */
interface FirstPacket {
  /** Every byte read. */
  bytes: Uint8Array;
  /** Where the packet ends in `bytes` (-1: not a packet that can be framed here). */
  end: number;
  sequenceId: number;
  payload: Uint8Array;
}

/**
 * Runs the connection phase between a freshly accepted client and a freshly dialed server.
 * Never throws: a failure ends as `kind: "ended"` after telling the client why when it can.
 *
 * @example
 * ```ts ignore
 * const phase = await negotiate(client, upstream, { id, logger, tap, unsupported, tls });
 * if (phase.kind === "ok") await Promise.all([pump(phase.client, phase.server), pump(phase.server, phase.client)]);
 * ```
 */
export async function negotiate(
  client: Deno.Conn,
  server: Deno.Conn,
  options: HandshakeOptions,
): Promise<HandshakeResult> {
  const bytes = { client: 0, server: 0 };
  const { tap, tls } = options;
  const ended = (end: PumpEnd): HandshakeResult => ({ kind: "ended", end, bytes });
  const hello = await firstPacketWithin(server, "greeting from the server", options.timeoutMs);
  if (!isPacket(hello)) return ended(hello);
  const serverCapabilities = hello.end > 0 ? readGreetingCapabilities(hello.payload) : undefined;
  const serverOffersTls = ((serverCapabilities ?? 0) & Capability.CLIENT_SSL) !== 0;
  if (hello.end > 0) {
    // The framer's view may be a copy; patch the bytes that will be forwarded.
    const payload = hello.bytes.subarray(4, hello.end);
    clearGreetingCapabilities(payload, options.unsupported | Capability.CLIENT_SSL);
    if (tls.certificate) setGreetingCapabilities(payload, Capability.CLIENT_SSL);
  }
  tap.server(hello.bytes);
  const wrote = await send(client, hello.bytes);
  if (wrote) return ended(wrote);
  bytes.server += hello.bytes.length;
  if (hello.end < 0 || serverCapabilities === undefined) {
    // An ERR instead of a greeting, or nothing we can frame: relay whatever follows as it is.
    return { kind: "ok", client, server, bytes };
  }

  const serverMode = tls.serverMode ?? "off";
  const first = await firstPacketWithin(client, "login packet from the client", options.timeoutMs);
  if (!isPacket(first)) return ended(first);
  const request = first;
  const sslRequest = request.end > 0 && isSslRequest(request.payload);
  const upstreamTls = serverMode !== "off" && serverOffersTls && request.end > 0;
  let clientSide: ByteStream = client;
  if (sslRequest) {
    tap.client(request.bytes.subarray(0, request.end));
    if (!tls.certificate) {
      const text =
        "The proxy does not terminate TLS: start it with --tls-cert FILE --tls-key FILE " +
        "or --tls-auto, or connect without TLS";
      return ended(await refuse(client, request.sequenceId + 1, text, options));
    }
    try {
      clientSide = await nodeAcceptTls(client, {
        ...tls.certificate,
        initial: request.bytes.subarray(request.end),
      });
    } catch (error) {
      options.logger.log(
        "warn",
        "tls-failed",
        `TLS handshake with the client failed: ${describe(error)}`,
        { connection: options.id },
      );
      return ended({ kind: "read-error", error });
    }
  }
  if (tlsRequired(serverMode) && !serverOffersTls) {
    return ended(
      await refuseLogin(clientSide, request, sslRequest, serverNoTls(serverMode), options),
    );
  }
  if (!sslRequest && !upstreamTls) {
    // Plaintext on both sides (the path without TLS): the relay takes over from here.
    tap.client(request.bytes);
    const failed = await send(server, request.bytes);
    if (failed) return ended(failed);
    bytes.client += request.bytes.length;
    return { kind: "ok", client, server, bytes };
  }

  let serverSide: ByteStream = server;
  if (upstreamTls) {
    // The client's own SSLRequest, or the first 32 bytes of its HandshakeResponse (the same
    // layout) with CLIENT_SSL set: the server sees the client's capabilities either way.
    const head = request.payload.slice(0, SSL_REQUEST_LENGTH);
    head[1] |= Capability.CLIENT_SSL >>> 8;
    const failed = await send(server, framePacket(head, 1));
    if (failed) return ended(failed);
    try {
      serverSide = await startClientTls(server, {
        mode: serverMode,
        ca: tls.serverCa,
        hostname: tls.serverHostname,
      }, tls.serverHostname);
    } catch (error) {
      const text = `The proxy cannot start TLS with the server (--server-tls ${serverMode}): ${
        describe(error)
      }`;
      return ended(await refuseLogin(clientSide, request, sslRequest, text, options));
    }
  }
  options.logger.log("info", "tls", tlsLine(clientSide, serverSide), { connection: options.id });

  const clientTls = sslRequest;
  if (clientTls === upstreamTls) {
    // Both sides TLS: the sequence ids line up (nothing was read past the SSLRequest).
    return { kind: "ok", client: clientSide, server: serverSide, bytes };
  }
  // One side TLS: the client's sequence ids are one ahead (client TLS) or behind (server TLS).
  const offset = clientTls ? -1 : 1;
  const progress = { done: false };
  return {
    kind: "ok",
    client: renumberAuth(clientSide, {
      offset,
      progress,
      client: { tls: upstreamTls },
      // Without client TLS, the HandshakeResponse is already read: it goes through the relay.
      initial: clientTls ? undefined : request.bytes,
    }),
    server: renumberAuth(serverSide, { offset: -offset, progress }),
    bytes,
  };
}

function serverNoTls(mode: TlsMode): string {
  return `The server does not offer TLS, but the proxy runs with --server-tls ${mode}`;
}

function tlsLine(client: ByteStream, server: ByteStream): string {
  const side = (stream: ByteStream) => describeTls(stream as Deno.Conn) ?? tlsOf(stream);
  return `TLS: client ${side(client) ?? "plaintext"}, server ${side(server) ?? "plaintext"}`;
}

/** `Deno.TlsConn` (from `Deno.startTls`) says nothing about its cipher: just that it is TLS. */
function tlsOf(stream: ByteStream): string | undefined {
  return "handshake" in stream ? "TLS" : undefined;
}

/** Writes `bytes`; on failure, how the connection ended. */
async function send(to: ByteStream, bytes: Uint8Array): Promise<PumpEnd | undefined> {
  try {
    await writeAll(to, bytes);
    return undefined;
  } catch (error) {
    return isClosedResource(error) ? { kind: "stopped" } : { kind: "write-error", error };
  }
}

/**
 * Refuses a login: after an SSLRequest the client, now over TLS, sends its HandshakeResponse
 * first, and the ERR answers that; otherwise it answers the packet already read.
 */
async function refuseLogin(
  client: ByteStream,
  request: FirstPacket,
  afterTls: boolean,
  message: string,
  options: HandshakeOptions,
): Promise<PumpEnd> {
  let sequenceId = request.sequenceId + 1;
  if (afterTls) {
    const next = await readFirstPacket(client);
    if (!isPacket(next)) return next;
    sequenceId = next.sequenceId + 1;
  }
  return await refuse(client, sequenceId, message, options);
}

/**
 * {@link readFirstPacket} with a deadline (found by tests/hardening: without one, a server that
 * accepted but never greeted held the proxy's connection after its client had left).
 */
async function firstPacketWithin(
  conn: ByteStream,
  what: string,
  timeoutMs: number | undefined,
): Promise<FirstPacket | PumpEnd> {
  if (timeoutMs === undefined) return await readFirstPacket(conn);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<PumpEnd>((resolve) => {
    timer = setTimeout(() => {
      const error = new Deno.errors.TimedOut(`no ${what} within ${timeoutMs} ms`);
      resolve({ kind: "read-error", error });
    }, timeoutMs);
  });
  try {
    // The losing read ends when the connection is closed, which ending the handshake does.
    return await Promise.race([readFirstPacket(conn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function isPacket(read: FirstPacket | PumpEnd): read is FirstPacket {
  return "bytes" in read;
}

/** Answers the client with an ERR (in place of what it waited for) and ends. */
async function refuse(
  client: ByteStream,
  sequenceId: number,
  message: string,
  options: HandshakeOptions,
): Promise<PumpEnd> {
  options.logger.log("warn", "login-refused", message, { connection: options.id });
  const payload = serializeErr({ kind: "err", code: HANDSHAKE_ERROR, sqlState: "08S01", message });
  await send(client, framePacket(payload, sequenceId & 0xff));
  return { kind: "eof" };
}

/**
 * Reads until one whole packet arrived (a greeting, a login packet: small, and the peer waits for
 * an answer, so nothing much follows). `end` is -1 when the bytes are not a packet that can be
 * framed here (too long): they are then forwarded as they are.
 */
async function readFirstPacket(conn: ByteStream): Promise<FirstPacket | PumpEnd> {
  const buffer = new Uint8Array(4096);
  let bytes = new Uint8Array(0);
  for (;;) {
    let count: number | null;
    try {
      count = await conn.read(buffer);
    } catch (error) {
      return isClosedResource(error) ? { kind: "stopped" } : { kind: "read-error", error };
    }
    if (count === null) {
      return bytes.length > 0 ? { bytes, end: -1, sequenceId: 0, payload: bytes } : { kind: "eof" };
    }
    const joined = new Uint8Array(bytes.length + count);
    joined.set(bytes);
    joined.set(buffer.subarray(0, count), bytes.length);
    bytes = joined;
    if (bytes.length < 4) continue;
    const length = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16);
    if (length >= 0xffffff || length > MAX_LOGIN_PACKET) {
      return { bytes, end: -1, sequenceId: bytes[3], payload: bytes };
    }
    if (bytes.length >= 4 + length) {
      return {
        bytes,
        end: 4 + length,
        sequenceId: bytes[3],
        payload: bytes.subarray(4, 4 + length),
      };
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

/** The name `verify-identity` checks by default: the host the proxy dials. */
export function serverHostname(endpoint: Endpoint): string {
  return endpoint.transport === "tcp" ? endpoint.hostname : "localhost";
}
