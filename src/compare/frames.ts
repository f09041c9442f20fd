/**
 * Messages between the proxy and its comparing process (see offthread.ts), over a pipe: each one
 * a 4-byte little-endian length and the value in V8's serialization format (`node:v8`), which
 * keeps what `postMessage` keeps (dates, regular expressions, `ArrayBuffer`s, typed arrays).
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";

const LENGTH_BYTES = 4;

/**
 * One message, framed.
 *
 * @example
 * ```ts
 * const frame = encodeFrame({ type: "finish" });
 * console.log(frame.length > 4);
 * ```
 */
export function encodeFrame(value: unknown): Uint8Array {
  const body = serialize(value);
  const frame = new Uint8Array(LENGTH_BYTES + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, true);
  frame.set(body, LENGTH_BYTES);
  return frame;
}

/**
 * The messages of a byte stream, in order, however its reads split them; ends with the stream.
 * A stream that ends inside a message is an error. `decode` reads a message from its bytes
 * (which it must copy what it keeps of: they are reused); V8's deserializer by default.
 *
 * @example
 * ```ts ignore
 * for await (const message of readFrames(Deno.stdin.readable)) console.error(message);
 * ```
 */
export async function* readFrames<T = unknown>(
  stream: ReadableStream<Uint8Array>,
  decode: (body: Uint8Array) => T = deserialize,
): AsyncGenerator<T> {
  let buffer = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  for await (const chunk of stream) {
    if (end + chunk.length > buffer.length) {
      // Move what is left to the front, and grow when that is not room enough.
      const left = end - start;
      const size = Math.max(buffer.length, left + chunk.length);
      const next = size > buffer.length ? new Uint8Array(size * 2) : buffer;
      next.set(buffer.subarray(start, end), 0);
      buffer = next;
      start = 0;
      end = left;
    }
    buffer.set(chunk, end);
    end += chunk.length;
    while (end - start >= LENGTH_BYTES) {
      const length = new DataView(buffer.buffer, start).getUint32(0, true);
      if (end - start < LENGTH_BYTES + length) break;
      const body = buffer.subarray(start + LENGTH_BYTES, start + LENGTH_BYTES + length);
      start += LENGTH_BYTES + length;
      yield decode(body);
    }
    if (start === end) start = end = 0;
  }
  if (end > start) {
    throw new TypeError(`The stream ended inside a message (${end - start} bytes of it)`);
  }
}
