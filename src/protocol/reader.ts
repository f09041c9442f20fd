/**
 * A bounds-checked, zero-copy reader for packet payloads.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { utf8Decode } from "./text.ts";

/** A length-encoded integer: a `number` up to 2^53 - 1, a `bigint` above. */
export type LengthEncodedInteger = number | bigint;

/**
 * Reads the integer and string encodings of the MySQL protocol from one payload.
 * Every read checks bounds and throws {@link ProtocolError} with the offset; byte reads return
 * `subarray` views that share the payload's memory.
 *
 * @example
 * ```ts
 * import { PacketReader } from "./reader.ts";
 * const reader = new PacketReader(new Uint8Array([0xfc, 0x34, 0x12, 0x61, 0x00]));
 * console.assert(reader.lenencInt() === 0x1234);
 * console.assert(reader.nulString() === "a");
 * ```
 */
export class PacketReader {
  /** The whole payload being read. */
  readonly payload: Uint8Array;
  /** Made at the first read that needs one: many packets are read with bytes alone. */
  #dataView: DataView | undefined;
  #offset: number;
  #what: string;

  /**
   * @param payload the packet payload (without the 4-byte frame header)
   * @param what the packet's name, used in error messages
   */
  constructor(payload: Uint8Array, what = "packet", offset = 0) {
    this.payload = payload;
    this.#offset = offset;
    this.#what = what;
  }

  #view(): DataView {
    return this.#dataView ??= new DataView(
      this.payload.buffer,
      this.payload.byteOffset,
      this.payload.byteLength,
    );
  }

  /** Current position in the payload. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.payload.length - this.#offset;
  }

  /** Whether every byte has been read. */
  get atEnd(): boolean {
    return this.#offset >= this.payload.length;
  }

  /** Throws a {@link ProtocolError} naming the packet and the current offset. */
  fail(detail: string): never {
    throw new ProtocolError(`Cannot parse ${this.#what}: ${detail}`, { offset: this.#offset });
  }

  #need(length: number, field: string): void {
    if (this.#offset + length > this.payload.length) {
      this.fail(
        `${field} needs ${length} bytes at offset ${this.#offset}, ${this.remaining} left`,
      );
    }
  }

  /** The next byte, without consuming it. */
  peek(): number {
    this.#need(1, "peek");
    return this.payload[this.#offset];
  }

  /** Skips `length` bytes. */
  skip(length: number): void {
    this.#need(length, "skip");
    this.#offset += length;
  }

  /** int<1> */
  u8(): number {
    this.#need(1, "int<1>");
    return this.payload[this.#offset++];
  }

  /** int<2>, little endian */
  u16(): number {
    this.#need(2, "int<2>");
    const value = this.#view().getUint16(this.#offset, true);
    this.#offset += 2;
    return value;
  }

  /** int<3>, little endian */
  u24(): number {
    this.#need(3, "int<3>");
    const p = this.payload;
    const o = this.#offset;
    this.#offset += 3;
    return p[o] | (p[o + 1] << 8) | (p[o + 2] << 16);
  }

  /** int<4>, little endian, unsigned */
  u32(): number {
    this.#need(4, "int<4>");
    const value = this.#view().getUint32(this.#offset, true);
    this.#offset += 4;
    return value;
  }

  /** int<6>, little endian (a `number`: 48 bits fit) */
  u48(): number {
    this.#need(6, "int<6>");
    const low = this.#view().getUint32(this.#offset, true);
    const high = this.#view().getUint16(this.#offset + 4, true);
    this.#offset += 6;
    return high * 0x100000000 + low;
  }

  /** int<8>, little endian, unsigned, as a bigint */
  u64(): bigint {
    this.#need(8, "int<8>");
    const value = this.#view().getBigUint64(this.#offset, true);
    this.#offset += 8;
    return value;
  }

  /** Signed little-endian integers of 1, 2, 4 bytes; 8 bytes as bigint via {@link i64}. */
  i8(): number {
    this.#need(1, "int<1>");
    return this.#view().getInt8(this.#offset++);
  }

  /** Signed int<2>. */
  i16(): number {
    this.#need(2, "int<2>");
    const value = this.#view().getInt16(this.#offset, true);
    this.#offset += 2;
    return value;
  }

  /** Signed int<4>. */
  i32(): number {
    this.#need(4, "int<4>");
    const value = this.#view().getInt32(this.#offset, true);
    this.#offset += 4;
    return value;
  }

  /** Signed int<8> as a bigint. */
  i64(): bigint {
    this.#need(8, "int<8>");
    const value = this.#view().getBigInt64(this.#offset, true);
    this.#offset += 8;
    return value;
  }

  /** IEEE 754 single precision. */
  f32(): number {
    this.#need(4, "float");
    const value = this.#view().getFloat32(this.#offset, true);
    this.#offset += 4;
    return value;
  }

  /** IEEE 754 double precision. */
  f64(): number {
    this.#need(8, "double");
    const value = this.#view().getFloat64(this.#offset, true);
    this.#offset += 8;
    return value;
  }

  /**
   * int<lenenc>: 1 byte below 0xfb, then 0xfc + 2 bytes, 0xfd + 3 bytes, 0xfe + 8 bytes.
   * Values above 2^53 - 1 come back as a bigint. 0xfb (NULL) and 0xff are errors here; use
   * {@link lenencIntOrNull} where NULL is allowed.
   */
  lenencInt(): LengthEncodedInteger {
    const value = this.lenencIntOrNull();
    if (value === null) {
      this.#offset--;
      this.fail(`0xfb (NULL) where a length-encoded integer is required`);
    }
    return value;
  }

  /** int<lenenc> where 0xfb means NULL (text result rows). */
  lenencIntOrNull(): LengthEncodedInteger | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    switch (first) {
      case 0xfb:
        return null;
      case 0xfc:
        return this.u16();
      case 0xfd:
        return this.u24();
      case 0xfe: {
        const value = this.u64();
        return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
      }
      default:
        this.#offset--;
        return this.fail(`0xff is not a valid length-encoded integer`);
    }
  }

  /** A length that must fit in a number (a string or packet length). */
  lenencLength(): number {
    const value = this.lenencInt();
    if (typeof value === "bigint") this.fail(`length ${value} is too large`);
    return value;
  }

  /** string<fix> as bytes. */
  bytes(length: number): Uint8Array {
    this.#need(length, `string<${length}>`);
    const start = this.#offset;
    this.#offset += length;
    return this.payload.subarray(start, this.#offset);
  }

  /** string<NUL> as bytes, without the terminator (which is consumed). */
  nulBytes(): Uint8Array {
    const end = this.payload.indexOf(0, this.#offset);
    if (end < 0) this.fail(`string<NUL> has no terminating NUL`);
    const start = this.#offset;
    this.#offset = end + 1;
    return this.payload.subarray(start, end);
  }

  /** string<lenenc> as bytes. */
  lenencBytes(): Uint8Array {
    const length = this.lenencLength();
    return this.bytes(length);
  }

  /** string<lenenc> as bytes, or null for 0xfb (text result rows). */
  lenencBytesOrNull(): Uint8Array | null {
    const length = this.lenencIntOrNull();
    if (length === null) return null;
    if (typeof length === "bigint") this.fail(`length ${length} is too large`);
    return this.bytes(length);
  }

  /** string<EOF>: the rest of the payload, as bytes. */
  restBytes(): Uint8Array {
    const start = this.#offset;
    this.#offset = this.payload.length;
    return this.payload.subarray(start);
  }

  /** string<fix> decoded as UTF-8. */
  string(length: number): string {
    return utf8Decode(this.bytes(length));
  }

  /** string<NUL> decoded as UTF-8. */
  nulString(): string {
    return utf8Decode(this.nulBytes());
  }

  /** string<lenenc> decoded as UTF-8. */
  lenencString(): string {
    return utf8Decode(this.lenencBytes());
  }

  /** string<EOF> decoded as UTF-8. */
  restString(): string {
    return utf8Decode(this.restBytes());
  }
}
