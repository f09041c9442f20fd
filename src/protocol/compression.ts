/**
 * The compressed protocol (CLIENT_COMPRESS): once both sides asked for it, every byte after the
 * login's OK travels in compressed frames. A frame is a 7-byte header (3-byte compressed length,
 * compressed sequence id, 3-byte uncompressed length) and a zlib body; an uncompressed length of 0
 * means the body is stored raw (short payloads, or payloads deflate does not shrink). The bodies,
 * joined, are the ordinary packet stream: a logical packet may straddle frames, and one frame may
 * hold several packets.
 *
 * Compressed sequence ids count frames independently of the packets' own ids; like those, they
 * restart at each command (the client's command frame is 0, the server answers from 1).
 *
 * @module
 */

import { deflateSync, inflateSync } from "node:zlib";
import { MAX_PAYLOAD_LENGTH } from "./constants.ts";
import { ProtocolError } from "./errors.ts";
import { concatBytes } from "./framing.ts";

/** Length of a compressed frame's header. */
export const COMPRESSED_HEADER_LENGTH = 7;

/**
 * Payloads shorter than this are sent raw, as MariaDB, MySQL and their client libraries do:
 * deflate cannot shrink them.
 */
export const MIN_COMPRESS_LENGTH = 50;

/** The header of one compressed frame. */
export interface CompressedFrameHeader {
  /** Length of the body on the wire. */
  compressedLength: number;
  /** The compressed sequence id (independent of the packets' sequence ids). */
  sequenceId: number;
  /** Length of the body once inflated; 0 when the body is stored raw. */
  uncompressedLength: number;
}

/**
 * Reads a compressed frame's 7-byte header at `offset`.
 *
 * @example
 * ```ts
 * import { parseCompressedHeader } from "./compression.ts";
 * const header = parseCompressedHeader(new Uint8Array([13, 0, 0, 0, 0, 0, 0]));
 * console.assert(header.compressedLength === 13 && header.uncompressedLength === 0);
 * ```
 */
export function parseCompressedHeader(bytes: Uint8Array, offset = 0): CompressedFrameHeader {
  if (bytes.length - offset < COMPRESSED_HEADER_LENGTH) {
    throw new ProtocolError(
      `Cannot parse compressed frame header: expected ${COMPRESSED_HEADER_LENGTH} bytes, got ${
        Math.max(0, bytes.length - offset)
      }`,
      { offset: bytes.length },
    );
  }
  return {
    compressedLength: u24(bytes, offset),
    sequenceId: bytes[offset + 3],
    uncompressedLength: u24(bytes, offset + 4),
  };
}

/** Options of {@link CompressedFramer}. */
export interface CompressedFramerOptions {
  /**
   * The most bytes one frame may carry once inflated (its body when stored raw). A frame whose
   * header announces more, or whose body inflates past what its header announces (a zip bomb),
   * throws a {@link ProtocolError}. Default and maximum: 16 MiB - 1, the most a header can
   * announce.
   */
  maxFrameLength?: number;
}

/**
 * Turns a stream of compressed frames, cut anywhere by TCP, back into the packet stream they
 * carry: each frame's body, inflated (or as stored), in order. Feed what it yields to a
 * `PacketFramer`.
 *
 * After it has thrown, the stream cannot be resynchronized: every later push throws too.
 *
 * @example
 * ```ts
 * import { CompressedFramer } from "./compression.ts";
 * const framer = new CompressedFramer();
 * const out: number[] = [];
 * // A raw-stored frame (uncompressed length 0) holding a 1-byte COM_QUIT packet.
 * const frame = new Uint8Array([5, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
 * framer.push(frame.subarray(0, 3), (bytes) => out.push(...bytes));
 * framer.push(frame.subarray(3), (bytes) => out.push(...bytes));
 * console.assert(out.join() === "1,0,0,0,1" && framer.lastSequenceId === 0);
 * ```
 */
export class CompressedFramer {
  #max: number;
  /** Stored bytes of an incomplete frame (header included). */
  #tail: Uint8Array[] = [];
  #tailLength = 0;
  /** Length of the pending frame with its header, or -1 while its header is incomplete. */
  #tailNeed = -1;
  #lastSequenceId = -1;
  #failed: ProtocolError | undefined;

  /** A framer with nothing buffered. */
  constructor(options: CompressedFramerOptions = {}) {
    this.#max = Math.min(options.maxFrameLength ?? MAX_PAYLOAD_LENGTH, MAX_PAYLOAD_LENGTH);
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.#tailLength;
  }

  /** The compressed sequence id of the last whole frame, or -1 before the first. */
  get lastSequenceId(): number {
    return this.#lastSequenceId;
  }

  /**
   * Feeds bytes; calls `onBytes` with the content of every frame they complete, in order.
   * `bytes` may be a view into `chunk` (raw-stored frames): valid only during the call.
   */
  push(chunk: Uint8Array, onBytes: (bytes: Uint8Array, sequenceId: number) => void): void {
    if (this.#failed) throw this.#failed;
    let offset = 0;
    if (this.#tailLength > 0) {
      offset = this.#fillTail(chunk);
      if (this.#tailNeed < 0 || this.#tailLength < this.#tailNeed) return;
      const frame = concatBytes(this.#tail, this.#tailLength);
      this.#tail = [];
      this.#tailLength = 0;
      this.#tailNeed = -1;
      this.#frame(frame, 0, onBytes);
    }
    const end = chunk.length;
    while (end - offset >= COMPRESSED_HEADER_LENGTH) {
      const length = this.#check(chunk, offset);
      if (end - offset - COMPRESSED_HEADER_LENGTH < length) break;
      this.#frame(chunk, offset, onBytes);
      offset += COMPRESSED_HEADER_LENGTH + length;
    }
    if (offset < end) this.#fillTail(chunk.subarray(offset));
  }

  /** Validates the header at `offset` and returns its body's length. */
  #check(bytes: Uint8Array, offset: number): number {
    const compressed = u24(bytes, offset);
    const uncompressed = u24(bytes, offset + 4);
    const content = uncompressed === 0 ? compressed : uncompressed;
    if (content > this.#max) {
      this.#fail(
        `Cannot read compressed frame ${bytes[offset + 3]}: it announces ${content} bytes, ` +
          `more than the ${this.#max}-byte limit`,
      );
    }
    return compressed;
  }

  #fillTail(chunk: Uint8Array): number {
    let used = 0;
    if (this.#tailNeed < 0) {
      used = Math.min(COMPRESSED_HEADER_LENGTH - this.#tailLength, chunk.length);
      this.#tail.push(chunk.slice(0, used));
      this.#tailLength += used;
      if (this.#tailLength < COMPRESSED_HEADER_LENGTH) return used;
      const header = concatBytes(this.#tail, this.#tailLength);
      this.#tail = [header];
      this.#tailNeed = COMPRESSED_HEADER_LENGTH + this.#check(header, 0);
    }
    const take = Math.min(this.#tailNeed - this.#tailLength, chunk.length - used);
    if (take > 0) {
      this.#tail.push(chunk.slice(used, used + take));
      this.#tailLength += take;
      used += take;
    }
    return used;
  }

  /** One whole frame at `offset` of `bytes` (its header already checked). */
  #frame(
    bytes: Uint8Array,
    offset: number,
    onBytes: (bytes: Uint8Array, sequenceId: number) => void,
  ): void {
    const { compressedLength, sequenceId, uncompressedLength } = parseCompressedHeader(
      bytes,
      offset,
    );
    const start = offset + COMPRESSED_HEADER_LENGTH;
    const body = bytes.subarray(start, start + compressedLength);
    this.#lastSequenceId = sequenceId;
    if (uncompressedLength === 0) {
      onBytes(body, sequenceId);
      return;
    }
    let inflated: Uint8Array;
    try {
      // Bounded by what the header announced: a zip bomb stops there, not in memory.
      const buffer = inflateSync(body, { maxOutputLength: uncompressedLength });
      inflated = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      const code = (error as { code?: string }).code;
      this.#fail(
        code === "ERR_BUFFER_TOO_LARGE"
          ? `Cannot inflate compressed frame ${sequenceId}: it inflates past the ` +
            `${uncompressedLength} bytes its header announces`
          : `Cannot inflate compressed frame ${sequenceId}: ${(error as Error).message}`,
        error,
      );
    }
    if (inflated.length !== uncompressedLength) {
      this.#fail(
        `Cannot inflate compressed frame ${sequenceId}: it inflates to ${inflated.length} bytes, ` +
          `its header announces ${uncompressedLength}`,
      );
    }
    onBytes(inflated, sequenceId);
  }

  #fail(message: string, cause?: unknown): never {
    this.#tail = [];
    this.#tailLength = 0;
    this.#tailNeed = -1;
    this.#failed = new ProtocolError(message, cause === undefined ? {} : { cause });
    throw this.#failed;
  }
}

/** Options of {@link serializeCompressed}. */
export interface CompressOptions {
  /** Bytes below which a frame is stored raw. Default {@link MIN_COMPRESS_LENGTH}. */
  threshold?: number;
  /** zlib level, 0-9. Default 6, as MariaDB and MySQL use. */
  level?: number;
}

/**
 * Wraps bytes of the packet stream (whole framed packets, or any part of the stream) into
 * compressed frames numbered from `sequenceId`: deflated from `threshold` bytes on when that
 * makes them shorter, stored raw otherwise; more than 16 MiB - 1 bytes take several frames.
 * Returns the frames and the sequence id of the frame after them.
 *
 * @example
 * ```ts
 * import { serializeCompressed } from "./compression.ts";
 * const quit = new Uint8Array([1, 0, 0, 0, 1]);
 * const { bytes, sequenceId } = serializeCompressed(quit, 0);
 * console.assert(bytes.join() === "5,0,0,0,0,0,0,1,0,0,0,1" && sequenceId === 1);
 * ```
 */
export function serializeCompressed(
  stream: Uint8Array,
  sequenceId: number,
  options: CompressOptions = {},
): { bytes: Uint8Array; sequenceId: number } {
  const threshold = options.threshold ?? MIN_COMPRESS_LENGTH;
  const level = options.level ?? 6;
  const frames: Uint8Array[] = [];
  let total = 0;
  let sequence = sequenceId & 0xff;
  let offset = 0;
  do {
    const piece = stream.subarray(offset, offset + MAX_PAYLOAD_LENGTH);
    offset += piece.length;
    let body = piece;
    let uncompressed = 0;
    if (piece.length >= threshold) {
      const deflated = deflateSync(piece, { level });
      if (deflated.length < piece.length) {
        body = new Uint8Array(deflated.buffer, deflated.byteOffset, deflated.byteLength);
        uncompressed = piece.length;
      }
    }
    const frame = new Uint8Array(COMPRESSED_HEADER_LENGTH + body.length);
    putU24(frame, 0, body.length);
    frame[3] = sequence;
    putU24(frame, 4, uncompressed);
    frame.set(body, COMPRESSED_HEADER_LENGTH);
    frames.push(frame);
    total += frame.length;
    sequence = (sequence + 1) & 0xff;
  } while (offset < stream.length);
  return { bytes: concatBytes(frames, total), sequenceId: sequence };
}

function u24(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
}

function putU24(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
}
