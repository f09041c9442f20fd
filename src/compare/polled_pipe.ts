/**
 * How the comparing process reads the relay's FIFO: non-blocking reads on a timer, with no thread
 * waiting in `read(2)`.
 *
 * Why: a reader blocked in `read(2)` must be woken by every write, and the relay writes a batch
 * every ~20 ms from its relaying thread: each write then wakes another thread on the other core
 * (Deno reads a file on a thread of its blocking pool, which wakes the JavaScript thread, which
 * starts the next read on the pool thread: three wake-ups and two threads per batch). A pipe with
 * no reader waiting takes a write without waking anyone. So this reader looks every
 * {@link PolledPipeOptions.minWaitMs} while batches come, and backs off, doubling up to
 * {@link PolledPipeOptions.maxWaitMs}, while none do; the pipe holds up to 1 MiB (the relay asks
 * for that much), ~250 ms of sysbench's point selects at saturation, and when it is full the
 * relay keeps the rest and writes it later, as it always did.
 *
 * @module
 */

import {
  closeDescriptor,
  EAGAIN,
  EINTR,
  errnoMessage,
  errnoReader,
  type Libc,
  openLibc,
  openPipeReader,
} from "../net/epoll/libc.ts";

/** Options of {@link PolledPipe}. */
export interface PolledPipeOptions {
  /** Wait between looks while batches come (default 20 ms: the relay's batch interval). */
  minWaitMs?: number;
  /** Longest wait between looks while none do (default 160 ms). */
  maxWaitMs?: number;
}

/**
 * A FIFO read by non-blocking reads on a timer; a `ByteSource` for `readFrames`. Never ends by
 * itself (it holds the FIFO open for writing too): `close()` it.
 *
 * @example
 * ```ts ignore
 * const pipe = new PolledPipe("/tmp/compare-x/relay.fifo");
 * for await (const frame of readFrames(pipe, decode)) use(frame);
 * ```
 */
export class PolledPipe {
  #fd: number;
  #libc: Libc;
  #errno: () => number;
  #minWaitMs: number;
  #maxWaitMs: number;
  #waitMs: number;
  #looks = 0;
  #closed = false;

  /** Opens the FIFO at `path`. */
  constructor(path: string, options: PolledPipeOptions = {}) {
    this.#minWaitMs = options.minWaitMs ?? 20;
    this.#maxWaitMs = options.maxWaitMs ?? 160;
    this.#waitMs = this.#minWaitMs;
    this.#fd = openPipeReader(path);
    this.#libc = openLibc();
    this.#errno = errnoReader(this.#libc);
  }

  /** Reads so far that found the pipe empty or not (for tests: how often it looked). */
  get looks(): number {
    return this.#looks;
  }

  /** Reads what the pipe holds into `into`, waiting for something; null once closed. */
  async read(into: Uint8Array): Promise<number | null> {
    while (!this.#closed) {
      this.#looks++;
      const count = Number(this.#libc.symbols.read(this.#fd, into, BigInt(into.length)));
      if (count > 0) {
        this.#waitMs = this.#minWaitMs;
        return count;
      }
      const errno = count < 0 ? this.#errno() : EAGAIN;
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw new Error(`Cannot read the relay's pipe: ${errnoMessage(errno)}`);
      await new Promise((resolve) => setTimeout(resolve, this.#waitMs));
      this.#waitMs = Math.min(this.#waitMs * 2, this.#maxWaitMs);
    }
    return null;
  }

  /** Closes the pipe; a read waiting returns null. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeDescriptor(this.#fd);
    this.#libc.close();
  }
}
