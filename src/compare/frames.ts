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
 * `node:v8`'s `deserialize` of a copy of `body`: the typed arrays it returns are views of the
 * bytes it was given, which {@link readFrames} reuses for the next messages.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array([1, 2]);
 * const frame = encodeFrame({ bytes });
 * const value = deserializeCopy(frame.subarray(4)) as { bytes: Uint8Array };
 * frame.fill(0);
 * console.log(value.bytes); // Uint8Array(2) [ 1, 2 ]
 * ```
 */
export function deserializeCopy(body: Uint8Array): unknown {
  return deserialize(body.slice());
}

/** Something to read bytes from: a stream, or a reader that fills the buffer it is given. */
export type ByteSource = ReadableStream<Uint8Array> | {
  read(into: Uint8Array): Promise<number | null>;
};

/** Least room a reader is given to read into. */
const READ_ROOM = 64 * 1024;

/**
 * The messages of a byte stream, in order, however its reads split them; ends with the stream.
 * A stream that ends inside a message is an error. `decode` reads a message from its bytes
 * (which it must copy what it keeps of: they are reused); by default {@link deserializeCopy}.
 * A reader (a `Deno.FsFile`) reads straight into the buffer the messages are cut from: no chunk
 * is allocated per read.
 *
 * @example
 * ```ts ignore
 * for await (const message of readFrames(Deno.stdin.readable)) console.error(message);
 * ```
 */
export async function* readFrames<T = unknown>(
  source: ByteSource,
  decode: (body: Uint8Array) => T = deserializeCopy as (body: Uint8Array) => T,
): AsyncGenerator<T> {
  let buffer = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  /** Makes room for `size` more bytes after `end`: what is left moves to the front, or grows. */
  const room = (size: number) => {
    if (end + size <= buffer.length) return;
    const left = end - start;
    const next = left + size > buffer.length ? new Uint8Array((left + size) * 2) : buffer;
    next.set(buffer.subarray(start, end), 0);
    buffer = next;
    start = 0;
    end = left;
  };
  const stream = source instanceof ReadableStream ? source.getReader() : undefined;
  const reader = stream ? undefined : source as Exclude<ByteSource, ReadableStream>;
  let ended = false;
  try {
    for (;;) {
      if (stream) {
        const { value, done } = await stream.read();
        if (done) {
          ended = true;
          break;
        }
        room(value.length);
        buffer.set(value, end);
        end += value.length;
      } else {
        room(READ_ROOM);
        const count = await reader!.read(buffer.subarray(end));
        if (count === null) {
          ended = true;
          break;
        }
        end += count;
      }
      while (end - start >= LENGTH_BYTES) {
        const length = new DataView(buffer.buffer, start).getUint32(0, true);
        if (end - start < LENGTH_BYTES + length) break;
        const body = buffer.subarray(start + LENGTH_BYTES, start + LENGTH_BYTES + length);
        start += LENGTH_BYTES + length;
        yield decode(body);
      }
      if (start === end) start = end = 0;
    }
  } finally {
    // Left early (the consumer stopped, or decode threw): the stream is not wanted any more.
    if (stream && !ended) await stream.cancel().catch(() => {});
    stream?.releaseLock();
  }
  if (end > start) {
    throw new TypeError(`The stream ended inside a message (${end - start} bytes of it)`);
  }
}
