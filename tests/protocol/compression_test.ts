import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "node:zlib";
import {
  CompressedFramer,
  parseCompressedHeader,
  serializeCompressed,
} from "../../src/protocol/compression.ts";
import { type Packet, PacketFramer } from "../../src/protocol/framing.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { concat, frame, hex, toHex } from "../helpers/hex.ts";

/** A compressed frame made by hand: 7-byte header, then the body as given. */
function compressedFrame(sequenceId: number, body: Uint8Array, uncompressedLength: number) {
  const out = new Uint8Array(7 + body.length);
  out.set([body.length & 0xff, (body.length >> 8) & 0xff, body.length >> 16, sequenceId]);
  out.set(
    [uncompressedLength & 0xff, (uncompressedLength >> 8) & 0xff, uncompressedLength >> 16],
    4,
  );
  out.set(body, 7);
  return out;
}

/** Runs chunks through a CompressedFramer and a PacketFramer: the packets, as `seq:hex`. */
function packets(chunks: Uint8Array[], framer = new CompressedFramer()): string[] {
  const out: string[] = [];
  const packetFramer = new PacketFramer();
  const onPacket = (p: Packet) => out.push(`${p.sequenceId}:${toHex(p.payload)}`);
  for (const chunk of chunks) framer.push(chunk, (bytes) => packetFramer.push(bytes, onPacket));
  return out;
}

// Captured from `mariadb --compress -e "SELECT 1"` against MariaDB 10.11: the client's COM_QUERY
// stored raw (13 bytes < 50), the server's result set deflated (58 bytes in 54).
const CAPTURED_QUERY = hex("0d0000 00 000000 | 09000000 0353454c4543542031");
const CAPTURED_RESULT = hex(
  "360000 01 3a0000 | 789c63626060646494606060624e494d6300f20c191878ec1918814ce64620c1c00a64fc03" +
    "ca0321030ba32190cb0ae602007b4d049e",
);

Deno.test("parseCompressedHeader() reads the three fields and rejects a short header", () => {
  assert.deepEqual(parseCompressedHeader(CAPTURED_RESULT), {
    compressedLength: 0x36,
    sequenceId: 1,
    uncompressedLength: 0x3a,
  });
  assert.deepEqual(parseCompressedHeader(hex("00 ffffff ff ffffff"), 1), {
    compressedLength: 0xffffff,
    sequenceId: 0xff,
    uncompressedLength: 0xffffff,
  });
  assert.throws(() => parseCompressedHeader(hex("0d0000 00 0000")), ProtocolError);
});

Deno.test("CompressedFramer yields a stored-raw frame's body as it is", () => {
  const seen: number[] = [];
  assert.deepEqual(
    packets([CAPTURED_QUERY], undefined),
    ["0:0353454c4543542031"],
  );
  const framer = new CompressedFramer();
  framer.push(CAPTURED_QUERY, (_, sequenceId) => seen.push(sequenceId));
  assert.deepEqual(seen, [0]);
  assert.equal(framer.lastSequenceId, 0);
  assert.equal(framer.buffered, 0);
});

Deno.test("CompressedFramer inflates a captured frame holding a whole result set (5 packets)", () => {
  const got = packets([CAPTURED_RESULT]);
  assert.deepEqual(got, [
    "1:0101",
    "2:03646566000000013100000c3f0001000000038100000000",
    "3:fe00000200",
    "4:0131",
    "5:fe00000200",
  ]);
});

Deno.test("CompressedFramer gives the same packets at every split point of two frames", () => {
  const stream = concat([CAPTURED_QUERY, CAPTURED_RESULT]);
  const whole = packets([stream]);
  assert.equal(whole.length, 6);
  for (let i = 0; i <= stream.length; i++) {
    assert.deepEqual(packets([stream.subarray(0, i), stream.subarray(i)]), whole, `split at ${i}`);
  }
  // And one byte at a time.
  assert.deepEqual(packets([...stream].map((b) => new Uint8Array([b]))), whole);
});

Deno.test("CompressedFramer: a logical packet straddles a deflated and a stored-raw frame", () => {
  const payload = new TextEncoder().encode("\x03SELECT '" + "x".repeat(200) + "'");
  const logical = frame(0, payload);
  const first = logical.subarray(0, 150);
  const second = logical.subarray(150);
  const stream = concat([
    compressedFrame(0, deflateSync(first), first.length),
    compressedFrame(1, second, 0),
  ]);
  const seqs: number[] = [];
  const framer = new CompressedFramer();
  const out: string[] = [];
  const packetFramer = new PacketFramer();
  framer.push(stream, (bytes, seq) => {
    seqs.push(seq);
    packetFramer.push(bytes, (p) => out.push(toHex(p.payload)));
  });
  assert.deepEqual(out, [toHex(payload)]);
  assert.deepEqual(seqs, [0, 1]);
  assert.equal(framer.lastSequenceId, 1);
});

Deno.test("CompressedFramer: several packets in one frame, and a frame ending mid-header", () => {
  const a = frame(1, hex("01"));
  const b = frame(2, hex("fe00000200"));
  const c = frame(3, hex("0131"));
  // Frame 1 holds packet a, packet b, and the first 2 bytes of c's header; frame 2 the rest.
  const head = concat([a, b, c.subarray(0, 2)]);
  const stream = concat([compressedFrame(1, head, 0), compressedFrame(2, c.subarray(2), 0)]);
  assert.deepEqual(packets([stream]), ["1:01", "2:fe00000200", "3:0131"]);
});

Deno.test("CompressedFramer refuses a frame announcing more than its limit before its body comes", () => {
  const framer = new CompressedFramer({ maxFrameLength: 1000 });
  // Uncompressed length 1001: refused from the header alone.
  assert.throws(
    () => framer.push(hex("0a0000 00 e90300"), () => {}),
    (error) =>
      error instanceof ProtocolError && /announces 1001 bytes, more than the 1000-byte limit/
        .test(error.message),
  );
  // Broken for good: the stream cannot be resynchronized.
  assert.throws(() => framer.push(CAPTURED_QUERY, () => {}), ProtocolError);
  // A stored-raw frame counts its compressed length.
  const raw = new CompressedFramer({ maxFrameLength: 10 });
  assert.throws(() => raw.push(CAPTURED_QUERY.subarray(0, 7), () => {}), /announces 13 bytes/);
  // The default is the protocol's own maximum: 16 MiB - 1 passes the header check.
  new CompressedFramer().push(hex("0a0000 00 ffffff"), () => assert.fail("no body yet"));
});

Deno.test("CompressedFramer stops a zip bomb at the length its header announces", () => {
  const bomb = deflateSync(new Uint8Array(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
  const framer = new CompressedFramer();
  const started = performance.now();
  assert.throws(
    () => framer.push(compressedFrame(0, bomb, 100), () => assert.fail("nothing is yielded")),
    (error) =>
      error instanceof ProtocolError && /inflates past the 100 bytes its header announces/
        .test(error.message),
  );
  // It stopped early rather than inflating 64 MiB (generous bound for a loaded machine).
  assert.ok(performance.now() - started < 2000);
});

Deno.test("CompressedFramer rejects a body shorter than announced, and garbage", () => {
  const short = deflateSync(new Uint8Array(10));
  assert.throws(
    () => new CompressedFramer().push(compressedFrame(0, short, 20), () => {}),
    /inflates to 10 bytes, its header announces 20/,
  );
  assert.throws(
    () => new CompressedFramer().push(compressedFrame(3, hex("00112233445566"), 20), () => {}),
    (error) =>
      error instanceof ProtocolError && /Cannot inflate compressed frame 3/.test(error.message),
  );
});

Deno.test("serializeCompressed() stores short streams raw, as MariaDB's client does", () => {
  // The captured client frame: 13 bytes of COM_QUERY, sequence id 0.
  const { bytes, sequenceId } = serializeCompressed(CAPTURED_QUERY.subarray(7), 0);
  assert.equal(toHex(bytes), toHex(CAPTURED_QUERY));
  assert.equal(sequenceId, 1);
});

Deno.test("serializeCompressed() deflates from 50 bytes, and its frames read back", () => {
  const logical = inflateSync(CAPTURED_RESULT.subarray(7));
  const { bytes, sequenceId } = serializeCompressed(logical, 1);
  assert.equal(sequenceId, 2);
  const header = parseCompressedHeader(bytes);
  assert.equal(header.sequenceId, 1);
  assert.equal(header.uncompressedLength, logical.length);
  assert.equal(header.compressedLength, bytes.length - 7);
  assert.ok(header.compressedLength < logical.length);
  assert.equal(toHex(inflateSync(bytes.subarray(7))), toHex(logical));
  // 49 bytes stay raw; a custom threshold changes that.
  assert.equal(
    parseCompressedHeader(serializeCompressed(new Uint8Array(49), 0).bytes).uncompressedLength,
    0,
  );
  assert.equal(
    parseCompressedHeader(serializeCompressed(new Uint8Array(49), 0, { threshold: 10 }).bytes)
      .uncompressedLength,
    49,
  );
});

Deno.test("serializeCompressed() stores raw what deflate cannot shrink", () => {
  const random = crypto.getRandomValues(new Uint8Array(1000));
  const { bytes } = serializeCompressed(random, 7);
  assert.deepEqual(parseCompressedHeader(bytes), {
    compressedLength: 1000,
    sequenceId: 7,
    uncompressedLength: 0,
  });
  assert.equal(toHex(bytes.subarray(7)), toHex(random));
});

Deno.test("serializeCompressed() splits more than 16 MiB - 1 bytes into frames; ids wrap at 255", () => {
  const big = new Uint8Array(0xffffff + 10).fill(0x61);
  const { bytes, sequenceId } = serializeCompressed(big, 255);
  assert.equal(sequenceId, 1);
  const first = parseCompressedHeader(bytes);
  assert.equal(first.sequenceId, 255);
  assert.equal(first.uncompressedLength, 0xffffff);
  const second = parseCompressedHeader(bytes, 7 + first.compressedLength);
  assert.equal(second.sequenceId, 0);
  assert.equal(second.compressedLength, 10); // 10 bytes: stored raw
  assert.equal(second.uncompressedLength, 0);
  // Read back through the framer: the same bytes.
  let total = 0;
  new CompressedFramer().push(bytes, (chunk) => total += chunk.length);
  assert.equal(total, big.length);
});

Deno.test("PacketFramer.stop() ends push() after the current packet and reports the bytes taken", () => {
  const ok = frame(2, hex("00000002000000"));
  const rest = hex("0d0000 00 000000");
  const chunk = concat([ok, rest]);
  const framer = new PacketFramer();
  const seen: number[] = [];
  const used = framer.push(chunk, (p) => {
    seen.push(p.sequenceId);
    framer.stop();
  });
  assert.equal(used, ok.length);
  assert.deepEqual(seen, [2]);
  assert.equal(framer.buffered, 0);
  // The packet completed from bytes carried over: the count is of this chunk's bytes only.
  const split = new PacketFramer();
  assert.equal(split.push(chunk.subarray(0, 5), () => assert.fail("incomplete")), 5);
  const taken = split.push(chunk.subarray(5), () => split.stop());
  assert.equal(taken, ok.length - 5);
  // Without stop(), every byte is taken.
  assert.equal(new PacketFramer().push(chunk, () => {}), chunk.length);
});
