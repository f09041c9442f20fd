import assert from "node:assert/strict";
import { encodeFrame, readFrames } from "../../src/compare/frames.ts";
import { concat } from "../helpers/hex.ts";

/** A reader that hands out `bytes` in reads of at most `most` bytes (a pipe's short reads). */
function dribble(bytes: Uint8Array, most: number) {
  let at = 0;
  return {
    read(into: Uint8Array): Promise<number | null> {
      if (at === bytes.length) return Promise.resolve(null);
      const count = Math.min(most, into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + count));
      at += count;
      return Promise.resolve(count);
    },
  };
}

const messages = [
  { type: "small", n: 1 },
  // Larger than the buffer a reader starts with: it grows.
  { type: "large", bytes: new Uint8Array(300_000).map((_, i) => i % 251) },
  { type: "after", at: new Date(0) },
];

for (
  const [name, source] of [
    ["a reader, a few bytes per read", () => dribble(concat(messages.map(encodeFrame)), 7)],
    ["a reader, large reads", () => dribble(concat(messages.map(encodeFrame)), 1 << 20)],
    ["a stream", () => ReadableStream.from(messages.map(encodeFrame))],
  ] as const
) {
  Deno.test(`readFrames reads every message, in order, from ${name}`, async () => {
    const read = [];
    for await (const message of readFrames(source())) read.push(message);
    assert.deepEqual(read, messages);
  });
}

Deno.test("readFrames: input that ends inside a message is an error, saying how much came", async () => {
  const frame = encodeFrame({ type: "cut" });
  await assert.rejects(
    async () => {
      for await (const _ of readFrames(dribble(frame.subarray(0, frame.length - 2), 3))) {
        // Nothing comes.
      }
    },
    /ended inside a message \(\d+ bytes of it\)/,
  );
});

Deno.test("readFrames cancels a stream the consumer leaves early", async () => {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(encodeFrame({ type: "again" })),
    cancel: () => {
      cancelled = true;
    },
  });
  for await (const _ of readFrames(stream)) break;
  assert.equal(cancelled, true);
});
