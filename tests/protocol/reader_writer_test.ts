import assert from "node:assert/strict";
import { PacketReader } from "../../src/protocol/reader.ts";
import { framePacket, PacketWriter } from "../../src/protocol/writer.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { hex, toHex } from "../helpers/hex.ts";

// Boundary values of length-encoded integers with their encodings written out by hand.
const LENENC_CASES: [number | bigint, string][] = [
  [0, "00"],
  [250, "fa"],
  [251, "fc fb 00"],
  [0xffff, "fc ff ff"],
  [0x10000, "fd 00 00 01"],
  [0xffffff, "fd ff ff ff"],
  [0x1000000, "fe 00 00 00 01 00 00 00 00"],
  [Number.MAX_SAFE_INTEGER, "fe ff ff ff ff ff ff 1f 00"],
  [2n ** 53n, "fe 00 00 00 00 00 00 20 00"],
  [2n ** 64n - 1n, "fe ff ff ff ff ff ff ff ff"],
];

for (const [value, encoded] of LENENC_CASES) {
  Deno.test(`PacketReader.lenencInt() reads ${value} from ${encoded}`, () => {
    const reader = new PacketReader(hex(encoded));
    assert.equal(reader.lenencInt(), value);
    assert.ok(reader.atEnd);
  });
  Deno.test(`PacketWriter.lenencInt() writes ${value} as ${encoded}`, () => {
    assert.equal(toHex(new PacketWriter().lenencInt(value).finish()), toHex(hex(encoded)));
  });
}

Deno.test("PacketReader.lenencInt() returns numbers up to 2^53 - 1 and bigints above", () => {
  assert.equal(typeof new PacketReader(hex("fe ff ff ff ff ff ff 1f 00")).lenencInt(), "number");
  assert.equal(typeof new PacketReader(hex("fe 00 00 00 00 00 00 20 00")).lenencInt(), "bigint");
});

Deno.test("PacketReader.lenencInt() rejects 0xfb (NULL) and 0xff with the offset", () => {
  for (const bad of ["fb", "ff"]) {
    const reader = new PacketReader(hex(`01 ${bad}`), "test packet");
    reader.u8();
    assert.throws(() => reader.lenencInt(), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.ok(error instanceof RangeError);
      assert.equal(error.offset, 1);
      assert.match(error.message, /^Cannot parse test packet: /);
      return true;
    });
  }
});

Deno.test("PacketReader.lenencIntOrNull() reads 0xfb as null", () => {
  assert.equal(new PacketReader(hex("fb")).lenencIntOrNull(), null);
  assert.equal(new PacketReader(hex("fb")).lenencBytesOrNull(), null);
});

Deno.test("PacketReader reads fixed-width integers little endian, signed and unsigned", () => {
  const reader = new PacketReader(
    hex("ff | 34 12 | 56 34 12 | 78 56 34 12 | 01 00 00 00 00 80 | ff ff ff ff ff ff ff ff"),
  );
  assert.equal(reader.u8(), 0xff);
  assert.equal(reader.u16(), 0x1234);
  assert.equal(reader.u24(), 0x123456);
  assert.equal(reader.u32(), 0x12345678);
  assert.equal(reader.u48(), 0x800000000001);
  assert.equal(reader.u64(), 2n ** 64n - 1n);
  const signed = new PacketReader(hex("ff | fe ff | fd ff ff ff | fc ff ff ff ff ff ff ff"));
  assert.equal(signed.i8(), -1);
  assert.equal(signed.i16(), -2);
  assert.equal(signed.i32(), -3);
  assert.equal(signed.i64(), -4n);
});

Deno.test("PacketReader.u32() reads values above 2^31 as positive numbers", () => {
  assert.equal(new PacketReader(hex("ff ff ff ff")).u32(), 0xffffffff);
});

Deno.test("PacketReader reads NUL-terminated, length-encoded, fixed and rest strings", () => {
  const reader = new PacketReader(hex("61 62 00 | 03 78 79 7a | 31 32 | c3 a9 74 c3 a9"));
  assert.equal(reader.nulString(), "ab");
  assert.equal(reader.lenencString(), "xyz");
  assert.equal(reader.string(2), "12");
  assert.equal(reader.restString(), "été");
  assert.ok(reader.atEnd);
});

Deno.test("PacketReader byte reads are views into the payload, not copies", () => {
  const payload = hex("02 aa bb");
  const bytes = new PacketReader(payload).lenencBytes();
  payload[1] = 0xcc;
  assert.equal(bytes[0], 0xcc);
});

Deno.test("PacketReader throws ProtocolError on short reads instead of reading past the end", () => {
  assert.throws(() => new PacketReader(hex("01 02")).u32(), ProtocolError);
  assert.throws(() => new PacketReader(hex("05 61 62")).lenencBytes(), /needs 5 bytes at offset 1/);
  assert.throws(() => new PacketReader(hex("61 62")).nulBytes(), /no terminating NUL/);
  assert.throws(() => new PacketReader(hex("fc 01")).lenencInt(), ProtocolError);
});

Deno.test("PacketWriter grows past its initial capacity and chains every encoding", () => {
  const bytes = new PacketWriter(16)
    .u8(1).u16(0x0203).u24(0x040506).u32(0xfffffffe).u64(2n ** 63n)
    .nulString("ab").lenencString("é").zeros(2).string("z")
    .finish();
  assert.equal(
    toHex(bytes),
    toHex(
      hex(
        "01 | 03 02 | 06 05 04 | fe ff ff ff | 00 00 00 00 00 00 00 80 | 61 62 00 | 02 c3 a9 | 00 00 | 7a",
      ),
    ),
  );
});

Deno.test("PacketWriter.startPacket()/endPacket() back-fill the frame header", () => {
  const writer = new PacketWriter().startPacket(255).u8(0x0e).endPacket();
  assert.equal(toHex(writer.finish()), "010000ff0e");
  assert.equal(writer.nextSequenceId, 0, "sequence ids wrap at 255");
});

Deno.test("PacketWriter.endPacket() splits a 0xffffff payload and adds the empty frame", () => {
  const writer = new PacketWriter().startPacket(7);
  writer.zeros(0xffffff);
  const bytes = writer.endPacket().finish();
  assert.equal(bytes.length, 4 + 0xffffff + 4);
  assert.equal(toHex(bytes.subarray(0, 4)), "ffffff07");
  assert.equal(toHex(bytes.subarray(4 + 0xffffff)), "00000008");
  assert.equal(writer.nextSequenceId, 9);
});

Deno.test("framePacket() splits 0xffffff + 1 bytes into a full frame and a 1-byte frame", () => {
  const payload = new Uint8Array(0xffffff + 1).fill(7);
  const bytes = framePacket(payload, 0);
  assert.equal(bytes.length, 4 + 0xffffff + 4 + 1);
  assert.equal(toHex(bytes.subarray(0, 4)), "ffffff00");
  assert.equal(toHex(bytes.subarray(4 + 0xffffff)), "0100000107");
});

/** string<lenenc> as the protocol documentation spells it, from TextEncoder's bytes. */
function lenencStringHex(text: string): string {
  const bytes = new TextEncoder().encode(text);
  const n = bytes.length;
  const prefix = n < 0xfb
    ? [n]
    : n <= 0xffff
    ? [0xfc, n & 0xff, n >> 8]
    : n <= 0xffffff
    ? [0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]
    : [0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24, 0, 0, 0, 0];
  return toHex(new Uint8Array([...prefix, ...bytes]));
}

Deno.test("PacketWriter.lenencString() encodes in place, with the right prefix at every boundary", () => {
  const texts = [
    "",
    "x",
    "é😀ü",
    "a".repeat(250),
    "a".repeat(251),
    "é".repeat(126),
    "ü".repeat(0xffff >> 1) + "a",
    "ü".repeat(0x10000 >> 1),
    "ü".repeat(0x10001 >> 1) + "a",
  ];
  for (const text of texts) {
    // A tiny writer, so that every write also grows the buffer.
    const got = new PacketWriter(1).lenencString(text).finish();
    assert.equal(toHex(got), lenencStringHex(text), `${text.length} characters`);
  }
});

Deno.test("PacketWriter.take() hands out the frames and starts over, keeping its buffer", () => {
  const writer = new PacketWriter(4);
  writer.startPacket(1).u8(1).endPacket();
  assert.equal(toHex(writer.take()), "0100000101");
  assert.equal(writer.length, 0);
  writer.startPacket(7).lenencString("hi").endPacket();
  assert.equal(toHex(writer.take()), "03000007026869");
  assert.throws(() => writer.startPacket(0).take(), /a packet is open/);
});
