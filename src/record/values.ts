/**
 * How bytes, row values and codec messages are written in a recording, and read back exactly.
 *
 * - Bytes are a string when they are valid UTF-8, else `{"base64": "..."}`.
 * - Binary-protocol values keep their JavaScript form where JSON can hold it exactly; the column
 *   type says how to read them back.
 * - Codec messages (greetings, auth packets) map Uint8Array fields to `{"base64"}` and bigints to
 *   `{"bigint"}`, so any message survives a JSON round trip unchanged.
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "./base64.ts";
import { utf8Encode, utf8Exact } from "../protocol/text.ts";
import { ColumnType, columnTypeName } from "../protocol/constants.ts";
import type { BinaryValue } from "../protocol/binary.ts";

/** Bytes in a recording: text when valid UTF-8, else base64. */
export type JsonBytes = string | { base64: string };

/** A row value or parameter in a recording. */
export type JsonValue = null | number | string | { base64: string };

/** Writes bytes as text when they are valid UTF-8, else as `{"base64"}`. */
export function bytesToJson(bytes: Uint8Array): JsonBytes {
  const text = utf8Exact(bytes);
  return text === undefined ? { base64: encodeBase64(bytes) } : text;
}

/** Reads bytes written by {@link bytesToJson}. */
export function jsonToBytes(value: unknown, where: string): Uint8Array {
  if (typeof value === "string") return utf8Encode(value);
  if (isBase64(value)) return decodeBase64(value.base64);
  throw new TypeError(`${where}: expected a string or {"base64": ...}`);
}

function isBase64(value: unknown): value is { base64: string } {
  return typeof value === "object" && value !== null &&
    typeof (value as { base64?: unknown }).base64 === "string";
}

/** A text-protocol row value. */
export function textValueToJson(value: Uint8Array | null): JsonValue {
  return value === null ? null : bytesToJson(value);
}

/** Reads a text-protocol row value. */
export function jsonToTextValue(value: unknown, where: string): Uint8Array | null {
  if (value === null) return null;
  if (typeof value === "number") return utf8Encode(String(value)); // an edit that dropped quotes
  return jsonToBytes(value, where);
}

const INTEGER_TYPES = new Set<number>([
  ColumnType.MYSQL_TYPE_TINY,
  ColumnType.MYSQL_TYPE_SHORT,
  ColumnType.MYSQL_TYPE_INT24,
  ColumnType.MYSQL_TYPE_LONG,
  ColumnType.MYSQL_TYPE_LONGLONG,
  ColumnType.MYSQL_TYPE_YEAR,
]);
const TEXT_VALUE_TYPES = new Set<number>([
  ColumnType.MYSQL_TYPE_DECIMAL,
  ColumnType.MYSQL_TYPE_NEWDECIMAL,
  ColumnType.MYSQL_TYPE_DATE,
  ColumnType.MYSQL_TYPE_NEWDATE,
  ColumnType.MYSQL_TYPE_DATETIME,
  ColumnType.MYSQL_TYPE_DATETIME2,
  ColumnType.MYSQL_TYPE_TIMESTAMP,
  ColumnType.MYSQL_TYPE_TIMESTAMP2,
  ColumnType.MYSQL_TYPE_TIME,
  ColumnType.MYSQL_TYPE_TIME2,
]);

/**
 * A binary-protocol value (binary row or execute parameter). Numbers JSON cannot hold exactly
 * (integers above 2^53 - 1, -0, NaN, infinities) become strings; a FLOAT prints as the shortest
 * decimal that reads back to the same 32 bits.
 */
export function binaryValueToJson(value: BinaryValue, type: number): JsonValue {
  if (value === null) return null;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isFinite(value) || Object.is(value, -0)) return String(value === 0 ? "-0" : value);
    return type === ColumnType.MYSQL_TYPE_FLOAT ? shortestFloat32(value) : value;
  }
  if (typeof value === "string") return value;
  return bytesToJson(value);
}

/** Reads a binary-protocol value for a column or parameter of `type`. */
export function jsonToBinaryValue(value: unknown, type: number, where: string): BinaryValue {
  if (value === null) return null;
  if (INTEGER_TYPES.has(type)) {
    if (typeof value === "number" && Number.isInteger(value)) return value;
    if (typeof value === "string" && /^-?\d+$/.test(value)) {
      const big = BigInt(value);
      const safe = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER);
      return safe ? Number(big) : big;
    }
    throw new TypeError(`${where}: expected an integer for ${typeName(type)}`);
  }
  if (type === ColumnType.MYSQL_TYPE_FLOAT || type === ColumnType.MYSQL_TYPE_DOUBLE) {
    if (typeof value === "number") return value;
    if (typeof value === "string" && /^(-0|-?Infinity|NaN)$/.test(value)) {
      return value === "-0" ? -0 : Number(value);
    }
    throw new TypeError(`${where}: expected a number for ${typeName(type)}`);
  }
  if (TEXT_VALUE_TYPES.has(type)) {
    if (typeof value === "string") return value;
    if (typeof value === "number") return String(value);
    return jsonToBytes(value, where);
  }
  if (typeof value === "number") return utf8Encode(String(value));
  return jsonToBytes(value, where);
}

/** The shortest decimal that a 32-bit float reads back from exactly. */
function shortestFloat32(value: number): number {
  const target = Math.fround(value);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(target.toPrecision(digits));
    if (Math.fround(candidate) === target) return candidate;
  }
  return target;
}

/** A column type by its protocol name without `MYSQL_TYPE_`: `LONG`, `VAR_STRING`, `0x42`. */
export function typeName(type: number): string {
  return columnTypeName(type).slice("MYSQL_TYPE_".length);
}

const typesByName = new Map<string, number>(
  Object.entries(ColumnType).map(([name, code]) => [name.slice("MYSQL_TYPE_".length), code]),
);

/** Reads a type written by {@link typeName}. */
export function typeFromName(name: unknown, where: string): number {
  if (typeof name === "string") {
    const known = typesByName.get(name);
    if (known !== undefined) return known;
    const match = /^0x([0-9a-f]{2})$/.exec(name);
    if (match) return parseInt(match[1], 16);
  }
  throw new TypeError(`${where}: unknown column type ${JSON.stringify(name)}`);
}

/** A codec message as JSON: Uint8Array fields as `{"base64"}`, bigints as `{"bigint"}`. */
export function messageToJson(message: unknown): unknown {
  if (message instanceof Uint8Array) return { base64: encodeBase64(message) };
  if (typeof message === "bigint") return { bigint: message.toString() };
  if (Array.isArray(message)) return message.map(messageToJson);
  if (typeof message === "object" && message !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(message)) {
      if (value !== undefined) out[key] = messageToJson(value);
    }
    return out;
  }
  return message;
}

/** Reads a message written by {@link messageToJson}. */
export function jsonToMessage(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonToMessage);
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && typeof record.base64 === "string") return decodeBase64(record.base64);
    if (keys.length === 1 && typeof record.bigint === "string") return BigInt(record.bigint);
    const out: Record<string, unknown> = {};
    for (const key of keys) out[key] = jsonToMessage(record[key]);
    return out;
  }
  return value;
}
