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

import { basename } from "node:path";
import type { Logger } from "../log.ts";
import type { NoiseRule } from "./noise.ts";
import type { CompareReport } from "./report.ts";
import {
  type ConnectionInfo,
  type ConnectionTap,
  createSessionTap,
  forwardedState,
} from "../session/tap.ts";
import { relayNow } from "../session/clock.ts";
import {
  FORWARD_COUNTER_BYTES,
  type ForwardBatch,
  ForwardCounter,
  type RelayForward,
} from "../net/epoll/forward.ts";
import {
  type BatchItem,
  behindReason,
  type ComparingInit,
  type ComparingRequest,
  type ComparingResponse,
  ItemKind,
} from "./comparing.ts";
import { encodeFrame, readFrames } from "./frames.ts";

export { type BatchItem, behindReason, ItemKind } from "./comparing.ts";

/**
 * The comparison's niceness, below the relay's: at a load the machine can carry it costs the
 * traffic no latency (it runs when a core is free), and under saturation it falls behind first
 * (bounded by `maxBehindBytes`), not the forwarding.
 */
export const COMPARING_NICE = 10;

/** The worker's `init`: the counters shared with the epoll relay and the port it sends on. */
export interface WorkerInit extends ComparingInit {
  /**
   * Shared with the epoll relay (`ForwardCounter`): bytes sent and not yet compared, and the
   * relay's batches not yet applied (the worker subtracts what it has applied).
   */
  counters: SharedArrayBuffer;
  /** Where the epoll relay's worker sends the bytes of forwarded connections. */
  port: MessagePort;
}

/** Messages to the comparing process: the epoll relay's batches are passed on as `relay`. */
export type ProcessRequest =
  | ComparingRequest
  | { type: "relay"; items: ArrayBuffer; bytes: ArrayBuffer };

/** Messages from the comparing process: `applied` is what the worker subtracts itself. */
export type ProcessResponse =
  | ComparingResponse
  | { type: "applied"; bytes: number; relayBatches: number };

/**
 * Where the comparison runs: `process`, a child `deno` process whose threads all run at nice 10
 * (its garbage collector's too, so they never compete with the relay's); `thread`, a worker in
 * this process at nice 10 (the garbage collector's helper threads, which V8 shares between all
 * of a process's threads, are not niced).
 */
export type CompareIsolation = "process" | "thread";

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
  /**
   * Where the comparison runs (see {@link CompareIsolation}); by default a process, or a thread
   * when one cannot be started ({@link compareProcessUnavailable}, said in a debug log line).
   */
  isolation?: CompareIsolation;
}

/** The relay's side of a comparing worker. */
export interface OffThreadCompare {
  /** Where the comparison runs. */
  readonly isolation: CompareIsolation;
  /** The comparing process's id, when it runs in one. */
  readonly pid?: number;
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
  const counters = new SharedArrayBuffer(FORWARD_COUNTER_BYTES);
  const behind = new Int32Array(counters);
  const maxBehind = options.maxBehindBytes ?? 64 * 1024 * 1024;
  const channel = new MessageChannel();
  const init: ComparingInit = {
    type: "init",
    recording: options.recording,
    against: options.against,
    noise: options.noise,
    ordered: options.ordered,
    maxBehindBytes: maxBehind,
  };
  let isolation = options.isolation;
  if (isolation === undefined) {
    const why = compareProcessUnavailable();
    if (why !== undefined) {
      options.logger.log("debug", "compare-isolation", `Comparing in a thread: ${why}`);
    }
    isolation = why === undefined ? "process" : "thread";
  }
  let onReport: ((report: CompareReport) => void) | undefined;
  let onFailure: ((error: Error) => void) | undefined;
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFailure = reject;
  });
  const receive = (message: ComparingResponse) => {
    if (message.type === "log") {
      options.logger.log(message.level, message.event, message.message, message.fields);
    } else if (message.type === "ready") {
      onReady?.();
    } else if (message.type === "report") {
      onReport?.(message.report);
    } else if (message.type === "failed") {
      fail(new Error(`Cannot compare: ${message.message}`));
    }
  };
  /** The first failure: once ready, logged, and what `finish()` rejects with. */
  let failure: Error | undefined;
  let started = false;
  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    if (started) {
      options.logger.log(
        "error",
        "compare-failed",
        `${error.message}: the proxy goes on relaying without comparing`,
      );
    }
    onFailure?.(error);
  };
  const side = isolation === "process"
    ? comparingProcess(init, channel.port2, behind, receive, fail)
    : comparingWorker({ ...init, counters, port: channel.port2 }, receive, fail);
  try {
    await ready;
  } catch (error) {
    side.terminate();
    throw error;
  }
  started = true;
  const request = side.send;

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
    if (warned || failure) return;
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
    if (state.stopped || failure) return;
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
    isolation,
    pid: side.pid,
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
    async finish() {
      flush();
      const report = new Promise<CompareReport>((resolve, reject) => {
        onReport = resolve;
        onFailure = reject;
      });
      try {
        if (failure) throw failure;
        await side.drained(() => failure !== undefined);
        if (failure) throw failure;
        request({ type: "finish" });
        return await report;
      } finally {
        await side.end();
      }
    },
    terminate() {
      if (timer !== undefined) clearTimeout(timer);
      side.terminate();
    },
  };
}

/** The main thread's end of the comparing side, however it runs. */
interface Side {
  /** The process id, when it is a process. */
  pid?: number;
  send(message: ComparingRequest, transfer?: Transferable[]): void;
  /**
   * Resolves once the comparing side has every batch the relay posted (before `finish`), or once
   * `failed()`.
   */
  drained(failed: () => boolean): Promise<void>;
  /** Lets it end once it has sent the report. */
  end(): Promise<void>;
  /** Ends it now. */
  terminate(): void;
}

function comparingWorker(
  init: WorkerInit,
  receive: (message: ComparingResponse) => void,
  fail: (error: Error) => void,
): Side {
  const worker = new Worker(new URL("./compare_worker.ts", import.meta.url), { type: "module" });
  worker.onmessage = (event: MessageEvent<ComparingResponse>) => receive(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`The comparing worker failed: ${event.message}`));
  };
  worker.postMessage(init, [init.port]);
  return {
    send: (message, transfer = []) => worker.postMessage(message, transfer),
    // The worker waits for the relay's batches itself: they reach it on the port.
    drained: () => Promise.resolve(),
    end: () => Promise.resolve(worker.terminate()),
    terminate: () => worker.terminate(),
  };
}

/**
 * Why the comparison cannot run in a child process here, or undefined when it can: it needs the
 * permission to run this `deno` executable, and a `deno` executable (not a compiled program).
 */
export function compareProcessUnavailable(): string | undefined {
  const exec = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exec))) {
    return `${basename(exec)} is not the deno executable (a compiled program?)`;
  }
  try {
    if (Deno.permissions.querySync({ name: "run", command: exec }).state !== "granted") {
      return `no permission to run ${exec} (--allow-run)`;
    }
  } catch {
    return "the run permission cannot be queried";
  }
  return undefined;
}

/** Permission flags for the comparing process: no more than this process has. */
function processPermissions(recording: string): string[] {
  const granted = (descriptor: Deno.PermissionDescriptor) => {
    try {
      return Deno.permissions.querySync(descriptor).state === "granted";
    } catch {
      return false;
    }
  };
  // FFI is native code: a process with it can do anything, so it may as well be said (listing
  // its threads under /proc/self, to lower their priority, takes --allow-all).
  if (granted({ name: "ffi" })) return ["--allow-all"];
  return [granted({ name: "read" }) ? "--allow-read" : `--allow-read=${recording}`];
}

/** Most a finished comparing process gets to exit on its own before it is killed. */
const EXIT_GRACE_MS = 2000;

function comparingProcess(
  init: ComparingInit,
  relay: MessagePort,
  behind: Int32Array,
  receive: (message: ComparingResponse) => void,
  fail: (error: Error) => void,
): Side {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...processPermissions(init.recording),
      new URL("./compare_process.ts", import.meta.url).href,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let ended = false;
  const send = (message: ProcessRequest) => {
    // A write fails only when the process is gone, which its status reports.
    stdin.write(encodeFrame(message)).catch(() => {});
  };
  send(init);
  relay.onmessage = (event: MessageEvent<ForwardBatch>) =>
    send({ type: "relay", items: event.data.items, bytes: event.data.bytes });
  const reading = (async () => {
    try {
      for await (const message of readFrames(child.stdout)) {
        const response = message as ProcessResponse;
        if (response.type === "applied") {
          Atomics.sub(behind, ForwardCounter.bytes, response.bytes);
          Atomics.sub(behind, ForwardCounter.batches, response.relayBatches);
        } else receive(response);
      }
    } catch (error) {
      fail(new Error(`The comparing process's output is garbled: ${(error as Error).message}`));
    }
  })();
  child.status.then(async (status) => {
    await reading;
    if (!ended) fail(new Error(`The comparing process exited early (${exitText(status)})`));
  });
  const stop = () => {
    relay.onmessage = null;
    relay.close();
  };
  return {
    pid: child.pid,
    send,
    async drained(failed) {
      // The relay's batches come through here: wait until the process has applied them all.
      while (Atomics.load(behind, ForwardCounter.batches) > 0 && !failed()) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    },
    async end() {
      ended = true;
      stop();
      await stdin.close().catch(() => {});
      const timer = setTimeout(() => killQuietly(child), EXIT_GRACE_MS);
      await child.status;
      clearTimeout(timer);
      await reading;
    },
    terminate() {
      ended = true;
      stop();
      killQuietly(child);
      stdin.abort().catch(() => {});
    },
  };
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // It has exited already.
  }
}

function exitText(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}
