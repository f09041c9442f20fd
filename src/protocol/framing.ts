/**
 * Framing: turns a byte stream, cut anywhere by TCP, into logical packets.
 *
 * @module
 */

import { HEADER_LENGTH, MAX_PAYLOAD_LENGTH } from "./constants.ts";
import { ProtocolError } from "./errors.ts";

/** One logical packet: a payload, reassembled from continuation frames when it had any. */
export interface Packet {
  /** Sequence id of the first frame. */
  sequenceId: number;
  /** Sequence id of the last frame (differs from `sequenceId` only for continued payloads). */
  lastSequenceId: number;
  /** Number of frames the payload spanned (2 or more for payloads of 16 MiB - 1 bytes or more). */
  frames: number;
  /**
   * The payload. It may be a view into the chunk passed to {@link PacketFramer.push}: valid only
   * during the callback; copy it to keep it.
   */
  payload: Uint8Array;
}

/** Options of {@link PacketFramer}. */
export interface PacketFramerOptions {
  /**
   * The largest logical payload reassembled; a longer one throws a {@link ProtocolError}.
   * Default 1 GiB (MySQL's largest max_allowed_packet).
   */
  maxPacketLength?: number;
}

const DEFAULT_MAX_PACKET_LENGTH = 1024 * 1024 * 1024;

/**
 * Splits a byte stream into logical packets. Chunks may hold part of a frame, several frames, or
 * end anywhere in a header; payloads of exactly 0xffffff bytes continue in the next frame (an
 * empty frame ends a payload whose length is a multiple of it).
 *
 * Memory: whole frames inside a chunk are passed on as views without copying; only the
 * incomplete tail is kept, and a header announcing a large payload allocates nothing until its
 * bytes arrive.
 *
 * @example
 * ```ts
 * import { PacketFramer } from "./framing.ts";
 * const framer = new PacketFramer();
 * const seen: number[] = [];
 * framer.push(new Uint8Array([1, 0, 0, 0, 0x0e, 1, 0]), (p) => seen.push(p.payload[0]));
 * framer.push(new Uint8Array([0, 3, 0x01]), (p) => seen.push(p.payload[0]));
 * console.assert(seen.join() === "14,1");
 * ```
 */
export class PacketFramer {
  #max: number;
  /** Bytes of an incomplete frame (header included) carried over from earlier chunks. */
  #tail: Uint8Array[] = [];
  #tailLength = 0;
  /** Length of the pending frame with its header, or -1 while its header is incomplete. */
  #tailNeed = -1;
  /** Payload parts of a logical packet continued across 0xffffff-byte frames. */
  #parts: Uint8Array[] = [];
  #partsLength = 0;
  #firstSequenceId = 0;
  #frames = 0;

  constructor(options: PacketFramerOptions = {}) {
    this.#max = options.maxPacketLength ?? DEFAULT_MAX_PACKET_LENGTH;
  }

  /** Bytes held back waiting for the rest of a packet. */
  get buffered(): number {
    return this.#tailLength + this.#partsLength;
  }

  /** Feeds bytes; calls `onPacket` for every logical packet they complete, in order. */
  push(chunk: Uint8Array, onPacket: (packet: Packet) => void): void {
    let data = chunk;
    let offset = 0;
    if (this.#tailLength > 0) {
      const used = this.#fillTail(chunk);
      if (this.#tailLength < this.#tailNeed || this.#tailNeed < 0) return;
      const frame = concat(this.#tail, this.#tailLength);
      this.#tail = [];
      this.#tailLength = 0;
      this.#tailNeed = -1;
      this.#frame(
        frame[3],
        frame.length - HEADER_LENGTH,
        frame.subarray(HEADER_LENGTH),
        true,
        onPacket,
      );
      data = chunk;
      offset = used;
    }
    const end = data.length;
    while (end - offset >= HEADER_LENGTH) {
      const length = data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16);
      if (end - offset - HEADER_LENGTH < length) break;
      const sequenceId = data[offset + 3];
      const payload = data.subarray(offset + HEADER_LENGTH, offset + HEADER_LENGTH + length);
      offset += HEADER_LENGTH + length;
      this.#frame(sequenceId, length, payload, false, onPacket);
    }
    if (offset < end) {
      this.#tail = [];
      this.#tailLength = 0;
      this.#tailNeed = -1;
      this.#fillTail(data.subarray(offset));
    }
  }

  /**
   * Moves bytes of `chunk` into the pending frame, no more than the frame needs. Returns how many
   * bytes of `chunk` it took. The tail is joined only once, when complete, so a large frame
   * arriving in small chunks costs linear time.
   */
  #fillTail(chunk: Uint8Array): number {
    let used = 0;
    if (this.#tailNeed < 0) {
      const headerBytes = Math.min(HEADER_LENGTH - this.#tailLength, chunk.length);
      this.#tail.push(chunk.slice(0, headerBytes));
      this.#tailLength += headerBytes;
      used = headerBytes;
      if (this.#tailLength < HEADER_LENGTH) return used;
      const header = concat(this.#tail, this.#tailLength);
      this.#tail = [header];
      const length = header[0] | (header[1] << 8) | (header[2] << 16);
      if (this.#partsLength + length > this.#max) this.#tooLong(this.#partsLength + length);
      this.#tailNeed = HEADER_LENGTH + length;
    }
    const take = Math.min(this.#tailNeed - this.#tailLength, chunk.length - used);
    if (take > 0) {
      this.#tail.push(chunk.slice(used, used + take));
      this.#tailLength += take;
      used += take;
    }
    return used;
  }

  /** Drops everything buffered (the stream cannot be resynchronized) and throws. */
  #tooLong(announced: number): never {
    this.#tail = [];
    this.#tailLength = 0;
    this.#tailNeed = -1;
    this.#parts = [];
    this.#partsLength = 0;
    this.#frames = 0;
    throw new ProtocolError(
      `Cannot reassemble packet: payload of at least ${announced} bytes exceeds the ${this.#max}-byte limit`,
    );
  }

  #frame(
    sequenceId: number,
    length: number,
    payload: Uint8Array,
    owned: boolean,
    onPacket: (packet: Packet) => void,
  ): void {
    if (this.#frames === 0 && length < MAX_PAYLOAD_LENGTH) {
      onPacket({ sequenceId, lastSequenceId: sequenceId, frames: 1, payload });
      return;
    }
    if (this.#frames === 0) this.#firstSequenceId = sequenceId;
    this.#frames++;
    if (this.#partsLength + length > this.#max) this.#tooLong(this.#partsLength + length);
    // Continued payloads outlive the chunk they came in, so views into it are copied.
    this.#parts.push(owned ? payload : payload.slice());
    this.#partsLength += length;
    if (length === MAX_PAYLOAD_LENGTH) return;
    const whole = concat(this.#parts, this.#partsLength);
    const packet: Packet = {
      sequenceId: this.#firstSequenceId,
      lastSequenceId: sequenceId,
      frames: this.#frames,
      payload: whole,
    };
    this.#parts = [];
    this.#partsLength = 0;
    this.#frames = 0;
    onPacket(packet);
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === length) return parts[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
