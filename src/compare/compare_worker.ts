/**
 * The comparing side of `proxy --compare` in a worker thread (see offthread.ts), where a child
 * process cannot be started: the thread runs in the idle scheduling class (or at nice 10); the
 * epoll relay's worker writes the connections it took over to the ring given at init, which this
 * thread reads when it likes (relay_ring.ts), and the counters are shared memory.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { idleThreadPriority } from "../net/epoll/libc.ts";
import { ByteRing } from "../net/epoll/ring.ts";
import { spareTime } from "./spare_time.ts";
import { Comparing, type ComparingRequest, type ComparingResponse } from "./comparing.ts";
import { batchesApplied, ForwardCounter } from "../net/epoll/forward.ts";
import { COMPARING_NICE, type WorkerInit } from "./offthread.ts";
import { readRelayRing } from "./relay_ring.ts";

/** Bytes and relay batches sent and not applied yet (`ForwardCounter`). */
let counters: Int32Array<ArrayBufferLike> = new Int32Array(2);

const comparing = new Comparing({
  post: (message: ComparingResponse) => self.postMessage(message),
  applied(bytes, relayBatches) {
    Atomics.sub(counters, ForwardCounter.bytes, bytes);
    if (relayBatches > 0) Atomics.sub(counters, ForwardCounter.batches, relayBatches);
  },
  relayDrained: () => batchesApplied(counters),
  spareTime: spareTime(),
});

self.onmessage = (
  event: MessageEvent<WorkerInit | Exclude<ComparingRequest, { type: "init" }>>,
) => {
  const request = event.data;
  if (request.type === "init") {
    // Comparing waits; forwarding must not: the scheduler runs the relay first.
    const normal = idleThreadPriority(COMPARING_NICE);
    if (normal) {
      comparing.logger.log("debug", "compare-priority", `Comparing at normal priority: ${normal}`);
    }
    counters = new Int32Array(request.counters);
    if (request.ring) {
      readRelayRing(new ByteRing(request.ring), comparing).catch((error) =>
        self.postMessage({ type: "failed", message: (error as Error).message })
      );
    }
  }
  return comparing.handle(request);
};
