/**
 * The epoll relay's worker: one thread that sleeps in `epoll_wait` and copies bytes between the
 * two sockets of every connection it was handed, with plain `read`/`write` calls on non-blocking
 * descriptors, the way haproxy does. It never waits on JavaScript: copies of what it relayed go
 * to the main thread in batches for decoding, after the bytes are on their way.
 *
 * Backpressure as in `pump()`: while the bytes read from one side cannot all be written to the
 * other, the worker stops reading that side (at most one read's worth held per direction). Copies
 * for decoding go through a fixed ring of shared memory: when the main thread falls that far
 * behind, the worker waits for it, so memory stays bounded whatever flows. Connections whose tap
 * asks for it also go, as copies, straight to a third thread (forward.ts), which is never waited
 * for.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import {
  EAGAIN,
  EINTR,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_EVENT,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  errnoMessage,
  errnoReader,
  type Libc,
  monotonicClock,
  openLibc,
  sharedMemoryAt,
  SHUT_RDWR,
  SHUT_WR,
  writeEpollEvent,
} from "./libc.ts";
import {
  type ConnectionTap,
  detachedForward,
  resumeSessionTap,
  type TapReport,
} from "../../session/tap.ts";
import {
  encodeForwardFrame,
  FORWARD_COUNTER_BYTES,
  FORWARD_FLUSH_MS,
  FORWARD_ITEM_FIELDS,
  ForwardCounter,
  forwardFrameLength,
  ForwardItem,
  type RelayForward,
} from "./forward.ts";
import { ByteRing } from "./ring.ts";
import {
  type DirectionEnd,
  INBOX_HEADER,
  MAX_SLOTS,
  Shared,
  SLOT_FIELDS,
  SlotField,
  SlotState,
  WAKE_TOKEN,
  type WorkerBatch,
  type WorkerInit,
  type WorkerMessage,
} from "./shared.ts";

/** Events taken from one `epoll_wait`. */
const MAX_EVENTS = 256;
/** Longest the worker waits, once stopped, for the forward ring to take what is pending. */
const FORWARD_FINISH_MS = 5000;

/** One relayed connection, as the worker sees it. Side 0 is the client, 1 the server. */
interface Relayed {
  slot: number;
  generation: number;
  fd: [number, number];
  /** Whether the worker reads from each side now. */
  reading: [boolean, boolean];
  /** Bytes waiting to be written to each side. */
  pending: [Uint8Array | null, Uint8Array | null];
  /** How each direction (from side 0, from side 1) ended; null while it runs. */
  ended: [DirectionEnd | null, DirectionEnd | null];
  /** The epoll mask registered for each side; -1 when not registered. */
  interest: [number, number];
  closed: boolean;
  /**
   * Who sees the bytes: undefined, the main thread (copies through the ring); a tap, this thread
   * (the main thread detached it: see `ConnectionTap.detach`); null, nobody.
   */
  tap: ConnectionTap | null | undefined;
  /** Bytes read from each side. */
  bytes: [number, number];
  /** The id its bytes are forwarded as (see forward.ts); undefined when they are not. */
  forward: number | undefined;
  /** Its bytes are forwarded no more (the receiver was too far behind); its close still is. */
  forwardStopped: boolean;
}

const post = (message: WorkerMessage, transfer: Transferable[] = []) =>
  self.postMessage(message, transfer);

self.onmessage = (event: MessageEvent<WorkerInit>) => {
  self.onmessage = null;
  try {
    const loop = new EpollLoop(event.data);
    post({ type: "stopped", thread: loop.run() });
  } catch (error) {
    post({
      type: "failed",
      message: error instanceof Error ? error.stack ?? error.message : String(error),
    });
  }
  self.close();
};

class EpollLoop {
  #init: WorkerInit;
  #libc: Libc;
  #errno: () => number;
  /** CLOCK_MONOTONIC, ms: the main thread maps it onto its own `performance.now()`. */
  #clock: () => number;
  #shared: Int32Array;
  #relayed: (Relayed | undefined)[] = new Array(MAX_SLOTS);
  #buffer: Uint8Array;
  #event = new DataView(new ArrayBuffer(EPOLL_EVENT.size));
  #eventBytes: Uint8Array;
  // The batch being gathered for the main thread: chunks in the ring, their places in #items.
  #ring: Uint8Array;
  /** Where the next chunk goes in the ring. */
  #writeAt = 0;
  /** Ring bytes the batch takes (chunks, and the tail skipped when wrapping). */
  #used = 0;
  /** 5 numbers per chunk: slot, side, start, end, time (see WorkerBatch). */
  #items = new Float64Array(5 * 1024);
  #count = 0;
  #closes: WorkerBatch["closes"] = [];
  #notes: WorkerBatch["notes"] = [];
  #inbox: Uint8Array;
  #inboxView: DataView;
  #inboxAt = 0;
  /** Detached taps read from the inbox, by slot, until the slot's first event. */
  #detached = new Map<number, { generation: number; state: Uint8Array }>();
  #deadline = 0;
  /** A batch is due but waits for the one out to be decoded (see `Shared.batches`). */
  #held = false;
  /** The last `settled()` request answered. */
  #settledRequest = 0;
  /** When the current epoll_wait returned (CLOCK_MONOTONIC, milliseconds). */
  #now = 0;
  // The batch being gathered for the forward port or ring (see forward.ts).
  #forward: RelayForward | undefined;
  #forwardCounters: Int32Array;
  #forwardBytes = new Uint8Array(64 * 1024);
  #forwardUsed = 0;
  #forwardItems = new Float64Array(FORWARD_ITEM_FIELDS * 256);
  #forwardCount = 0;
  /** When the forward batch being gathered goes (or pending frames are tried again). */
  #forwardDeadline = 0;
  /** {@link RelayForward.flushMs} */
  #forwardMs: number;
  /** Where forward frames go when they do not go to a port. */
  #forwardRing: ByteRing | undefined;
  /** The forward ring's frame, reused from batch to batch (see `encodeForwardFrame`). */
  #forwardFrame = new Uint8Array(0);
  /**
   * Frames (or what is left of one) the forward ring had no room for yet, oldest first, each with
   * the forwarded bytes it was counted for.
   */
  #forwardPending: { frame: Uint8Array; counted: number }[] = [];
  /** The forward ring's reader is gone: frames are dropped (and taken off the counters). */
  #forwardGone = false;

  constructor(init: WorkerInit) {
    this.#init = init;
    this.#libc = openLibc();
    this.#errno = errnoReader(this.#libc);
    this.#clock = monotonicClock(this.#libc);
    this.#shared = new Int32Array(init.shared);
    this.#buffer = new Uint8Array(init.bufferSize);
    this.#eventBytes = new Uint8Array(this.#event.buffer);
    this.#ring = new Uint8Array(init.ring);
    this.#inbox = new Uint8Array(init.inbox);
    this.#inboxView = new DataView(init.inbox);
    this.#forward = init.forward;
    this.#forwardMs = init.forward?.flushMs ?? FORWARD_FLUSH_MS;
    this.#forwardCounters = new Int32Array(
      init.forward?.counters ?? new SharedArrayBuffer(FORWARD_COUNTER_BYTES),
    );
    const ring = init.forward?.ring;
    this.#forwardRing = ring &&
      new ByteRing(ring instanceof SharedArrayBuffer ? ring : sharedMemoryAt(ring));
  }

  /** Something waits to be posted to the main thread. */
  #gathering(): boolean {
    return this.#count + this.#closes.length + this.#notes.length > 0;
  }

  /** Relays until asked to stop; returns the thread's id. */
  run(): number {
    const thread = this.#libc.symbols.gettid();
    const { epoll_wait, read } = this.#libc.symbols;
    const events = new Uint8Array(EPOLL_EVENT.size * MAX_EVENTS);
    const view = new DataView(events.buffer);
    const wake = new Uint8Array(8);
    let settle: number | undefined;
    try {
      for (;;) {
        if (Atomics.load(this.#shared, Shared.stop) === 1) break;
        // Nothing gathered, or only a batch held until the main thread wakes us: no deadline.
        // Frames the forward ring had no room for are tried again at the forward deadline.
        let due = !this.#held && this.#gathering() ? this.#deadline : Infinity;
        if (this.#forwardCount > 0 || this.#forwardPending.length > 0) {
          due = Math.min(due, this.#forwardDeadline);
        }
        const timeout = due === Infinity ? -1 : Math.max(0, Math.ceil(due - this.#clock()));
        const count = epoll_wait(this.#init.epollFd, events, MAX_EVENTS, timeout);
        if (count < 0) {
          const errno = this.#errno();
          if (errno === EINTR) continue;
          throw new Error(`epoll_wait failed: ${errnoMessage(errno)}`);
        }
        // One clock reading per wake-up: the events of one epoll_wait are microseconds apart.
        this.#now = this.#clock();
        for (let i = 0; i < count; i++) {
          const at = i * EPOLL_EVENT.size;
          const data = view.getUint32(at + EPOLL_EVENT.data, true);
          if (data === WAKE_TOKEN) {
            read(this.#init.wakeFd, wake, 8n);
            const request = Atomics.load(this.#shared, Shared.flush);
            if (request !== this.#settledRequest) settle = request;
            continue;
          }
          this.#handle(data >>> 1, data & 1, view.getUint32(at, true));
        }
        if (
          this.#held || this.#closes.length > 0 || this.#notes.length > 0 ||
          this.#used >= this.#init.flushBytes ||
          (this.#count > 0 && this.#now >= this.#deadline) || settle !== undefined
        ) this.#flush();
        if (
          this.#forwardCount > 0 &&
          (this.#now >= this.#forwardDeadline || this.#forwardUsed >= this.#init.flushBytes ||
            settle !== undefined)
        ) this.#flushForward();
        else if (this.#forwardPending.length > 0) {
          this.#writeForward();
          if (this.#now >= this.#forwardDeadline) {
            this.#forwardDeadline = this.#now + this.#forwardMs;
          }
        }
        // Answered once everything relayed before the request is in a posted batch.
        if (settle !== undefined && !this.#held) {
          this.#settledRequest = settle;
          post({ type: "settled", request: settle });
          settle = undefined;
        }
      }
    } finally {
      // Every connection still open ends, those without an event so far included.
      for (let slot = 0; slot < MAX_SLOTS; slot++) {
        const state = Atomics.load(this.#shared, Shared.slots + slot * SLOT_FIELDS);
        if (state === SlotState.Free || state === SlotState.Closed) continue;
        const relayed = this.#relayedAt(slot);
        if (!relayed.closed) this.#close(relayed, { kind: "stopped" });
      }
      this.#flush(true);
      this.#flushForward();
      this.#finishForward();
      this.#libc.close();
    }
    return thread;
  }

  /** The worker's state of a slot, made at its first event (the main thread filled the slot). */
  #relayedAt(slot: number): Relayed {
    const base = Shared.slots + slot * SLOT_FIELDS;
    const generation = this.#shared[base + SlotField.generation];
    let relayed = this.#relayed[slot];
    if (!relayed || relayed.generation !== generation) {
      relayed = {
        slot,
        generation,
        fd: [this.#shared[base + SlotField.clientFd], this.#shared[base + SlotField.serverFd]],
        reading: [true, true],
        pending: [null, null],
        ended: [null, null],
        // The main thread registered both sides for reading.
        interest: [EPOLLIN, EPOLLIN],
        closed: false,
        tap: undefined,
        bytes: [0, 0],
        forward: undefined,
        forwardStopped: false,
      };
      this.#relayed[slot] = relayed;
      // The main thread wrote the slot's inbox entry, if any, before it registered the sockets.
      this.#readInbox();
      const detached = this.#detached.get(slot);
      this.#detached.delete(slot);
      if (detached?.generation === generation) {
        relayed.tap = this.#resume(relayed, detached.state);
        if (this.#forward) relayed.forward = detachedForward(detached.state);
      }
    }
    return relayed;
  }

  /** Takes every entry of the inbox (see `INBOX_BYTES`). */
  #readInbox(): void {
    const inbox = this.#inbox;
    const view = this.#inboxView;
    while (Atomics.load(this.#shared, Shared.inboxUsed) > 0) {
      if (this.#inboxAt === inbox.length) this.#inboxAt = 0;
      const at = this.#inboxAt;
      const length = view.getUint32(at, true);
      if (length === 0) {
        // The main thread wrapped around here.
        this.#inboxAt = 0;
        Atomics.sub(this.#shared, Shared.inboxUsed, inbox.length - at);
        continue;
      }
      const slot = view.getUint32(at + 4, true);
      const generation = view.getUint32(at + 8, true);
      const stateLength = view.getUint32(at + 12, true);
      const start = at + INBOX_HEADER;
      this.#detached.set(slot, { generation, state: inbox.slice(start, start + stateLength) });
      this.#inboxAt = at + length;
      Atomics.sub(this.#shared, Shared.inboxUsed, length);
    }
  }

  /** The tap this thread runs for a connection; null when there is nothing to follow. */
  #resume(relayed: Relayed, state: Uint8Array): ConnectionTap | null {
    if (state.length === 0) return null;
    try {
      return resumeSessionTap(state, { onOpaque: (opaque) => this.#note(relayed, { opaque }) });
    } catch (error) {
      this.#tapFailed(relayed, "client", error);
      return null;
    }
  }

  #note(relayed: Relayed, report: TapReport): void {
    this.#notes.push({ slot: relayed.slot, generation: relayed.generation, report });
  }

  /** A tap that throws stops decoding that connection (the main thread logs why). */
  #tapFailed(relayed: Relayed, direction: "client" | "server", error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#note(relayed, { failed: { direction, message }, commands: relayed.tap?.commands });
    relayed.tap = null;
  }

  /** Bytes relayed from `side`, for whoever sees them. */
  #see(relayed: Relayed, side: number, bytes: Uint8Array, count: number): void {
    relayed.bytes[side] += count;
    if (relayed.forward !== undefined && !relayed.forwardStopped) {
      this.#forwardChunk(relayed, side, bytes, count);
    }
    const tap = relayed.tap;
    if (tap === undefined) {
      this.#record(relayed.slot, side, bytes, count);
      return;
    }
    if (tap === null) return;
    try {
      if (side === 0) tap.client(bytes.subarray(0, count));
      else tap.server(bytes.subarray(0, count));
    } catch (error) {
      this.#tapFailed(relayed, side === 0 ? "client" : "server", error);
    }
  }

  #handle(slot: number, side: number, events: number): void {
    const relayed = this.#relayedAt(slot);
    if (relayed.closed) return;
    if (events & EPOLLOUT) this.#flushPending(relayed, side);
    if (relayed.closed) return;
    if (relayed.reading[side] && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
      this.#readFrom(relayed, side);
      if (relayed.closed) return;
    }
    if (relayed.ended[0] && relayed.ended[1] && !relayed.pending[0] && !relayed.pending[1]) {
      this.#close(relayed);
      return;
    }
    this.#updateInterest(relayed, 0);
    this.#updateInterest(relayed, 1);
  }

  #readFrom(relayed: Relayed, side: number): void {
    const { read, write, shutdown } = this.#libc.symbols;
    const peer = 1 - side;
    const buffer = this.#buffer;
    const count = Number(read(relayed.fd[side], buffer, BigInt(buffer.length)));
    if (count > 0) {
      let written = Number(write(relayed.fd[peer], buffer, BigInt(count)));
      // Forwarded first, copied for decoding after: decoding never delays the bytes. The order
      // of the copies is still the wire's (a response is read in a later event than its request).
      this.#see(relayed, side, buffer, count);
      if (written === count) return;
      if (written < 0) {
        const errno = this.#errno();
        if (errno !== EAGAIN && errno !== EINTR) {
          this.#fail(relayed, side, "write-error", errno);
          return;
        }
        written = 0;
      }
      // The peer is not keeping up: hold the rest, stop reading this side until it is written.
      relayed.pending[peer] = buffer.slice(written, count);
      relayed.reading[side] = false;
    } else if (count === 0) {
      relayed.reading[side] = false;
      relayed.ended[side] = this.#stopping(relayed) ? { kind: "stopped" } : { kind: "eof" };
      if (!relayed.pending[peer]) shutdown(relayed.fd[peer], SHUT_WR);
    } else {
      const errno = this.#errno();
      if (errno !== EAGAIN && errno !== EINTR) this.#fail(relayed, side, "read-error", errno);
    }
  }

  /** Writes what waits for `side`; once all is written, reads from its peer again. */
  #flushPending(relayed: Relayed, side: number): void {
    const bytes = relayed.pending[side];
    if (!bytes) return;
    const direction = 1 - side;
    const written = Number(this.#libc.symbols.write(relayed.fd[side], bytes, BigInt(bytes.length)));
    if (written < 0) {
      const errno = this.#errno();
      if (errno !== EAGAIN && errno !== EINTR) this.#fail(relayed, direction, "write-error", errno);
      return;
    }
    if (written < bytes.length) {
      relayed.pending[side] = bytes.subarray(written);
      return;
    }
    relayed.pending[side] = null;
    if (relayed.ended[direction]) this.#libc.symbols.shutdown(relayed.fd[side], SHUT_WR);
    else relayed.reading[direction] = true;
  }

  /** An error in one direction ends the connection, as in the Deno relay. */
  #fail(
    relayed: Relayed,
    direction: number,
    kind: "read-error" | "write-error",
    errno: number,
  ): void {
    relayed.ended[direction] = this.#stopping(relayed)
      ? { kind: "stopped" }
      : { kind, message: errnoMessage(errno) };
    this.#close(relayed, { kind: "stopped" });
  }

  #stopping(relayed: Relayed): boolean {
    const base = Shared.slots + relayed.slot * SLOT_FIELDS;
    return Atomics.load(this.#shared, base + SlotField.state) !== SlotState.Open;
  }

  #close(relayed: Relayed, unfinished: DirectionEnd = { kind: "stopped" }): void {
    const { close, epoll_ctl, shutdown } = this.#libc.symbols;
    const state = Shared.slots + relayed.slot * SLOT_FIELDS + SlotField.state;
    // Wait out a shutdown the main thread is making on these descriptors.
    for (;;) {
      const previous = Atomics.compareExchange(
        this.#shared,
        state,
        SlotState.Open,
        SlotState.Closed,
      );
      if (previous === SlotState.Busy) {
        Atomics.wait(this.#shared, state, SlotState.Busy, 10);
        continue;
      }
      if (previous === SlotState.Stopping) Atomics.store(this.#shared, state, SlotState.Closed);
      break;
    }
    for (const side of [0, 1]) {
      if (relayed.interest[side] !== -1) {
        epoll_ctl(this.#init.epollFd, EPOLL_CTL_DEL, relayed.fd[side], this.#eventBytes);
      }
      // Deno's handle on the socket stays open until the main thread hears of this: shut the
      // socket down so the peer sees the end now, whoever else holds a descriptor.
      shutdown(relayed.fd[side], SHUT_RDWR);
      close(relayed.fd[side]);
    }
    relayed.closed = true;
    if (relayed.forward !== undefined) this.#forwardItem(ForwardItem.close, relayed.forward, 0, 0);
    if (relayed.tap) this.#note(relayed, { commands: relayed.tap.commands });
    relayed.tap = null;
    this.#closes.push({
      slot: relayed.slot,
      generation: relayed.generation,
      ends: [relayed.ended[0] ?? unfinished, relayed.ended[1] ?? unfinished],
      bytes: relayed.bytes,
    });
  }

  /** Registers what the worker waits for on one side: reading it, writing what waits for it. */
  #updateInterest(relayed: Relayed, side: number): void {
    if (relayed.closed) return;
    const want = (relayed.reading[side] ? EPOLLIN : 0) | (relayed.pending[side] ? EPOLLOUT : 0);
    const current = relayed.interest[side];
    if (want === current || (want === 0 && current === -1)) return;
    const { epoll_ctl } = this.#libc.symbols;
    const fd = relayed.fd[side];
    if (want === 0) {
      // Nothing to wait for: unregistered, so a hang-up does not wake the loop again and again.
      epoll_ctl(this.#init.epollFd, EPOLL_CTL_DEL, fd, this.#eventBytes);
      relayed.interest[side] = -1;
      return;
    }
    writeEpollEvent(this.#event, 0, want, relayed.slot * 2 + side);
    const operation = current === -1 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(this.#init.epollFd, operation, fd, this.#eventBytes) !== 0) {
      this.#fail(relayed, side, "read-error", this.#errno());
      return;
    }
    relayed.interest[side] = want;
  }

  /** Copies a relayed chunk into the ring, for the main thread; waits while the ring is full. */
  #record(slot: number, side: number, bytes: Uint8Array, count: number): void {
    const ring = this.#ring;
    const wrap = this.#writeAt + count > ring.length;
    const skip = wrap ? ring.length - this.#writeAt : 0;
    while (ring.length - Atomics.load(this.#shared, Shared.inflight) - this.#used < skip + count) {
      const inflight = Atomics.load(this.#shared, Shared.inflight);
      if ((this.#count > 0 || this.#closes.length > 0) && this.#flush()) continue;
      // The main thread is that far behind: wait for it (forwarding pauses, memory stays put).
      // It gives ring bytes back, and lets a held batch go, with a notify on `inflight`.
      if (Atomics.load(this.#shared, Shared.stop) === 1) return;
      Atomics.wait(this.#shared, Shared.inflight, inflight, 100);
    }
    if (wrap) {
      this.#writeAt = 0;
      this.#used += skip;
    }
    if (!this.#gathering()) this.#deadline = this.#now + this.#init.flushMs;
    ring.set(count === bytes.length ? bytes : bytes.subarray(0, count), this.#writeAt);
    this.#items = appendItem(
      this.#items,
      this.#count++,
      slot,
      side,
      this.#writeAt,
      this.#writeAt + count,
      this.#now,
    );
    this.#writeAt += count;
    this.#used += count;
  }

  /**
   * Copies a chunk for the forward port or ring; past the receiver's room, stops forwarding the
   * connection instead (a `stopped` item, and a report to the main thread).
   */
  #forwardChunk(relayed: Relayed, side: number, bytes: Uint8Array, count: number): void {
    const id = relayed.forward!;
    const behind = Atomics.load(this.#forwardCounters, ForwardCounter.bytes);
    if (behind + this.#forwardUsed + count > this.#forward!.maxBehindBytes) {
      this.#forwardItem(ForwardItem.stopped, id, 0, 0);
      relayed.forwardStopped = true;
      this.#note(relayed, { forwardStopped: true });
      return;
    }
    let buffer = this.#forwardBytes;
    if (this.#forwardUsed + count > buffer.length) {
      buffer = new Uint8Array(Math.max(buffer.length * 2, this.#forwardUsed + count));
      buffer.set(this.#forwardBytes.subarray(0, this.#forwardUsed));
      this.#forwardBytes = buffer;
    }
    buffer.set(count === bytes.length ? bytes : bytes.subarray(0, count), this.#forwardUsed);
    const kind = side === 0 ? ForwardItem.client : ForwardItem.server;
    this.#forwardItem(kind, id, this.#forwardUsed, this.#forwardUsed + count);
    this.#forwardUsed += count;
  }

  #forwardItem(kind: number, id: number, start: number, end: number): void {
    if (this.#forwardCount === 0) this.#forwardDeadline = this.#now + this.#forwardMs;
    // Timed on the main thread's performance.now() scale, as the items it sends itself.
    const time = this.#now - this.#init.clockOffset;
    this.#forwardItems = appendItem(
      this.#forwardItems,
      this.#forwardCount++,
      kind,
      id,
      start,
      end,
      time,
    );
  }

  /** Posts the forward batch, if any: the receiver is never waited for (see `#forwardChunk`). */
  #flushForward(): void {
    if (this.#forwardCount === 0) return;
    Atomics.add(this.#forwardCounters, ForwardCounter.bytes, this.#forwardUsed);
    Atomics.add(this.#forwardCounters, ForwardCounter.batches, 1);
    const forward = this.#forward!;
    if (forward.port) {
      const items = this.#forwardItems.slice(0, this.#forwardCount * FORWARD_ITEM_FIELDS).buffer;
      const bytes = this.#forwardBytes.slice(0, this.#forwardUsed).buffer;
      forward.port.postMessage({ items, bytes }, [items, bytes]);
    } else {
      const length = forwardFrameLength(this.#forwardCount, this.#forwardUsed);
      if (this.#forwardFrame.length < length) {
        this.#forwardFrame = new Uint8Array(Math.max(length, this.#forwardFrame.length * 2));
      }
      const frame = encodeForwardFrame(
        this.#forwardItems,
        this.#forwardCount,
        this.#forwardBytes,
        this.#forwardUsed,
        this.#forwardFrame,
      );
      this.#forwardPending.push({ frame, counted: this.#forwardUsed });
      this.#writeForward();
      // What the ring did not take yet waits in a copy: the buffer is the next batch's. (A ring
      // without a reader has dropped it all: `#dropForward` replaced the list.)
      const last = this.#forwardPending.at(-1);
      if (last && last.frame.buffer === frame.buffer) last.frame = last.frame.slice();
    }
    this.#forwardCount = 0;
    this.#forwardUsed = 0;
  }

  /**
   * Writes pending frames to the forward ring while it has room (the rest waits for the next
   * forward deadline). Once the reader is gone they are dropped, off the counters.
   */
  #writeForward(): void {
    if (Atomics.load(this.#forwardCounters, ForwardCounter.gone) === 1) this.#forwardGone = true;
    const pending = this.#forwardPending;
    while (pending.length > 0 && !this.#forwardGone) {
      const { frame } = pending[0];
      const written = this.#forwardRing!.write(frame);
      if (written === frame.length) pending.shift();
      else {
        if (written > 0) pending[0].frame = frame.subarray(written);
        return;
      }
    }
    if (this.#forwardGone) this.#dropForward();
  }

  /** At the end: waits for the ring to take what is pending, a few seconds at most. */
  #finishForward(): void {
    if (this.#forwardPending.length === 0) return;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const until = this.#clock() + FORWARD_FINISH_MS;
    for (this.#writeForward(); this.#forwardPending.length > 0; this.#writeForward()) {
      if (this.#clock() > until) {
        this.#dropForward();
        return;
      }
      Atomics.wait(nap, 0, 0, 1);
    }
  }

  /** Drops the pending frames: the reader will never have them, so the counters must not wait. */
  #dropForward(): void {
    for (const { counted } of this.#forwardPending) {
      // A partly written frame was counted whole; its written part is of no use alone.
      Atomics.sub(this.#forwardCounters, ForwardCounter.bytes, counted);
      Atomics.sub(this.#forwardCounters, ForwardCounter.batches, 1);
    }
    this.#forwardPending = [];
  }

  /**
   * Posts what was gathered, unless a batch is still out (then it is held, and true only once
   * posted); `force` posts anyway (the loop is ending).
   */
  #flush(force = false): boolean {
    if (this.#count === 0 && this.#closes.length === 0 && this.#notes.length === 0) return true;
    if (!force && !this.#mayPost()) {
      this.#held = true;
      return false;
    }
    this.#held = false;
    const items = this.#items.slice(0, this.#count * 5).buffer;
    Atomics.add(this.#shared, Shared.batches, 1);
    Atomics.add(this.#shared, Shared.inflight, this.#used);
    const batch: WorkerBatch = {
      type: "batch",
      items,
      ringBytes: this.#used,
      closes: this.#closes,
      notes: this.#notes,
    };
    post(batch, [items]);
    this.#used = 0;
    this.#count = 0;
    this.#closes = [];
    this.#notes = [];
    return true;
  }

  /**
   * Whether no batch is out. If one is, asks to be woken when it is done: the flag is raised
   * before the second look, and the main thread lowers the count before it looks at the flag, so
   * one of the two always sees the other.
   */
  #mayPost(): boolean {
    if (Atomics.load(this.#shared, Shared.batches) === 0) return true;
    Atomics.store(this.#shared, Shared.waiting, 1);
    return Atomics.load(this.#shared, Shared.batches) === 0;
  }
}

/**
 * Writes item number `index` (5 numbers: both batches' layout, see `WorkerBatch` and
 * `FORWARD_ITEM_FIELDS`) into `items`, or into a copy twice as long when it is full; returns
 * the array that holds it.
 */
function appendItem(
  items: Float64Array<ArrayBuffer>,
  index: number,
  a: number,
  b: number,
  c: number,
  d: number,
  e: number,
): Float64Array<ArrayBuffer> {
  const at = index * 5;
  if (at + 5 > items.length) {
    const grown = new Float64Array(items.length * 2);
    grown.set(items);
    items = grown;
  }
  items[at] = a;
  items[at + 1] = b;
  items[at + 2] = c;
  items[at + 3] = d;
  items[at + 4] = e;
  return items;
}
