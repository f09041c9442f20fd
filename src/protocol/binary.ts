/**
 * Values of the binary protocol (prepared statement parameters and binary result rows), and the
 * binary result row itself.
 *
 * Values keep exactly what the bytes said, so re-encoding gives the same bytes:
 *
 * - Integers (TINY, SHORT, YEAR, INT24, LONG) are numbers, read signed or unsigned as the column's
 *   UNSIGNED_FLAG (or the parameter's 0x80 flag) says. LONGLONG is a number when it is a safe
 *   integer, else a bigint.
 * - FLOAT and DOUBLE are numbers (a FLOAT reads exactly as a double and writes back the same 4
 *   bytes; only NaN payload bits are not kept).
 * - DECIMAL and NEWDECIMAL are their text, e.g. `"-1234.567"` (a `Uint8Array` if not UTF-8).
 * - DATE, DATETIME and TIMESTAMP are strings whose form gives the encoded length:
 *   `""` (length 0, the protocol's shorthand for an all-zero value), `"2024-01-02"` (4),
 *   `"2024-01-02 03:04:05"` (7), `"2024-01-02 03:04:05.000123"` (11). A DATETIME may be sent
 *   with 4 bytes and a DATE with 11: the form follows the bytes, not the type.
 * - TIME is `""` (length 0), `"-838:59:59"` (8) or `"-838:59:59.000000"` (12), hours counting the
 *   days. A client may send an hour field above 23 (libmariadb does for 838 hours: it stores
 *   the hours in one byte); such a value reads as `"-0 70:59:59"`, with the days before a space,
 *   so that it too encodes back to the same bytes.
 * - Strings, blobs, ENUM, SET, BIT, JSON, GEOMETRY, VARCHAR and VAR_STRING are the raw bytes
 *   (`Uint8Array`): their character set is the column's business.
 * - NULL is `null` (a NULL bit in the NULL bitmap; the NULL type has no bytes).
 *
 * Parsed values and rows may share memory with the payload they came from.
 *
 * @module
 */

import { ColumnFlag, ColumnType, columnTypeName } from "./constants.ts";
import { PacketReader } from "./reader.ts";
import { utf8Encode, utf8Exact } from "./text.ts";
import { PacketWriter } from "./writer.ts";

/** One value of the binary protocol; see the module documentation for each type's form. */
export type BinaryValue = null | number | bigint | string | Uint8Array;

/**
 * What a binary row needs to know about each column: the fields of ColumnDefinition41 that
 * decide how its value is encoded. A full ColumnDefinition41 fits.
 */
export interface BinaryColumn {
  /** The column type, a {@link ColumnType} value. */
  type: number;
  /** Column flags; UNSIGNED_FLAG (0x20) decides how integers read. */
  flags: number;
  /** Number of decimals (not needed to decode; kept for callers that format values). */
  decimals?: number;
  /** Character set id (not needed to decode). */
  characterSet?: number;
}

/** A row of a binary result set (the rows that answer COM_STMT_EXECUTE and COM_STMT_FETCH). */
export interface BinaryRow {
  /** Which packet this is. */
  kind: "binary-row";
  /** One value per column, `null` for NULL. */
  values: BinaryValue[];
  /**
   * The NULL bitmap as sent, kept only when it differs from the one the values imply (its two
   * reserved bits or its padding bits set, or a NULL-type column whose bit is clear).
   */
  nullBitmap?: Uint8Array;
  /** Bytes after the last value, if any. */
  trailing?: Uint8Array;
}

/** Bytes of a NULL bitmap for `count` fields whose first bit is at `offset` (2 for rows, 0 for parameters). */
export function nullBitmapLength(count: number, offset: number): number {
  return (count + offset + 7) >> 3;
}

/**
 * Builds a NULL bitmap: bit `index + offset` is set for every `true` in `isNull`.
 *
 * @example
 * ```ts
 * import { buildNullBitmap } from "./binary.ts";
 * console.assert(buildNullBitmap([true, false, true], 2).join() === "20");
 * ```
 */
export function buildNullBitmap(isNull: readonly boolean[], offset: number): Uint8Array {
  const bitmap = new Uint8Array(nullBitmapLength(isNull.length, offset));
  for (let i = 0; i < isNull.length; i++) {
    if (isNull[i]) bitmap[(i + offset) >> 3] |= 1 << ((i + offset) & 7);
  }
  return bitmap;
}

/** Whether bit `index + offset` of `bitmap` is set. */
export function isNullBit(bitmap: Uint8Array, index: number, offset: number): boolean {
  return (bitmap[(index + offset) >> 3] & (1 << ((index + offset) & 7))) !== 0;
}

/**
 * Whether `bitmap` is what {@link buildNullBitmap} gives for `values` (the NULLs), without
 * building it: this runs for every binary row a recorder decodes.
 */
function canonicalNullBitmap(bitmap: Uint8Array, values: readonly unknown[], offset: number) {
  const count = values.length;
  for (let bit = 0; bit < bitmap.length * 8; bit++) {
    const index = bit - offset;
    const set = (bitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
    if (set !== (index >= 0 && index < count && values[index] === null)) return false;
  }
  return true;
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Reads an int<lenenc> that must be in its shortest form: a longer form would not encode back to
 * the same bytes, so it is refused rather than silently normalized.
 *
 * @example
 * ```ts
 * import { readMinimalLenenc } from "./binary.ts";
 * import { PacketReader } from "./reader.ts";
 * console.assert(readMinimalLenenc(new PacketReader(new Uint8Array([0xfc, 0xfb, 0x00]))) === 251);
 * ```
 */
export function readMinimalLenenc(reader: PacketReader, field = "length"): number {
  const start = reader.offset;
  const value = reader.lenencLength();
  const width = reader.offset - start;
  const minimal = value < 0xfb ? 1 : value <= 0xffff ? 3 : value <= 0xffffff ? 4 : 9;
  if (width !== minimal) {
    reader.fail(`${field} ${value} is written in ${width} bytes instead of ${minimal}`);
  }
  return value;
}

/** string<lenenc> whose length is in its shortest form. */
function readLenencBytes(reader: PacketReader): Uint8Array {
  return reader.bytes(readMinimalLenenc(reader, "length-encoded string"));
}

/** The encoded length of each fixed-size type, or 0 for the others. */
function fixedLength(type: number): number {
  switch (type) {
    case ColumnType.MYSQL_TYPE_TINY:
      return 1;
    case ColumnType.MYSQL_TYPE_SHORT:
    case ColumnType.MYSQL_TYPE_YEAR:
      return 2;
    case ColumnType.MYSQL_TYPE_INT24:
    case ColumnType.MYSQL_TYPE_LONG:
    case ColumnType.MYSQL_TYPE_FLOAT:
      return 4;
    case ColumnType.MYSQL_TYPE_LONGLONG:
    case ColumnType.MYSQL_TYPE_DOUBLE:
      return 8;
    default:
      return 0;
  }
}

/** How a type is encoded in the binary protocol. */
const Encoding = {
  Integer: 0,
  Float: 1,
  Double: 2,
  Decimal: 3,
  Date: 4,
  Time: 5,
  Bytes: 6,
  Null: 7,
  Unknown: 8,
} as const;
type Encoding = typeof Encoding[keyof typeof Encoding];

function encodingOf(type: number): Encoding {
  switch (type) {
    case ColumnType.MYSQL_TYPE_TINY:
    case ColumnType.MYSQL_TYPE_SHORT:
    case ColumnType.MYSQL_TYPE_YEAR:
    case ColumnType.MYSQL_TYPE_INT24:
    case ColumnType.MYSQL_TYPE_LONG:
    case ColumnType.MYSQL_TYPE_LONGLONG:
      return Encoding.Integer;
    case ColumnType.MYSQL_TYPE_FLOAT:
      return Encoding.Float;
    case ColumnType.MYSQL_TYPE_DOUBLE:
      return Encoding.Double;
    case ColumnType.MYSQL_TYPE_DECIMAL:
    case ColumnType.MYSQL_TYPE_NEWDECIMAL:
      return Encoding.Decimal;
    case ColumnType.MYSQL_TYPE_DATE:
    case ColumnType.MYSQL_TYPE_DATETIME:
    case ColumnType.MYSQL_TYPE_TIMESTAMP:
      return Encoding.Date;
    case ColumnType.MYSQL_TYPE_TIME:
      return Encoding.Time;
    case ColumnType.MYSQL_TYPE_VARCHAR:
    case ColumnType.MYSQL_TYPE_BIT:
    case ColumnType.MYSQL_TYPE_VECTOR:
    case ColumnType.MYSQL_TYPE_JSON:
    case ColumnType.MYSQL_TYPE_ENUM:
    case ColumnType.MYSQL_TYPE_SET:
    case ColumnType.MYSQL_TYPE_TINY_BLOB:
    case ColumnType.MYSQL_TYPE_MEDIUM_BLOB:
    case ColumnType.MYSQL_TYPE_LONG_BLOB:
    case ColumnType.MYSQL_TYPE_BLOB:
    case ColumnType.MYSQL_TYPE_VAR_STRING:
    case ColumnType.MYSQL_TYPE_STRING:
    case ColumnType.MYSQL_TYPE_GEOMETRY:
      return Encoding.Bytes;
    case ColumnType.MYSQL_TYPE_NULL:
      return Encoding.Null;
    default:
      return Encoding.Unknown;
  }
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

function readDate(reader: PacketReader): string {
  const length = reader.u8();
  if (length === 0) return "";
  if (length !== 4 && length !== 7 && length !== 11) {
    reader.fail(`a date/time value has length ${length}, expected 0, 4, 7 or 11`);
  }
  const date = `${pad(reader.u16(), 4)}-${pad(reader.u8(), 2)}-${pad(reader.u8(), 2)}`;
  if (length === 4) return date;
  const time = `${pad(reader.u8(), 2)}:${pad(reader.u8(), 2)}:${pad(reader.u8(), 2)}`;
  if (length === 7) return `${date} ${time}`;
  return `${date} ${time}.${pad(reader.u32(), 6)}`;
}

function readTime(reader: PacketReader): string {
  const length = reader.u8();
  if (length === 0) return "";
  if (length !== 8 && length !== 12) {
    reader.fail(`a TIME value has length ${length}, expected 0, 8 or 12`);
  }
  const negative = reader.u8();
  if (negative > 1) reader.fail(`a TIME value's sign byte is ${negative}, expected 0 or 1`);
  const days = reader.u32();
  const hours = reader.u8();
  const rest = `${pad(reader.u8(), 2)}:${pad(reader.u8(), 2)}`;
  const sign = negative === 1 ? "-" : "";
  // Hours above 23 cannot be folded into the days without changing the bytes: keep both.
  const clock = hours < 24
    ? `${pad(days * 24 + hours, 2)}:${rest}`
    : `${days} ${pad(hours, 2)}:${rest}`;
  if (length === 8) return sign + clock;
  return `${sign}${clock}.${pad(reader.u32(), 6)}`;
}

function readInteger(reader: PacketReader, type: number, unsigned: boolean): number | bigint {
  switch (fixedLength(type)) {
    case 1:
      return unsigned ? reader.u8() : reader.i8();
    case 2:
      return unsigned ? reader.u16() : reader.i16();
    case 4:
      return unsigned ? reader.u32() : reader.i32();
    default: {
      const value = unsigned ? reader.u64() : reader.i64();
      const small = Number(value);
      return Number.isSafeInteger(small) ? small : value;
    }
  }
}

/**
 * Reads one non-NULL value of `type` (a {@link ColumnType} value) in binary encoding.
 * `unsigned` comes from the column's UNSIGNED_FLAG or the parameter's 0x80 flag. Throws
 * {@link ProtocolError} for a type that has no binary encoding.
 *
 * @example
 * ```ts
 * import { readBinaryValue } from "./binary.ts";
 * import { ColumnType } from "./constants.ts";
 * import { PacketReader } from "./reader.ts";
 * const reader = new PacketReader(new Uint8Array([4, 0xe8, 0x07, 1, 2]));
 * console.assert(readBinaryValue(reader, ColumnType.MYSQL_TYPE_DATE, false) === "2024-01-02");
 * ```
 */
export function readBinaryValue(
  reader: PacketReader,
  type: number,
  unsigned: boolean,
): BinaryValue {
  switch (encodingOf(type)) {
    case Encoding.Integer:
      return readInteger(reader, type, unsigned);
    case Encoding.Float:
      return reader.f32();
    case Encoding.Double:
      return reader.f64();
    case Encoding.Decimal: {
      const bytes = readLenencBytes(reader);
      return utf8Exact(bytes) ?? bytes;
    }
    case Encoding.Date:
      return readDate(reader);
    case Encoding.Time:
      return readTime(reader);
    case Encoding.Bytes:
      return readLenencBytes(reader);
    case Encoding.Null:
      return null;
    default:
      return reader.fail(`${columnTypeName(type)} has no binary encoding`);
  }
}

const DATE_FORM = /^(\d+)-(\d+)-(\d+)(?: (\d+):(\d+):(\d+)(?:\.(\d+))?)?$/;
const TIME_FORM = /^(-)?(?:(\d+) )?(\d+):(\d+):(\d+)(?:\.(\d+))?$/;

function fail(type: number, detail: string): never {
  throw new RangeError(`Cannot write ${columnTypeName(type)} value: ${detail}`);
}

function fieldValue(type: number, text: string, max: number): number {
  const value = Number(text);
  if (value > max) fail(type, `${text} does not fit in its field (at most ${max})`);
  return value;
}

/** Microseconds from a fraction: up to 6 digits are a fraction of a second, more a raw count. */
function micros(type: number, digits: string): number {
  return fieldValue(type, digits.length <= 6 ? digits.padEnd(6, "0") : digits, 0xffffffff);
}

function writeDate(writer: PacketWriter, type: number, value: string): void {
  if (value === "") {
    writer.u8(0);
    return;
  }
  const match = DATE_FORM.exec(value);
  if (!match) fail(type, `${JSON.stringify(value)} is not YYYY-MM-DD[ hh:mm:ss[.ffffff]]`);
  const [, year, month, day, hour, minute, second, fraction] = match;
  const length = hour === undefined ? 4 : fraction === undefined ? 7 : 11;
  writer.u8(length).u16(fieldValue(type, year, 0xffff)).u8(fieldValue(type, month, 0xff));
  writer.u8(fieldValue(type, day, 0xff));
  if (length === 4) return;
  writer.u8(fieldValue(type, hour, 0xff)).u8(fieldValue(type, minute, 0xff));
  writer.u8(fieldValue(type, second, 0xff));
  if (length === 11) writer.u32(micros(type, fraction));
}

function writeTime(writer: PacketWriter, type: number, value: string): void {
  if (value === "") {
    writer.u8(0);
    return;
  }
  const match = TIME_FORM.exec(value);
  if (!match) fail(type, `${JSON.stringify(value)} is not [-][D ]hh:mm:ss[.ffffff]`);
  const [, sign, dayText, hourText, minute, second, fraction] = match;
  let days: number;
  let hours: number;
  if (dayText === undefined) {
    const total = Number(hourText);
    days = Math.floor(total / 24);
    hours = total % 24;
    if (days > 0xffffffff) fail(type, `${hourText} hours is too many`);
  } else {
    days = fieldValue(type, dayText, 0xffffffff);
    hours = fieldValue(type, hourText, 0xff);
  }
  writer.u8(fraction === undefined ? 8 : 12).u8(sign === "-" ? 1 : 0).u32(days).u8(hours);
  writer.u8(fieldValue(type, minute, 0xff)).u8(fieldValue(type, second, 0xff));
  if (fraction !== undefined) writer.u32(micros(type, fraction));
}

function writeInteger(
  writer: PacketWriter,
  type: number,
  unsigned: boolean,
  value: number | bigint,
): void {
  const length = fixedLength(type);
  const big = BigInt(value);
  const bits = BigInt(length * 8);
  const min = unsigned ? 0n : -(1n << (bits - 1n));
  const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
  if (typeof value === "number" && !Number.isInteger(value)) {
    fail(type, `${value} is not an integer`);
  }
  if (big < min || big > max) {
    fail(type, `${value} is out of range for ${unsigned ? "unsigned" : "signed"} ${bits} bits`);
  }
  const small = Number(big);
  if (length === 1) {
    if (unsigned) writer.u8(small);
    else writer.i8(small);
  } else if (length === 2) {
    if (unsigned) writer.u16(small);
    else writer.i16(small);
  } else if (length === 4) {
    if (unsigned) writer.u32(small);
    else writer.i32(small);
  } else if (unsigned) {
    writer.u64(big);
  } else {
    writer.i64(big);
  }
}

function describe(value: BinaryValue): string {
  if (value instanceof Uint8Array) return "a Uint8Array";
  return value === null ? "null" : `a ${typeof value}`;
}

/**
 * Writes one non-NULL value of `type` in binary encoding: the inverse of
 * {@link readBinaryValue}. Throws `RangeError` when the value does not fit the type (a string
 * for an integer type, an integer out of range, a malformed date).
 *
 * @example
 * ```ts
 * import { writeBinaryValue } from "./binary.ts";
 * import { ColumnType } from "./constants.ts";
 * import { PacketWriter } from "./writer.ts";
 * const writer = new PacketWriter();
 * writeBinaryValue(writer, ColumnType.MYSQL_TYPE_TIME, false, "-838:59:59");
 * console.assert(writer.finish().join() === "8,1,34,0,0,0,22,59,59");
 * ```
 */
export function writeBinaryValue(
  writer: PacketWriter,
  type: number,
  unsigned: boolean,
  value: BinaryValue,
): void {
  const encoding = encodingOf(type);
  switch (encoding) {
    case Encoding.Integer:
      if (typeof value !== "number" && typeof value !== "bigint") break;
      writeInteger(writer, type, unsigned, value);
      return;
    case Encoding.Float:
    case Encoding.Double:
      if (typeof value !== "number") break;
      if (encoding === Encoding.Float) writer.f32(value);
      else writer.f64(value);
      return;
    case Encoding.Date:
    case Encoding.Time:
      if (typeof value !== "string") break;
      if (encoding === Encoding.Date) writeDate(writer, type, value);
      else writeTime(writer, type, value);
      return;
    case Encoding.Decimal:
    case Encoding.Bytes:
      if (value instanceof Uint8Array) writer.lenencBytes(value);
      else if (typeof value === "string") writer.lenencBytes(utf8Encode(value));
      else break;
      return;
    case Encoding.Null:
      if (value !== null) break;
      return;
    default:
      fail(type, "the type has no binary encoding");
  }
  fail(type, `got ${describe(value)}`);
}

/**
 * Whether a type's binary value is a length-encoded string (strings, blobs, DECIMAL, JSON, ...).
 *
 * @example
 * ```ts
 * import { isLengthEncodedType } from "./binary.ts";
 * console.assert(isLengthEncodedType(0xfd) && !isLengthEncodedType(0x03));
 * ```
 */
export function isLengthEncodedType(type: number): boolean {
  const encoding = encodingOf(type);
  return encoding === Encoding.Bytes || encoding === Encoding.Decimal;
}

/**
 * Reads a binary result row: a 0x00 header, a NULL bitmap whose first two bits are reserved,
 * then the non-NULL values. Only each column's `type` and `flags` are used.
 *
 * @example
 * ```ts
 * import { parseBinaryRow } from "./binary.ts";
 * import { ColumnType } from "./constants.ts";
 * const row = parseBinaryRow(new Uint8Array([0x00, 0x08, 0x2a, 0x00, 0x00, 0x00]), [
 *   { type: ColumnType.MYSQL_TYPE_LONG, flags: 0 },
 *   { type: ColumnType.MYSQL_TYPE_LONG, flags: 0 },
 * ]);
 * console.assert(row.values[0] === 42 && row.values[1] === null);
 * ```
 */
export function parseBinaryRow(payload: Uint8Array, columns: readonly BinaryColumn[]): BinaryRow {
  const reader = new PacketReader(payload, "binary row");
  const header = reader.u8();
  if (header !== 0x00) reader.fail(`expected header 0x00, got 0x${header.toString(16)}`);
  const bitmap = reader.bytes(nullBitmapLength(columns.length, 2));
  const values: BinaryValue[] = [];
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i];
    if (isNullBit(bitmap, i, 2)) {
      values.push(null);
    } else {
      const unsigned = (column.flags & ColumnFlag.UNSIGNED_FLAG) !== 0;
      values.push(readBinaryValue(reader, column.type, unsigned));
    }
  }
  const row: BinaryRow = { kind: "binary-row", values };
  if (!canonicalNullBitmap(bitmap, values, 2)) row.nullBitmap = bitmap;
  if (!reader.atEnd) row.trailing = reader.restBytes();
  return row;
}

/**
 * Writes a binary result row: the inverse of {@link parseBinaryRow}.
 *
 * @example
 * ```ts
 * import { serializeBinaryRow } from "./binary.ts";
 * import { ColumnType } from "./constants.ts";
 * const payload = serializeBinaryRow({ kind: "binary-row", values: [42, null] }, [
 *   { type: ColumnType.MYSQL_TYPE_LONG, flags: 0 },
 *   { type: ColumnType.MYSQL_TYPE_LONG, flags: 0 },
 * ]);
 * console.assert(payload.join() === "0,8,42,0,0,0");
 * ```
 */
export function serializeBinaryRow(row: BinaryRow, columns: readonly BinaryColumn[]): Uint8Array {
  if (row.values.length !== columns.length) {
    throw new RangeError(
      `Cannot serialize binary row: ${row.values.length} values for ${columns.length} columns`,
    );
  }
  const bitmap = row.nullBitmap ?? buildNullBitmap(row.values.map((v) => v === null), 2);
  if (bitmap.length !== nullBitmapLength(columns.length, 2)) {
    throw new RangeError(`Cannot serialize binary row: NULL bitmap has ${bitmap.length} bytes`);
  }
  const writer = new PacketWriter(64);
  writer.u8(0x00).bytes(bitmap);
  for (let i = 0; i < columns.length; i++) {
    if (isNullBit(bitmap, i, 2)) continue;
    const column = columns[i];
    const unsigned = (column.flags & ColumnFlag.UNSIGNED_FLAG) !== 0;
    writeBinaryValue(writer, column.type, unsigned, row.values[i]);
  }
  if (row.trailing) writer.bytes(row.trailing);
  return writer.finish();
}
