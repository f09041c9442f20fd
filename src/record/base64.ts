/**
 * Base64 for byte fields in recordings (standard alphabet, padded).
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** Encodes bytes as base64. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Decodes base64; throws a TypeError on characters outside the alphabet. */
export function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) {
    throw new TypeError(`Cannot decode base64: ${JSON.stringify(text.slice(0, 20))}`);
  }
  const buffer = Buffer.from(text, "base64");
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
