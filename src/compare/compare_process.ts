/**
 * The comparing side of `proxy --compare` as a child process (see offthread.ts): messages in on
 * stdin, out on stdout, both framed (frames.ts); stderr is the parent's. The epoll relay's worker
 * writes the connections it took over (forward.ts frames) to a ring in memory shared with this
 * process (ring.ts), which the first argument names and which this process maps before it says
 * it is ready, and reads when it likes (relay_ring.ts): nothing wakes it. Every thread of
 * this process, the JavaScript runtime's and the garbage collector's included, runs in the idle
 * scheduling class (nice 10 where that is refused), so the comparison takes a core only when the
 * relay does not want it; and it steps aside altogether while the machine is busy (spare_time.ts),
 * the relay's batches waiting meanwhile in the ring, then in memory it reuses (backlog.ts). It ends
 * when stdin does (its parent finished or died).
 *
 * Besides {@link ComparingResponse}s it sends `applied` messages, at most every
 * {@link APPLIED_EVERY_MS}, which the parent takes off the counters the relay checks.
 *
 * @module
 */

import { idleProcessPriority, mapSharedMemory, sharedMemoryAt } from "../net/epoll/libc.ts";
import { ByteRing } from "../net/epoll/ring.ts";
import { readRelayRing } from "./relay_ring.ts";
import { spareTime } from "./spare_time.ts";
import { Comparing, type ComparingRequest } from "./comparing.ts";
import { encodeFrame, readFrames } from "./frames.ts";
import { COMPARING_NICE, type ProcessResponse } from "./offthread.ts";

/** Longest what has been applied waits to be said. */
const APPLIED_EVERY_MS = 20;

// Stdout carries frames only: a stray console.log must not corrupt them.
console.log = console.info = console.debug = console.error;

const stdout = Deno.stdout.writable.getWriter();
let writing = Promise.resolve();
const send = (message: ProcessResponse) => {
  const frame = encodeFrame(message);
  writing = writing.then(() => stdout.write(frame)).catch(() => {
    // The parent is gone: stdin ends too, and so does this process.
  });
};

const applied = {
  bytes: 0,
  relayBatches: 0,
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
};
const sayApplied = () => {
  applied.timer = undefined;
  send({ type: "applied", bytes: applied.bytes, relayBatches: applied.relayBatches });
  applied.bytes = applied.relayBatches = 0;
};

const normal = idleProcessPriority(COMPARING_NICE);
const comparing = new Comparing({
  post: send,
  applied(bytes, relayBatches) {
    applied.bytes += bytes;
    applied.relayBatches += relayBatches;
    applied.timer ??= setTimeout(sayApplied, APPLIED_EVERY_MS);
  },
  // The parent sends `finish` once every relay batch has been applied here.
  relayDrained: () => Promise.resolve(),
  spareTime: spareTime(),
});
if (normal) {
  comparing.logger.log("debug", "compare-priority", `Comparing at normal priority: ${normal}`);
}

// Mapped before the parent hears `ready` (it then lets go of the memory's name).
const ring = Deno.args[0] === undefined
  ? undefined
  : new ByteRing(sharedMemoryAt(mapSharedMemory(Deno.args[0])));
const relayed = ring && readRelayRing(ring, comparing);
relayed?.catch((error) => send({ type: "failed", message: (error as Error).message }));

try {
  for await (const message of readFrames(Deno.stdin)) {
    await comparing.handle(message as ComparingRequest);
  }
} catch (error) {
  send({ type: "failed", message: (error as Error).message });
}
if (applied.timer !== undefined) {
  clearTimeout(applied.timer);
  sayApplied();
}
await writing;
// The ring's reader ends with the process (it would look for more for ever).
Deno.exit(0);
