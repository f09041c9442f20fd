/**
 * An in-process proxy for end-to-end tests, with a decoding tap that records every packet of
 * every connection and a JSON logger that records every log event, so a test can run a real
 * client through it and then ask what the decoder understood.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createLogger,
  createSessionTap,
  type ProxyServer,
  type RelayMode,
  startProxy,
} from "../../mod.ts";
import { formatTraceLine } from "../../src/session/trace.ts";
import type { MariaDB } from "./mariadb.ts";

/** Commands the server does not answer. */
const NO_RESPONSE = new Set(["COM_QUIT", "COM_STMT_CLOSE", "COM_STMT_SEND_LONG_DATA"]);

/** One decoded packet, reduced to what outlives the tap callback. */
export interface TappedPacket {
  /** The proxy's connection id. */
  connection: number;
  direction: "client" | "server";
  sequenceId: number;
  /** `packet.message.kind`: `COM_QUERY`, `ok`, `text-row`, `unknown`, ... */
  kind: string;
  /** Payload length, of all frames for a packet continued past 0xffffff bytes. */
  length: number;
  /** Set on the packet that ends a result set or a response. */
  ends?: string;
  /** The number of the command (on its connection) that the packet is or answers. */
  exchange?: number;
  /** The packet's trace line (`formatTraceLine`). */
  line: string;
}

/** A parsed JSON log record. */
export interface LogRecord {
  event: string;
  level: string;
  message: string;
  connection?: number;
  [field: string]: unknown;
}

/** What {@link withProxy} hands to the test body. */
export interface ProxyHarness {
  proxy: ProxyServer;
  /** Every decoded packet, in the order the tap saw them (connections interleaved). */
  packets: TappedPacket[];
  /** Reasons a connection stopped being decoded (`onOpaque`), as `#<connection> <reason>`. */
  opaque: string[];
  /** Every log record. */
  logs: LogRecord[];
  /** mysql2 connection options that reach the server through the proxy (TCP or socket). */
  readonly address: { host: string; port: number } | { socketPath: string };
  /** The trace lines of the client commands (`COM_*`), in order. */
  commands(connection?: number): string[];
  /** Kinds of packets seen, in order (of one connection, or of all). */
  kinds(connection?: number): string[];
  /**
   * Fails, printing the offending trace lines, if any packet was `unknown`, any connection went
   * opaque, the proxy logged `decode-failed`/`decoding-stopped`, or a command that gets a response
   * has no decoded packet ending its response (the decoder lost track without saying so).
   */
  assertAllDecoded(): void;
  /** Resolves once `count` records of `event` have been logged; rejects after `timeoutMs`. */
  waitForLog(event: string, count?: number, timeoutMs?: number): Promise<LogRecord[]>;
}

/** Options of {@link withProxy}. */
export interface WithProxyOptions {
  /** Where the proxy listens; default `127.0.0.1:0`. */
  listen?: string;
  connectTimeoutMs?: number;
  /** The proxy's relay (`startProxy`'s `relay`); default its own default. */
  relay?: RelayMode;
}

/**
 * Runs `fn` with a proxy in front of `server` (a MariaDB from the harness, or an address such as
 * `127.0.0.1:3306` or `unix:/path`) and closes the proxy afterwards, even when `fn` throws.
 *
 * @example
 * ```ts ignore
 * await withProxy(db, async (h) => {
 *   const conn = await mysql.createConnection({ ...h.address, user, password });
 *   await conn.query("SELECT 1");
 *   await conn.end();
 *   h.assertAllDecoded();
 * });
 * ```
 */
export async function withProxy<T>(
  server: MariaDB | string,
  fn: (harness: ProxyHarness) => Promise<T>,
  options: WithProxyOptions = {},
): Promise<T> {
  const packets: TappedPacket[] = [];
  const opaque: string[] = [];
  const logs: LogRecord[] = [];
  const waiters: { event: string; count: number; resolve: () => void }[] = [];
  const logger = createLogger({
    format: "json",
    level: "debug",
    write(line) {
      const record = JSON.parse(line) as LogRecord;
      logs.push(record);
      for (const waiter of waiters) {
        if (waiter.event === record.event && eventCount(record.event) >= waiter.count) {
          waiter.resolve();
        }
      }
    },
  });
  const eventCount = (event: string) => logs.filter((r) => r.event === event).length;
  /** For timeouts: the last trace lines of each connection not logged as closed yet. */
  const openConnectionsTail = () => {
    const closed = new Set(
      logs.filter((r) => r.event === "connection-closed").map((r) => r.connection),
    );
    const open = new Set(packets.map((p) => p.connection).filter((c) => !closed.has(c)));
    return [...open].map((c) =>
      packets.filter((p) => p.connection === c).slice(-5).map((p) => p.line).join("\n")
    ).join("\n");
  };
  const proxy = await startProxy({
    listen: options.listen ?? "127.0.0.1:0",
    server: typeof server === "string" ? server : `${server.hostname}:${server.port}`,
    logger,
    connectTimeoutMs: options.connectTimeoutMs,
    relay: options.relay,
    tap: (info) =>
      createSessionTap({
        onPacket(packet) {
          packets.push({
            connection: info.id,
            direction: packet.direction,
            sequenceId: packet.sequenceId,
            kind: packet.message.kind,
            length: packet.length,
            ends: packet.ends,
            exchange: packet.exchange?.index,
            line: formatTraceLine(info.id, packet),
          });
        },
        onOpaque(reason) {
          opaque.push(`#${info.id} ${reason}`);
        },
      }),
  });
  const harness: ProxyHarness = {
    proxy,
    packets,
    opaque,
    logs,
    address: proxy.endpoint.transport === "unix"
      ? { socketPath: proxy.endpoint.path }
      : { host: proxy.hostname, port: proxy.port },
    commands(connection) {
      return packets
        .filter((p) => p.direction === "client" && p.kind.startsWith("COM_"))
        .filter((p) => connection === undefined || p.connection === connection)
        .map((p) => p.line.replace(/^#\d+ C>S \d+ /, ""));
    },
    kinds(connection) {
      return packets
        .filter((p) => connection === undefined || p.connection === connection)
        .map((p) => p.kind);
    },
    assertAllDecoded() {
      const unknown = packets.filter((p) => p.kind === "unknown").map((p) => p.line);
      const answered = new Set(
        packets.filter((p) => p.direction === "server" && p.ends === "response")
          .map((p) => `${p.connection}/${p.exchange}`),
      );
      const unanswered = packets
        .filter((p) => p.direction === "client" && p.exchange !== undefined)
        .filter((p) => !NO_RESPONSE.has(p.kind) && !answered.has(`${p.connection}/${p.exchange}`))
        .map((p) => `no decoded end of the response to: ${p.line}`);
      // Authentication data never starts a sequence: a client packet taken for it at sequence 0
      // is a command the decoder did not recognise as one.
      const lost = packets
        .filter((p) => p.kind === "auth-switch-response" && p.sequenceId === 0)
        .map((p) => `a command decoded as authentication data: ${p.line}`);
      const problems = logs
        .filter((r) => r.event === "decode-failed" || r.event === "decoding-stopped")
        .map((r) => `${r.event}: ${r.message}`);
      assert.deepEqual(
        [...unknown, ...opaque.map((o) => `opaque ${o}`), ...problems, ...unanswered, ...lost],
        [],
        `the decoder did not understand every packet:\n${
          [...unknown, ...opaque, ...problems, ...unanswered, ...lost].join("\n")
        }`,
      );
    },
    waitForLog(event, count = 1, timeoutMs = 30_000) {
      const done = () => logs.filter((r) => r.event === event);
      if (eventCount(event) >= count) return Promise.resolve(done());
      let timer: ReturnType<typeof setTimeout> | undefined;
      return new Promise<LogRecord[]>((resolve, reject) => {
        const waiter = {
          event,
          count,
          resolve: () => {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(waiter), 1);
            resolve(done());
          },
        };
        waiters.push(waiter);
        timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(
            new Error(
              `Timed out after ${timeoutMs} ms waiting for ${count} "${event}" log records: got ${
                eventCount(event)
              }; ${proxy.activeConnections} connection(s) open, last packets of those:\n${openConnectionsTail()}`,
            ),
          );
        }, timeoutMs);
      });
    },
  };
  try {
    return await fn(harness);
  } finally {
    await proxy.close();
  }
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on: bound by the OS, then released.
 *
 * @example
 * ```ts ignore
 * const port = closedPort();
 * ```
 */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
