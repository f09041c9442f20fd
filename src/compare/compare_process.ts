/**
 * The comparing side of `proxy --compare` as a child process (see offthread.ts): messages in on
 * stdin, out on stdout, both framed (frames.ts); stderr is the parent's. Every thread of this
 * process, the JavaScript runtime's and the garbage collector's included, runs at nice 10, so the
 * comparison takes a core only when the relay does not want it. It ends when stdin does (its
 * parent finished or died).
 *
 * Besides {@link ComparingRequest}s, the parent sends `relay` messages (the epoll relay's
 * batches, which reach the parent on a port); this process answers `applied` messages, which the
 * parent takes off the counters the relay checks.
 *
 * @module
 */

import { lowerProcessPriority } from "../net/epoll/libc.ts";
import { Comparing, type ComparingRequest } from "./comparing.ts";
import { encodeFrame, readFrames } from "./frames.ts";
import { COMPARING_NICE, type ProcessRequest, type ProcessResponse } from "./offthread.ts";

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

const normal = lowerProcessPriority(COMPARING_NICE);
const comparing = new Comparing({
  post: send,
  applied: (bytes, relayBatches) => send({ type: "applied", bytes, relayBatches }),
  // The parent sends `finish` once every relay batch is here (applied, not only received).
  relayDrained: () => Promise.resolve(),
});
if (normal) {
  comparing.logger.log("debug", "compare-priority", `Comparing at normal priority: ${normal}`);
}

try {
  for await (const message of readFrames(Deno.stdin.readable)) {
    const request = message as ProcessRequest;
    if (request.type === "relay") {
      comparing.relayBatch(new Float64Array(request.items), new Uint8Array(request.bytes));
    } else {
      await comparing.handle(request as ComparingRequest);
    }
  }
} catch (error) {
  send({ type: "failed", message: (error as Error).message });
}
await writing;
