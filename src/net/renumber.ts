/**
 * Sequence ids across a TLS boundary the proxy made uneven. A client that upgraded to TLS sends
 * its HandshakeResponse with sequence id 2 (the SSLRequest was 1); a server the proxy talks to
 * in plaintext expects 1, and the other way round when only the server side is TLS. Every packet
 * of the authentication exchange is renumbered by the same offset, in each direction, until the
 * server's OK or ERR ends it; commands restart at 0 on both sides, so from then on the bytes pass
 * through untouched.
 *
 * @module
 */

import { Capability } from "../protocol/constants.ts";
import type { ByteStream } from "./relay.ts";

/** What both directions of one connection share: whether authentication is over. */
export interface AuthProgress {
  done: boolean;
}

/** Options of {@link renumberAuth}. */
export interface RenumberOptions {
  /** Added to every sequence id read (mod 256). */
  offset: number;
  /** Shared by both directions of the connection. */
  progress: AuthProgress;
  /**
   * The client direction: a packet with sequence id 0 is a command (authentication is over);
   * `tls` says whether the first packet (the HandshakeResponse) must claim CLIENT_SSL, as the
   * server side of the proxy is TLS or not. The server direction (no `client`): an OK or ERR
   * ends authentication.
   */
  client?: { tls: boolean };
  /** Bytes already read from the stream, returned first (and renumbered like the rest). */
  initial?: Uint8Array;
}

const CLIENT_SSL_BYTE1 = Capability.CLIENT_SSL >>> 8;

/**
 * Wraps the stream one direction of the authentication is read from, so that what it reads
 * carries the other side's sequence ids. Writes go through unchanged. Once authentication is
 * over, a read costs one flag check.
 *
 * @example
 * ```ts ignore
 * const progress = { done: false };
 * const fromClient = renumberAuth(clientTls, { offset: -1, progress, client: { tls: false } });
 * const fromServer = renumberAuth(server, { offset: 1, progress });
 * ```
 */
export function renumberAuth(stream: ByteStream, options: RenumberOptions): ByteStream {
  const { progress, client } = options;
  const offset = options.offset & 0xff;
  let initial = options.initial && options.initial.length > 0 ? options.initial : undefined;
  // Where the parse stands in the current frame: header bytes seen (0-4), then payload left.
  let header = 0;
  let length = 0;
  let left = 0;
  let continued = false;
  let packets = 0;
  let mine = false;

  /** Rewrites `chunk` in place; stops at the packet that ends authentication. */
  const rewrite = (chunk: Uint8Array) => {
    let i = 0;
    while (i < chunk.length && !(mine && left === 0 && header === 0)) {
      if (header < 4) {
        if (header < 3) length |= chunk[i] << (8 * header);
        else {
          const first = !continued;
          if (client && first && chunk[i] === 0) {
            // A command: the client is past authentication (a pipelining client).
            progress.done = true;
            return;
          }
          chunk[i] = (chunk[i] + offset) & 0xff;
          left = length;
          // The HandshakeResponse's capabilities: CLIENT_SSL is bit 3 of its second byte.
          packets += first ? 1 : 0;
        }
        header++;
        i++;
        if (header === 4 && left === 0) endFrame();
        continue;
      }
      const at = length - left;
      if (at === 0 && !continued) {
        if (!client && (chunk[i] === 0x00 || chunk[i] === 0xff)) mine = true;
      }
      if (client && packets === 1 && at === 1 && !continued) {
        chunk[i] = client.tls ? chunk[i] | CLIENT_SSL_BYTE1 : chunk[i] & ~CLIENT_SSL_BYTE1;
      }
      const take = Math.min(left, chunk.length - i);
      // Only the bytes at payload offsets 0 and 1 matter: skip the rest of the frame.
      const step = at < 2 ? 1 : take;
      i += step;
      left -= step;
      if (left === 0) endFrame();
    }
    if (mine && left === 0 && header === 0) progress.done = true;
  };

  const endFrame = () => {
    continued = length === 0xffffff;
    header = 0;
    length = 0;
  };

  return {
    async read(buffer: Uint8Array): Promise<number | null> {
      let count: number | null;
      if (initial) {
        count = Math.min(initial.length, buffer.length);
        buffer.set(initial.subarray(0, count));
        initial = count < initial.length ? initial.subarray(count) : undefined;
      } else {
        count = await stream.read(buffer);
      }
      if (count !== null && !progress.done) rewrite(buffer.subarray(0, count));
      return count;
    },
    write: (bytes) => stream.write(bytes),
    closeWrite: () => stream.closeWrite(),
    close: () => stream.close(),
  };
}
