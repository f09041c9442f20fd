/**
 * The epoll relay's second way out: copies of a connection's bytes sent by the worker straight to
 * another thread that watches them (the comparing worker of `proxy --compare`), without going
 * through the main thread. A connection is forwarded when its detached tap says so (see
 * `forwardedState` in session/tap.ts); the relay is given where to at start.
 *
 * The worker never waits for the receiving thread: past {@link RelayForward.maxBehindBytes} of
 * bytes posted and not yet taken in, a connection that sends more is no longer forwarded (a
 * `stopped` item, and a `forwardStopped` report to the main thread's tap).
 *
 * @module
 */

import type { SharedMemory } from "./libc.ts";

/**
 * Where forwarded bytes go, given to the relay at start: a port (transferred to its worker) or a
 * ring (ring.ts) in memory shared with another process or thread, to which the worker writes
 * {@link encodeForwardFrame} frames, keeping what the ring has no room for until it has.
 */
export interface RelayForward {
  /** Receives {@link ForwardBatch} messages, in the order the worker relayed the bytes. */
  port?: MessagePort;
  /**
   * Or a ring that receives the same batches as frames: memory shared with another process
   * (mapped in this one), or with another thread of this process (a `SharedArrayBuffer`).
   */
  ring?: SharedMemory | SharedArrayBuffer;
  /** Int32 counters shared with the receiver: see {@link ForwardCounter}. */
  counters: SharedArrayBuffer;
  /** Most bytes posted and not yet taken in before connections stop being forwarded. */
  maxBehindBytes: number;
  /**
   * Longest forwarded bytes wait in the worker before they are sent, in milliseconds (default
   * {@link FORWARD_FLUSH_MS}). The receiver is not in the traffic's path: fewer, larger batches
   * cost both sides less (each one wakes the receiver).
   */
  flushMs?: number;
}

/** Default of {@link RelayForward.flushMs}. */
export const FORWARD_FLUSH_MS = 20;

/**
 * Int32 indexes of {@link RelayForward.counters}. The worker adds what it posts; the receiver
 * subtracts once it has applied a batch, so both reach 0 when it has caught up.
 */
export const ForwardCounter = {
  /** Bytes posted and not yet applied. */
  bytes: 0,
  /** Batches posted and not yet applied. */
  batches: 1,
  /**
   * Set to 1 once the receiver is gone (the comparing process ended): what waits for room in
   * the ring, and what would go there next, is dropped (and taken off the counters).
   */
  gone: 2,
} as const;

/**
 * Resolves once every batch posted has been applied ({@link ForwardCounter.batches} is 0), or
 * once `stop()` says to give up.
 */
export async function batchesApplied(
  counters: Int32Array<ArrayBufferLike>,
  stop: () => boolean = () => false,
): Promise<void> {
  while (Atomics.load(counters, ForwardCounter.batches) > 0 && !stop()) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Bytes of {@link RelayForward.counters}. */
export const FORWARD_COUNTER_BYTES = 12;

/** Kinds of forwarded items. */
export const ForwardItem = {
  /** Bytes from the client: `start`, `end` in the batch's bytes. */
  client: 0,
  /** Bytes from the server. */
  server: 1,
  /** The connection ended; nothing more of it comes. */
  close: 2,
  /** The receiver was too far behind: no more bytes of this connection come (its close does). */
  stopped: 3,
} as const;

/** Numbers per item in {@link ForwardBatch.items}: kind, id, start, end, time. */
export const FORWARD_ITEM_FIELDS = 5;

/**
 * One message on the port. `items`: a Float64Array's buffer, {@link FORWARD_ITEM_FIELDS} numbers
 * per item: kind ({@link ForwardItem}), the id the tap asked to be forwarded as, start and end
 * of its bytes in `bytes`, and when the worker read them (`performance.now()` of the thread that
 * started the relay, in milliseconds).
 */
export interface ForwardBatch {
  /** The items (a Float64Array's buffer). */
  items: ArrayBuffer;
  /** The bytes the client and server items point into. */
  bytes: ArrayBuffer;
}

/** Bytes before a frame's items: the length of what follows it, and the items' length. */
const FRAME_HEADER = 8;

/**
 * A batch as one frame for a ring: 32-bit little-endian lengths of the rest and of the items,
 * the items (`count` of them) and the bytes (`used` of them). Written at the start of `into` when
 * it has room (the worker reuses one buffer rather than allocate 100 KiB or more per batch at
 * saturation), in a new buffer otherwise.
 *
 * @example
 * ```ts
 * const frame = encodeForwardFrame(new Float64Array([0, 1, 0, 2, 5]), 1, new Uint8Array([1, 2]), 2);
 * console.log(forwardFrameParts(frame.subarray(4)).bytes); // Uint8Array(2) [ 1, 2 ]
 * ```
 */
export function encodeForwardFrame(
  items: Float64Array,
  count: number,
  bytes: Uint8Array,
  used: number,
  into?: Uint8Array,
): Uint8Array {
  const itemBytes = count * FORWARD_ITEM_FIELDS * Float64Array.BYTES_PER_ELEMENT;
  const length = forwardFrameLength(count, used);
  const frame = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  view.setUint32(0, frame.length - 4, true);
  view.setUint32(4, itemBytes, true);
  frame.set(new Uint8Array(items.buffer, items.byteOffset, itemBytes), FRAME_HEADER);
  frame.set(bytes.subarray(0, used), FRAME_HEADER + itemBytes);
  return frame;
}

/** Bytes of the frame of `count` items and `used` bytes (see {@link encodeForwardFrame}). */
export function forwardFrameLength(count: number, used: number): number {
  return FRAME_HEADER + count * FORWARD_ITEM_FIELDS * Float64Array.BYTES_PER_ELEMENT + used;
}

/**
 * A frame's items and bytes as views of `body` (what follows the frame's length), for a reader
 * that copies them where it likes.
 *
 * @example
 * ```ts
 * const frame = encodeForwardFrame(new Float64Array([0, 1, 0, 2, 5]), 1, new Uint8Array([1, 2]), 2);
 * console.log(forwardFrameParts(frame.subarray(4)).items.length); // 40
 * ```
 */
export function forwardFrameParts(body: Uint8Array): { items: Uint8Array; bytes: Uint8Array } {
  const itemBytes = new DataView(body.buffer, body.byteOffset).getUint32(0, true);
  const start = FRAME_HEADER - 4;
  return {
    items: body.subarray(start, start + itemBytes),
    bytes: body.subarray(start + itemBytes),
  };
}
