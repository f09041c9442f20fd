/**
 * What the epoll relay's two threads share: the layout of the shared memory, the slot states and
 * the messages. The main thread owns slots (it fills and frees them); the worker owns the file
 * descriptors of an open slot until it reports the slot closed.
 *
 * @module
 */

import type { TapReport } from "../../session/tap.ts";
import type { RelayForward } from "./forward.ts";

/** Connections relayed at once by one worker. */
export const MAX_SLOTS = 16_384;

/** Int32 indexes of the shared memory. */
export const Shared = {
  /** Ring bytes handed to the main thread and not yet decoded there. */
  inflight: 0,
  /** Set to 1 to stop the worker (with a write to its eventfd to wake it). */
  stop: 1,
  /** Bumped (with a wake-up) to have the worker send what it holds now; see `settled()`. */
  flush: 2,
  /**
   * Batches posted and not yet fully decoded: the worker posts one at a time. A backlog of worker
   * messages would starve the main thread's event loop (Deno drains every queued message before
   * it polls timers and I/O again), so while one is out the worker gathers the next.
   */
  batches: 3,
  /** Set to 1 by a worker holding a batch: the main thread wakes it when the one out is done. */
  waiting: 4,
  /** Bytes of the inbox written by the main thread and not yet read by the worker. */
  inboxUsed: 5,
  /** Slot table: 4 Int32 per slot from here. */
  slots: 8,
} as const;

/** Int32 fields of a slot. */
export const SlotField = { state: 0, clientFd: 1, serverFd: 2, generation: 3 } as const;
export const SLOT_FIELDS = 4;

/**
 * States of a slot. The main thread may shut a slot's sockets down only while it holds it `Busy`
 * (taken from `Open` with a compare-exchange), so it never touches a descriptor the worker has
 * closed and the kernel has reused.
 */
export const SlotState = {
  Free: 0,
  Open: 1,
  /** The main thread is shutting the sockets down; the worker waits before closing them. */
  Busy: 2,
  /** The main thread asked for a close (the proxy is closing it). */
  Stopping: 3,
  /** The worker closed the descriptors; the main thread frees the slot on the close message. */
  Closed: 4,
} as const;

/** Bytes of shared memory for the header and slot table. */
export const SHARED_BYTES = (Shared.slots + MAX_SLOTS * SLOT_FIELDS) * 4;

/**
 * Bytes of the inbox: the main thread's messages to the worker, which never returns to its event
 * loop to read postMessage. An entry hands over a connection's detached tap (see
 * `ConnectionTap.detach`): 4 uint32 (entry length with padding to 4, slot, generation, state
 * length), then the state. A length of 0 means the rest of the inbox is skipped (wrap).
 */
export const INBOX_BYTES = 256 * 1024;

/** Bytes of an inbox entry's header. */
export const INBOX_HEADER = 16;

/** The epoll `data` that marks the worker's wake-up eventfd. */
export const WAKE_TOKEN = 0xffff_ffff;

/** How one direction of a relayed connection ended (the worker's form of `PumpEnd`). */
export type DirectionEnd =
  | { kind: "eof" }
  | { kind: "stopped" }
  | { kind: "read-error" | "write-error"; message: string };

/** The first message to the worker. */
export interface WorkerInit {
  type: "init";
  shared: SharedArrayBuffer;
  epollFd: number;
  wakeFd: number;
  /** Largest read. */
  bufferSize: number;
  /** Where copies of the relayed bytes wait for decoding (at least 2 x `bufferSize`). */
  ring: SharedArrayBuffer;
  /** Longest a chunk waits before it is sent for decoding. */
  flushMs: number;
  /** A batch this large is sent at once. */
  flushBytes: number;
  /** The inbox (`INBOX_BYTES`). */
  inbox: SharedArrayBuffer;
  /** CLOCK_MONOTONIC minus the main thread's `performance.now()`, in milliseconds. */
  clockOffset: number;
  /** Where connections whose tap asks for it are forwarded (see forward.ts). */
  forward?: RelayForward;
}

/**
 * A batch of what the worker relayed, in the order it happened. `items` holds 5 float64 per
 * chunk: slot, side (0 client, 1 server), start and end in the ring, and when it was read
 * (CLOCK_MONOTONIC in milliseconds: one clock for both threads, unlike `performance.now()`). `ringBytes`: the ring bytes
 * the batch takes, given back once decoded. Closes come after every chunk and note of their
 * slot.
 */
export interface WorkerBatch {
  type: "batch";
  items: ArrayBuffer;
  ringBytes: number;
  /** `bytes`: read from each side (client, server) over the connection's life. */
  closes: {
    slot: number;
    generation: number;
    ends: [DirectionEnd, DirectionEnd];
    bytes: [number, number];
  }[];
  /** What the taps the worker runs report, in order; before the closes. */
  notes: { slot: number; generation: number; report: TapReport }[];
}

/** Messages from the worker. */
export type WorkerMessage =
  | WorkerBatch
  | { type: "settled"; request: number }
  /** The loop ended; `thread` is the worker thread's id (the relay waits for it to exit). */
  | { type: "stopped"; thread: number }
  | { type: "failed"; message: string };
