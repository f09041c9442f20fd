/**
 * The forward ring (src/net/epoll/ring.ts): a byte stream whatever the write and read sizes and
 * wherever they wrap, never more than it holds, and the same memory seen from another process.
 */
import assert from "node:assert/strict";
import { ByteRing, ringBytes, ringSource } from "../../src/net/epoll/ring.ts";
import {
  closeDescriptor,
  createSharedMemory,
  sharedMemoryAt,
  unmapSharedMemory,
} from "../../src/net/epoll/libc.ts";
import { EpollRelay } from "../../src/net/epoll/relay.ts";

/** `length` bytes that differ from their neighbours: a byte lost, doubled or moved shows. */
function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed + (i >> 8)) & 0xff;
  return bytes;
}

Deno.test("ByteRing passes a stream unchanged through writes and reads of every size, wrapping anywhere", () => {
  const ring = new ByteRing(new ArrayBuffer(ringBytes(64)));
  const stream = pattern(64 * 200);
  const out = new Uint8Array(stream.length);
  let written = 0;
  let read = 0;
  for (let step = 0; read < stream.length; step++) {
    // Sizes from 1 to 100: past the ring's room too, where a write takes only what fits.
    const put = ring.write(stream.subarray(written, written + 1 + (step * 13) % 100));
    assert.ok(put <= 64);
    written += put;
    assert.equal(ring.used, written - read);
    read += ring.read(out.subarray(read, read + 1 + (step * 29) % 70));
    assert.equal(ring.used, written - read);
  }
  assert.deepEqual(out, stream);
});

Deno.test("ByteRing holds its capacity and no more; a read gives the room back", () => {
  const ring = new ByteRing(new ArrayBuffer(ringBytes(128)));
  assert.equal(ring.write(pattern(100)), 100);
  assert.equal(ring.write(pattern(100, 1)), 28, "only what fits");
  assert.equal(ring.write(pattern(1)), 0, "full");
  assert.equal(ring.used, 128);
  const first = new Uint8Array(50);
  assert.equal(ring.read(first), 50);
  assert.deepEqual(first, pattern(100).subarray(0, 50));
  assert.equal(ring.write(pattern(60, 2)), 50);
  assert.equal(ring.read(new Uint8Array(1000)), 128);
  assert.equal(ring.read(new Uint8Array(10)), 0, "empty");
});

Deno.test("ByteRing refuses data that is not a power of two of bytes", () => {
  for (const capacity of [0, 32, 100, 3 << 20]) {
    assert.throws(() => new ByteRing(new ArrayBuffer(ringBytes(capacity))), /power of two/);
  }
});

Deno.test("ringSource waits while the ring is empty, and ends only once told, after what is left", async () => {
  const ring = new ByteRing(new ArrayBuffer(ringBytes(64)));
  let ended = false;
  const looks: number[] = [];
  const source = ringSource(ring, () => (looks.push(1), 2), () => ended);
  const pending = source.read(new Uint8Array(64));
  setTimeout(() => ring.write(pattern(10)), 20);
  assert.equal(await pending, 10);
  assert.ok(looks.length >= 3, `looked ${looks.length} times`);
  ring.write(pattern(5));
  ended = true;
  assert.equal(await source.read(new Uint8Array(64)), 5, "written before the end: still read");
  assert.equal(await source.read(new Uint8Array(64)), null);
});

Deno.test({
  name:
    "ByteRing over shared memory: another process maps it by its path and reads what this one writes",
  ignore: EpollRelay.unavailable() !== undefined,
  async fn() {
    const capacity = 4096;
    const memory = createSharedMemory("ring-test", ringBytes(capacity));
    const ring = new ByteRing(sharedMemoryAt(memory));
    const stream = pattern(capacity * 50, 9);
    const reader = `
      import { mapSharedMemory, sharedMemoryAt } from "${
      new URL("../../src/net/epoll/libc.ts", import.meta.url).href
    }";
      import { ByteRing } from "${new URL("../../src/net/epoll/ring.ts", import.meta.url).href}";
      const ring = new ByteRing(sharedMemoryAt(mapSharedMemory(Deno.args[0])));
      console.log("mapped");
      const out = new Uint8Array(${stream.length});
      for (let read = 0; read < out.length;) {
        const count = ring.read(out.subarray(read));
        if (count === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        read += count;
      }
      await Deno.stdout.write(out);
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", reader, memory.path],
      stdout: "piped",
    }).spawn();
    try {
      const output = child.stdout.getReader();
      const chunks: Uint8Array[] = [];
      let size = 0;
      const next = async () => {
        const { value, done } = await output.read();
        if (done) return false;
        chunks.push(value);
        size += value.length;
        return true;
      };
      // Its name can go once the other process has mapped it.
      while (!new TextDecoder().decode(chunks.at(-1)).includes("mapped")) await next();
      closeDescriptor(memory.fd);
      chunks.length = size = 0;
      for (let written = 0; written < stream.length;) {
        const put = ring.write(stream.subarray(written, written + 3000));
        if (put === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        written += put;
      }
      while (size < stream.length && await next());
      const received = new Uint8Array(size);
      chunks.reduce((at, chunk) => (received.set(chunk, at), at + chunk.length), 0);
      assert.deepEqual(received, stream);
      assert.equal((await child.status).code, 0);
    } finally {
      try {
        child.kill();
      } catch {
        // It has exited.
      }
      unmapSharedMemory(memory);
    }
  },
});

/** Why this machine cannot run a program with /proc hidden (a mount namespace takes root). */
const noHiddenProc = (() => {
  if (EpollRelay.unavailable() !== undefined) return "no epoll relay here";
  try {
    const { success } = new Deno.Command("unshare", {
      args: ["--mount", "--propagation", "private", "true"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return success ? undefined : "unshare --mount is refused (not root)";
  } catch {
    return "no unshare command";
  }
})();

Deno.test({
  name: noHiddenProc === undefined
    ? "createSharedMemory refuses, saying why, where another process could not open it (no /proc)"
    : `createSharedMemory without /proc (ignored: ${noHiddenProc})`,
  ignore: noHiddenProc !== undefined,
  fn() {
    const script = `
      import { createSharedMemory } from "${
      new URL("../../src/net/epoll/libc.ts", import.meta.url).href
    }";
      try {
        createSharedMemory("ring-test", 8192);
        console.log("made");
      } catch (error) {
        console.log(error.message);
      }
    `;
    const run = (hide: boolean) => {
      const deno = `${Deno.execPath()} eval --quiet "$0"`;
      const { stdout, success } = new Deno.Command("unshare", {
        args: [
          ..."--mount --propagation private sh -c".split(" "),
          hide ? `mount -t tmpfs none /proc && exec ${deno}` : `exec ${deno}`,
          script,
        ],
        stderr: "inherit",
      }).outputSync();
      assert.ok(success);
      return new TextDecoder().decode(stdout).trim();
    };
    assert.equal(run(false), "made");
    assert.match(run(true), /^Cannot name shared memory as \/proc\/\d+\/fd\/\d+: /);
  },
});
