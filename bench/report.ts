/**
 * Turning measurements into figures: medians and ranges per target, ratios against the
 * references, the goals from the issues, and the facts about the machine.
 *
 * @module
 */
import type { SysbenchResult } from "./sysbench.ts";

/** One sysbench run against one target, with the CPU time each process spent meanwhile. */
export interface Measurement extends SysbenchResult {
  round: number;
  workload: string;
  target: string;
  /** 1 unless earlier attempts were repeated for noise. */
  attempt: number;
  /** CPU milliseconds per 1000 queries; `target` (and its kernel part) is absent for `direct`. */
  cpuPer1k: { target?: number; targetSystem?: number; mariadb: number; sysbench: number };
  /**
   * Busy CPU time not spent by the target, MariaDB or sysbench, as a share of all cores: other
   * work on the machine, interrupt time the kernel charges to no process, and on a virtual machine
   * the time the hypervisor gave to others (steal). High means noisy.
   */
  otherCpuShare: number;
  /**
   * The target's thread that ran longest (the one that relays): its CPU milliseconds per 1000
   * queries, and the microseconds per query it was runnable but waited for a CPU (what other
   * threads took from it: the part of a delay a target's own CPU time does not show).
   */
  busiestThread?: { cpuPer1k: number; waitUsPerQuery: number };
  /**
   * How long the target stayed busy after sysbench stopped (catching up on deferred work), when
   * that was at least one look of half a second; its CPU then is in `cpuPer1k.target`.
   */
  catchUpMs?: number;
}

/** Median, min and max of a series. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The figures of one target on one workload. */
export interface TargetSummary {
  qps: Spread;
  p95Ms: Spread;
  cpuPer1k: { target?: number; targetSystem?: number; mariadb: number; sysbench: number };
  otherCpuShare: Spread;
  /** Medians of sysbench's histogram percentiles. */
  latencyMs: { p50: number; p95: number; p99: number };
  /** Medians of {@link Measurement.busiestThread}. */
  busiestThread?: { cpuPer1k: number; waitUsPerQuery: number };
  ignoredErrors: number;
  reconnects: number;
}

/**
 * `subject` QPS over `reference` QPS: of the medians, and the same-round ratios' range and
 * {@link medianInterval} (absent with fewer than 6 rounds).
 */
export interface Ratio {
  workload: string;
  subject: string;
  reference: string;
  ratio: number;
  perRound: Spread;
  interval?: Interval;
}

/** A confidence interval, and the probability that it holds what it estimates. */
export interface Interval {
  low: number;
  high: number;
  level: number;
}

/** A target from the issues: `subject` must reach `min` times `reference` on `workload`. */
export interface Goal {
  subject: string;
  reference: string;
  workload: string;
  min: number;
}

/** "haproxy-best" is whichever haproxy configuration was faster in this run. */
export const GOALS: readonly Goal[] = [
  { subject: "proxy", reference: "haproxy-best", workload: "oltp_point_select", min: 1.0 },
  { subject: "record", reference: "haproxy-best", workload: "oltp_point_select", min: 0.9 },
  { subject: "replay", reference: "direct", workload: "oltp_point_select", min: 1.0 },
  // proxy --compare: comparing must not delay traffic beyond the proxy's own cost (issue 5).
  { subject: "compare", reference: "proxy", workload: "oltp_point_select", min: 0.95 },
];

/** Median, min and max of a series. */
export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * A distribution-free confidence interval for the median of `values` (their k-th smallest and
 * k-th largest, k as large as keeps the coverage at least `level`, from the binomial law of how
 * many values fall below the median); undefined when even the smallest and largest cover less
 * (95%: fewer than 6 values). On a noisy machine the same-round ratios of a few rounds often
 * straddle a goal: the interval says whether a run decides it.
 *
 * @example
 * ```ts
 * const interval = medianInterval([0.9, 1.1, 0.95, 1.0, 1.05, 0.97]);
 * console.log(interval); // { low: 0.9, high: 1.1, level: 0.96875 }
 * ```
 */
export function medianInterval(values: number[], level = 0.95): Interval | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  // below: P(fewer than k of n values fall below the median) = P(Binomial(n, 1/2) < k).
  let k = 0;
  let below = 0;
  for (let p = 2 ** -n; k < n / 2 && below + p <= (1 - level) / 2; k++) {
    below += p;
    p = p * (n - k) / (k + 1);
  }
  if (k === 0) return undefined;
  return { low: sorted[k - 1], high: sorted[n - k], level: 1 - 2 * below };
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Figures per workload per target, in the order measured. */
export function summarise(
  measurements: Measurement[],
): Record<string, Record<string, TargetSummary>> {
  const result: Record<string, Record<string, TargetSummary>> = {};
  for (const { workload, target } of measurements) {
    result[workload] ??= {};
    if (result[workload][target]) continue;
    const runs = measurements.filter((m) => m.workload === workload && m.target === target);
    const targetCpu = runs.map((m) => m.cpuPer1k.target).filter((v) => v !== undefined);
    const targetSystem = runs.map((m) => m.cpuPer1k.targetSystem ?? 0);
    const threads = runs.flatMap((m) => m.busiestThread ? [m.busiestThread] : []);
    const median = (values: number[]) => spread(values).median;
    result[workload][target] = {
      qps: spread(runs.map((m) => m.qps)),
      p95Ms: spread(runs.map((m) => m.p95Ms)),
      cpuPer1k: {
        ...(targetCpu.length > 0
          ? { target: mean(targetCpu), targetSystem: mean(targetSystem) }
          : {}),
        mariadb: mean(runs.map((m) => m.cpuPer1k.mariadb)),
        sysbench: mean(runs.map((m) => m.cpuPer1k.sysbench)),
      },
      otherCpuShare: spread(runs.map((m) => m.otherCpuShare)),
      latencyMs: {
        p50: median(runs.map((m) => m.latencyMs.p50)),
        p95: median(runs.map((m) => m.latencyMs.p95)),
        p99: median(runs.map((m) => m.latencyMs.p99)),
      },
      ...(threads.length > 0
        ? {
          busiestThread: {
            cpuPer1k: median(threads.map((t) => t.cpuPer1k)),
            waitUsPerQuery: median(threads.map((t) => t.waitUsPerQuery)),
          },
        }
        : {}),
      ignoredErrors: runs.reduce((sum, m) => sum + m.ignoredErrors, 0),
      reconnects: runs.reduce((sum, m) => sum + m.reconnects, 0),
    };
  }
  return result;
}

function bestHaproxy(targets: Record<string, TargetSummary>): string | undefined {
  const present = ["haproxy", "haproxy-1t"].filter((name) => targets[name]);
  return present.sort((a, b) => targets[b].qps.median - targets[a].qps.median)[0];
}

/** Every non-reference target against every reference, per workload. */
export function ratios(
  measurements: Measurement[],
  references: ReadonlySet<string>,
): Ratio[] {
  const summary = summarise(measurements);
  const result: Ratio[] = [];
  for (const [workload, targets] of Object.entries(summary)) {
    const names = Object.keys(targets);
    for (const subject of names.filter((name) => !references.has(name))) {
      for (const reference of names.filter((name) => references.has(name))) {
        const perRound = roundRatios(measurements, workload, subject, reference);
        result.push({
          workload,
          subject,
          reference,
          ratio: targets[subject].qps.median / targets[reference].qps.median,
          perRound: spread(perRound),
          interval: medianInterval(perRound),
        });
      }
    }
  }
  return result;
}

/** `subject` QPS over `reference` QPS in each round that measured both. */
function roundRatios(
  measurements: Measurement[],
  workload: string,
  subject: string,
  reference: string,
): number[] {
  return measurements.filter((m) => m.workload === workload && m.target === subject)
    .flatMap((m) => {
      const other = measurements.find((o) =>
        o.workload === workload && o.target === reference && o.round === m.round
      );
      return other ? [m.qps / other.qps] : [];
    });
}

/** A goal checked: {@link checkGoals}. */
export interface GoalCheck {
  goal: Goal;
  reference: string;
  /** Of the median QPS; `met` when at least the goal's. */
  ratio: number;
  met: boolean;
  /** The same-round ratios' 95% interval; undefined with fewer than 6 rounds. */
  interval?: Interval;
  /** The interval lies wholly on one side of the goal: the run says met or not met for sure. */
  decided: boolean;
}

/** The goals whose subject and reference were both measured, with the ratio reached. */
export function checkGoals(measurements: Measurement[]): GoalCheck[] {
  const summary = summarise(measurements);
  return GOALS.flatMap((goal) => {
    const targets = summary[goal.workload];
    if (!targets?.[goal.subject]) return [];
    const reference = goal.reference === "haproxy-best" ? bestHaproxy(targets) : goal.reference;
    if (reference === undefined || !targets[reference]) return [];
    const ratio = targets[goal.subject].qps.median / targets[reference].qps.median;
    const interval = medianInterval(
      roundRatios(measurements, goal.workload, goal.subject, reference),
    );
    const decided = interval !== undefined &&
      (interval.low >= goal.min || interval.high < goal.min);
    return [{ goal, reference, ratio, met: ratio >= goal.min, interval, decided }];
  });
}

async function output(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await new Deno.Command(command, { args, stderr: "null" }).output();
    return new TextDecoder().decode(stdout).trim();
  } catch {
    return "(not found)";
  }
}

/** Facts about the machine and the software, for comparing runs. */
export async function machineFacts(mariadbVersion: string): Promise<Record<string, string>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const [sysbench, haproxy, commit] = await Promise.all([
    output("sysbench", ["--version"]),
    output("haproxy", ["-v"]),
    output("git", ["-C", new URL(".", import.meta.url).pathname, "rev-parse", "--short", "HEAD"]),
  ]);
  return {
    cpus: String(navigator.hardwareConcurrency),
    cpuModel: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown",
    memoryGiB: (Deno.systemMemoryInfo().total / 2 ** 30).toFixed(1),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    mariadb: mariadbVersion,
    sysbench,
    haproxy: haproxy.split("\n")[0].replace(/ - https:\S+$/, ""),
    commit,
    loadAverageAtStart: Deno.loadavg().map((load) => load.toFixed(2)).join(" "),
  };
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** `17,234` */
export function formatQps(qps: number): string {
  return integer.format(qps);
}

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, column) => Math.max(...cells.map((row) => row[column].length)));
  return cells.map((row) =>
    row.map((cell, column) => column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column]))
      .join("  ").trimEnd()
  ).join("\n");
}

/**
 * The same-round latency differences of every non-reference target from every reference and
 * from the targets {@link GOALS} compare with (`compare - proxy`), at a fixed rate (where QPS
 * ratios say nothing): medians over rounds of subject minus reference.
 */
export function latencyDeltas(
  measurements: Measurement[],
  references: ReadonlySet<string>,
): { workload: string; subject: string; reference: string; p50: number; p95: number }[] {
  const against = new Set([...references, ...GOALS.map((goal) => goal.reference)]);
  const pairs = new Map<string, { p50: number[]; p95: number[] }>();
  for (const m of measurements.filter((m) => !references.has(m.target))) {
    for (const other of measurements) {
      if (
        other.workload !== m.workload || other.round !== m.round || !against.has(other.target) ||
        other.target === m.target
      ) continue;
      const key = JSON.stringify([m.workload, m.target, other.target]);
      const pair = pairs.get(key) ?? { p50: [], p95: [] };
      pair.p50.push(m.latencyMs.p50 - other.latencyMs.p50);
      pair.p95.push(m.latencyMs.p95 - other.latencyMs.p95);
      pairs.set(key, pair);
    }
  }
  return [...pairs].map(([key, pair]) => {
    const [workload, subject, reference] = JSON.parse(key);
    return {
      workload,
      subject,
      reference,
      p50: spread(pair.p50).median,
      p95: spread(pair.p95).median,
    };
  });
}

/**
 * The human report: one table per workload, then ratios and goals; at a fixed `rate`, latency
 * percentiles and same-round latency differences instead of QPS ranges, ratios and goals.
 */
export function formatReport(
  measurements: Measurement[],
  references: ReadonlySet<string>,
  heading: string,
  rate?: number,
): string {
  const lines = [heading, ""];
  const fixed = (value: number | undefined, digits: number) =>
    value === undefined ? "-" : value.toFixed(digits);
  const signed = (value: number) => `${value < 0 ? "" : "+"}${value.toFixed(3)}`;
  for (const [workload, targets] of Object.entries(summarise(measurements))) {
    const rows = [[
      workload,
      ...(rate === undefined
        ? ["median qps", "min", "max", "spread", "p95 ms"]
        : ["median qps", "p50 ms", "p95 ms", "p99 ms"]),
      "cpu-ms/1k q: target",
      "(kernel)",
      "mariadb",
      "sysbench",
      "busiest thread: cpu",
      "wait us/q",
      "other cpu max",
    ]];
    for (const [name, s] of Object.entries(targets)) {
      rows.push([
        name,
        ...(rate === undefined
          ? [
            formatQps(s.qps.median),
            formatQps(s.qps.min),
            formatQps(s.qps.max),
            `${((s.qps.max - s.qps.min) / s.qps.median * 100).toFixed(1)}%`,
            fixed(s.p95Ms.median, 2),
          ]
          : [
            formatQps(s.qps.median),
            fixed(s.latencyMs.p50, 3),
            fixed(s.latencyMs.p95, 3),
            fixed(s.latencyMs.p99, 3),
          ]),
        fixed(s.cpuPer1k.target, 1),
        fixed(s.cpuPer1k.targetSystem, 1),
        fixed(s.cpuPer1k.mariadb, 1),
        fixed(s.cpuPer1k.sysbench, 1),
        fixed(s.busiestThread?.cpuPer1k, 1),
        fixed(s.busiestThread?.waitUsPerQuery, 1),
        `${(s.otherCpuShare.max * 100).toFixed(0)}%`,
      ]);
      if (s.ignoredErrors + s.reconnects > 0) {
        lines.push(`warning: ${name} had ${s.ignoredErrors} errors, ${s.reconnects} reconnects`);
      }
    }
    lines.push(pad(rows), "");
    for (const name of Object.keys(targets)) {
      const caughtUp = measurements.filter((m) =>
        m.workload === workload && m.target === name && m.catchUpMs !== undefined
      ).map((m) => m.catchUpMs!);
      if (caughtUp.length === 0) continue;
      lines.push(
        `${name} stayed busy after sysbench stopped in ${caughtUp.length} run(s), up to ` +
          `${(Math.max(...caughtUp) / 1000).toFixed(1)} s (that CPU is in its cpu-ms/1k q)`,
        "",
      );
    }
    const ratioRows = rate === undefined
      ? ratios(measurements, references).filter((r) => r.workload === workload)
        .map((r) => [
          `  ${r.subject}/${r.reference}`,
          `${r.ratio.toFixed(3)}x`,
          `rounds ${r.perRound.min.toFixed(3)}..${r.perRound.max.toFixed(3)}`,
          r.interval ? `median's ${intervalText(r.interval)}` : "",
        ])
      : latencyDeltas(measurements, references).filter((d) => d.workload === workload)
        .map((d) => [
          `  ${d.subject} - ${d.reference}`,
          `p50 ${signed(d.p50)} ms`,
          `p95 ${signed(d.p95)} ms (medians of same-round differences)`,
        ]);
    if (ratioRows.length > 0) lines.push(pad(ratioRows), "");
  }
  if (rate !== undefined) return lines.join("\n").trimEnd();
  for (const { goal, reference, ratio, met, interval, decided } of checkGoals(measurements)) {
    const sure = interval === undefined
      ? " (fewer than 6 rounds: no interval)"
      : decided
      ? ""
      : ` (not decided: the same-round ratios' median's ${
        intervalText(interval)
      } holds ${goal.min})`;
    lines.push(
      `goal: ${goal.subject} >= ${goal.min}x ${reference} on ${goal.workload}: ` +
        `${ratio.toFixed(3)}x, ${met ? "met" : "NOT met"}${sure}`,
    );
  }
  return lines.join("\n").trimEnd();
}

function intervalText(interval: Interval): string {
  return `${(interval.level * 100).toFixed(0)}% interval ${interval.low.toFixed(3)}..${
    interval.high.toFixed(3)
  }`;
}
