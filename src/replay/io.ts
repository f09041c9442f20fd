/**
 * Packets over a byte stream for the fake server: logical packets in (reassembled from frames,
 * however TCP cut them), framed bytes out.
 *
 * @module
 */

import { type Packet, PacketFramer } from "../protocol/framing.ts";

/** The byte stream a live client is served over (a `Deno.Conn` fits; tests pass in-memory ones). */
export interface Transport {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

const READ_BUFFER_SIZE = 64 * 1024;

/**
 * Reads whole packets from a transport, one at a time, and writes bytes.
 *
 * @example
 * ```ts ignore
 * const io = new PacketIO(conn);
 * const packet = await io.next(); // null at end of stream
 * await io.write(framePacket(payload, packet.lastSequenceId + 1));
 * ```
 */
export class PacketIO {
  #transport: Transport;
  #framer: PacketFramer;
  #buffer = new Uint8Array(READ_BUFFER_SIZE);
  #queue: Packet[] = [];
  #head = 0;
  #ended = false;
  /** Bytes read from the client. */
  bytesIn = 0;
  /** Bytes written to the client. */
  bytesOut = 0;

  constructor(transport: Transport, options: { maxPacketLength?: number } = {}) {
    this.#transport = transport;
    this.#framer = new PacketFramer({ maxPacketLength: options.maxPacketLength });
  }

  /**
   * The next packet, or `null` when the client closed its side. Its payload may be a view into
   * the read buffer: valid until the following call, which may read over it (copy to keep it).
   */
  async next(): Promise<Packet | null> {
    while (this.#head >= this.#queue.length) {
      if (this.#ended) return null;
      this.#queue.length = 0;
      this.#head = 0;
      const count = await this.#transport.read(this.#buffer);
      if (count === null) {
        this.#ended = true;
        return null;
      }
      this.bytesIn += count;
      // Payloads may be views into the read buffer: the next read reuses it, which happens only
      // once every packet of this one was taken and handled (see `next`).
      this.#framer.push(this.#buffer.subarray(0, count), (packet) => this.#queue.push(packet));
    }
    return this.#queue[this.#head++];
  }

  /** A packet already read (the client pipelined its commands), or `undefined`. Same validity as {@link next}. */
  take(): Packet | undefined {
    return this.#head < this.#queue.length ? this.#queue[this.#head++] : undefined;
  }

  /** Writes all of `bytes`. */
  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.#transport.write(bytes.subarray(written));
    }
    this.bytesOut += bytes.length;
  }

  /** Closes the transport (ignoring "already closed"). */
  close(): void {
    try {
      this.#transport.close();
    } catch {
      // already closed
    }
  }
}
