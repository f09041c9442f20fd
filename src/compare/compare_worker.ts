/**
 * The worker side of `proxy --compare` (see offthread.ts): decodes the relayed bytes it is sent,
 * compares each answer with the recording and sends back log lines, then the report.
 *
 * Messages in: `init` (the recording, noise rules, order), `batch` (connections opened, chunks
 * each way, connections closed, in relay order), `finish`. Messages out: `ready` or `failed`,
 * `log`, `report`. The epoll relay's worker sends the connections it took over through the port
 * given at init (src/net/epoll/forward.ts); a connection's items from there are applied only
 * after its `Forwarded` item from the main thread, which comes after everything before them.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { LogFields, Logger, LogLevel } from "../log.ts";
import { loadMatchTarget } from "./matched.ts";
import { lowerThreadPriority } from "../net/epoll/libc.ts";
import { compareTap, type ComparingTap } from "./proxy_compare.ts";
import { ReportBuilder } from "./report.ts";
import { noiseOf } from "./verify.ts";
import {
  type BatchItem,
  behindReason,
  ItemKind,
  type WorkerRequest,
  type WorkerResponse,
} from "./offthread.ts";
import {
  FORWARD_ITEM_FIELDS,
  type ForwardBatch,
  ForwardCounter,
  ForwardItem,
} from "../net/epoll/forward.ts";

const post = (message: WorkerResponse) => self.postMessage(message);

/**
 * The comparing thread's niceness: below the relay's, so at a load the machine can carry the
 * comparison costs the traffic no latency (it runs when a core is free), and under saturation it
 * falls behind first (bounded by `maxBehindBytes`), not the forwarding.
 */
const COMPARING_NICE = 10;

const logger: Logger = {
  log(level: LogLevel, event: string, message: string, fields?: LogFields) {
    post({ type: "log", level, event, message, fields });
  },
};

let engine: ReturnType<typeof compareTap> | undefined;
/** When the relay saw the item being applied (its clock, milliseconds). */
let seen = 0;
let origin: number | undefined;
let builder: ReportBuilder | undefined;
const taps = new Map<number, ComparingTap>();
/** Bytes and relay batches sent and not applied yet (`ForwardCounter`, see offthread.ts). */
let counters: Int32Array<ArrayBufferLike> = new Int32Array(2);
let stopReason = "";
/** Connections whose items from the relay's worker may be applied (see the module's note). */
const forwarded = new Set<number>();
/** Batches from the relay's worker not applied yet, oldest first; `at`: the next item. */
const fromRelay: { items: Float64Array; bytes: Uint8Array; at: number }[] = [];

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  try {
    if (request.type === "init") {
      // Comparing waits; forwarding must not: the scheduler runs the relay first.
      const normal = lowerThreadPriority(COMPARING_NICE);
      if (normal) {
        logger.log("debug", "compare-priority", `Comparing at normal priority: ${normal}`);
      }
      counters = new Int32Array(request.counters);
      stopReason = behindReason(request.maxBehindBytes);
      request.port.onmessage = (event: MessageEvent<ForwardBatch>) => {
        const { items, bytes } = event.data;
        fromRelay.push({ items: new Float64Array(items), bytes: new Uint8Array(bytes), at: 0 });
        guarded(applyFromRelay);
      };
      const noise = noiseOf(request.noise);
      const target = await loadMatchTarget(request.recording, {
        onWarning: (warning) => logger.log("warn", "recording-warning", warning),
      });
      builder = new ReportBuilder({
        mode: "proxy-compare",
        recording: request.recording,
        against: request.against,
        noise: noise.rules.map((rule) => rule.source),
        ordered: request.ordered,
      });
      engine = compareTap({
        target,
        builder,
        compare: { noise, ordered: request.ordered },
        logger,
        inline: true,
        now: () => Math.round((seen - (origin ??= seen)) * 1000),
      });
      post({ type: "ready" });
    } else if (request.type === "batch") {
      apply(request.items, new Uint8Array(request.bytes));
      Atomics.sub(counters, ForwardCounter.bytes, request.bytes.byteLength);
    } else if (request.type === "finish") {
      // The relay has stopped: what it posted is all there is, maybe still on its way.
      while (Atomics.load(counters, ForwardCounter.batches) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await engine?.settled();
      post({ type: "report", report: builder!.finish() });
    }
  } catch (error) {
    post({ type: "failed", message: (error as Error).message });
  }
};

function apply(items: BatchItem[], bytes: Uint8Array): void {
  for (const item of items) {
    seen = item[item.length - 1] as number;
    switch (item[0]) {
      case ItemKind.Open:
        taps.set(item[1], engine!.tap(item[2]));
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
        forwarded.add(item[1]);
        applyFromRelay();
        break;
    }
  }
}

/** Applies the relay worker's batches, up to an item whose connection is not forwarded yet. */
function applyFromRelay(): void {
  while (fromRelay.length > 0) {
    const batch = fromRelay[0];
    const { items, bytes } = batch;
    for (; batch.at < items.length; batch.at += FORWARD_ITEM_FIELDS) {
      const at = batch.at;
      const id = items[at + 1];
      if (!forwarded.has(id)) return;
      seen = items[at + 4];
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
          tap?.stop(stopReason);
          break;
      }
    }
    fromRelay.shift();
    Atomics.sub(counters, ForwardCounter.bytes, bytes.byteLength);
    Atomics.sub(counters, ForwardCounter.batches, 1);
  }
}

function guarded(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    post({ type: "failed", message: (error as Error).message });
  }
}
