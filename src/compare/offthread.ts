/**
 * `proxy --compare` with the comparing done in a worker: the relay thread only copies each chunk
 * into a batch (and follows the protocol state cheaply, for its own log lines), so decoding,
 * matching and comparing never make the relay's next read wait. Batches go to the worker at most
 * every {@link FLUSH_MS} or every {@link FLUSH_BYTES}, one transfer each. Once the epoll relay
 * takes a connection over (after the login), its worker sends the bytes to the comparing worker
 * itself ({@link OffThreadCompare.forward}), and follows the protocol for the command count: the
 * main thread sees nothing more of it.
 *
 * The comparison never holds traffic back, and never holds more than
 * {@link OffThreadCompareOptions.maxBehindBytes} of it: when the worker is that far behind, each
 * connection that sends more is relayed without being compared from then on (said in a log line
 * and in the report), rather than the relay waiting for it or memory growing.
 *
 * @module
 */

import type { LogFields, Logger, LogLevel } from "../log.ts";
import type { NoiseRule } from "./noise.ts";
import type { CompareReport } from "./report.ts";
import {
  type ConnectionInfo,
  type ConnectionTap,
  createSessionTap,
  forwardedState,
} from "../session/tap.ts";
import { relayNow } from "../session/clock.ts";
import { FORWARD_COUNTER_BYTES, ForwardCounter, type RelayForward } from "../net/epoll/forward.ts";

/**
 * Kinds of batch items. `Forwarded`: the rest of the connection comes from the epoll relay's
 * worker, through the port (src/net/epoll/forward.ts), close included.
 */
export const ItemKind = { Open: 0, Client: 1, Server: 2, Close: 3, Stop: 4, Forwarded: 5 } as const;

/**
 * One event of a batch: kind, connection id, what happened, and when the relay saw it (its
 * `performance.now()`, so the worker's timings are the relay's, not the batch's). Chunk items
 * point into the batch's bytes.
 */
export type BatchItem =
  | [typeof ItemKind.Open, number, ConnectionInfo, number]
  | [typeof ItemKind.Client | typeof ItemKind.Server, number, number, number, number]
  | [typeof ItemKind.Close, number, string, { client: number; server: number }, number]
  | [typeof ItemKind.Stop, number, string, number]
  | [typeof ItemKind.Forwarded, number, number];

/** Messages to the worker. */
export type WorkerRequest =
  | {
    type: "init";
    recording: string;
    against: string;
    noise: NoiseRule[];
    ordered: boolean;
    /**
     * Shared with the epoll relay (`ForwardCounter`): bytes sent and not yet compared, and the
     * relay's batches not yet applied (the worker subtracts what it has applied).
     */
    counters: SharedArrayBuffer;
    /** Where the epoll relay's worker sends the bytes of forwarded connections. */
    port: MessagePort;
    /** See {@link OffThreadCompareOptions.maxBehindBytes}. */
    maxBehindBytes: number;
  }
  | { type: "batch"; items: BatchItem[]; bytes: ArrayBuffer }
  | { type: "finish" };

/** Messages from the worker. */
export type WorkerResponse =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "log"; level: LogLevel; event: string; message: string; fields?: LogFields }
  | { type: "report"; report: CompareReport };

/** Longest a chunk waits before it is sent to the worker. */
export const FLUSH_MS = 2;
/** A batch this large is sent at once. */
export const FLUSH_BYTES = 256 * 1024;

/** Options of {@link startOffThreadCompare}. */
export interface OffThreadCompareOptions {
  /** The recording to compare with. */
  recording: string;
  /** The server the proxy relays to, for the report. */
  against: string;
  noise: NoiseRule[];
  ordered: boolean;
  /** Where the worker's log lines (differences, warnings) go. */
  logger: Logger;
  /** Most relayed bytes waiting to be compared (default 64 MiB): see the module's note. */
  maxBehindBytes?: number;
}

/** The relay's side of a comparing worker. */
export interface OffThreadCompare {
  /** A tap factory for `startProxy`. */
  tap(info: ConnectionInfo): ConnectionTap;
  /**
   * For `startProxy`'s `relayForward`: the epoll relay then sends the bytes of the connections it
   * takes over straight to the worker, past the main thread.
   */
  readonly forward: RelayForward;
  /** Sends what is left, waits for every comparison and resolves to the report; ends the worker. */
  finish(): Promise<CompareReport>;
  /** Ends the worker now. */
  terminate(): void;
}

/**
 * Starts the comparing worker and resolves once it has loaded the recording.
 *
 * @example
 * ```ts ignore
 * const compare = await startOffThreadCompare({ recording, against, noise: [], ordered: false, logger });
 * await using proxy = await startProxy({ listen, server, logger, tap: compare.tap });
 * ```
 */
export async function startOffThreadCompare(
  options: OffThreadCompareOptions,
): Promise<OffThreadCompare> {
  const worker = new Worker(new URL("./compare_worker.ts", import.meta.url), { type: "module" });
  let onReport: ((report: CompareReport) => void) | undefined;
  let onFailure: ((error: Error) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onFailure = reject;
    worker.onmessage = (event: MessageEvent<WorkerResponse>) => {
      const message = event.data;
      if (message.type === "log") {
        options.logger.log(message.level, message.event, message.message, message.fields);
      } else if (message.type === "ready") {
        resolve();
      } else if (message.type === "report") {
        onReport?.(message.report);
      } else if (message.type === "failed") {
        onFailure?.(new Error(`Cannot compare: ${message.message}`));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      onFailure?.(new Error(`The comparing worker failed: ${event.message}`));
    };
  });
  const request = (message: WorkerRequest, transfer: Transferable[] = []) =>
    worker.postMessage(message, transfer);
  const counters = new SharedArrayBuffer(FORWARD_COUNTER_BYTES);
  const behind = new Int32Array(counters);
  const maxBehind = options.maxBehindBytes ?? 64 * 1024 * 1024;
  const channel = new MessageChannel();
  request({
    type: "init",
    recording: options.recording,
    against: options.against,
    noise: options.noise,
    ordered: options.ordered,
    counters,
    port: channel.port2,
    maxBehindBytes: maxBehind,
  }, [channel.port2]);
  try {
    await ready;
  } catch (error) {
    worker.terminate();
    throw error;
  }

  let items: BatchItem[] = [];
  let bytes = new Uint8Array(FLUSH_BYTES);
  let used = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (items.length === 0) return;
    const buffer = bytes.buffer.slice(0, used);
    Atomics.add(behind, ForwardCounter.bytes, used);
    request({ type: "batch", items, bytes: buffer }, [buffer]);
    items = [];
    used = 0;
  };
  const later = () => {
    if (timer === undefined) timer = setTimeout(flush, FLUSH_MS);
  };
  /** Whether `more` bytes would put the comparison past `maxBehind`. */
  const tooFarBehind = (more: number) =>
    Atomics.load(behind, ForwardCounter.bytes) + used + more > maxBehind;
  /** Whether the last connection stopped is logged; a connection compared again re-arms it. */
  let warned = false;
  /** Stops comparing a connection: here (`Stop` item), or in the relay (`forwarded`). */
  const stop = (id: number, forwarded = false) => {
    const reason = behindReason(maxBehind);
    if (!forwarded) {
      items.push([ItemKind.Stop, id, reason, performance.now()]);
      later();
    }
    if (warned) return;
    warned = true;
    options.logger.log(
      "warn",
      "compare-behind",
      `Relaying connection ${id}, and others that send more while the comparison catches up, ` +
        `without comparing them: ${reason} (the report counts them)`,
      { connection: id, maxBehindBytes: maxBehind },
    );
  };
  const chunk = (
    kind: typeof ItemKind.Client | typeof ItemKind.Server,
    id: number,
    state: { stopped: boolean },
  ) =>
  (data: Uint8Array) => {
    if (state.stopped) return;
    if (tooFarBehind(data.length)) {
      state.stopped = true;
      stop(id);
      return;
    }
    if (used + data.length > bytes.length) {
      flush();
      if (data.length > bytes.length) bytes = new Uint8Array(data.length);
    }
    bytes.set(data, used);
    items.push([kind, id, used, used + data.length, relayNow()]);
    used += data.length;
    if (used >= FLUSH_BYTES) flush();
    else later();
  };

  return {
    tap(info) {
      items.push([ItemKind.Open, info.id, info, performance.now()]);
      later();
      const state = { stopped: false };
      if (tooFarBehind(0)) {
        state.stopped = true;
        stop(info.id);
      } else warned = false;
      // Command counts for the proxy's own log lines, from the cheap state-only decoder.
      const counter = createSessionTap();
      const toClient = chunk(ItemKind.Server, info.id, state);
      const toServer = chunk(ItemKind.Client, info.id, state);
      /** The epoll relay took the tap: the rest, close included, goes to the worker past us. */
      let forwarded = false;
      return {
        client(data) {
          counter.client(data);
          toServer(data);
        },
        server(data) {
          counter.server(data);
          toClient(data);
        },
        get commands() {
          return counter.commands;
        },
        close(reason, counts) {
          counter.close?.(reason, counts);
          if (forwarded) return;
          items.push([ItemKind.Close, info.id, reason, counts, performance.now()]);
          later();
        },
        detach(relay) {
          const detached = counter.detach?.();
          // A relay that cannot forward gives the bytes back here, as before it took over.
          if (!relay?.forwards) return undefined;
          if (detached === undefined || state.stopped) return detached;
          // Everything before goes first; the worker applies the relay's items for this
          // connection only once it has this one.
          forwarded = true;
          items.push([ItemKind.Forwarded, info.id, performance.now()]);
          flush();
          return forwardedState(detached, info.id);
        },
        reattach(report) {
          counter.reattach?.(report);
          if (report.forwardStopped) stop(info.id, true);
        },
      };
    },
    forward: { port: channel.port1, counters, maxBehindBytes: maxBehind },
    finish() {
      flush();
      const report = new Promise<CompareReport>((resolve, reject) => {
        onReport = resolve;
        onFailure = reject;
      });
      request({ type: "finish" });
      return report.finally(() => worker.terminate());
    },
    terminate() {
      if (timer !== undefined) clearTimeout(timer);
      worker.terminate();
    },
  };
}

/** Why a connection is relayed without being compared (logged, and in the report). */
export function behindReason(maxBehindBytes: number): string {
  return `the comparison fell more than ${
    (maxBehindBytes / 1024 / 1024).toFixed(0)
  } MiB behind the traffic`;
}
