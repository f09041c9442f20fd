/**
 * The worker side of `proxy --compare` (see offthread.ts): decodes the relayed bytes it is sent,
 * compares each answer with the recording and sends back log lines, then the report.
 *
 * Messages in: `init` (the recording, noise rules, order), `batch` (connections opened, chunks
 * each way, connections closed, in relay order), `finish`. Messages out: `ready` or `failed`,
 * `log`, `report`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { LogFields, Logger, LogLevel } from "../log.ts";
import { loadMatchTarget } from "./matched.ts";
import { compareTap, type ComparingTap } from "./proxy_compare.ts";
import { ReportBuilder } from "./report.ts";
import { noiseOf } from "./verify.ts";
import { type BatchItem, ItemKind, type WorkerRequest, type WorkerResponse } from "./offthread.ts";

const post = (message: WorkerResponse) => self.postMessage(message);

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
/** Bytes the relay sent and this worker has not applied yet (see offthread.ts). */
let behind: Int32Array<ArrayBufferLike> = new Int32Array(1);

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  try {
    if (request.type === "init") {
      behind = new Int32Array(request.behind);
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
      Atomics.sub(behind, 0, request.bytes.byteLength);
    } else if (request.type === "finish") {
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
    }
  }
}
