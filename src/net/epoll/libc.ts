/**
 * The few Linux system calls the epoll relay makes, through Deno's FFI. Sync calls only: they
 * are V8 fast calls (tens of nanoseconds), where a Deno async op costs a promise, a Tokio task
 * and a wake-up per read and per write.
 *
 * @module
 */

/** The symbols, as `Deno.dlopen` declares them. */
const SYMBOLS = {
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  gettid: { parameters: [], result: "i32" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  getpriority: { parameters: ["i32", "u32"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The opened C library. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLL_CLOEXEC = 0o2000000;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const EINTR = 4;
const ESRCH = 3;
export const EAGAIN = 11;
export const AF_INET = 2;

/** Messages of the errors a relay meets, worded as Deno's own (`(os error N)` included). */
const ERRNO_TEXT: Record<number, string> = {
  32: "Broken pipe",
  104: "Connection reset by peer",
  110: "Connection timed out",
  113: "No route to host",
};

/** `Connection reset by peer (os error 104)`. */
export function errnoMessage(errno: number): string {
  return `${ERRNO_TEXT[errno] ?? "System call failed"} (os error ${errno})`;
}

/**
 * Size of `struct epoll_event` and where its 64-bit `data` sits: packed on x86-64 (12 bytes),
 * naturally aligned elsewhere (16 bytes).
 */
export const EPOLL_EVENT = Deno.build.arch === "x86_64"
  ? { size: 12, data: 4 }
  : { size: 16, data: 8 };

/**
 * Why the epoll relay cannot run here, or undefined when it can: Linux only, and the FFI
 * permission (`-A` or `--allow-ffi`) granted.
 */
export function epollUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return `epoll is Linux-only (this is ${Deno.build.os})`;
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return `untested architecture ${Deno.build.arch}`;
  }
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return "no FFI permission (--allow-ffi)";
    }
  } catch {
    return "the FFI permission cannot be queried";
  }
  return undefined;
}

/** Opens the C library; close it with `close()` when done. */
export function openLibc(): Libc {
  return Deno.dlopen("libc.so.6", SYMBOLS);
}

const CLOCK_MONOTONIC = 1;

/**
 * A reader of CLOCK_MONOTONIC in milliseconds: the clock Deno's `performance.now()` counts on,
 * but the same in every thread (each thread's `performance.now()` has its own zero).
 */
export function monotonicClock(libc: Libc): () => number {
  return clockReader(libc, CLOCK_MONOTONIC);
}

/** A reader of clock `id` (`clock_gettime`) in milliseconds. */
function clockReader(libc: Libc, id: number): () => number {
  const time = new BigInt64Array(2);
  const bytes = new Uint8Array(time.buffer);
  return () => {
    libc.symbols.clock_gettime(id, bytes);
    return Number(time[0]) * 1000 + Number(time[1]) / 1e6;
  };
}

const CLOCK_THREAD_CPUTIME_ID = 3;

/**
 * A reader of the calling thread's CPU time in milliseconds (CLOCK_THREAD_CPUTIME_ID), or
 * undefined where FFI is not allowed. The library stays open for the reader's lifetime.
 *
 * @example
 * ```ts ignore
 * const cpu = threadCpuClock();
 * if (cpu) console.debug(`${cpu().toFixed(1)} ms of CPU so far`);
 * ```
 */
export function threadCpuClock(): (() => number) | undefined {
  if (epollUnavailable() !== undefined) return undefined;
  return clockReader(openLibc(), CLOCK_THREAD_CPUTIME_ID);
}

const PRIO_PROCESS = 0;

/**
 * Puts the calling thread in the idle scheduling class (`SCHED_IDLE`): it runs only on a core
 * nothing else wants, and never preempts a normal thread when it wakes. Linux lets any thread
 * lower itself so; with a thread id, the call acts on that thread alone. Where that fails, nice
 * `nice` (never raised). For work that must never hold up forwarding. Returns why it could do
 * neither, or undefined.
 *
 * @example
 * ```ts ignore
 * const why = idleThreadPriority(10);
 * if (why) console.debug(`comparing at normal priority: ${why}`);
 * ```
 */
export function idleThreadPriority(nice: number): string | undefined {
  return idlePriority(nice, (libc) => [libc.symbols.gettid()]);
}

/**
 * As {@link idleThreadPriority}, for every thread of this process (threads started later inherit
 * the class of the thread that starts them): for a process that works for another, such as the
 * comparing process of `proxy --compare`, whose runtime and garbage collector threads must not
 * compete with the relay either. Needs read access to `/proc/self/task` (Deno asks `-A` for it).
 *
 * @example
 * ```ts ignore
 * const why = idleProcessPriority(10);
 * ```
 */
export function idleProcessPriority(nice: number): string | undefined {
  return idlePriority(nice, () => {
    const threads: number[] = [];
    for (const entry of Deno.readDirSync("/proc/self/task")) threads.push(Number(entry.name));
    return threads;
  });
}

const SCHED_IDLE = 5;

function idlePriority(nice: number, threads: (libc: Libc) => number[]): string | undefined {
  const unavailable = epollUnavailable();
  if (unavailable !== undefined) return unavailable;
  const libc = openLibc();
  try {
    const errno = errnoReader(libc);
    const param = new Uint8Array(4); // struct sched_param: priority 0, the only one SCHED_IDLE has
    for (const thread of threads(libc)) {
      if (libc.symbols.sched_setscheduler(thread, SCHED_IDLE, param) === 0) continue;
      if (errno() === ESRCH) continue; // the thread has ended
      if (libc.symbols.getpriority(PRIO_PROCESS, thread) >= nice) continue;
      if (libc.symbols.setpriority(PRIO_PROCESS, thread, nice) !== 0) {
        const error = errno();
        if (error === ESRCH) continue;
        return `setpriority failed: ${errnoMessage(error)}`;
      }
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    libc.close();
  }
}

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const MFD_CLOEXEC = 1;
const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;
const SEEK_END = 2;

/** Memory mapped in this process, which another may map too (see {@link createSharedMemory}). */
export interface SharedMemory {
  /** Where it is mapped here: any thread of this process can view it ({@link sharedMemoryAt}). */
  pointer: bigint;
  /** Its length in bytes. */
  bytes: number;
}

/**
 * Makes `bytes` of memory (zeroed, its pages taken only once touched) that another process of
 * this user maps by `path` ({@link mapSharedMemory}) while `fd` is open: an anonymous file
 * (`memfd_create`), so nothing is left behind on any file system when both are gone. Close `fd`
 * ({@link closeDescriptor}) once the other process has mapped it; unmap with
 * {@link unmapSharedMemory}.
 *
 * @example
 * ```ts ignore
 * const memory = createSharedMemory("relay-forward", 1 << 20);
 * ```
 */
export function createSharedMemory(
  name: string,
  bytes: number,
): SharedMemory & { path: string; fd: number } {
  const libc = openLibc();
  try {
    const errno = errnoReader(libc);
    const fd = libc.symbols.memfd_create(cString(name), MFD_CLOEXEC);
    if (fd < 0) throw new Error(`Cannot make shared memory: ${errnoMessage(errno())}`);
    try {
      if (libc.symbols.ftruncate(fd, BigInt(bytes)) !== 0) {
        throw new Error(`Cannot size shared memory: ${errnoMessage(errno())}`);
      }
      // Another process opens it by this name, which needs /proc (not mounted in some sandboxes):
      // better to know now, and send the bytes another way, than to have that process fail.
      const path = `/proc/${Deno.pid}/fd/${fd}`;
      const named = libc.symbols.open(cString(path), O_RDWR | O_CLOEXEC, 0);
      if (named < 0) {
        throw new Error(`Cannot name shared memory as ${path}: ${errnoMessage(errno())}`);
      }
      libc.symbols.close(named);
      const pointer = mapShared(libc, fd, bytes);
      return { pointer, bytes, fd, path };
    } catch (error) {
      libc.symbols.close(fd);
      throw error;
    }
  } finally {
    libc.close();
  }
}

/**
 * Maps the memory another process made with {@link createSharedMemory}, by its path, whole.
 *
 * @example
 * ```ts ignore
 * const memory = mapSharedMemory(Deno.args[0]);
 * ```
 */
export function mapSharedMemory(path: string): SharedMemory {
  const libc = openLibc();
  try {
    const errno = errnoReader(libc);
    const fd = libc.symbols.open(cString(path), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) throw new Error(`Cannot open the shared memory ${path}: ${errnoMessage(errno())}`);
    try {
      const bytes = Number(libc.symbols.lseek(fd, 0n, SEEK_END));
      if (bytes <= 0) throw new Error(`The shared memory ${path} is empty`);
      return { pointer: mapShared(libc, fd, bytes), bytes };
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
}

function mapShared(libc: Libc, fd: number, bytes: number): bigint {
  const pointer = libc.symbols.mmap(null, BigInt(bytes), PROT_READ_WRITE, MAP_SHARED, fd, 0n);
  const value = BigInt(Deno.UnsafePointer.value(pointer));
  // MAP_FAILED is (void *) -1.
  if (value === 0n || value === 0xffff_ffff_ffff_ffffn) {
    throw new Error(`Cannot map shared memory: ${errnoMessage(errnoReader(libc)())}`);
  }
  return value;
}

/**
 * The mapped memory as an `ArrayBuffer`, in any thread of the process that mapped it (valid until
 * it is unmapped: a view used after that crashes the process).
 */
export function sharedMemoryAt(memory: SharedMemory): ArrayBuffer {
  const pointer = Deno.UnsafePointer.create(memory.pointer);
  if (pointer === null) throw new TypeError("No shared memory at address 0");
  return Deno.UnsafePointerView.getArrayBuffer(pointer, memory.bytes);
}

/** Unmaps what {@link createSharedMemory} or {@link mapSharedMemory} mapped. */
export function unmapSharedMemory(memory: SharedMemory): void {
  const libc = openLibc();
  try {
    libc.symbols.munmap(Deno.UnsafePointer.create(memory.pointer), BigInt(memory.bytes));
  } finally {
    libc.close();
  }
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/** Closes a descriptor this process opened through FFI. */
export function closeDescriptor(fd: number): void {
  const libc = openLibc();
  try {
    libc.symbols.close(fd);
  } finally {
    libc.close();
  }
}

/** Reads `errno` of the calling thread right after a failed call. */
export function errnoReader(libc: Libc): () => number {
  const pointer = libc.symbols.__errno_location();
  if (pointer === null) return () => 0;
  const view = new Deno.UnsafePointerView(pointer);
  return () => view.getInt32();
}

/** Writes one `struct epoll_event` into `into` at `offset`. */
export function writeEpollEvent(
  into: DataView,
  offset: number,
  events: number,
  data: number,
): void {
  into.setUint32(offset, events, true);
  into.setUint32(offset + EPOLL_EVENT.data, data, true);
  into.setUint32(offset + EPOLL_EVENT.data + 4, 0, true);
}
