import assert from "node:assert/strict";
import { Backlog, type PlacedBatch } from "../../src/compare/backlog.ts";

/** A batch's parts as the forward frame carries them: `n` items' bytes and `n * 3` bytes. */
function parts(n: number, mark: number): [Uint8Array, Uint8Array] {
  const items = new Float64Array(n * 5).map((_, i) => mark * 1000 + i);
  return [new Uint8Array(items.buffer), new Uint8Array(n * 3).fill(mark & 0xff)];
}

/** `placed` still holds what `parts(n, mark)` gave it, items and bytes, to the last byte. */
function assertIntact(placed: PlacedBatch, n: number, mark: number, what: string): void {
  const [items, bytes] = parts(n, mark);
  assert.deepEqual([...placed.items], [...new Float64Array(items.buffer)], `${what}: items`);
  assert.deepEqual([...placed.bytes], [...bytes], `${what}: bytes`);
}

Deno.test("Backlog keeps every batch intact until it is released, across chunks", () => {
  const backlog = new Backlog({ chunkBytes: 1024 });
  // Odd sizes: every batch's items must still start on a multiple of 8.
  const placed = Array.from(
    { length: 40 },
    (_, mark) => backlog.place(...parts(1 + mark % 7, mark)),
  );
  assert.ok(backlog.chunks > 3, `${backlog.chunks} chunks`);
  placed.forEach((batch, mark) => assertIntact(batch, 1 + mark % 7, mark, `batch ${mark}`));
});

Deno.test("Backlog reuses its chunks: a steady flow and a burst's backlog allocate nothing more", () => {
  const backlog = new Backlog({ chunkBytes: 1024 });
  // Applied as they come: one chunk, written from its start again and again.
  for (let mark = 0; mark < 500; mark++) {
    const batch = backlog.place(...parts(2, mark));
    assertIntact(batch, 2, mark, `batch ${mark}`);
    batch.release();
  }
  assert.equal(backlog.chunks, 1);
  // A backlog of ~10 chunks, applied in order, twice: the second burst finds the chunks free.
  for (let burst = 0; burst < 2; burst++) {
    const waiting = Array.from({ length: 50 }, (_, mark) => backlog.place(...parts(4, mark)));
    waiting.forEach((batch, mark) => {
      assertIntact(batch, 4, mark, `burst ${burst}, batch ${mark}`);
      batch.release();
    });
  }
  const made = backlog.chunks;
  assert.ok(made >= 10 && made <= 12, `${made} chunks for a backlog of ~10`);
  for (let mark = 0; mark < 50; mark++) backlog.place(...parts(4, mark)).release();
  assert.equal(backlog.chunks, made);
});

Deno.test("Backlog does not reuse a chunk while one of its batches waits", () => {
  const backlog = new Backlog({ chunkBytes: 1024 });
  const first = backlog.place(...parts(2, 1));
  const second = backlog.place(...parts(2, 2));
  first.release();
  first.release(); // twice: no effect
  // The chunk still holds `second`: what follows must not overwrite it.
  const more = Array.from({ length: 20 }, (_, i) => backlog.place(...parts(3, 10 + i)));
  assertIntact(second, 2, 2, "the waiting batch");
  more.forEach((batch, i) => assertIntact(batch, 3, 10 + i, `batch ${10 + i}`));
});

Deno.test("Backlog gives a batch larger than a chunk buffers of its own", () => {
  const backlog = new Backlog({ chunkBytes: 256 });
  const small = backlog.place(...parts(1, 1));
  const large = backlog.place(...parts(40, 2));
  const after = backlog.place(...parts(1, 3));
  assert.equal(backlog.chunks, 1, "the large batch takes no chunk");
  assertIntact(small, 1, 1, "before");
  assertIntact(large, 40, 2, "the large batch");
  assertIntact(after, 1, 3, "after");
  large.release();
});
