/**
 * renumberAuth(): the login's sequence ids shifted by the TLS step one side did not make, at
 * every split point of the input, the HandshakeResponse's CLIENT_SSL bit set or cleared, and
 * nothing touched once the server's OK (or a client command) ends the authentication.
 */
import assert from "node:assert/strict";
import { renumberAuth } from "../../src/net/renumber.ts";
import type { ByteStream } from "../../src/net/relay.ts";
import { concat, frame, hex } from "../helpers/hex.ts";

/** A stream that reads the given chunks, one per read. */
function chunks(parts: Uint8Array[]): ByteStream {
  const queue = parts.map((p) => p.slice());
  return {
    read(buffer) {
      const next = queue.shift();
      if (!next) return Promise.resolve(null);
      buffer.set(next);
      return Promise.resolve(next.length);
    },
    write: (bytes) => Promise.resolve(bytes.length),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

async function readAll(stream: ByteStream): Promise<Uint8Array> {
  const out: number[] = [];
  const buffer = new Uint8Array(1024);
  for (;;) {
    const n = await stream.read(buffer);
    if (n === null) return new Uint8Array(out);
    out.push(...buffer.subarray(0, n));
  }
}

/** Every way of cutting `bytes` in two, and byte by byte. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const ways = [[bytes], [...bytes].map((b) => new Uint8Array([b]))];
  for (let i = 1; i < bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return ways;
}

// HandshakeResponse41 head: capabilities 0x000aaa8d (PROTOCOL_41 | SSL | ...), then the rest.
const RESPONSE = hex("8daa0a00 00000001 2d" + "00".repeat(23) + "6170700000");
const RESPONSE_NO_SSL = hex("8da20a00 00000001 2d" + "00".repeat(23) + "6170700000");
const MORE_DATA_FAST = hex("01 03");
const OK = hex("00 00 00 0200 0000");
const COMMAND = hex("03 53454c4543542031");

Deno.test("renumberAuth() moves the client's login packets one back and clears CLIENT_SSL, then stops at a command", async () => {
  const input = concat([frame(2, RESPONSE), frame(0, COMMAND)]);
  const expected = concat([frame(1, RESPONSE_NO_SSL), frame(0, COMMAND)]);
  for (const parts of splits(input)) {
    const progress = { done: false };
    const stream = renumberAuth(chunks(parts), { offset: -1, progress, client: { tls: false } });
    assert.deepEqual(await readAll(stream), expected);
    assert.equal(progress.done, true);
  }
});

Deno.test("renumberAuth() sets CLIENT_SSL in the HandshakeResponse when only the server side is TLS", async () => {
  const progress = { done: false };
  const stream = renumberAuth(chunks([frame(1, RESPONSE_NO_SSL), frame(3, hex("aabb"))]), {
    offset: 1,
    progress,
    client: { tls: true },
  });
  assert.deepEqual(await readAll(stream), concat([frame(2, RESPONSE), frame(4, hex("aabb"))]));
});

Deno.test("renumberAuth() renumbers the server's auth packets up to the OK (caching_sha2 fast auth), then nothing", async () => {
  const input = concat([frame(2, MORE_DATA_FAST), frame(3, OK), frame(1, OK)]);
  const expected = concat([frame(3, MORE_DATA_FAST), frame(4, OK), frame(1, OK)]);
  for (const parts of splits(input)) {
    const progress = { done: false };
    const stream = renumberAuth(chunks(parts), { offset: 1, progress });
    assert.deepEqual(await readAll(stream), expected);
    assert.equal(progress.done, true);
  }
});

Deno.test("renumberAuth() ends at an ERR too, and wraps sequence ids at 255", async () => {
  const err = hex("ff 1504 2332383030304163636573732064656e696564");
  const progress = { done: false };
  const stream = renumberAuth(chunks([frame(255, hex("fe 6d7973716c5f00")), frame(0, err)]), {
    offset: 1,
    progress,
  });
  assert.deepEqual(
    await readAll(stream),
    concat([frame(0, hex("fe 6d7973716c5f00")), frame(1, err)]),
  );
  assert.equal(progress.done, true);
});

Deno.test("renumberAuth() reads the initial bytes first and leaves everything alone once done", async () => {
  const progress = { done: true };
  const stream = renumberAuth(chunks([frame(5, OK)]), {
    offset: 1,
    progress,
    initial: frame(7, OK),
  });
  assert.deepEqual(await readAll(stream), concat([frame(7, OK), frame(5, OK)]));
});
