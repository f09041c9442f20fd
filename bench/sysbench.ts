/**
 * Running sysbench and reading its report, and the CPU time of processes from /proc.
 *
 * @module
 */

/** How sysbench connects and how much it does. */
export interface SysbenchConfig {
  user: string;
  password: string;
  threads: number;
  /** Seconds per run. */
  time: number;
  tables: number;
  tableSize: number;
  /**
   * Events per second for all threads together (sysbench `--rate`); absent: as fast as it goes.
   * At a fixed rate the latencies say what a target adds, not how it copes with saturation.
   */
  rate?: number;
}

/** What one `sysbench ... run` reported. */
export interface SysbenchResult {
  queries: number;
  qps: number;
  /** Latency 95th percentile in milliseconds (sysbench's own). */
  p95Ms: number;
  /** Latency percentiles in milliseconds from sysbench's histogram. */
  latencyMs: { p50: number; p95: number; p99: number };
  seconds: number;
  ignoredErrors: number;
  reconnects: number;
}

/** CPU time in milliseconds of the process that relays, MariaDB, and sysbench. */
export interface CpuSample {
  target?: number;
  /** The kernel's part of `target`: syscalls and the TCP stack. */
  targetSystem?: number;
  mariadb: number;
  sysbench: number;
  /** `machineBusyMs()` */
  machine: number;
  /** `performance.now()` */
  wall: number;
}

function connectionArgs(port: number, config: SysbenchConfig): string[] {
  return [
    "--db-driver=mysql",
    "--mysql-host=127.0.0.1",
    `--mysql-port=${port}`,
    `--mysql-user=${config.user}`,
    `--mysql-password=${config.password}`,
    "--mysql-db=sbtest",
    // Plain TCP, so every target carries the same bytes and the proxy needs no certificate.
    "--mysql-ssl=off",
    "--db-ps-mode=auto",
    `--tables=${config.tables}`,
    `--table-size=${config.tableSize}`,
  ];
}

async function sysbench(args: string[], signal: AbortSignal): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("sysbench", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    const detail = (new TextDecoder().decode(stderr) + text).trim().split("\n").slice(-15);
    throw new Error(`Cannot run sysbench ${args[0]}: exit code ${code}\n${detail.join("\n")}`);
  }
  return text;
}

/** Creates and fills the sbtest tables through `port`. */
export async function prepare(
  port: number,
  config: SysbenchConfig,
  signal: AbortSignal,
): Promise<void> {
  const threads = Math.min(config.tables, config.threads);
  await sysbench(
    ["oltp_point_select", ...connectionArgs(port, config), `--threads=${threads}`, "prepare"],
    signal,
  );
}

/** Runs `workload` (e.g. `oltp_point_select`) for `config.time` seconds against `port`. */
export async function run(
  workload: string,
  port: number,
  config: SysbenchConfig,
  signal: AbortSignal,
): Promise<SysbenchResult> {
  const args = [
    workload,
    ...connectionArgs(port, config),
    `--threads=${config.threads}`,
    `--time=${config.time}`,
    "--events=0",
    "--report-interval=0",
    "--percentile=95",
    "--histogram=on",
    ...(config.rate === undefined ? [] : [`--rate=${config.rate}`]),
    "run",
  ];
  return parseReport(await sysbench(args, signal));
}

function field(report: string, pattern: RegExp, name: string): number {
  const match = report.match(pattern);
  if (!match) throw new SyntaxError(`Cannot parse the sysbench report: no ${name}\n${report}`);
  return Number(match[1]);
}

/**
 * Percentiles from the `--histogram` lines of a report (`       0.243 |**     3`): the bucket
 * value below which that share of the events falls. NaN for each when there is no histogram.
 */
export function histogramPercentiles(report: string): { p50: number; p95: number; p99: number } {
  const buckets = [...report.matchAll(/^\s*([\d.]+) \|\**\s+(\d+)$/gm)]
    .map((match) => ({ value: Number(match[1]), count: Number(match[2]) }));
  const total = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
  const at = (share: number) => {
    let seen = 0;
    for (const bucket of buckets) {
      seen += bucket.count;
      if (seen >= share * total) return bucket.value;
    }
    return NaN;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Reads the figures out of the text report of `sysbench ... run`. */
export function parseReport(report: string): SysbenchResult {
  const queries = report.match(/^\s*queries:\s+(\d+)\s+\(([\d.]+) per sec\.\)/m);
  if (!queries) throw new SyntaxError(`Cannot parse the sysbench report: no queries\n${report}`);
  return {
    queries: Number(queries[1]),
    qps: Number(queries[2]),
    p95Ms: field(report, /^\s*95th percentile:\s+([\d.]+)/m, "95th percentile"),
    latencyMs: histogramPercentiles(report),
    seconds: field(report, /^\s*total time:\s+([\d.]+)s/m, "total time"),
    ignoredErrors: field(report, /^\s*ignored errors:\s+(\d+)/m, "ignored errors"),
    reconnects: field(report, /^\s*reconnects:\s+(\d+)/m, "reconnects"),
  };
}

/** Clock ticks per second of /proc/<pid>/stat; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** Fields after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number | "self"): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** utime and stime of `pid`, all threads, in milliseconds. */
export function cpuMs(pid: number): { user: number; system: number } {
  const fields = statFields(pid);
  // Fields 14 and 15 of proc(5); the slice starts at field 3.
  return {
    user: Number(fields[11]) * 1000 / CLOCK_TICKS,
    system: Number(fields[12]) * 1000 / CLOCK_TICKS,
  };
}

function totalCpuMs(pid: number): number {
  const { user, system } = cpuMs(pid);
  return user + system;
}

/**
 * cutime + cstime of this process: the CPU time of its children once waited for. Between two
 * samples the only child that ends is sysbench, so the difference is sysbench's CPU time.
 */
export function childrenCpuMs(): number {
  const fields = statFields("self");
  return (Number(fields[13]) + Number(fields[14])) * 1000 / CLOCK_TICKS;
}

/**
 * Busy time of all CPUs together in milliseconds, from the first line of /proc/stat: everything
 * but idle and iowait, steal included. Less the processes measured, it shows how much else ran
 * meanwhile, the hypervisor's other guests included.
 */
export function machineBusyMs(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.split(/\s+/).slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) * 1000 / CLOCK_TICKS;
}

/** The thread ids of `pid`, from /proc/<pid>/task; none when the process is gone. */
function threadIds(pid: number): string[] {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/task`)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

/**
 * As {@link cpuMs}, with the processes `pid` started and that still run (the comparing process of
 * `proxy --compare`), from /proc/<pid>/task/<tid>/children.
 */
export function treeCpuMs(pid: number): { user: number; system: number } {
  const total = cpuMs(pid);
  for (const thread of threadIds(pid)) {
    let children: number[] = [];
    try {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${thread}/children`);
      children = text.split(" ").filter(Boolean).map(Number);
    } catch {
      continue; // the thread has ended
    }
    for (const child of children) {
      try {
        const { user, system } = treeCpuMs(child);
        total.user += user;
        total.system += system;
      } catch {
        // The child has ended.
      }
    }
  }
  return total;
}

/**
 * The CPU time so far of the target's process (with its children), MariaDB and this process's
 * finished children.
 */
export function sampleCpu(targetPid: number | undefined, mariadbPid: number): CpuSample {
  const target = targetPid === undefined ? undefined : treeCpuMs(targetPid);
  return {
    target: target && target.user + target.system,
    targetSystem: target?.system,
    mariadb: totalCpuMs(mariadbPid),
    sysbench: childrenCpuMs(),
    machine: machineBusyMs(),
    wall: performance.now(),
  };
}

/** Nanoseconds a thread spent on a CPU and runnable but waiting for one. */
export interface ThreadTimes {
  runNs: number;
  waitNs: number;
}

/**
 * The scheduler's times of each thread of `pid` (not of its children), by thread id, from
 * /proc/<pid>/task/<tid>/schedstat. Empty when the process is gone.
 */
export function threadTimes(pid: number): Map<string, ThreadTimes> {
  const times = new Map<string, ThreadTimes>();
  for (const thread of threadIds(pid)) {
    try {
      const [run, wait] = Deno.readTextFileSync(`/proc/${pid}/task/${thread}/schedstat`)
        .split(" ").map(Number);
      times.set(thread, { runNs: run, waitNs: wait });
    } catch {
      // The thread has ended.
    }
  }
  return times;
}

/**
 * The thread of `pid` that ran longest between two {@link threadTimes} samples (the thread that
 * relays, in a proxy), with what it ran and waited meanwhile; undefined when none ran.
 */
export function busiestThread(
  before: Map<string, ThreadTimes>,
  after: Map<string, ThreadTimes>,
): ThreadTimes | undefined {
  let busiest: ThreadTimes | undefined;
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { runNs: 0, waitNs: 0 };
    const spent = { runNs: end.runNs - start.runNs, waitNs: end.waitNs - start.waitNs };
    if (!busiest || spent.runNs > busiest.runNs) busiest = spent;
  }
  return busiest?.runNs ? busiest : undefined;
}
