import assert from "node:assert/strict";
import { join } from "node:path";
import { PolledPipe } from "../../src/compare/polled_pipe.ts";
import { epollUnavailable, makeFifo } from "../../src/net/epoll/libc.ts";

const ignore = epollUnavailable() !== undefined;

/** A FIFO in a temporary directory, its polled reader, and a writer. */
async function fifo(options?: { minWaitMs?: number; maxWaitMs?: number }) {
  const dir = await Deno.makeTempDir({ prefix: "polled-pipe-" });
  const path = join(dir, "relay.fifo");
  makeFifo(path);
  const reader = new PolledPipe(path, options);
  // The reader holds the FIFO open for writing too: opening a writer does not wait.
  const writer = await Deno.open(path, { write: true });
  return {
    reader,
    writer,
    async [Symbol.asyncDispose]() {
      reader.close();
      writer.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test({
  name: "PolledPipe reads what is written, in order, across writes and waits",
  ignore,
  async fn() {
    await using pipe = await fifo();
    const into = new Uint8Array(1024);
    const got: number[] = [];
    const reading = (async () => {
      while (got.length < 300) {
        const count = await pipe.reader.read(into);
        assert.ok(count !== null && count > 0);
        got.push(...into.subarray(0, count));
      }
    })();
    for (let i = 0; i < 3; i++) {
      await pipe.writer.write(new Uint8Array(100).map((_, j) => (i * 100 + j) & 0xff));
      await sleep(30);
    }
    await reading;
    assert.deepEqual(got, Array.from({ length: 300 }, (_, k) => k & 0xff));
  },
});

Deno.test({
  name: "PolledPipe backs off while nothing comes, and still reads what comes after",
  ignore,
  async fn() {
    await using pipe = await fifo({ minWaitMs: 10, maxWaitMs: 80 });
    const into = new Uint8Array(64);
    const read = pipe.reader.read(into);
    await sleep(600);
    // 10, 20, 40, then 80 ms waits: ~10 looks in 600 ms, where a busy loop would make thousands.
    assert.ok(pipe.reader.looks <= 12, `${pipe.reader.looks} looks in 600 ms`);
    const written = performance.now();
    await pipe.writer.write(new Uint8Array([7, 8, 9]));
    assert.equal(await read, 3);
    assert.deepEqual([...into.subarray(0, 3)], [7, 8, 9]);
    assert.ok(performance.now() - written < 500, "read within the longest wait (and some slack)");
  },
});

Deno.test({
  name: "PolledPipe: close() ends a read that waits",
  ignore,
  async fn() {
    await using pipe = await fifo({ minWaitMs: 5, maxWaitMs: 5 });
    const read = pipe.reader.read(new Uint8Array(16));
    await sleep(20);
    pipe.reader.close();
    assert.equal(await read, null);
  },
});
