/**
 * PacketStream hands out whole packets and gives back every byte it read but did not hand out,
 * however the stream was cut.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PacketStream } from "../../src/hooks/packet_stream.ts";
import type { ByteStream } from "../../src/net/relay.ts";
import { hex } from "../helpers/hex.ts";

function chunked(bytes: Uint8Array, cuts: number[]): ByteStream {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) pieces.push(bytes.subarray(at, cut));
    at = Math.max(at, cut);
  }
  return {
    read(buffer) {
      const piece = pieces.shift();
      if (!piece) return Promise.resolve(null);
      buffer.set(piece);
      return Promise.resolve(piece.length);
    },
    write: (b) => Promise.resolve(b.length),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

Deno.test("PacketStream.next() then remainder(): the first packet, then every byte after it, at every split point", async () => {
  // COM_PING (seq 0), then COM_QUERY "SELECT 1" (seq 0), then half a packet.
  const bytes = hex("01000000 0e 09000000 03 53454c4543542031 05000000 03 5345");
  for (let a = 0; a <= bytes.length; a++) {
    for (const b of [a, Math.min(bytes.length, a + 3)]) {
      const stream = new PacketStream(chunked(bytes, [a, b]));
      const first = await stream.next();
      assert.deepEqual([...first!.payload], [0x0e], `cut at ${a},${b}`);
      // Only what was read is left: read the rest through the stream and join it.
      const rest = [...stream.remainder()];
      const tail: number[] = [];
      const buffer = new Uint8Array(64);
      for (;;) {
        const count = await stream.conn.read(buffer);
        if (count === null) break;
        tail.push(...buffer.subarray(0, count));
      }
      assert.deepEqual([...rest, ...tail], [...bytes.subarray(5)], `cut at ${a},${b}`);
    }
  }
});

Deno.test("PacketStream.buffered() takes a packet already read, never reads for one", async () => {
  const bytes = hex("01000000 0e 01000000 0e 01000000");
  const stream = new PacketStream(chunked(bytes, []));
  assert.ok(await stream.next());
  assert.ok(stream.buffered());
  assert.equal(stream.buffered(), undefined);
  assert.deepEqual([...stream.remainder()], [1, 0, 0, 0]);
});
