import assert from "node:assert/strict";
import { ResponseWriter } from "../../src/replay/frames.ts";
import { PacketWriter } from "../../src/protocol/writer.ts";
import { writeBinaryValue } from "../../src/protocol/binary.ts";
import { ColumnType } from "../../src/protocol/constants.ts";
import { toHex } from "../helpers/hex.ts";

/** The same writes on the codec's PacketWriter and on a ResponseWriter (tiny, so it grows). */
function both(write: (w: PacketWriter) => void): [string, string] {
  const expected = new PacketWriter(16);
  write(expected);
  const writer = new ResponseWriter(1);
  write(writer.asPacketWriter());
  return [toHex(writer.take()), toHex(expected.finish())];
}

Deno.test("ResponseWriter writes what PacketWriter writes, growing at every method", () => {
  const [got, want] = both((w) =>
    w.startPacket(3).u8(0xfe).u16(0xbeef).u32(0xdeadbeef).u64(2n ** 64n - 1n).i8(-1).i16(-2)
      .i32(-3).i64(-(2n ** 63n)).f32(0.5).f64(-2.5e-300).bytes(new Uint8Array([1, 2, 3]))
      .zeros(3).lenencInt(0xfa).lenencInt(0xfb).lenencInt(0xffff).lenencInt(0x10000)
      .lenencInt(0xffffff).lenencInt(0x1000000).lenencNull().lenencBytes(new Uint8Array([9]))
      .endPacket()
  );
  assert.equal(got, want);
});

Deno.test("ResponseWriter.lenencString() encodes in place with the right prefix at the boundaries", () => {
  for (const text of ["", "x", "é😀ü", "a".repeat(250), "a".repeat(251), "é".repeat(126)]) {
    const [got, want] = both((w) => w.startPacket(0).lenencString(text).endPacket());
    assert.equal(got, want, `${text.length} characters`);
  }
  for (const length of [0xffff, 0x10000, 0x10001]) {
    const text = "ü".repeat(length >> 1) + "a".repeat(length & 1);
    const writer = new ResponseWriter(8);
    const expected = new PacketWriter(8);
    writer.startPacket(0).lenencString(text).endPacket();
    expected.startPacket(0).lenencString(text).endPacket();
    assert.deepEqual(writer.take(), expected.finish(), `${length} bytes`);
  }
});

Deno.test("ResponseWriter splits packets of 16 MiB - 1 bytes and more, as PacketWriter does", () => {
  for (const size of [0xfffffe, 0xffffff, 0x1000000]) {
    const payload = new Uint8Array(size).fill(7);
    const writer = new ResponseWriter(16);
    writer.packet(payload, 254).startPacket(writer.nextSequenceId).bytes(payload).endPacket();
    const expected = new PacketWriter(16).packet(payload, 254);
    expected.startPacket(expected.nextSequenceId).bytes(payload).endPacket();
    const got = writer.take();
    const want = expected.finish();
    assert.equal(got.length, want.length, `${size} bytes`);
    assert.ok(got.every((b, i) => b === want[i]), `${size} bytes`);
    assert.equal(writer.nextSequenceId, expected.nextSequenceId);
  }
});

Deno.test("ResponseWriter.take() starts over and keeps codec binary values exact", () => {
  const writer = new ResponseWriter(4);
  writer.startPacket(1).u8(1).endPacket();
  assert.equal(toHex(writer.take()), "0100000101");
  writeBinaryValue(
    writer.asPacketWriter(),
    ColumnType.MYSQL_TYPE_DATETIME,
    false,
    "2024-01-02 03:04:05.000006",
  );
  const expected = new PacketWriter();
  writeBinaryValue(expected, ColumnType.MYSQL_TYPE_DATETIME, false, "2024-01-02 03:04:05.000006");
  assert.equal(toHex(writer.take()), toHex(expected.finish()));
  assert.throws(() => writer.startPacket(0).take(), /a packet is open/);
});
