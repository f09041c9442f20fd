/**
 * The comparing side of `proxy --compare` (see offthread.ts), whichever way it runs: in a child
 * process (compare_process.ts) or in a worker (compare_worker.ts). It decodes the relayed bytes it
 * is given, compares each answer with the recording, and says so through its {@link ComparingHost}:
 * log lines, what it has applied, the report.
 *
 * Input: `init` (the recording, noise rules, order), `batch` (from the main thread: connections
 * opened, chunks each way, connections closed, in relay order), the epoll relay's batches for the
 * connections it took over ({@link Comparing.relayBatch}), `finish`. A connection's items from
 * the relay are applied only after its `Forwarded` item from the main thread, which comes after
 * everything before them.
 *
 * @module
 */

import type { LogFields, Logger, LogLevel } from "../log.ts";
import { loadMatchTarget } from "./matched.ts";
import { compareTap, type ComparingTap } from "./proxy_compare.ts";
import { ReportBuilder } from "./report.ts";
import { noiseOf } from "./verify.ts";
import type { NoiseRule } from "./noise.ts";
import type { CompareReport } from "./report.ts";
import type { ConnectionInfo } from "../session/tap.ts";
import { FORWARD_ITEM_FIELDS, ForwardItem } from "../net/epoll/forward.ts";
import { SpareTime } from "./spare_time.ts";

/** Items applied between two looks at the clock (see {@link SpareTime.due}). */
const ITEMS_PER_LOOK = 32;

/**
 * Kinds of batch items. `Forwarded`: the rest of the connection comes from the epoll relay's
 * worker, close included.
 */
export const ItemKind = { Open: 0, Client: 1, Server: 2, Close: 3, Stop: 4, Forwarded: 5 } as const;

/**
 * One event of a batch: kind, connection id, what happened, and when the relay saw it (its
 * `performance.now()`, so the comparison's timings are the relay's, not the batch's). Chunk items
 * point into the batch's bytes.
 */
export type BatchItem =
  | [typeof ItemKind.Open, number, ConnectionInfo, number]
  | [typeof ItemKind.Client | typeof ItemKind.Server, number, number, number, number]
  | [typeof ItemKind.Close, number, string, { client: number; server: number }, number]
  | [typeof ItemKind.Stop, number, string, number]
  | [typeof ItemKind.Forwarded, number, number];

/** What the comparison is set up with. */
export interface ComparingInit {
  type: "init";
  recording: string;
  against: string;
  noise: NoiseRule[];
  ordered: boolean;
  /** Most relayed bytes waiting to be compared, for the reason given when past it. */
  maxBehindBytes: number;
}

/** Messages to the comparing side that are the same however it runs. */
export type ComparingRequest =
  | ComparingInit
  | { type: "batch"; items: BatchItem[]; bytes: ArrayBuffer }
  /** The traffic is over: what waits is applied at once, without pausing (see spare_time.ts). */
  | { type: "drain" }
  | { type: "finish" };

/** Messages from the comparing side. */
export type ComparingResponse =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "log"; level: LogLevel; event: string; message: string; fields?: LogFields }
  | { type: "report"; report: CompareReport };

/** How the comparing side talks back. */
export interface ComparingHost {
  post(message: ComparingResponse): void;
  /** `bytes` of relayed traffic and `relayBatches` of the relay's batches have been applied. */
  applied(bytes: number, relayBatches: number): void;
  /** Resolves once every batch the relay posted has been given to {@link Comparing.relayBatch}. */
  relayDrained(): Promise<void>;
  /**
   * Where this thread's CPU time can be read: the relay's batches are then applied in slices
   * that pause while the machine is busy (see spare_time.ts).
   */
  spareTime?: SpareTime;
}

/** The comparing side's state. */
export class Comparing {
  #host: ComparingHost;
  #logger: Logger;
  #engine: ReturnType<typeof compareTap> | undefined;
  #builder: ReportBuilder | undefined;
  /** When the relay saw the item being applied (its clock, milliseconds). */
  #seen = 0;
  #origin: number | undefined;
  #taps = new Map<number, ComparingTap>();
  #stopReason = "";
  /** Connections whose items from the relay's worker may be applied (see the module's note). */
  #forwarded = new Set<number>();
  /** Batches from the relay's worker not applied yet, oldest first; `at`: the next item. */
  #fromRelay: { items: Float64Array; bytes: Uint8Array; at: number; release?: () => void }[] = [];
  /** Slices the relay's batches while the machine is busy; undefined: applied as they come. */
  #spare: SpareTime | undefined;
  /** Set while the relay's batches wait out a busy machine. */
  #pause: ReturnType<typeof setTimeout> | undefined;
  /** When that pause ends (`performance.now()`). */
  #pauseEnds = 0;
  /** The traffic is over: what is left is applied at once. */
  #finishing = false;

  /** A comparing side that reports to `host`. */
  constructor(host: ComparingHost) {
    this.#host = host;
    this.#spare = host.spareTime;
    this.#logger = {
      log(level: LogLevel, event: string, message: string, fields?: LogFields) {
        host.post({ type: "log", level, event, message, fields });
      },
    };
  }

  /**
   * Milliseconds until the relay's batches are applied again when they wait out a busy machine
   * (see spare_time.ts), 0 when they do not: the process need not read the next ones before.
   */
  get pausedFor(): number {
    return this.#pause === undefined ? 0 : Math.max(0, this.#pauseEnds - performance.now());
  }

  /** The traffic is over (`drain` or `finish`): what comes from the relay is applied at once. */
  get draining(): boolean {
    return this.#finishing;
  }

  /** Where its log lines go (to the host, which logs them). */
  get logger(): Logger {
    return this.#logger;
  }

  /** Handles one request; a failure is posted as `failed`. */
  async handle(request: ComparingRequest): Promise<void> {
    try {
      if (request.type === "init") await this.#init(request);
      else if (request.type === "batch") {
        this.#apply(request.items, new Uint8Array(request.bytes));
        this.#host.applied(request.bytes.byteLength, 0);
      } else if (request.type === "drain") this.#drain();
      else if (request.type === "finish") {
        // The relay has stopped: what it posted is all there is, maybe still on its way.
        this.#drain();
        await this.#host.relayDrained();
        const paused = this.#spare?.paused;
        if (paused?.count) {
          this.#logger.log(
            "debug",
            "compare-paused",
            `The comparison stepped aside ${paused.count} times (${
              (paused.ms / 1000).toFixed(1)
            } s) while the machine was busy, ${paused.extended} of them for want of idle cores`,
            { pauses: paused.count, pausedMs: paused.ms, extendedPauses: paused.extended },
          );
        }
        await this.#engine?.settled();
        this.#host.post({ type: "report", report: this.#builder!.finish() });
      }
    } catch (error) {
      this.#host.post({ type: "failed", message: (error as Error).message });
    }
  }

  /**
   * Takes a batch from the epoll relay's worker (`ForwardBatch`); `release` is called once it has
   * been applied (its memory may then be reused: see backlog.ts).
   */
  relayBatch(items: Float64Array, bytes: Uint8Array, release?: () => void): void {
    this.#fromRelay.push({ items, bytes, at: 0, release });
    this.#pump();
  }

  /** From now on, applies the relay's batches as they come, and those waiting now. */
  #drain(): void {
    this.#finishing = true;
    clearTimeout(this.#pause);
    this.#pause = undefined;
    this.#pump();
  }

  /**
   * Applies the relay's batches, in slices while there is a clock to slice them by: a slice that
   * finds the machine busy pauses the rest (see spare_time.ts), unless the traffic is over.
   */
  #pump(): void {
    if (this.#pause !== undefined) return;
    const spare = this.#finishing ? undefined : this.#spare;
    try {
      for (;;) {
        spare?.begin();
        if (!this.#applyFromRelay(spare)) return;
        const pause = spare!.end();
        if (pause > 0) return this.#pauseFor(pause, spare!);
      }
    } catch (error) {
      this.#host.post({ type: "failed", message: (error as Error).message });
    }
  }

  /** Pauses the relay's batches for `ms`, and longer while `spare` finds the machine busy. */
  #pauseFor(ms: number, spare: SpareTime): void {
    this.#pauseEnds = performance.now() + ms;
    this.#pause = setTimeout(() => {
      this.#pause = undefined;
      const longer = spare.resume();
      if (longer > 0) this.#pauseFor(longer, spare);
      else this.#pump();
    }, ms);
  }

  async #init(request: ComparingInit): Promise<void> {
    this.#stopReason = behindReason(request.maxBehindBytes);
    const noise = noiseOf(request.noise);
    const target = await loadMatchTarget(request.recording, {
      onWarning: (warning) => this.#logger.log("warn", "recording-warning", warning),
    });
    const builder = new ReportBuilder({
      mode: "proxy-compare",
      recording: request.recording,
      against: request.against,
      noise: noise.rules.map((rule) => rule.source),
      ordered: request.ordered,
    });
    this.#builder = builder;
    this.#engine = compareTap({
      target,
      builder,
      compare: { noise, ordered: request.ordered },
      logger: this.#logger,
      inline: true,
      now: () => Math.round((this.#seen - (this.#origin ??= this.#seen)) * 1000),
    });
    this.#host.post({ type: "ready" });
  }

  #apply(items: BatchItem[], bytes: Uint8Array): void {
    const taps = this.#taps;
    for (const item of items) {
      this.#seen = item[item.length - 1] as number;
      switch (item[0]) {
        case ItemKind.Open:
          taps.set(item[1], this.#engine!.tap(item[2]));
          break;
        case ItemKind.Client:
          taps.get(item[1])?.client(bytes.subarray(item[2], item[3]));
          break;
        case ItemKind.Server:
          taps.get(item[1])?.server(bytes.subarray(item[2], item[3]));
          break;
        case ItemKind.Close:
          taps.get(item[1])?.close?.(item[2], item[3]);
          taps.delete(item[1]);
          break;
        case ItemKind.Stop:
          taps.get(item[1])?.stop(item[2]);
          break;
        case ItemKind.Forwarded:
          this.#forwarded.add(item[1]);
          this.#pump();
          break;
      }
    }
  }

  /**
   * Applies the relay worker's batches, up to an item whose connection is not forwarded yet, or
   * until `spare`'s slice has run its length (then true).
   */
  #applyFromRelay(spare?: SpareTime): boolean {
    const fromRelay = this.#fromRelay;
    const forwarded = this.#forwarded;
    const taps = this.#taps;
    let look = ITEMS_PER_LOOK;
    while (fromRelay.length > 0) {
      const batch = fromRelay[0];
      const { items, bytes } = batch;
      for (; batch.at < items.length; batch.at += FORWARD_ITEM_FIELDS) {
        if (spare && --look === 0) {
          if (spare.due()) return true;
          look = ITEMS_PER_LOOK;
        }
        const at = batch.at;
        const id = items[at + 1];
        if (!forwarded.has(id)) return false;
        this.#seen = items[at + 4];
        const tap = taps.get(id);
        switch (items[at]) {
          case ForwardItem.client:
            tap?.client(bytes.subarray(items[at + 2], items[at + 3]));
            break;
          case ForwardItem.server:
            tap?.server(bytes.subarray(items[at + 2], items[at + 3]));
            break;
          case ForwardItem.close:
            tap?.close?.("closed", { client: 0, server: 0 });
            taps.delete(id);
            forwarded.delete(id);
            break;
          case ForwardItem.stopped:
            tap?.stop(this.#stopReason);
            break;
        }
      }
      fromRelay.shift();
      batch.release?.();
      this.#host.applied(bytes.byteLength, 1);
    }
    return false;
  }
}

/** Why a connection is relayed without being compared (logged, and in the report). */
export function behindReason(maxBehindBytes: number): string {
  return `the comparison fell more than ${
    (maxBehindBytes / 1024 / 1024).toFixed(0)
  } MiB behind the traffic`;
}
