/**
 * A growable, chainable writer for packet payloads and frames.
 *
 * @module
 */

import { HEADER_LENGTH, MAX_PAYLOAD_LENGTH } from "./constants.ts";
import type { LengthEncodedInteger } from "./reader.ts";
import { utf8Encode } from "./text.ts";

const encoder = new TextEncoder();

/**
 * Writes the protocol's integer and string encodings into a buffer that grows as needed.
 * `startPacket`/`endPacket` frame what is written between them, back-filling the 3-byte length
 * and splitting payloads of 16 MiB - 1 bytes or more into continuation frames.
 *
 * @example
 * ```ts
 * import { PacketWriter } from "./writer.ts";
 * const bytes = new PacketWriter().startPacket(1).u8(0x0e).endPacket().finish();
 * console.assert(bytes.join() === "1,0,0,1,14");
 * ```
 */
export class PacketWriter {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;
  #packetStart = -1;
  #packetSequence = 0;

  constructor(initialCapacity = 256) {
    this.#buffer = new Uint8Array(Math.max(16, initialCapacity));
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
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

  /** int<3> */
  u24(value: number): this {
    const at = this.#reserve(3);
    this.#buffer[at] = value & 0xff;
    this.#buffer[at + 1] = (value >>> 8) & 0xff;
    this.#buffer[at + 2] = (value >>> 16) & 0xff;
    return this;
  }

  /** int<4> (unsigned; negative numbers are written in two's complement) */
  u32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value >>> 0, true);
    return this;
  }

  /** int<6> */
  u48(value: number): this {
    const at = this.#reserve(6);
    this.#view.setUint32(at, value % 0x100000000, true);
    this.#view.setUint16(at + 4, Math.floor(value / 0x100000000), true);
    return this;
  }

  /** int<8> (unsigned) */
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

  /** int<lenenc>, in its shortest form. */
  lenencInt(value: LengthEncodedInteger): this {
    if (typeof value === "bigint") {
      if (value <= BigInt(Number.MAX_SAFE_INTEGER)) return this.lenencInt(Number(value));
      return this.u8(0xfe).u64(value);
    }
    if (value < 0 || !Number.isInteger(value)) {
      throw new RangeError(`Cannot write length-encoded integer: ${value} is not a natural number`);
    }
    if (value < 0xfb) return this.u8(value);
    if (value <= 0xffff) return this.u8(0xfc).u16(value);
    if (value <= 0xffffff) return this.u8(0xfd).u24(value);
    return this.u8(0xfe).u64(value);
  }

  /** The NULL marker of a text result row (0xfb). */
  lenencNull(): this {
    return this.u8(0xfb);
  }

  /** string<fix> from bytes. */
  bytes(bytes: Uint8Array): this {
    const at = this.#reserve(bytes.length);
    this.#buffer.set(bytes, at);
    return this;
  }

  /** `count` zero bytes (fillers and reserved fields). */
  zeros(count: number): this {
    const at = this.#reserve(count);
    this.#buffer.fill(0, at, at + count);
    return this;
  }

  /** string<fix> (or string<EOF>) from text, UTF-8 encoded. */
  string(text: string): this {
    return this.bytes(utf8Encode(text));
  }

  /** string<NUL> from bytes. */
  nulBytes(bytes: Uint8Array): this {
    return this.bytes(bytes).u8(0);
  }

  /** string<NUL> from text. */
  nulString(text: string): this {
    return this.string(text).u8(0);
  }

  /** string<lenenc> from bytes. */
  lenencBytes(bytes: Uint8Array): this {
    this.#lenencLength(bytes.length);
    return this.bytes(bytes);
  }

  /**
   * int<lenenc> of a length (a natural number below 2^53): {@link lenencInt} without its checks,
   * for the strings of every row value (replay renders millions).
   */
  #lenencLength(value: number): void {
    if (value < 0xfb) {
      // Reserve first: it may replace the buffer.
      const at = this.#reserve(1);
      this.#buffer[at] = value;
      return;
    }
    if (value > 0xffffff) {
      this.u8(0xfe).u64(value);
      return;
    }
    const wide = value > 0xffff;
    const at = this.#reserve(wide ? 4 : 3);
    const buffer = this.#buffer;
    buffer[at] = wide ? 0xfd : 0xfc;
    buffer[at + 1] = value & 0xff;
    buffer[at + 2] = (value >>> 8) & 0xff;
    if (wide) buffer[at + 3] = value >>> 16;
  }

  /** string<lenenc> from text, UTF-8 encoded straight into the buffer (no string copy). */
  lenencString(text: string): this {
    // Room for the longest prefix (9 bytes) and the longest encoding (3 bytes per UTF-16 unit);
    // the bytes move left when the prefix is shorter.
    const at = this.#reserve(9 + text.length * 3);
    const { written } = encoder.encodeInto(text, this.#buffer.subarray(at + 9));
    this.#length = at;
    const prefix = written < 0xfb ? 1 : written <= 0xffff ? 3 : written <= 0xffffff ? 4 : 9;
    this.#lenencLength(written);
    if (prefix !== 9) this.#buffer.copyWithin(at + prefix, at + 9, at + 9 + written);
    this.#length = at + prefix + written;
    return this;
  }

  /** Starts a frame: reserves its 4-byte header, filled in by {@link endPacket}. */
  startPacket(sequenceId: number): this {
    if (this.#packetStart >= 0) throw new Error("Cannot start a packet: one is already open");
    this.#packetStart = this.#reserve(HEADER_LENGTH);
    this.#packetSequence = sequenceId & 0xff;
    return this;
  }

  /**
   * Ends the frame opened by {@link startPacket}: writes its length, or splits it into
   * 0xffffff-byte frames (plus an empty one after an exact multiple) with increasing
   * sequence ids. {@link nextSequenceId} tells the id that follows.
   */
  endPacket(): this {
    const start = this.#packetStart;
    if (start < 0) throw new Error("Cannot end a packet: none is open");
    this.#packetStart = -1;
    const payloadLength = this.#length - start - HEADER_LENGTH;
    if (payloadLength < MAX_PAYLOAD_LENGTH) {
      this.#writeHeader(start, payloadLength, this.#packetSequence);
      this.#packetSequence = (this.#packetSequence + 1) & 0xff;
      return this;
    }
    const payload = this.#buffer.slice(start + HEADER_LENGTH, this.#length);
    this.#length = start;
    this.#packetSequence = this.#appendFrames(payload, this.#packetSequence);
    return this;
  }

  /** The sequence id after the last packet ended. */
  get nextSequenceId(): number {
    return this.#packetSequence;
  }

  /** Appends `payload` as one logical packet, framed and split as needed. Returns the next id. */
  packet(payload: Uint8Array, sequenceId: number): this {
    this.#packetSequence = this.#appendFrames(payload, sequenceId & 0xff);
    return this;
  }

  #appendFrames(payload: Uint8Array, sequenceId: number): number {
    let offset = 0;
    let sequence = sequenceId;
    for (;;) {
      const length = Math.min(MAX_PAYLOAD_LENGTH, payload.length - offset);
      const at = this.#reserve(HEADER_LENGTH + length);
      this.#writeHeader(at, length, sequence);
      this.#buffer.set(payload.subarray(offset, offset + length), at + HEADER_LENGTH);
      offset += length;
      sequence = (sequence + 1) & 0xff;
      if (length < MAX_PAYLOAD_LENGTH) return sequence;
    }
  }

  #writeHeader(at: number, length: number, sequenceId: number): void {
    this.#buffer[at] = length & 0xff;
    this.#buffer[at + 1] = (length >>> 8) & 0xff;
    this.#buffer[at + 2] = (length >>> 16) & 0xff;
    this.#buffer[at + 3] = sequenceId;
  }

  /** The bytes written, as a new array of exactly that length. */
  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  /**
   * The bytes written, as a new array, and the writer starts over keeping its buffer: one writer
   * per connection renders every response (replay), sparing the allocator a buffer per response.
   */
  take(): Uint8Array {
    if (this.#packetStart >= 0) throw new Error("Cannot take the frames: a packet is open");
    const bytes = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    return bytes;
  }
}

/**
 * Frames one logical packet for the wire.
 *
 * @example
 * ```ts
 * import { framePacket } from "./writer.ts";
 * console.assert(framePacket(new Uint8Array([1]), 0).join() === "1,0,0,0,1");
 * ```
 */
export function framePacket(payload: Uint8Array, sequenceId: number): Uint8Array {
  return new PacketWriter(payload.length + 8).packet(payload, sequenceId).finish();
}
