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
 * A slice's share alone does not keep the work off a saturated machine: its cores still idle now
 * and then (3-5% of the time at saturation here), a slice that lands in such gaps gets its time,
 * and the work goes on in them, at the price above (BENCHMARKS.md, eleventh session: 1.5-3.9
 * cpu-ms per 1000 queries). So where the kernel says how busy all cores were (`/proc/stat`), a
 * pause ends only if they were idle at least {@link SpareTimeOptions.minIdle} of it; else it
 * goes on, as long again (see {@link SpareTime.resume}). While the work pauses it does not run,
 * so what the cores did meanwhile is what everything else needs.
 *
 * @module
 */

import { threadCpuClock } from "../net/epoll/libc.ts";

/** Idle and busy time of all the machine's cores together so far, in milliseconds. */
export interface MachineTime {
  idle: number;
  busy: number;
}

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
  /**
   * How busy the machine's cores have been (see {@link machineTime}); undefined, or a call that
   * returns undefined: pauses end as scheduled.
   */
  machineTime?: () => MachineTime | undefined;
  /** Share of the cores' time a pause must have found idle for the work to go on (default 0.1). */
  minIdle?: number;
}

/**
 * Machine time a pause must span before its idle share is trusted: `/proc/stat` counts in
 * hundredths of a second, so a pause of 20 ms on two cores is four counts.
 */
const MIN_MACHINE_MS = 100;

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
  #machineTime: (() => MachineTime | undefined) | undefined;
  #minIdle: number;
  #machineAt: MachineTime | undefined;
  #pause = 0;
  #paused = 0;
  #pauses = 0;
  #extended = 0;

  constructor(options: SpareTimeOptions) {
    this.#threadCpu = options.threadCpu;
    this.#now = options.now ?? (() => performance.now());
    this.#sliceMs = options.sliceMs ?? 5;
    this.#minShare = options.minShare ?? 0.5;
    this.#minPauseMs = options.minPauseMs ?? 20;
    this.#maxPauseMs = options.maxPauseMs ?? 320;
    this.#machineTime = options.machineTime;
    this.#minIdle = options.minIdle ?? 0.1;
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
    this.#machineAt = this.#machineTime?.();
    return this.#longer();
  }

  /**
   * Called when a pause {@link end} (or this) asked for is over: how much longer to pause, 0 when
   * the next slice may run. A pause goes on while the machine's cores were idle less than
   * {@link SpareTimeOptions.minIdle} of it, each time as long again as the last, up to the
   * longest pause; one too short to tell (under 100 ms of all cores' time) ends as scheduled.
   */
  resume(): number {
    const before = this.#machineAt;
    const after = this.#machineAt = this.#machineTime?.();
    if (before === undefined || after === undefined) return 0;
    const idle = after.idle - before.idle;
    const all = idle + after.busy - before.busy;
    if (all < MIN_MACHINE_MS || idle >= all * this.#minIdle) return 0;
    this.#extended++;
    return this.#longer();
  }

  #longer(): number {
    this.#pause = this.#pause === 0
      ? this.#minPauseMs
      : Math.min(this.#pause * 2, this.#maxPauseMs);
    this.#paused += this.#pause;
    this.#pauses++;
    return this.#pause;
  }

  /**
   * Pauses so far, their total length in milliseconds, and how many of them went on because the
   * machine's cores had no idle time to spare (for a debug line or a test).
   */
  get paused(): { count: number; ms: number; extended: number } {
    return { count: this.#pauses, ms: this.#paused, extended: this.#extended };
  }
}

/**
 * Reads how busy all the machine's cores have been from the first line of `/proc/stat`: idle and
 * iowait are idle; user, nice, system, irq and softirq busy; the time the hypervisor gave other
 * guests (steal) neither. Undefined where there is no such file to read (not Linux, or no read
 * permission), and each call undefined if a read fails.
 *
 * @example
 * ```ts
 * import { machineTime } from "./spare_time.ts";
 * const read = machineTime();
 * const now = read?.();
 * console.assert(now === undefined || now.idle >= 0);
 * ```
 */
export function machineTime(): (() => MachineTime | undefined) | undefined {
  const read = (): MachineTime | undefined => {
    try {
      const line = Deno.readTextFileSync("/proc/stat");
      const end = line.indexOf("\n");
      const [user, nice, system, idle, iowait, irq, softirq] = line.slice(0, end).split(/\s+/)
        .slice(1, 8).map(Number);
      const ms = 1000 / CLOCK_TICKS;
      const time = {
        idle: (idle + iowait) * ms,
        busy: (user + nice + system + irq + softirq) * ms,
      };
      return Number.isFinite(time.idle + time.busy) ? time : undefined;
    } catch {
      return undefined;
    }
  };
  return read() === undefined ? undefined : read;
}

/** `/proc/stat` counts in USER_HZ, 100 on every Linux architecture Deno runs on. */
const CLOCK_TICKS = 100;

/**
 * A {@link SpareTime} on the calling thread's CPU clock, whose pauses go on while the machine's
 * cores have no idle time where `/proc/stat` says so; undefined where that clock cannot be read
 * (no FFI): the work then goes on as it comes.
 *
 * @example
 * ```ts ignore
 * const spare = spareTime();
 * ```
 */
export function spareTime(): SpareTime | undefined {
  const threadCpu = threadCpuClock();
  return threadCpu && new SpareTime({ threadCpu, machineTime: machineTime() });
}
