/**
 * The byte relay: a read/write loop per direction.
 *
 * Measured on the project's 2-core machine, a `conn.read`/`conn.write` loop matched haproxy on
 * sysbench oltp_point_select, while Web Streams `pipeTo` and `node:net` relays were slower, so
 * this is a plain loop over one reused buffer. Awaiting each write before the next read is the
 * backpressure: a slow reader holds at most one buffer per direction in the proxy.
 *
 * @module
 */

/** Bytes read per `read` call; large enough that a 20 MB blob is not thousands of reads. */
export const RELAY_BUFFER_SIZE = 256 * 1024;

/**
 * What the relay reads from and writes to: a `Deno.Conn`, or anything shaped like one (a TLS
 * session terminated by the proxy, a connection slowed down by an injected fault).
 */
export interface ByteStream {
  /** Reads into `buffer`; `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes` and says how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Ends the writing half (TCP FIN), keeping the reading half open. */
  closeWrite(): Promise<void>;
  /** Closes both halves now. */
  close(): void;
}

/** How a relay direction ended. */
export type PumpEnd =
  | { kind: "eof" }
  | { kind: "read-error"; error: unknown }
  | { kind: "write-error"; error: unknown }
  | { kind: "stopped" };

/** Options of {@link pump}. */
export interface PumpOptions {
  /**
   * Sees every chunk before it is written on. It runs synchronously before the write, so the
   * decoder sees a request before the peer could answer it. It must not throw.
   */
  onChunk?: (chunk: Uint8Array) => void;
  /** Adds each chunk's length to a counter. */
  onBytes?: (count: number) => void;
  /** Buffer to read into (reused); one is allocated when absent. */
  buffer?: Uint8Array;
  /** Bytes to write before reading anything (for example what the greeting phase over-read). */
  initial?: Uint8Array;
}

/** Writes all of `bytes`; `Deno.Conn.write` may write less than asked. */
export async function writeAll(conn: ByteStream, bytes: Uint8Array): Promise<void> {
  let written = await conn.write(bytes);
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * Copies `from` to `to` until end of stream or an error, then half-closes `to` so the peer sees
 * the end too. Never throws: the outcome is the returned {@link PumpEnd}.
 */
export async function pump(
  from: ByteStream,
  to: ByteStream,
  options: PumpOptions = {},
): Promise<PumpEnd> {
  const buffer = options.buffer ?? new Uint8Array(RELAY_BUFFER_SIZE);
  const { onChunk, onBytes } = options;
  if (options.initial && options.initial.length > 0) {
    try {
      await writeAll(to, options.initial);
    } catch (error) {
      return { kind: "write-error", error };
    }
  }
  for (;;) {
    let count: number | null;
    try {
      count = await from.read(buffer);
    } catch (error) {
      return isClosedResource(error) ? { kind: "stopped" } : { kind: "read-error", error };
    }
    if (count === null) break;
    const chunk = buffer.subarray(0, count);
    onChunk?.(chunk);
    try {
      // writeAll() inlined: one async call fewer per chunk on the hot path.
      let written = await to.write(chunk);
      while (written < count) written += await to.write(chunk.subarray(written));
    } catch (error) {
      return isClosedResource(error) ? { kind: "stopped" } : { kind: "write-error", error };
    }
    onBytes?.(count);
  }
  try {
    await to.closeWrite();
  } catch {
    // The other side is already gone; nothing left to tell it.
  }
  return { kind: "eof" };
}

/** Whether an error only says that we closed the resource ourselves. */
export function isClosedResource(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

/** Closes a connection, ignoring "already closed". */
export function closeQuietly(conn: ByteStream): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
