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

/** Where forwarded bytes go, given to the relay at start (the port is transferred to its worker). */
export interface RelayForward {
  /** Receives {@link ForwardBatch} messages, in the order the worker relayed the bytes. */
  port: MessagePort;
  /** Int32 counters shared with the receiver: see {@link ForwardCounter}. */
  counters: SharedArrayBuffer;
  /** Most bytes posted and not yet taken in before connections stop being forwarded. */
  maxBehindBytes: number;
}

/**
 * Int32 indexes of {@link RelayForward.counters}. The worker adds what it posts; the receiver
 * subtracts once it has applied a batch, so both reach 0 when it has caught up.
 */
export const ForwardCounter = {
  /** Bytes posted and not yet applied. */
  bytes: 0,
  /** Batches posted and not yet applied. */
  batches: 1,
} as const;

/** Bytes of {@link RelayForward.counters}. */
export const FORWARD_COUNTER_BYTES = 8;

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
