/**
 * Where the comparing process keeps the relay's batches until it applies them: in chunks of
 * memory it reuses, not in a pair of new buffers per batch.
 *
 * Why: while the machine is busy the comparison steps aside (spare_time.ts) and the batches pile
 * up (~4 MB a second of sysbench's point selects at saturation). Fresh buffers are memory outside
 * V8's heap that V8 counts towards its limits: a few seconds of that started a marking of the
 * whole heap, the loaded recording included (~190 MB for 10 s of sysbench), in the middle of the
 * burst, on the collector's tasks and threads, which the pauses do not hold back and which cost
 * more than everything else the process did during the burst. Reused chunks grow to the largest
 * backlog once and stay: after that, a burst allocates no memory outside the heap.
 *
 * What is kept is at most the relay's `maxBehindBytes` plus a chunk, and stays kept for the next
 * burst while the process lives.
 *
 * @module
 */

import { forwardFrameParts } from "../net/epoll/forward.ts";

/** Bytes of a chunk: 10-20 of the relay's batches at saturation (20 ms each). */
const CHUNK_BYTES = 1024 * 1024;

/** A chunk and how many batches in it are not applied yet. */
interface Chunk {
  bytes: Uint8Array;
  used: number;
  live: number;
}

/** A batch placed in the backlog; `release()` once it has been applied (its memory is reused). */
export interface PlacedBatch {
  /** The batch's items (`ForwardBatch.items`). */
  items: Float64Array;
  /** The bytes its items point into. */
  bytes: Uint8Array;
  /** The batch has been applied: its memory may be written over (a second call does nothing). */
  release: () => void;
}

/**
 * Chunks that batches are copied into, in arrival order, and reused once every batch in them is
 * released. A batch larger than a chunk gets buffers of its own.
 *
 * @example
 * ```ts
 * import { Backlog } from "./backlog.ts";
 * const backlog = new Backlog();
 * const placed = backlog.place(new Uint8Array(new Float64Array([0, 1, 0, 2, 5]).buffer), new Uint8Array([1, 2]));
 * console.log(placed.items[4], placed.bytes); // 5 Uint8Array(2) [ 1, 2 ]
 * placed.release();
 * ```
 */
export class Backlog {
  #chunkBytes: number;
  #current: Chunk | undefined;
  #free: Chunk[] = [];
  #chunks = 0;

  /** `chunkBytes`: the size of a chunk (default 1 MiB). */
  constructor(options: { chunkBytes?: number } = {}) {
    this.#chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  }

  /** Chunks made so far (they are kept: the backlog's high-water mark, in chunks). */
  get chunks(): number {
    return this.#chunks;
  }

  /**
   * Copies a batch in: `items`, the bytes of its Float64Array (a multiple of 8 long), and
   * `bytes`. The views returned are valid until `release()`.
   */
  place(items: Uint8Array, bytes: Uint8Array): PlacedBatch {
    const itemRoom = align(items.length);
    const size = itemRoom + bytes.length;
    if (size > this.#chunkBytes) {
      const own = new Uint8Array(size);
      return this.#fill(own, 0, items, bytes, () => {});
    }
    let chunk = this.#current;
    // A chunk all of whose batches were released is written from its start again (#release).
    if (!chunk || chunk.used + size > chunk.bytes.length) chunk = this.#current = this.#next();
    const offset = chunk.used;
    chunk.used += align(size);
    chunk.live++;
    const owner = chunk;
    return this.#fill(chunk.bytes, offset, items, bytes, () => this.#release(owner));
  }

  #fill(
    into: Uint8Array,
    offset: number,
    items: Uint8Array,
    bytes: Uint8Array,
    release: () => void,
  ): PlacedBatch {
    into.set(items, offset);
    const at = offset + align(items.length);
    into.set(bytes, at);
    let released = false;
    return {
      items: new Float64Array(into.buffer, into.byteOffset + offset, items.length / 8),
      bytes: into.subarray(at, at + bytes.length),
      release() {
        if (released) return;
        released = true;
        release();
      },
    };
  }

  #next(): Chunk {
    const chunk = this.#free.pop();
    if (chunk) return chunk;
    this.#chunks++;
    return { bytes: new Uint8Array(this.#chunkBytes), used: 0, live: 0 };
  }

  #release(chunk: Chunk): void {
    if (--chunk.live > 0) return;
    chunk.used = 0;
    // The current chunk is written on from its start again; a full one waits to be reused.
    if (chunk !== this.#current) this.#free.push(chunk);
  }
}

/**
 * A `readFrames` decoder for the relay's ring (forward.ts frames): each frame's batch is copied
 * into `backlog`, to be released once applied.
 *
 * @example
 * ```ts ignore
 * for await (const batch of readFrames(source, forwardFramesInto(new Backlog()))) use(batch);
 * ```
 */
export function forwardFramesInto(backlog: Backlog): (body: Uint8Array) => PlacedBatch {
  return (body) => {
    const { items, bytes } = forwardFrameParts(body);
    return backlog.place(items, bytes);
  };
}

/** `n` rounded up to a multiple of 8 (a Float64Array's alignment). */
function align(n: number): number {
  return (n + 7) & ~7;
}
