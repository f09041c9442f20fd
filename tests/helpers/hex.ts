/**
 * Independent byte helpers for tests: expected bytes are written as hex, never produced by the
 * serializer under test.
 *
 * @module
 */

/**
 * Parses hex into bytes. Whitespace, `|` separators and `#` comments (to the end of a line) are
 * ignored, so fixtures can be laid out field by field.
 *
 * @example
 * ```ts
 * import { hex } from "./hex.ts";
 * console.assert(hex("0a 00 # protocol 10").join() === "10,0");
 * ```
 */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/#[^\n]*/g, "").replace(/[\s|]/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) {
    throw new SyntaxError(`Cannot parse hex: ${JSON.stringify(text.slice(0, 60))}`);
  }
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Formats bytes as lowercase hex with no separators. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Joins byte arrays end to end, independent of the codec's own `concatBytes`. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

/** Builds a frame (4-byte header + payload) by hand, independent of the codec's writer. */
export function frame(sequenceId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  out[0] = payload.length & 0xff;
  out[1] = (payload.length >> 8) & 0xff;
  out[2] = (payload.length >> 16) & 0xff;
  out[3] = sequenceId;
  out.set(payload, 4);
  return out;
}

/** One frame of a capture made by `tests/tools/capture.ts`. */
export interface CapturedFrame {
  connection: number;
  direction: "client" | "server";
  sequenceId: number;
  payload: Uint8Array;
}

/** Reads a capture transcript (`@conn > seq hex` lines) from tests/fixtures/captures/. */
export function readCapture(path: string | URL): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    const match = /^@(\d+) ([<>]) (\d+) ([0-9a-f]*)$/.exec(line);
    if (!match) continue;
    frames.push({
      connection: Number(match[1]),
      direction: match[2] === ">" ? "client" : "server",
      sequenceId: Number(match[3]),
      payload: hex(match[4]),
    });
  }
  return frames;
}
