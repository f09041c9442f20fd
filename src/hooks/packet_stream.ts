/**
 * Whole packets from one side of a mediated connection, with what was read but not yet taken
 * still at hand: the mediated loop can hand the rest of the stream back to the plain relay when
 * it can no longer follow the protocol (TLS it does not terminate, a lost track).
 *
 * @module
 */

import { type Packet, PacketFramer } from "../protocol/framing.ts";
import type { ByteStream } from "../net/relay.ts";
import { HEADER_LENGTH } from "../protocol/constants.ts";

const READ_BUFFER_SIZE = 64 * 1024;

/**
 * Reads logical packets (continuation frames joined) one at a time. Payloads stay valid: each
 * read is copied once, and packets are views into the copy.
 *
 * @example
 * ```ts ignore
 * const packets = new PacketStream(conn);
 * const packet = await packets.next(); // null at end of stream
 * ```
 */
export class PacketStream {
  readonly conn: ByteStream;
  #framer: PacketFramer;
  #buffer = new Uint8Array(READ_BUFFER_SIZE);
  /** Bytes read and not yet pushed into the framer. */
  #pending = new Uint8Array(0);
  /** Bytes pushed into the framer since the last packet it completed. */
  #partial: Uint8Array[] = [];
  #ended = false;

  constructor(conn: ByteStream, options: { maxPacketLength?: number } = {}) {
    this.conn = conn;
    this.#framer = new PacketFramer({ maxPacketLength: options.maxPacketLength });
  }

  /** The next packet, or `null` at end of stream. Read errors reject. */
  async next(): Promise<Packet | null> {
    for (;;) {
      const packet = this.#take();
      if (packet) return packet;
      if (this.#ended) return null;
      const count = await this.conn.read(this.#buffer);
      if (count === null) {
        this.#ended = true;
        return null;
      }
      this.#pending = this.#buffer.slice(0, count);
    }
  }

  /** A packet already read whole, without reading more; `undefined` when there is none. */
  buffered(): Packet | undefined {
    const pending = this.#pending;
    if (this.#partial.length > 0 || pending.length < HEADER_LENGTH) return undefined;
    const length = pending[0] | (pending[1] << 8) | (pending[2] << 16);
    if (length === 0xffffff || pending.length < HEADER_LENGTH + length) return undefined;
    return this.#take();
  }

  /** Everything read and not handed out as a packet, for the plain relay to send on. */
  remainder(): Uint8Array {
    const parts = [...this.#partial, this.#pending];
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    this.#partial = [];
    this.#pending = new Uint8Array(0);
    return out;
  }

  #take(): Packet | undefined {
    if (this.#pending.length === 0) return undefined;
    let found: Packet | undefined;
    const chunk = this.#pending;
    const taken = this.#framer.push(chunk, (packet) => {
      found = packet;
      this.#framer.stop();
    });
    this.#pending = chunk.subarray(taken);
    if (found) this.#partial = [];
    else this.#partial.push(chunk.subarray(0, taken));
    return found;
  }
}
