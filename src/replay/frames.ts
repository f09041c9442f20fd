/**
 * A reusable writer of framed server packets for rendering responses.
 *
 * Replay renders a response for almost every command it answers. With a fresh buffer per response
 * (and per packet, and per string value) the cost was in the allocator, not in the bytes: typed
 * array backing stores are malloc'd and freed by the garbage collector's threads, which contend on
 * the allocator's lock (measured: more than half of a render's CPU time). This writer keeps one
 * buffer per live connection, writes strings into it with `encodeInto`, and hands out one exact
 * copy per response.
 *
 * (Every method takes its position from `#reserve` before touching `#buffer` or `#view`: reserving
 * may replace both.)
 *
 * Its integer and float methods are those of the codec's `PacketWriter`, so the codec's
 * `writeBinaryValue` writes binary row values into it.
 *
 * @module
 */

import { HEADER_LENGTH, MAX_PAYLOAD_LENGTH } from "../protocol/constants.ts";
import type { PacketWriter } from "../protocol/writer.ts";

const encoder = new TextEncoder();

/**
 * Frames packets into a buffer that is reused from response to response.
 *
 * @example
 * ```ts
 * import { ResponseWriter } from "./frames.ts";
 * const writer = new ResponseWriter();
 * writer.startPacket(1).lenencString("hi").endPacket();
 * console.assert(writer.take().join() === "3,0,0,1,2,104,105");
 * ```
 */
export class ResponseWriter {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;
  #packetStart = -1;
  #sequence = 0;

  constructor(initialCapacity = 4096) {
    this.#buffer = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Bytes written since the last {@link take}. */
  get length(): number {
    return this.#length;
  }

  /** The sequence id of the next packet. */
  get nextSequenceId(): number {
    return this.#sequence;
  }

  /** The framed bytes written, as a new array; the writer starts over (keeping its buffer). */
  take(): Uint8Array {
    if (this.#packetStart >= 0) throw new Error("Cannot take the frames: a packet is open");
    const bytes = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    return bytes;
  }

  #reserve(extra: number): number {
    const needed = this.#length + extra;
    if (needed > this.#buffer.length) {
      let capacity = this.#buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    const at = this.#length;
    this.#length = needed;
    return at;
  }

  /** Starts a packet with sequence id `sequenceId`; {@link endPacket} writes its header. */
  startPacket(sequenceId: number): this {
    if (this.#packetStart >= 0) throw new Error("Cannot start a packet: one is already open");
    this.#packetStart = this.#reserve(HEADER_LENGTH);
    this.#sequence = sequenceId & 0xff;
    return this;
  }

  /** Ends the open packet: its length, split into continuation frames from 16 MiB - 1 bytes. */
  endPacket(): this {
    const start = this.#packetStart;
    if (start < 0) throw new Error("Cannot end a packet: none is open");
    this.#packetStart = -1;
    const length = this.#length - start - HEADER_LENGTH;
    if (length < MAX_PAYLOAD_LENGTH) {
      this.#header(start, length, this.#sequence);
      this.#sequence = (this.#sequence + 1) & 0xff;
      return this;
    }
    const payload = this.#buffer.slice(start + HEADER_LENGTH, this.#length);
    this.#length = start;
    return this.packet(payload, this.#sequence);
  }

  /** A whole payload as one packet (continuation frames from 16 MiB - 1 bytes). */
  packet(payload: Uint8Array, sequenceId: number): this {
    let offset = 0;
    let sequence = sequenceId & 0xff;
    for (;;) {
      const length = Math.min(MAX_PAYLOAD_LENGTH, payload.length - offset);
      const at = this.#reserve(HEADER_LENGTH + length);
      this.#header(at, length, sequence);
      this.#buffer.set(payload.subarray(offset, offset + length), at + HEADER_LENGTH);
      offset += length;
      sequence = (sequence + 1) & 0xff;
      if (length < MAX_PAYLOAD_LENGTH) break;
    }
    this.#sequence = sequence;
    return this;
  }

  #header(at: number, length: number, sequenceId: number): void {
    this.#buffer[at] = length & 0xff;
    this.#buffer[at + 1] = (length >>> 8) & 0xff;
    this.#buffer[at + 2] = (length >>> 16) & 0xff;
    this.#buffer[at + 3] = sequenceId;
  }

  /** int<1> */
  u8(value: number): this {
    const at = this.#reserve(1);
    this.#buffer[at] = value;
    return this;
  }

  /** int<2> */
  u16(value: number): this {
    const at = this.#reserve(2);
    this.#view.setUint16(at, value, true);
    return this;
  }

  /** int<4> */
  u32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value >>> 0, true);
    return this;
  }

  /** int<8> */
  u64(value: bigint | number): this {
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, BigInt(value), true);
    return this;
  }

  /** Signed int<1>. */
  i8(value: number): this {
    const at = this.#reserve(1);
    this.#view.setInt8(at, value);
    return this;
  }

  /** Signed int<2>. */
  i16(value: number): this {
    const at = this.#reserve(2);
    this.#view.setInt16(at, value, true);
    return this;
  }

  /** Signed int<4>. */
  i32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setInt32(at, value, true);
    return this;
  }

  /** Signed int<8>. */
  i64(value: bigint | number): this {
    const at = this.#reserve(8);
    this.#view.setBigInt64(at, BigInt(value), true);
    return this;
  }

  /** IEEE 754 single precision. */
  f32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setFloat32(at, value, true);
    return this;
  }

  /** IEEE 754 double precision. */
  f64(value: number): this {
    const at = this.#reserve(8);
    this.#view.setFloat64(at, value, true);
    return this;
  }

  /** Bytes as they are. */
  bytes(bytes: Uint8Array): this {
    const at = this.#reserve(bytes.length);
    this.#buffer.set(bytes, at);
    return this;
  }

  /** `count` zero bytes. */
  zeros(count: number): this {
    const at = this.#reserve(count);
    this.#buffer.fill(0, at, at + count);
    return this;
  }

  /** int<lenenc>, shortest form. */
  lenencInt(value: number): this {
    if (value < 0xfb) return this.u8(value);
    if (value <= 0xffff) return this.u8(0xfc).u16(value);
    if (value <= 0xffffff) {
      const at = this.#reserve(4);
      this.#buffer[at] = 0xfd;
      this.#buffer[at + 1] = value & 0xff;
      this.#buffer[at + 2] = (value >>> 8) & 0xff;
      this.#buffer[at + 3] = (value >>> 16) & 0xff;
      return this;
    }
    return this.u8(0xfe).u64(value);
  }

  /** The NULL of a text row (0xfb). */
  lenencNull(): this {
    return this.u8(0xfb);
  }

  /** string<lenenc> from bytes. */
  lenencBytes(bytes: Uint8Array): this {
    return this.lenencInt(bytes.length).bytes(bytes);
  }

  /** string<lenenc> from text, UTF-8 encoded straight into the buffer. */
  lenencString(text: string): this {
    // Room for the longest prefix (9 bytes) and the longest encoding (3 bytes per UTF-16 unit);
    // the bytes move left when the prefix is shorter.
    const at = this.#reserve(9 + text.length * 3);
    const { written } = encoder.encodeInto(text, this.#buffer.subarray(at + 9));
    this.#length = at;
    const prefix = written < 0xfb ? 1 : written <= 0xffff ? 3 : written <= 0xffffff ? 4 : 9;
    this.lenencInt(written);
    if (prefix !== 9) this.#buffer.copyWithin(at + prefix, at + 9, at + 9 + written);
    this.#length = at + prefix + written;
    return this;
  }

  /** This writer where the codec expects a `PacketWriter` (it uses only the methods above). */
  asPacketWriter(): PacketWriter {
    return this as unknown as PacketWriter;
  }
}
