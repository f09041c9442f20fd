/**
 * Packets over a byte stream for the fake server: logical packets in (reassembled from frames,
 * however TCP cut them), framed bytes out.
 *
 * @module
 */

import { type Packet, PacketFramer } from "../protocol/framing.ts";
import { CompressedFramer, serializeCompressed } from "../protocol/compression.ts";

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
  #maxPacketLength: number | undefined;
  /**
   * Copies of the bytes read until the first packet was handled: after an SSLRequest, the bytes
   * behind it (the client's TLS ClientHello, often in the same read) belong to TLS.
   */
  #prefix: Uint8Array[] | undefined = [];
  #returned = 0;
  /** With the compressed protocol: the client's frames, and the id of the next frame sent. */
  #compressed: CompressedFramer | undefined;
  #compressedSequence = 0;
  #onPacket = (packet: Packet) => {
    this.#queue.push(packet);
  };
  #onInflated = (bytes: Uint8Array, sequenceId: number) => {
    // Like the packets' ids, compressed ids restart with each command: the answer continues
    // from the client's last frame.
    this.#compressedSequence = (sequenceId + 1) & 0xff;
    this.#framer.push(bytes, this.#onPacket);
  };
  /** Bytes read from the client. */
  bytesIn = 0;
  /** Bytes written to the client. */
  bytesOut = 0;

  constructor(transport: Transport, options: { maxPacketLength?: number } = {}) {
    this.#transport = transport;
    this.#maxPacketLength = options.maxPacketLength;
    this.#framer = new PacketFramer({ maxPacketLength: options.maxPacketLength });
  }

  /**
   * The next packet, or `null` when the client closed its side. Its payload may be a view into
   * the read buffer: valid until the following call, which may read over it (copy to keep it).
   */
  async next(): Promise<Packet | null> {
    if (this.#prefix && this.#returned > 0) this.#prefix = undefined;
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
      const chunk = this.#buffer.subarray(0, count);
      this.#prefix?.push(chunk.slice());
      if (this.#compressed) this.#compressed.push(chunk, this.#onInflated);
      else this.#framer.push(chunk, this.#onPacket);
    }
    this.#returned++;
    return this.#queue[this.#head++];
  }

  /**
   * Upgrades the transport to TLS right after the client's SSLRequest (the first packet,
   * `consumed` bytes with its header): `upgrade` gets the transport and the bytes read behind the
   * SSLRequest, and returns the encrypted transport every later read and write uses.
   */
  async startTls(
    consumed: number,
    upgrade: (transport: Transport, initial: Uint8Array) => Promise<Transport>,
  ): Promise<void> {
    const prefix = this.#prefix ?? [];
    const read = new Uint8Array(prefix.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of prefix) {
      read.set(part, offset);
      offset += part.length;
    }
    this.#prefix = undefined;
    this.#transport = await upgrade(this.#transport, read.subarray(consumed));
    this.#framer = new PacketFramer({ maxPacketLength: this.#maxPacketLength });
    this.#queue.length = 0;
    this.#head = 0;
  }

  /** A packet already read (the client pipelined its commands), or `undefined`. Same validity as {@link next}. */
  take(): Packet | undefined {
    return this.#head < this.#queue.length ? this.#queue[this.#head++] : undefined;
  }

  /**
   * Switches both directions to the compressed protocol (CLIENT_COMPRESS): call it right after
   * writing the OK that ends the login, as servers start compressing there.
   */
  startCompression(): void {
    this.#compressed ??= new CompressedFramer();
  }

  /** Whether {@link startCompression} was called. */
  get compressed(): boolean {
    return this.#compressed !== undefined;
  }

  /** Writes all of `bytes` (framed packets), in compressed frames after {@link startCompression}. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#compressed) {
      const frames = serializeCompressed(bytes, this.#compressedSequence);
      this.#compressedSequence = frames.sequenceId;
      bytes = frames.bytes;
    }
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
