/**
 * The recording proxy: the transparent proxy of `src/net/` with, on every connection, a decoding
 * tap whose packets a {@link ConnectionRecorder} turns into recording events for one
 * {@link RecordingWriter}. The relay never waits for the disk: the tap runs in-line (decoding
 * and serializing), the writes happen behind it.
 *
 * @module
 */

import { join } from "node:path";
import { describe, type ProxyOptions, type ProxyServer, startProxy } from "../net/proxy.ts";
import { silentLogger } from "../log.ts";
import { formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { type ConnectionInfo, type ConnectionTap, createSessionTap } from "../session/tap.ts";
import type { DecodedPacket } from "../session/decoder.ts";
import type { HandshakeV10 } from "../protocol/handshake.ts";
import { ConnectionRecorder } from "./assemble.ts";
import { ColumnRegistry } from "./columns.ts";
import type { RecordingEvent } from "./events.ts";
import { createRedactor, type RedactRule } from "./redact.ts";
import { createRecordingWriter, type RecordingWriter, type WriterStats } from "./writer.ts";
import { VERSION } from "../version.ts";
import { forwardedAlready, relayNow, withRelayTime } from "../session/clock.ts";

/** Options of {@link record}: every {@link ProxyOptions} option, and where and how to record. */
export interface RecordOptions extends ProxyOptions {
  /**
   * The recording file. Default `recordings/<YYYYMMDD>-<HHMMSS>.jsonl` (local time) under the
   * current directory, creating `recordings/` if needed.
   */
  out?: string;
  /** Replace `out` if it exists (default: refuse). */
  overwrite?: boolean;
  /** `--redact` rules: `query:REGEX`, `column:REGEX` (see `src/record/redact.ts`). */
  redact?: (string | RedactRule)[];
  /** Key for redaction pseudonyms (default: random per recording). */
  redactKey?: string | Uint8Array;
  /** JSON bytes of rows after which a response goes on in continuation lines (256 KiB). */
  chunkBytes?: number;
  /** Largest packet reassembled for decoding (default 1 GiB); a larger one stops recording. */
  maxPacketLength?: number;
  /** Sees every decoded packet (after the recorder), e.g. to print a trace. */
  onPacket?: (connection: ConnectionInfo, packet: DecodedPacket) => void;
  /** Decoding (and so recording) stopped for a connection: TLS, compression, a lost track. */
  onOpaque?: (connection: ConnectionInfo, reason: string) => void;
  /**
   * When the recording cannot be written (disk full, file gone read-only): `continue` (default)
   * keeps relaying every connection, unrecorded; `refuse` also refuses new connections (ERR 1053
   * naming why), for when an unrecorded session is worse than none. Either way the failure is
   * logged once (`recording-failed`), {@link RecordingProxy.stats} carries it, and `close()`
   * rejects.
   */
  onRecordError?: "continue" | "refuse";
}

/** Figures of a recording so far. */
export interface RecordingStats extends WriterStats {
  /** Bytes relayed: from clients, from the server (the bytes on the wire, headers included). */
  wire: { client: number; server: number };
}

/** A running recording proxy. */
export interface RecordingProxy extends ProxyServer {
  /** The recording file. */
  readonly path: string;
  /** Figures so far. */
  stats(): RecordingStats;
  /** Stops accepting, waits for the open connections to end, and writes what is queued. */
  drain(): Promise<void>;
  /**
   * Closes every connection, writes the rest, syncs and closes the file (then {@link stats} are
   * final); rejects when the file could not be written.
   */
  close(): Promise<void>;
}

/**
 * Starts a proxy that records every connection it relays. Resolves once it listens and the file
 * is created (mode 0600).
 *
 * @example
 * ```ts ignore
 * import { record } from "./recorder.ts";
 * await using recording = await record({
 *   listen: "127.0.0.1:0",
 *   server: "127.0.0.1:3306",
 *   out: "/tmp/session.jsonl",
 *   redact: ["column:^email$"],
 * });
 * console.log(`connect to ${recording.hostname}:${recording.port}, recording to ${recording.path}`);
 * ```
 */
export async function record(options: RecordOptions = {}): Promise<RecordingProxy> {
  // `server: null` (a script that is the server): the recording names no server address.
  const server = options.server === null
    ? null
    : typeof options.server === "object"
    ? options.server
    : parseEndpoint(options.server ?? "127.0.0.1:3306");
  const redactor = createRedactor({ rules: options.redact, key: options.redactKey });
  const created = new Date();
  const origin = performance.now();
  const now = () => Math.round((relayNow() - origin) * 1000);
  const writer = await openWriter(options, {
    created,
    tool: `mysql-proxy ${VERSION}`,
    serverAddress: server === null ? "(script)" : formatEndpoint(server),
    redaction: redactor.info,
  });
  const emit = (event: RecordingEvent) => writer.emit(event);
  const columns = new ColumnRegistry(emit);
  const wire = { client: 0, server: 0 };
  const logger = options.logger ?? silentLogger;

  const tap = (info: ConnectionInfo): ConnectionTap => {
    writer.armHeader();
    // deno-lint-ignore prefer-const
    let session: ReturnType<typeof createSessionTap>;
    const recorder = new ConnectionRecorder({
      conn: info.id,
      now,
      context: () => session.decoder.context,
      columns,
      emit,
      redactor,
      chunkBytes: options.chunkBytes,
    });
    const onPacket = options.onPacket;
    session = createSessionTap({
      maxPacketLength: options.maxPacketLength,
      onPacket: (packet) => {
        if (!writer.headerWritten && packet.message.kind === "handshake-v10") {
          writer.header(serverInfo(packet.message));
        }
        recorder.packet(packet);
        onPacket?.(info, packet);
      },
      onOpaque: (reason) => {
        recorder.opaque(reason);
        options.onOpaque?.(info, reason);
      },
    });
    recorder.open(info.client);
    const extra = options.tap?.(info);
    // With the Deno relay, decoding and recording run in a microtask, once the relay has handed
    // the chunk on (its socket write is a syscall made before it awaits), so the peer is already
    // at work on it meanwhile. Chunks are copied (the relay reuses its buffer), kept in order and
    // decoded with the time they crossed the relay; a microtask always runs before the next I/O,
    // so they never pile up. Measured with sysbench oltp_point_select through `record`: more
    // queries per second and less CPU per query than recording in-line, in each of three
    // alternating runs. The epoll relay hands chunks over after forwarding them: they are
    // decoded at once, in the order of every connection's bytes.
    const pending: { client: boolean; bytes: Uint8Array; time: number }[] = [];
    let scheduled = false;
    let broken = false;
    const decode = (client: boolean, bytes: Uint8Array) => {
      if (broken) return;
      try {
        if (client) session.client(bytes);
        else session.server(bytes);
      } catch (error) {
        broken = true;
        logger.log(
          "warn",
          "decode-failed",
          `Cannot decode the connection's bytes, its recording stops here (relaying goes on): ${
            describe(error)
          }`,
          { connection: info.id },
        );
      }
    };
    const run = () => {
      scheduled = false;
      for (const chunk of pending.splice(0)) {
        withRelayTime(chunk.time, () => decode(chunk.client, chunk.bytes));
      }
    };
    const queue = (client: boolean, chunk: Uint8Array) => {
      if (forwardedAlready()) {
        run();
        decode(client, chunk);
        return;
      }
      pending.push({ client, bytes: chunk.slice(), time: relayNow() });
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(run);
      }
    };
    return {
      client(chunk) {
        wire.client += chunk.length;
        queue(true, chunk);
        extra?.client(chunk);
      },
      server(chunk) {
        wire.server += chunk.length;
        queue(false, chunk);
        extra?.server(chunk);
      },
      get commands() {
        return session.commands;
      },
      close(reason, bytes) {
        run();
        try {
          recorder.close(reason, bytes);
        } catch (error) {
          logger.log(
            "warn",
            "decode-failed",
            `Cannot finish the recording of the connection: ${describe(error)}`,
            {
              connection: info.id,
            },
          );
        }
        extra?.close?.(reason, bytes);
      },
    };
  };

  let proxy: ProxyServer;
  try {
    const refuse = options.onRecordError === "refuse"
      ? () => {
        const error = writer.stats().error;
        return error === undefined
          ? undefined
          : `Recording stopped (${error}); this proxy refuses new connections (--on-record-error refuse)`;
      }
      : undefined;
    proxy = await startProxy({ ...options, server, tap, refuse });
  } catch (error) {
    // Nothing was recorded: leave no empty file behind.
    await writer.close().catch(() => {});
    await Deno.remove(writer.path).catch(() => {});
    throw error;
  }
  const stats = (): RecordingStats => ({ ...writer.stats(), wire: { ...wire } });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await proxy.close();
      await writer.close();
    })();
    return closing;
  };
  return {
    path: writer.path,
    endpoint: proxy.endpoint,
    hostname: proxy.hostname,
    port: proxy.port,
    get activeConnections() {
      return proxy.activeConnections;
    },
    ...(proxy.tlsFingerprint ? { tlsFingerprint: proxy.tlsFingerprint } : {}),
    faults: proxy.faults,
    stats,
    settled: () => proxy.settled(),
    async drain() {
      await proxy.drain();
      await writer.flush();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * `recordings/20261121-101500.jsonl` for a recording started at that local time.
 *
 * @example
 * ```ts
 * import { defaultRecordingPath } from "./recorder.ts";
 * console.assert(defaultRecordingPath(new Date(2026, 10, 21, 10, 15, 0)).endsWith("20261121-101500.jsonl"));
 * ```
 */
export function defaultRecordingPath(date: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}`;
  const time = `${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
  return join("recordings", `${day}-${time}.jsonl`);
}

async function openWriter(
  options: RecordOptions,
  header: Parameters<typeof createRecordingWriter>[1]["header"],
): Promise<RecordingWriter> {
  const writerOptions = { header, logger: options.logger, overwrite: options.overwrite };
  if (options.out !== undefined) return await createRecordingWriter(options.out, writerOptions);
  // The default name has a one-second resolution: a second recording in the same second gets
  // a suffix rather than an error.
  const base = defaultRecordingPath(header.created).replace(/\.jsonl$/, "");
  for (let attempt = 1;; attempt++) {
    const path = attempt === 1 ? `${base}.jsonl` : `${base}-${attempt}.jsonl`;
    try {
      return await createRecordingWriter(path, {
        ...writerOptions,
        overwrite: false,
        createDirectory: true,
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || attempt >= 100) throw error;
    }
  }
}

function serverInfo(greeting: HandshakeV10) {
  return {
    version: greeting.serverVersion,
    capabilities: greeting.capabilities,
    mariadbCapabilities: greeting.mariadbCapabilities,
    characterSet: greeting.characterSet,
    statusFlags: greeting.statusFlags,
    authPlugin: greeting.authPluginName ?? null,
  };
}
