/**
 * When work that is meant to use only spare CPU should step aside. The comparing side of
 * `proxy --compare` runs in the idle scheduling class, so the scheduler never gives it a core the
 * relay or the server wants; but merely being runnable is not free. On a virtual machine whose
 * idle cores poll (cpuidle-haltpoll), a core busy with idle-class work has to be interrupted to
 * run a woken thread where a polling one would just notice it: measured (BENCHMARKS.md, ninth
 * session), an idle-class busy loop on each core, which gets 3% of the CPU at saturation, costs the
 * proxy 8% of its queries per second, as much as the whole comparison did.
 *
 * So the work goes in slices, and each slice measures how much of its wall-clock time the thread
 * was actually given. A slice that got less than {@link SpareTimeOptions.minShare} of it ran
 * on a busy machine: the work pauses before the next slice, a little longer each time the machine
 * is still busy, until a slice runs freely again. Under saturation the comparison then falls
 * behind (bounded by `maxBehindBytes`, as before) and catches up once the burst is over. At a load
 * the machine carries easily it still pauses now and then (at 3000 point selects a second, half
 * of both cores idle: 40-60 pauses in 10 s, when threads woken on its core take most of a slice)
 * and catches up between them.
 *
 * @module
 */

import { threadCpuClock } from "../net/epoll/libc.ts";

/** Options of {@link SpareTime}. */
export interface SpareTimeOptions {
  /** CPU time this thread has used, milliseconds (its clock, not the process's). */
  threadCpu: () => number;
  /** Wall-clock time, milliseconds; `performance.now()` by default. */
  now?: () => number;
  /** A slice's wall-clock length (default 5 ms). */
  sliceMs?: number;
  /** Share of a slice's wall-clock time below which the machine is busy (default 0.5). */
  minShare?: number;
  /** The first pause on a busy machine (default 20 ms); each next one doubles. */
  minPauseMs?: number;
  /** The longest pause (default 320 ms). */
  maxPauseMs?: number;
}

/**
 * Slices of work that pause while the machine is busy (see the module's note).
 *
 * @example
 * ```ts
 * import { SpareTime } from "./spare_time.ts";
 * let cpu = 0, wall = 0;
 * const spare = new SpareTime({ threadCpu: () => cpu, now: () => wall });
 * spare.begin();
 * wall += 6; // the slice took 6 ms and got 1 ms of CPU: the machine is busy
 * cpu += 1;
 * console.assert(spare.due());
 * console.assert(spare.end() === 20);
 * ```
 */
export class SpareTime {
  #threadCpu: () => number;
  #now: () => number;
  #sliceMs: number;
  #minShare: number;
  #minPauseMs: number;
  #maxPauseMs: number;
  #wallStart = 0;
  #cpuStart = 0;
  #pause = 0;
  #paused = 0;
  #pauses = 0;

  constructor(options: SpareTimeOptions) {
    this.#threadCpu = options.threadCpu;
    this.#now = options.now ?? (() => performance.now());
    this.#sliceMs = options.sliceMs ?? 5;
    this.#minShare = options.minShare ?? 0.5;
    this.#minPauseMs = options.minPauseMs ?? 20;
    this.#maxPauseMs = options.maxPauseMs ?? 320;
  }

  /** Starts a slice. */
  begin(): void {
    this.#wallStart = this.#now();
    this.#cpuStart = this.#threadCpu();
  }

  /** Whether the slice begun last has run its length. */
  due(): boolean {
    return this.#now() - this.#wallStart >= this.#sliceMs;
  }

  /**
   * Ends a slice that ran its length (see {@link due}): how long to pause before the next, in
   * milliseconds, 0 when the machine has time to spare.
   */
  end(): number {
    const wall = this.#now() - this.#wallStart;
    const share = wall > 0 ? (this.#threadCpu() - this.#cpuStart) / wall : 1;
    if (share >= this.#minShare) {
      this.#pause = 0;
      return 0;
    }
    this.#pause = this.#pause === 0
      ? this.#minPauseMs
      : Math.min(this.#pause * 2, this.#maxPauseMs);
    this.#paused += this.#pause;
    this.#pauses++;
    return this.#pause;
  }

  /** Pauses so far, and their total length in milliseconds (for a debug line or a test). */
  get paused(): { count: number; ms: number } {
    return { count: this.#pauses, ms: this.#paused };
  }
}

/**
 * A {@link SpareTime} on the calling thread's CPU clock, or undefined where that clock cannot be
 * read (no FFI): the work then goes on as it comes.
 *
 * @example
 * ```ts ignore
 * const spare = spareTime();
 * ```
 */
export function spareTime(): SpareTime | undefined {
  const threadCpu = threadCpuClock();
  return threadCpu && new SpareTime({ threadCpu });
}
