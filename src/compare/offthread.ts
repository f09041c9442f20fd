/**
 * `proxy --compare` with the comparing done away from the relay: the relay thread only copies each
 * chunk into a batch (and follows the protocol state cheaply, for its own log lines), so decoding,
 * matching and comparing never make the relay's next read wait. Batches go to the comparing side
 * at most every {@link FLUSH_MS} or every {@link FLUSH_BYTES}. Once the epoll relay takes a
 * connection over (after the login), its worker sends the bytes on itself
 * ({@link OffThreadCompare.forward}), and follows the protocol for the command count.
 *
 * The comparing side is a child process (compare_process.ts) whose threads all run in the idle
 * scheduling class (`SCHED_IDLE`: only on a core nothing else wants; nice 10 where refused), so
 * neither its JavaScript nor its garbage collection competes with the relay, and which pauses
 * while the machine is busy (spare_time.ts: on some virtual machines, being runnable at all costs
 * the traffic); the relay's worker writes its batches to a ring in memory shared with the process
 * (net/epoll/ring.ts), which it reads when it likes, and this thread sees none of them. Where a
 * process cannot be started, it is a worker thread (compare_worker.ts), idle the same, which reads
 * a ring of the same kind in this process's memory.
 *
 * The comparison never holds traffic back, and never holds more than
 * {@link OffThreadCompareOptions.maxBehindBytes} of it: when the comparison is that far behind, each
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
  batchesApplied,
  FORWARD_COUNTER_BYTES,
  ForwardCounter,
  type RelayForward,
} from "../net/epoll/forward.ts";
import {
  closeDescriptor,
  createSharedMemory,
  epollUnavailable,
  type SharedMemory,
  unmapSharedMemory,
} from "../net/epoll/libc.ts";
import { ringBytes } from "../net/epoll/ring.ts";
import {
  type BatchItem,
  behindReason,
  type ComparingInit,
  type ComparingRequest,
  type ComparingResponse,
  ItemKind,
} from "./comparing.ts";
import { encodeFrame, readFrames } from "./frames.ts";

/**
 * The comparison's niceness where the idle scheduling class is refused. Either way it is below
 * the relay's: at a load the machine can carry, the comparison costs the traffic no latency (it
 * runs when a core is free), and under saturation it falls behind first (bounded by
 * `maxBehindBytes`), not the forwarding.
 */
export const COMPARING_NICE = 10;

/** The worker's `init`: the counters shared with the epoll relay and the ring it writes to. */
export interface WorkerInit extends ComparingInit {
  /**
   * Shared with the epoll relay (`ForwardCounter`): bytes sent and not yet compared, and the
   * relay's batches not yet applied (the worker subtracts what it has applied).
   */
  counters: SharedArrayBuffer;
  /**
   * Where the epoll relay's worker writes the bytes of forwarded connections (ring.ts); none
   * without FFI (no epoll relay: the bytes come from the main thread).
   */
  ring?: SharedArrayBuffer;
}

/** Messages from the comparing process: `applied` is what the worker subtracts itself. */
export type ProcessResponse =
  | ComparingResponse
  | { type: "applied"; bytes: number; relayBatches: number };

/**
 * Where the comparison runs: `process`, a child `deno` process whose threads all run in the idle
 * scheduling class (its garbage collector's too, so they never compete with the relay's);
 * `thread`, a worker in this process, idle the same (the garbage collector's helper threads,
 * which V8 shares between all of a process's threads, are not).
 */
export type CompareIsolation = "process" | "thread";

/**
 * Bytes of the ring the relay's worker writes to the comparing process: 320 ms (the longest the
 * comparison steps aside) of 50 MB/s of traffic. Its pages are taken as they are first written.
 * What does not fit waits in the worker until there is room (forward.ts).
 */
export const FORWARD_RING_BYTES = 16 * 1024 * 1024;

/** Longest a chunk waits before it is sent to the comparing side. */
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
  /** Where the comparison's log lines (differences, warnings) go. */
  logger: Logger;
  /** Most relayed bytes waiting to be compared (default 64 MiB): see the module's note. */
  maxBehindBytes?: number;
  /**
   * Where the comparison runs (see {@link CompareIsolation}); by default a process, or a thread
   * when one cannot be started ({@link compareProcessUnavailable}, said in a debug log line).
   */
  isolation?: CompareIsolation;
}

/** The relay's side of the comparison. */
export interface OffThreadCompare {
  /** Where the comparison runs. */
  readonly isolation: CompareIsolation;
  /** The comparing process's id, when it runs in one. */
  readonly pid?: number;
  /** A tap factory for `startProxy`. */
  tap(info: ConnectionInfo): ConnectionTap;
  /**
   * For `startProxy`'s `relayForward`: the epoll relay's worker then sends the bytes of the
   * connections it takes over to the comparing side itself (a ring in memory shared with the
   * process or the worker). Undefined where the epoll relay cannot run (no FFI).
   */
  readonly forward: RelayForward | undefined;
  /**
   * Sends what is left, waits for every comparison and resolves to the report (rejects when the
   * comparison failed); ends the comparing side. Once the proxy has stopped: its relay must not
   * forward any more.
   */
  finish(): Promise<CompareReport>;
  /** Ends the comparing side now. */
  terminate(): void;
}

/**
 * Starts the comparing side and resolves once it has loaded the recording.
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
    // The relay's worker drops what it would send from now on (forward.ts).
    Atomics.store(behind, ForwardCounter.gone, 1);
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
    ? comparingProcess(init, behind, receive, fail)
    : comparingWorker(init, counters, receive, fail);
  let forward: RelayForward | undefined;
  try {
    await ready;
    forward = side.forward({ counters, maxBehindBytes: maxBehind });
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
      /** The epoll relay took the tap: the rest, close included, goes to the comparing side past us. */
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
          // Everything before goes first; the comparing side applies the relay's items for this
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
    forward,
    async finish() {
      flush();
      try {
        // No more pauses for a busy machine: nothing is relayed any more.
        request({ type: "drain" });
        await side.drained(() => failure !== undefined);
        if (failure) throw failure;
        // Made only now: a failure while draining must not leave a rejected promise unawaited.
        const report = new Promise<CompareReport>((resolve, reject) => {
          onReport = resolve;
          onFailure = reject;
        });
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
  /** Where the epoll relay sends forwarded batches, once the side is ready. */
  forward(shared: Omit<RelayForward, "ring">): RelayForward | undefined;
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
  init: ComparingInit,
  counters: SharedArrayBuffer,
  receive: (message: ComparingResponse) => void,
  fail: (error: Error) => void,
): Side {
  const worker = new Worker(new URL("./compare_worker.ts", import.meta.url), { type: "module" });
  worker.onmessage = (event: MessageEvent<ComparingResponse>) => receive(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`The comparing worker failed: ${event.message}`));
  };
  const ring = epollUnavailable() === undefined
    ? new SharedArrayBuffer(ringBytes(FORWARD_RING_BYTES))
    : undefined;
  const workerInit: WorkerInit = { ...init, counters, ring };
  worker.postMessage(workerInit);
  return {
    send: (message, transfer = []) => worker.postMessage(message, transfer),
    forward: (shared) => ring && { ...shared, ring },
    // The worker waits for the relay's batches itself: it reads the ring until they are in.
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
  behind: Int32Array,
  receive: (message: ComparingResponse) => void,
  fail: (error: Error) => void,
): Side {
  // The epoll relay's worker writes to a ring the process maps before it is ready; without FFI
  // there is no epoll relay, and nothing to forward.
  let ring: ReturnType<typeof createSharedMemory> | undefined;
  if (epollUnavailable() === undefined) {
    try {
      ring = createSharedMemory("mysql-proxy-compare", ringBytes(FORWARD_RING_BYTES));
    } catch (error) {
      // Then the relay hands the bytes back to this thread, which sends them on stdin.
      const why = (error as Error).message;
      const message = `The relay sends the traffic through this thread: ${why}`;
      receive({ type: "log", level: "debug", event: "compare-forward", message });
    }
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...processPermissions(init.recording),
      new URL("./compare_process.ts", import.meta.url).href,
      ...(ring ? [ring.path] : []),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let ended = false;
  /** The ring's name: open until the process has mapped it (or is gone). */
  let named = ring !== undefined;
  const unname = () => {
    if (named) closeDescriptor(ring!.fd);
    named = false;
  };
  /** The ring as the relay's worker writes to it, until `end()`. */
  let mapped: SharedMemory | undefined = ring;
  const send = (message: ComparingRequest) => {
    // A write fails only when the process is gone, which its status reports.
    stdin.write(encodeFrame(message)).catch(() => {});
  };
  send(init);
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
  return {
    pid: child.pid,
    send,
    forward(shared) {
      // The process mapped the ring before it said it was ready.
      unname();
      return mapped && { ...shared, ring: mapped };
    },
    // The process has applied every batch the relay wrote once it has said so.
    drained: (failed) => batchesApplied(behind, failed),
    async end() {
      ended = true;
      await stdin.close().catch(() => {});
      const timer = setTimeout(() => killQuietly(child), EXIT_GRACE_MS);
      await child.status;
      clearTimeout(timer);
      await reading;
      unname();
      // The proxy has stopped (see `finish()`): the relay's worker writes no more.
      if (mapped) unmapSharedMemory(mapped);
      mapped = undefined;
    },
    terminate() {
      ended = true;
      killQuietly(child);
      stdin.abort().catch(() => {});
      unname();
      // The ring stays mapped: the relay's worker may still be running, and told the reader is
      // gone it drops what it would write there.
      Atomics.store(behind, ForwardCounter.gone, 1);
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
