import assert from "node:assert/strict";
import { type Packet, PacketFramer } from "../../src/protocol/framing.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { concat, frame, hex, readCapture, toHex } from "../helpers/hex.ts";

interface Seen {
  sequenceId: number;
  lastSequenceId: number;
  frames: number;
  payload: string;
}

function collect(framer: PacketFramer, chunks: Uint8Array[]): Seen[] {
  const seen: Seen[] = [];
  const onPacket = (p: Packet) =>
    seen.push({
      sequenceId: p.sequenceId,
      lastSequenceId: p.lastSequenceId,
      frames: p.frames,
      payload: toHex(p.payload),
    });
  for (const chunk of chunks) framer.push(chunk, onPacket);
  return seen;
}

// A real result set from MariaDB 10.11 (mariadb CLI, `SELECT 1 AS a, NULL AS b, 'x' AS c`).
const RESULT_SET = [
  frame(1, hex("01")),
  frame(2, hex("03646566000000016100000c3f0001000000038100000000")),
  frame(3, hex("03646566000000016200000c3f0000000000068000000000")),
  frame(4, hex("03646566000000016300000c210003000000fd0100270000")),
  frame(5, hex("fe00000200")),
  frame(6, hex("0131fb0178")),
  frame(7, hex("fe00000200")),
];

Deno.test("PacketFramer.push() yields the same packets at every split point of a stream", () => {
  const stream = concat(RESULT_SET);
  const expected = collect(new PacketFramer(), [stream]);
  assert.equal(expected.length, 7);
  for (let cut = 0; cut <= stream.length; cut++) {
    const got = collect(new PacketFramer(), [stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(got, expected, `split at ${cut}`);
  }
});

Deno.test("PacketFramer.push() handles a stream delivered one byte at a time", () => {
  const stream = concat(RESULT_SET);
  const expected = collect(new PacketFramer(), [stream]);
  const bytes = Array.from(stream, (b) => new Uint8Array([b]));
  assert.deepEqual(collect(new PacketFramer(), bytes), expected);
});

Deno.test("PacketFramer.push() handles every pair of split points in a short stream", () => {
  const stream = concat([frame(0, hex("0e")), frame(0, hex("")), frame(1, hex("0301"))]);
  const expected = collect(new PacketFramer(), [stream]);
  assert.equal(expected.length, 3);
  for (let a = 0; a <= stream.length; a++) {
    for (let b = a; b <= stream.length; b++) {
      const chunks = [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)];
      assert.deepEqual(collect(new PacketFramer(), chunks), expected, `split at ${a},${b}`);
    }
  }
});

Deno.test("PacketFramer reassembles real captured frames", () => {
  const captured = readCapture(
    new URL("../fixtures/captures/demo-cli-select.txt", import.meta.url),
  );
  const server = captured.filter((f) => f.direction === "server");
  const packets = collect(new PacketFramer(), server.map((f) => frame(f.sequenceId, f.payload)));
  assert.deepEqual(packets.map((p) => p.payload), server.map((f) => toHex(f.payload)));
});

// Continuation: a payload of 0xffffff bytes or more spans several frames.
function bigPayload(length: number): Uint8Array {
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i += 4099) payload[i] = (i / 4099) & 0xff;
  payload[length - 1] = 0x5a;
  return payload;
}

function continued(payload: Uint8Array, firstSequenceId: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let sequenceId = firstSequenceId;
  for (let offset = 0;; offset += 0xffffff) {
    const part = payload.subarray(offset, offset + 0xffffff);
    frames.push(frame(sequenceId++ & 0xff, part));
    if (part.length < 0xffffff) return frames;
  }
}

Deno.test("PacketFramer reassembles a 0xffffff payload followed by the empty frame", () => {
  const payload = bigPayload(0xffffff);
  const frames = continued(payload, 3);
  assert.equal(frames.length, 2);
  assert.equal(frames[1].length, 4, "an exact multiple is followed by an empty frame");
  const seen: Packet[] = [];
  const framer = new PacketFramer();
  for (const f of frames) framer.push(f, (p) => seen.push({ ...p, payload: p.payload.slice() }));
  assert.equal(seen.length, 1);
  assert.equal(seen[0].sequenceId, 3);
  assert.equal(seen[0].lastSequenceId, 4);
  assert.equal(seen[0].frames, 2);
  assert.deepEqual(seen[0].payload, payload);
});

Deno.test("PacketFramer reassembles continuation frames at split points around the boundary", () => {
  const payload = bigPayload(0xffffff + 10);
  const stream = concat([...continued(payload, 255), frame(0, hex("0e"))]);
  const boundary = 4 + 0xffffff;
  for (
    const cut of [1, 3, 4, 5, boundary - 1, boundary, boundary + 2, boundary + 4, boundary + 5]
  ) {
    const seen: Packet[] = [];
    const framer = new PacketFramer();
    for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
      framer.push(chunk, (p) => seen.push({ ...p, payload: p.payload.slice() }));
    }
    assert.equal(seen.length, 2, `split at ${cut}`);
    assert.equal(seen[0].sequenceId, 255);
    assert.equal(seen[0].lastSequenceId, 0, "sequence ids wrap at 255");
    assert.equal(seen[0].payload.length, payload.length);
    assert.deepEqual(seen[0].payload, payload);
    assert.equal(toHex(seen[1].payload), "0e");
    assert.equal(framer.buffered, 0);
  }
});

Deno.test("PacketFramer reassembles a 2 x 0xffffff payload arriving in 64 KiB reads in linear time", () => {
  const payload = bigPayload(2 * 0xffffff + 1);
  const stream = concat(continued(payload, 0));
  const seen: Uint8Array[] = [];
  const framer = new PacketFramer();
  const started = performance.now();
  for (let offset = 0; offset < stream.length; offset += 65536) {
    framer.push(stream.subarray(offset, offset + 65536), (p) => seen.push(p.payload));
  }
  const elapsed = performance.now() - started;
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0], payload);
  // Quadratic re-joining of the tail would copy gigabytes here and take many seconds.
  assert.ok(elapsed < 3000, `took ${elapsed} ms`);
});

Deno.test("PacketFramer keeps nothing for a header that announces 16 MiB and sends nothing", () => {
  const framer = new PacketFramer();
  framer.push(hex("ffffff00"), () => assert.fail("no packet expected"));
  assert.equal(framer.buffered, 4);
});

Deno.test("PacketFramer throws ProtocolError once a packet exceeds maxPacketLength", () => {
  const framer = new PacketFramer({ maxPacketLength: 1000 });
  framer.push(frame(0, new Uint8Array(1000)), () => {});
  assert.throws(
    () => framer.push(hex("e9 03 00 00"), () => {}),
    (error: unknown) => error instanceof ProtocolError && /1001 bytes exceeds/.test(error.message),
  );
  assert.equal(framer.buffered, 0, "the framer drops what it had");
});

Deno.test("PacketFramer with truncateAbove keeps only a prefix of large packets, at every size", () => {
  const payload = bigPayload(2 * 0xffffff + 100);
  const stream = concat([
    ...continued(payload, 0),
    frame(3, hex("0e")),
    frame(0, bigPayload(70000)),
  ]);
  const framer = new PacketFramer({ truncateAbove: 1000 });
  const seen: Packet[] = [];
  let peak = 0;
  for (let offset = 0; offset < stream.length; offset += 65536) {
    framer.push(
      stream.subarray(offset, offset + 65536),
      (p) => seen.push({ ...p, payload: p.payload.slice() }),
    );
    peak = Math.max(peak, framer.buffered);
  }
  assert.equal(seen.length, 3);
  assert.equal(seen[0].length, payload.length);
  assert.equal(seen[0].truncated, true);
  assert.deepEqual(seen[0].payload, payload.subarray(0, 1000));
  assert.equal(seen[0].frames, 3);
  assert.equal(toHex(seen[1].payload), "0e");
  assert.equal(seen[1].truncated, undefined);
  assert.equal(seen[2].length, 70000);
  assert.equal(seen[2].payload.length, 1000);
  assert.ok(peak <= 1000 + 8, `buffered at most ${peak} bytes`);
});
