/**
 * Packets over a client connection: whole logical packets in (each with its own copy of the
 * payload, so decoded messages stay valid), framed packets out, and a swap of the underlying
 * connection when TLS starts.
 *
 * @module
 */

import { type Packet, PacketFramer } from "../protocol/framing.ts";
import { PacketWriter } from "../protocol/writer.ts";

const READ_BUFFER_SIZE = 64 * 1024;

/**
 * The connection ended (or could not be made) while the client needed it.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "./channel.ts";
 * console.assert(new ConnectionClosedError().message === "The server closed the connection");
 * ```
 */
export class ConnectionClosedError extends Error {
  /** An error saying the connection ended; `message` says what the client was doing. */
  constructor(message = "The server closed the connection", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * Reads and writes packets on one connection. Not for concurrent use: one reader at a time.
 *
 * @example
 * ```ts ignore
 * const channel = new PacketChannel(conn);
 * const greeting = await channel.next();
 * await channel.send(response, greeting.lastSequenceId + 1);
 * ```
 */
export class PacketChannel {
  #conn: Deno.Conn;
  #framer: PacketFramer;
  #buffer = new Uint8Array(READ_BUFFER_SIZE);
  #queue: Packet[] = [];
  #ended = false;
  #closed = false;
  /** Bytes read. */
  bytesIn = 0;
  /** Bytes written. */
  bytesOut = 0;

  /** Packets over `conn`; packets longer than `maxPacketLength` (default 1 GiB) are refused. */
  constructor(conn: Deno.Conn, options: { maxPacketLength?: number } = {}) {
    this.#conn = conn;
    this.#framer = new PacketFramer({ maxPacketLength: options.maxPacketLength });
  }

  /** The connection packets travel on (a TLS one after {@link replaceConnection}). */
  get conn(): Deno.Conn {
    return this.#conn;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Swaps in the TLS connection that wraps the current one. Only valid when nothing was read
   * beyond the last packet (true after an SSLRequest: the server waits for the TLS handshake).
   */
  replaceConnection(conn: Deno.Conn): void {
    if (this.#queue.length > 0 || this.#framer.buffered > 0) {
      throw new Error("Cannot start TLS: the server sent bytes after its greeting");
    }
    this.#conn = conn;
  }

  /** The next packet; rejects with {@link ConnectionClosedError} at end of stream. */
  async next(): Promise<Packet> {
    while (this.#queue.length === 0) {
      if (this.#ended) throw new ConnectionClosedError();
      let count: number | null;
      try {
        count = await this.#conn.read(this.#buffer);
      } catch (error) {
        if (this.#closed) {
          throw new ConnectionClosedError("The connection was closed", { cause: error });
        }
        throw new ConnectionClosedError(
          `Cannot read from the server: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (count === null) {
        this.#ended = true;
        continue;
      }
      this.bytesIn += count;
      this.#framer.push(
        this.#buffer.subarray(0, count),
        // The framer's payloads may be views into the read buffer, which the next read reuses.
        (packet) => this.#queue.push({ ...packet, payload: packet.payload.slice() }),
      );
    }
    return this.#queue.shift()!;
  }

  /** Frames `payload` with `sequenceId` (split at 16 MiB) and writes it; returns the next id. */
  async send(payload: Uint8Array, sequenceId: number): Promise<number> {
    const writer = new PacketWriter(payload.length + 8).packet(payload, sequenceId);
    await this.write(writer.finish());
    return writer.nextSequenceId;
  }

  /** Writes raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    try {
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } catch (error) {
      throw new ConnectionClosedError(
        `Cannot write to the server: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.bytesOut += bytes.length;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}
