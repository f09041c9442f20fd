/**
 * The epoll relay's main-thread side. After the handshake, a connection that is plain TCP on both
 * sides is handed to a worker thread that relays it with raw `read`/`write` system calls and one
 * blocking `epoll_wait` (see `worker.ts`); its bytes come back here in batches, in order, and go
 * through the connection's tap as they would in line.
 *
 * Why: on the 2-core bench machine a Deno `conn.read`/`conn.write` loop spends ~38 CPU-ms per
 * 1000 sysbench point selects and reached 0.89x haproxy; the same loop over FFI system calls in a
 * thread that sleeps in `epoll_wait` spent 28.5 and reached 1.10x (BENCHMARKS.md). A variant that
 * waits in a non-blocking FFI call (a thread hop per wake-up) gained nothing.
 *
 * Deno does not give out a socket's file descriptor, so the relay finds it by its addresses
 * (`getsockname`/`getpeername` over `/proc/self/fd`), takes its own copy with `dup()` and closes
 * Deno's (closing one of two descriptors sends nothing to the peer).
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import { type ConnectionTap, MAX_DETACHED_BYTES } from "../../session/tap.ts";
import type { RelayForward } from "./forward.ts";
import { setRelayTime } from "../../session/clock.ts";
import type { PumpEnd } from "../relay.ts";
import {
  AF_INET,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_EVENT,
  EPOLLIN,
  epollUnavailable,
  errnoMessage,
  errnoReader,
  IPPROTO_TCP,
  type Libc,
  monotonicClock,
  openLibc,
  SHUT_RDWR,
  TCP_NODELAY,
  writeEpollEvent,
} from "./libc.ts";
import {
  type DirectionEnd,
  INBOX_BYTES,
  INBOX_HEADER,
  MAX_SLOTS,
  Shared,
  SHARED_BYTES,
  SLOT_FIELDS,
  SlotField,
  SlotState,
  WAKE_TOKEN,
  type WorkerBatch,
  type WorkerInit,
  type WorkerMessage,
} from "./shared.ts";

/** Where a relayed connection's bytes go on the main thread. */
export interface RelaySink {
  tap: Pick<ConnectionTap, "client" | "server" | "detach" | "reattach">;
  onClientBytes(count: number): void;
  onServerBytes(count: number): void;
}

/** A connection the epoll relay has taken over. */
export interface AdoptedConnection {
  /** How each direction ended (client to server, server to client), as `pump()` says it. */
  ends: Promise<PumpEnd[]>;
  /** Shuts both sockets down now; `ends` settles once the worker has closed them. */
  close(): void;
}

/** Options of {@link EpollRelay}. */
export interface EpollRelayOptions {
  logger: Logger;
  /** Largest read (default 256 KiB, as the Deno relay). */
  bufferSize?: number;
  /**
   * Bytes of the ring that carries copies to the main thread for decoding (default 4 MiB): when
   * decoding is that far behind, forwarding waits. At least twice `bufferSize`.
   */
  ringBytes?: number;
  /** Longest a chunk waits before it is decoded, in milliseconds (default 2). */
  flushMs?: number;
  /** A batch this large goes for decoding at once (default 256 KiB). */
  flushBytes?: number;
  /**
   * Longest the main thread decodes before it lets its other work run, in milliseconds
   * (default 5): a backlog is decoded in slices this long.
   */
  sliceMs?: number;
  /**
   * Where the worker sends copies of the connections whose detached tap asks for it, past this
   * thread (see forward.ts); a port is transferred to the worker when it starts.
   */
  forward?: RelayForward;
}

interface Slot {
  generation: number;
  /** Its tap runs in the worker: no bytes come here, byte counts come with the close. */
  detached: boolean;
  fds: [number, number];
  sink: RelaySink;
  resolve(ends: PumpEnd[]): void;
}

/**
 * Relays adopted connections in a worker thread. Starts the worker at the first adoption; `stop()`
 * ends it (and any connection still open).
 *
 * @example
 * ```ts ignore
 * const relay = new EpollRelay({ logger });
 * const adopted = relay.adopt(client, upstream, { tap, onClientBytes, onServerBytes });
 * if (adopted) await adopted.ends; // else relay with pump()
 * await relay.stop();
 * ```
 */
export class EpollRelay {
  #options: EpollRelayOptions;
  #libc?: Libc;
  #errno: () => number = () => 0;
  #worker?: Worker;
  #shared?: Int32Array;
  #epollFd = -1;
  #wakeFd = -1;
  /** CLOCK_MONOTONIC minus `performance.now()` on this thread, in milliseconds. */
  #clockOffset = 0;
  /** The epoll instance of Deno's own runtime, once found. */
  #denoEpollFd = -1;
  #slots = new Map<number, Slot>();
  #freeSlots: number[] = [];
  #nextSlot = 0;
  #generation = 0;
  #failed?: string;
  #settling: { request: number; resolve(): void }[] = [];
  /** A batch is being fed to the taps (maybe across tasks); messages wait in `#queued`. */
  #delivering = false;
  #queued: WorkerMessage[] = [];
  /** The descriptors and the library are closed. */
  #released = false;
  #alive?: ReturnType<typeof setInterval>;
  /** The worker thread's id, once it said it stopped. */
  #thread = 0;
  #stopped?: Promise<void>;
  #onStopped?: () => void;
  #event = new DataView(new ArrayBuffer(EPOLL_EVENT.size));
  #ring: Uint8Array<SharedArrayBuffer> = new Uint8Array(new SharedArrayBuffer(0));
  #inbox: Uint8Array<SharedArrayBuffer> = new Uint8Array(new SharedArrayBuffer(0));
  #inboxView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** Where the next inbox entry goes. */
  #inboxAt = 0;
  /** Chunks are copied out of the ring before a tap sees them: TextDecoder refuses shared memory. */
  #scratch = new Uint8Array(0);
  #address = new Uint8Array(128);
  #addressLength = new Uint32Array(1);

  constructor(options: EpollRelayOptions) {
    this.#options = options;
  }

  /** Why the epoll relay cannot run on this machine, or undefined when it can. */
  static unavailable(): string | undefined {
    return epollUnavailable();
  }

  /**
   * Takes over relaying `client` and `server` (both `Deno.TcpConn` over IPv4, nothing read ahead
   * of the relay; their Deno handles must stay open, unused, until `ends` settles). Undefined
   * when it cannot: the caller relays with `pump()` as before.
   */
  adopt(client: Deno.Conn, server: Deno.Conn, sink: RelaySink): AdoptedConnection | undefined {
    if (this.#failed !== undefined || this.#stopped) return undefined;
    const wanted = [socketKey(client), socketKey(server)];
    if (wanted[0] === undefined || wanted[1] === undefined) return undefined;
    if (this.#slots.size >= MAX_SLOTS) return undefined;
    if (!this.start()) return undefined;
    const libc = this.#libc!;
    const found = this.#findDescriptors(wanted as string[]);
    if (!found) return this.#decline(`no socket found for ${wanted.join(" and ")}`);
    const fds = found.map((fd) => libc.symbols.dup(fd));
    if (fds.some((fd) => fd < 0)) {
      const reason = `dup() failed: ${errnoMessage(this.#errno())}`;
      for (const fd of fds) if (fd >= 0) libc.symbols.close(fd);
      return this.#decline(reason);
    }
    // Deno's handles stay open until the relay ends (closing one would shut the socket down:
    // Tokio's write half does on drop), but out of Deno's own epoll, which would otherwise wake
    // the main thread for every packet the worker relays.
    for (const fd of found) this.#detachFromDeno(fd);
    const one = new Uint8Array(new Int32Array([1]).buffer);
    for (const fd of fds) libc.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);

    const slot = this.#freeSlots.pop() ?? this.#nextSlot++;
    const generation = ++this.#generation;
    // A tap that can follow the protocol in the worker goes there: its bytes then never come
    // back to this thread. Written before the sockets are watched: the worker reads it at their
    // first event. Asked only when the inbox has room for any state (a tap counts on it).
    const offer = { forwards: this.#options.forward !== undefined };
    const state = this.#inboxRoom() ? sink.tap.detach?.(offer) : undefined;
    const detached = state !== undefined && this.#post(slot, generation, state);
    const shared = this.#shared!;
    const base = Shared.slots + slot * SLOT_FIELDS;
    shared[base + SlotField.clientFd] = fds[0];
    shared[base + SlotField.serverFd] = fds[1];
    shared[base + SlotField.generation] = generation;
    Atomics.store(shared, base + SlotField.state, SlotState.Open);
    let resolve!: (ends: PumpEnd[]) => void;
    const ends = new Promise<PumpEnd[]>((r) => resolve = r);
    this.#slots.set(slot, { generation, detached, fds: [fds[0], fds[1]], sink, resolve });
    this.#keepAlive();
    for (const side of [0, 1]) {
      writeEpollEvent(this.#event, 0, EPOLLIN, slot * 2 + side);
      const bytes = new Uint8Array(this.#event.buffer);
      if (libc.symbols.epoll_ctl(this.#epollFd, EPOLL_CTL_ADD, fds[side], bytes) !== 0) {
        // Only when the kernel is out of memory; ends every connection of the relay (logged).
        this.#fail(`cannot watch a socket: ${errnoMessage(this.#errno())}`);
        break;
      }
    }
    return { ends, close: () => this.#shutdown(slot, generation) };
  }

  /**
   * Resolves once every byte relayed before the call has been through the taps (the worker hands
   * them over within `flushMs` anyway; this asks it now). For tests and tools that look at what a
   * tap saw right after a client's call returned.
   */
  settled(): Promise<void> {
    if (!this.#worker || this.#stopped || this.#failed !== undefined) return Promise.resolve();
    const request = Atomics.add(this.#shared!, Shared.flush, 1) + 1;
    const done = new Promise<void>((resolve) => this.#settling.push({ request, resolve }));
    this.#keepAlive();
    this.#wake();
    return done;
  }

  /**
   * Keeps the event loop alive while the worker has connections or a `settled()` is awaited:
   * Deno does not count a worker's messages to come as pending work.
   */
  #keepAlive(): void {
    const busy = this.#slots.size > 0 || this.#settling.length > 0;
    if (busy && this.#alive === undefined) this.#alive = setInterval(() => {}, 3_600_000);
    if (!busy && this.#alive !== undefined) {
      clearInterval(this.#alive);
      this.#alive = undefined;
    }
  }

  #wake(): void {
    this.#libc!.symbols.write(this.#wakeFd, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
  }

  /** Logs why a connection that should have been adopted is relayed by Deno instead. */
  #decline(reason: string): undefined {
    this.#options.logger.log("debug", "relay-declined", `Relaying with Deno's sockets: ${reason}`);
    return undefined;
  }

  /** Ends the worker, closing any connection it still relays; resolves when it is gone. */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    if (!this.#worker || this.#failed !== undefined) {
      // Never started, or the worker is gone already (it said why): only our side to release.
      this.#stopped = this.#release();
      return this.#stopped;
    }
    this.#stopped = new Promise<void>((resolve) => this.#onStopped = resolve).then(() =>
      this.#release()
    );
    Atomics.store(this.#shared!, Shared.stop, 1);
    Atomics.notify(this.#shared!, Shared.inflight);
    this.#wake();
    return this.#stopped;
  }

  /**
   * Starts the worker now (`adopt()` does otherwise), so its memory is there from the start;
   * false (and a log line, once) when it cannot.
   */
  start(): boolean {
    if (this.#stopped || this.#failed !== undefined) return false;
    if (this.#worker) return true;
    try {
      this.#libc = openLibc();
      this.#errno = errnoReader(this.#libc);
      const clock = monotonicClock(this.#libc);
      // Read back to back, performance.now() comes a little later, so each reading is at most the
      // true offset: the largest of a few is the closest.
      let offset = -Infinity;
      for (let i = 0; i < 5; i++) offset = Math.max(offset, clock() - performance.now());
      this.#clockOffset = offset;
      const { epoll_create1, eventfd } = this.#libc.symbols;
      this.#epollFd = epoll_create1(EPOLL_CLOEXEC);
      this.#wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (this.#epollFd < 0 || this.#wakeFd < 0) {
        throw new Error(`cannot create epoll: ${errnoMessage(this.#errno())}`);
      }
      writeEpollEvent(this.#event, 0, EPOLLIN, WAKE_TOKEN);
      const bytes = new Uint8Array(this.#event.buffer);
      this.#libc.symbols.epoll_ctl(this.#epollFd, EPOLL_CTL_ADD, this.#wakeFd, bytes);
      const sharedBuffer = new SharedArrayBuffer(SHARED_BYTES);
      const bufferSize = this.#options.bufferSize ?? 256 * 1024;
      const ringBytes = Math.max(this.#options.ringBytes ?? 4 * 1024 * 1024, 2 * bufferSize);
      this.#ring = new Uint8Array(new SharedArrayBuffer(ringBytes));
      const inbox = new SharedArrayBuffer(INBOX_BYTES);
      this.#inbox = new Uint8Array(inbox);
      this.#inboxView = new DataView(inbox);
      this.#scratch = new Uint8Array(bufferSize);
      this.#shared = new Int32Array(sharedBuffer);
      const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (event: MessageEvent<WorkerMessage>) => this.#receive(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        this.#fail(event.message);
      };
      const init: WorkerInit = {
        type: "init",
        shared: sharedBuffer,
        epollFd: this.#epollFd,
        wakeFd: this.#wakeFd,
        bufferSize,
        ring: this.#ring.buffer,
        flushMs: this.#options.flushMs ?? 2,
        flushBytes: this.#options.flushBytes ?? 256 * 1024,
        inbox,
        clockOffset: offset,
        forward: this.#options.forward,
      };
      const forward = this.#options.forward;
      worker.postMessage(init, forward?.port ? [forward.port] : []);
      this.#worker = worker;
      return true;
    } catch (error) {
      this.#fail(error instanceof Error ? error.message : String(error));
      return false;
    }
  }

  #receive(message: WorkerMessage): void {
    // Messages wait for the batch being fed to the taps: after it, in the order they came.
    if (this.#delivering) {
      this.#queued.push(message);
      return;
    }
    if (message.type === "batch") this.#deliver(message, new Float64Array(message.items), 0);
    else if (message.type === "settled") {
      const due = this.#settling.filter((s) => s.request <= message.request);
      this.#settling = this.#settling.filter((s) => s.request > message.request);
      for (const waiter of due) waiter.resolve();
      this.#keepAlive();
    } else if (message.type === "stopped") {
      this.#thread = message.thread;
      this.#onStopped?.();
    } else this.#fail(message.message);
  }

  /**
   * Feeds a batch to the taps, in the order the worker relayed it, from item `from` on. A batch
   * that takes longer than `sliceMs` to decode goes on in a later task, so timers and I/O of this
   * thread (accepting, logins, a recording's writes) are never held up longer than that: the
   * worker gathers a backlog into one batch, however far behind decoding is.
   */
  #deliver(batch: WorkerBatch, items: Float64Array, from: number): void {
    this.#delivering = true;
    const ring = this.#ring;
    const scratch = this.#scratch;
    // CLOCK_MONOTONIC minus this thread's performance.now(), measured at start.
    const origin = this.#clockOffset;
    const until = performance.now() + (this.#options.sliceMs ?? 5);
    let next = items.length;
    try {
      for (let i = from; i < items.length; i += 5) {
        // The clock is read every 32 chunks: a batch of a few milliseconds never reads it.
        if (i > from && (i / 5) % 32 === 0 && performance.now() >= until) {
          next = i;
          break;
        }
        const slot = this.#slots.get(items[i]);
        if (!slot) continue;
        const length = items[i + 3] - items[i + 2];
        scratch.set(ring.subarray(items[i + 2], items[i + 3]));
        const chunk = scratch.subarray(0, length);
        setRelayTime(items[i + 4] - origin);
        if (items[i + 1] === 0) {
          slot.sink.tap.client(chunk);
          slot.sink.onClientBytes(chunk.length);
        } else {
          slot.sink.tap.server(chunk);
          slot.sink.onServerBytes(chunk.length);
        }
      }
    } catch (error) {
      // Taps do not throw; if one did, the batch still ends (ring bytes back, closes resolved).
      next = items.length;
      throw error;
    } finally {
      setRelayTime(undefined);
      if (next < items.length) setTimeout(() => this.#deliver(batch, items, next), 0);
      else this.#delivered(batch);
    }
  }

  /** A batch went through the taps: its ring bytes go back, the worker may post the next. */
  #delivered(batch: WorkerBatch): void {
    const shared = this.#shared!;
    Atomics.sub(shared, Shared.inflight, batch.ringBytes);
    Atomics.sub(shared, Shared.batches, 1);
    Atomics.notify(shared, Shared.inflight);
    // Lowered after the count (see the worker's #mayPost): a worker holding a batch is woken.
    if (Atomics.exchange(shared, Shared.waiting, 0) === 1 && !this.#released) this.#wake();
    for (const note of batch.notes) {
      const slot = this.#slots.get(note.slot);
      if (slot?.generation === note.generation) slot.sink.tap.reattach?.(note.report);
    }
    for (const close of batch.closes) {
      const slot = this.#slots.get(close.slot);
      if (!slot || slot.generation !== close.generation) continue;
      this.#slots.delete(close.slot);
      Atomics.store(shared, Shared.slots + close.slot * SLOT_FIELDS, SlotState.Free);
      this.#freeSlots.push(close.slot);
      if (slot.detached) {
        slot.sink.onClientBytes(close.bytes[0]);
        slot.sink.onServerBytes(close.bytes[1]);
      }
      slot.resolve(close.ends.map(toPumpEnd));
    }
    this.#keepAlive();
    this.#delivering = false;
    while (!this.#delivering && this.#queued.length > 0) this.#receive(this.#queued.shift()!);
  }

  /** Whether the inbox surely has room for a state of `MAX_DETACHED_BYTES`, wrapping included. */
  #inboxRoom(): boolean {
    const free = this.#inbox.length - Atomics.load(this.#shared!, Shared.inboxUsed);
    return free >= 2 * (INBOX_HEADER + MAX_DETACHED_BYTES);
  }

  /**
   * Writes a detached tap's state to the inbox (see `INBOX_BYTES`); false when there is no room
   * (the tap then sees the bytes here, as undetached; not after `#inboxRoom()`).
   */
  #post(slot: number, generation: number, state: Uint8Array): boolean {
    const inbox = this.#inbox;
    const view = this.#inboxView;
    const length = INBOX_HEADER + Math.ceil(state.length / 4) * 4;
    if (this.#inboxAt === inbox.length) this.#inboxAt = 0;
    const skip = this.#inboxAt + length > inbox.length ? inbox.length - this.#inboxAt : 0;
    if (Atomics.load(this.#shared!, Shared.inboxUsed) + skip + length > inbox.length) return false;
    if (skip > 0) {
      view.setUint32(this.#inboxAt, 0, true);
      this.#inboxAt = 0;
    }
    const at = this.#inboxAt;
    view.setUint32(at, length, true);
    view.setUint32(at + 4, slot, true);
    view.setUint32(at + 8, generation, true);
    view.setUint32(at + 12, state.length, true);
    inbox.set(state, at + INBOX_HEADER);
    this.#inboxAt = at + length;
    Atomics.add(this.#shared!, Shared.inboxUsed, skip + length);
    return true;
  }

  /** Shuts a connection's sockets down, unless the worker has closed them already. */
  #shutdown(slot: number, generation: number): void {
    const shared = this.#shared!;
    const state = Shared.slots + slot * SLOT_FIELDS + SlotField.state;
    if (this.#slots.get(slot)?.generation !== generation) return;
    if (Atomics.compareExchange(shared, state, SlotState.Open, SlotState.Busy) !== SlotState.Open) {
      return;
    }
    const { fds } = this.#slots.get(slot)!;
    this.#libc!.symbols.shutdown(fds[0], SHUT_RDWR);
    this.#libc!.symbols.shutdown(fds[1], SHUT_RDWR);
    Atomics.store(shared, state, SlotState.Stopping);
    Atomics.notify(shared, state);
  }

  /** The worker died: every connection it had ends with the reason, new ones use `pump()`. */
  #fail(message: string): void {
    if (this.#failed !== undefined) return;
    this.#failed = message;
    this.#options.logger.log(
      "error",
      "relay-failed",
      `The epoll relay failed, new connections use the Deno relay: ${message}`,
    );
    const error = new Error(`The epoll relay failed: ${message}`);
    for (const slot of this.#slots.values()) {
      slot.resolve([{ kind: "read-error", error }, { kind: "stopped" }]);
    }
    this.#slots.clear();
    for (const waiter of this.#settling.splice(0)) waiter.resolve();
    this.#keepAlive();
    this.#onStopped?.();
  }

  async #release(): Promise<void> {
    for (const waiter of this.#settling.splice(0)) waiter.resolve();
    this.#keepAlive();
    this.#worker?.terminate();
    this.#released = true;
    if (this.#libc) {
      this.#libc.symbols.close(this.#epollFd);
      this.#libc.symbols.close(this.#wakeFd);
      this.#libc.close();
    }
    // The thread closes its runtime's own descriptors as it exits: wait for that (up to a
    // second), so that a closed proxy has given everything back.
    for (let i = 0; i < 1000 && this.#thread > 0 && threadAlive(this.#thread); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Removes a socket from the epoll instance of Deno's runtime on this thread. */
  #detachFromDeno(fd: number): void {
    const { epoll_ctl } = this.#libc!.symbols;
    const event = new Uint8Array(this.#event.buffer);
    if (this.#denoEpollFd >= 0 && epoll_ctl(this.#denoEpollFd, EPOLL_CTL_DEL, fd, event) === 0) {
      return;
    }
    // Found once: the epoll instance whose watch list (in /proc/self/fdinfo) holds this socket.
    for (const entry of readDirQuietly("/proc/self/fd")) {
      const candidate = Number(entry.name);
      if (!Number.isInteger(candidate) || candidate === this.#epollFd) continue;
      let info: string;
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${candidate}`) !== "anon_inode:[eventpoll]") continue;
        info = Deno.readTextFileSync(`/proc/self/fdinfo/${candidate}`);
      } catch {
        continue;
      }
      if (!new RegExp(`^tfd:\\s+${fd}\\s`, "m").test(info)) continue;
      if (epoll_ctl(candidate, EPOLL_CTL_DEL, fd, event) === 0) {
        this.#denoEpollFd = candidate;
        return;
      }
    }
  }

  /** The descriptors of sockets named by `local|remote` keys, in the order asked. */
  #findDescriptors(wanted: string[]): number[] | undefined {
    const found: number[] = wanted.map(() => -1);
    let missing = wanted.length;
    for (const entry of readDirQuietly("/proc/self/fd")) {
      const fd = Number(entry.name);
      if (!Number.isInteger(fd) || fd < 3) continue;
      const local = this.#addressOf(fd, "getsockname");
      if (local === undefined) continue;
      const index = wanted.indexOf(`${local}|${this.#addressOf(fd, "getpeername")}`);
      if (index === -1 || found[index] !== -1) continue;
      found[index] = fd;
      if (--missing === 0) return found;
    }
    return undefined;
  }

  /** `127.0.0.1:3306` for an IPv4 socket's own or peer address; undefined otherwise. */
  #addressOf(fd: number, call: "getsockname" | "getpeername"): string | undefined {
    const address = this.#address;
    this.#addressLength[0] = address.length;
    const length = new Uint8Array(this.#addressLength.buffer);
    if (this.#libc!.symbols[call](fd, address, length) !== 0) return undefined;
    if ((address[0] | (address[1] << 8)) !== AF_INET) return undefined;
    return `${address[4]}.${address[5]}.${address[6]}.${address[7]}:${
      (address[2] << 8) | address[3]
    }`;
  }
}

/** `local|remote` of an IPv4 TCP connection; undefined for anything else. */
function socketKey(conn: Deno.Conn): string | undefined {
  const { localAddr, remoteAddr } = conn;
  if (localAddr.transport !== "tcp" || remoteAddr.transport !== "tcp") return undefined;
  if (!isIpv4(localAddr.hostname) || !isIpv4(remoteAddr.hostname)) return undefined;
  return `${localAddr.hostname}:${localAddr.port}|${remoteAddr.hostname}:${remoteAddr.port}`;
}

function threadAlive(thread: number): boolean {
  try {
    Deno.statSync(`/proc/self/task/${thread}`);
    return true;
  } catch {
    return false;
  }
}

function readDirQuietly(path: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(path)];
  } catch {
    return [];
  }
}

function isIpv4(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

function toPumpEnd(end: DirectionEnd): PumpEnd {
  if (end.kind === "eof" || end.kind === "stopped") return { kind: end.kind };
  return { kind: end.kind, error: new Error(end.message) };
}
