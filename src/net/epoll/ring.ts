/**
 * A one-way stream of bytes through memory two processes (or two threads) share: the epoll
 * relay's worker writes the connections it forwards (forward.ts frames), the comparing process of
 * `proxy --compare` reads them. A write or a read is a copy, two atomic loads and a store: no
 * system call, and neither side ever wakes the other. The reader looks when it chooses
 * ({@link ringSource}): the comparing process not at all while it steps aside for a busy machine,
 * where the pipe it had before had to be read as it filled (1 MiB: a fifth of a second of traffic
 * at saturation), and woke a thread of it for every write.
 *
 * The layout: the count of bytes written so far (modulo 2^32) in the first 4 bytes, the count of
 * bytes read at byte 64 (another cache line: each side writes only its own), the data from
 * {@link RING_HEADER_BYTES} on. The data's length is a power of two, so that the counts wrap
 * around it; one writer and one reader at a time.
 *
 * @module
 */

/** Bytes before a ring's data. */
export const RING_HEADER_BYTES = 128;

/** Int32 indexes of the counts. */
const WRITTEN = 0;
const READ = 16;

/**
 * Bytes of memory a ring of `capacity` bytes takes (a power of two, 64 at least).
 *
 * @example
 * ```ts
 * const memory = new ArrayBuffer(ringBytes(1024));
 * console.log(new ByteRing(memory).capacity); // 1024
 * ```
 */
export function ringBytes(capacity: number): number {
  return RING_HEADER_BYTES + capacity;
}

/**
 * A ring over `memory` (see the module's note); memory that is all zeros is an empty ring.
 *
 * @example
 * ```ts
 * const ring = new ByteRing(new ArrayBuffer(ringBytes(64)));
 * console.log(ring.write(new Uint8Array(100))); // 64: as much as there is room for
 * console.log(ring.read(new Uint8Array(10))); // 10
 * console.log(ring.used); // 54
 * ```
 */
export class ByteRing {
  /** Bytes it holds at most. */
  readonly capacity: number;
  #counts: Int32Array;
  #data: Uint8Array;
  #mask: number;

  /** A ring over `memory`, which holds its counts and its data (see {@link ringBytes}). */
  constructor(memory: ArrayBufferLike) {
    const capacity = memory.byteLength - RING_HEADER_BYTES;
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0 || capacity > 2 ** 30) {
      throw new RangeError(
        `A ring's data must be a power of two from 64 bytes to 1 GiB, not ${capacity}`,
      );
    }
    this.capacity = capacity;
    this.#counts = new Int32Array(memory, 0, RING_HEADER_BYTES / 4);
    this.#data = new Uint8Array(memory, RING_HEADER_BYTES, capacity);
    this.#mask = capacity - 1;
  }

  /** Bytes written and not read yet. */
  get used(): number {
    return (Atomics.load(this.#counts, WRITTEN) - Atomics.load(this.#counts, READ)) >>> 0;
  }

  /** Writes as much of `bytes` as there is room for (never waits); returns how much. */
  write(bytes: Uint8Array): number {
    const written = Atomics.load(this.#counts, WRITTEN);
    const read = Atomics.load(this.#counts, READ);
    const count = Math.min(this.capacity - ((written - read) >>> 0), bytes.length);
    if (count === 0) return 0;
    const at = written & this.#mask;
    const first = Math.min(count, this.capacity - at);
    this.#data.set(first === bytes.length ? bytes : bytes.subarray(0, first), at);
    if (count > first) this.#data.set(bytes.subarray(first, count), 0);
    // Published only once the bytes are in.
    Atomics.store(this.#counts, WRITTEN, (written + count) | 0);
    return count;
  }

  /** Reads as much as `into` has room for and the ring holds (never waits); returns how much. */
  read(into: Uint8Array): number {
    const written = Atomics.load(this.#counts, WRITTEN);
    const read = Atomics.load(this.#counts, READ);
    const count = Math.min((written - read) >>> 0, into.length);
    if (count === 0) return 0;
    const at = read & this.#mask;
    const first = Math.min(count, this.capacity - at);
    into.set(this.#data.subarray(at, at + first), 0);
    if (count > first) into.set(this.#data.subarray(0, count - first), first);
    // The room is given back only once the bytes are out.
    Atomics.store(this.#counts, READ, (read + count) | 0);
    return count;
  }
}

/** What {@link ringSource} returns: a reader that fills the buffer it is given. */
export interface RingReader {
  /** Resolves to the count of bytes read into `into` (1 at least), or null once ended. */
  read(into: Uint8Array): Promise<number | null>;
}

/**
 * A reader of `ring` for `readFrames` (compare/frames.ts): when the ring is empty it looks again
 * after `wait()` milliseconds, and ends once `ended()` says so with the ring empty.
 *
 * @example
 * ```ts
 * const ring = new ByteRing(new ArrayBuffer(ringBytes(64)));
 * ring.write(new Uint8Array([1, 2, 3]));
 * const reader = ringSource(ring, () => 1, () => ring.used === 0);
 * console.log(await reader.read(new Uint8Array(8))); // 3
 * console.log(await reader.read(new Uint8Array(8))); // null
 * ```
 */
export function ringSource(
  ring: ByteRing,
  wait: () => number,
  ended: () => boolean = () => false,
): RingReader {
  return {
    async read(into) {
      for (;;) {
        // Asked before reading: what was written before it ended is still read.
        const done = ended();
        const count = ring.read(into);
        if (count > 0) return count;
        if (done) return null;
        await new Promise((resolve) => setTimeout(resolve, wait()));
      }
    },
  };
}
