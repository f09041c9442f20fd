/**
 * `deno task bench`: sysbench against MariaDB directly, through haproxy and through the project's
 * proxy, in one run on one private MariaDB, interleaved in rounds so that drift on a noisy
 * machine hits every target alike. Prints a table (or `--json`) with median QPS, ranges, ratios
 * and the CPU time each process spent per 1000 queries.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import {
  checkGoals,
  formatQps,
  formatReport,
  latencyDeltas,
  machineFacts,
  type Measurement,
  ratios,
  summarise,
} from "./report.ts";
import {
  busiestThread,
  prepare,
  run,
  sampleCpu,
  type SysbenchConfig,
  threadTimes,
  treeCpuMs,
} from "./sysbench.ts";
import {
  DEFAULT_PROXY_COMMAND,
  killAllChildren,
  type RunningTarget,
  type Target,
  TARGETS,
} from "./targets.ts";

const USAGE = `Usage: deno task bench [options]

  --targets LIST      comma-separated, in round order (default direct,haproxy,haproxy-1t,proxy,
                      record,replay,compare; also: relay and relay-epoll, bench/relay.ts: bare
                      relays without decoding, a Deno read/write loop and the epoll worker; and
                      proxy-b, a second plain proxy: an A/A run shows the bench's resolution)
  --workloads LIST    sysbench scripts (default oltp_point_select,oltp_read_only)
  --rounds N          measurements per target and workload, order rotated each round (default 3)
  --time S            seconds per measurement (default 10)
  --warmup S          seconds of oltp_point_select per target before round 1 (default 3)
  --threads N         sysbench threads (default 8)
  --tables N          sbtest tables (default 1)
  --table-size N      rows per table (default 10000)
  --rate QPS          a fixed rate for all threads together (sysbench --rate) instead of as fast
                      as it goes: the report shows latency percentiles and each target's latency
                      above the references in the same round, not QPS ratios and goals
  --max-other-cpu P   repeat a measurement during which other processes used more than P% of
                      all cores (default 15; 100 never repeats)
  --retries N         repeats at most, keeping the quietest attempt (default 1)
  --quick             smoke run: 1 round of 3 s, 1 s warmup (explicit options win)
  --proxy-cmd CMD     the proxy target's command line, split on spaces; {listen_port} and
                      {server_port} are replaced (default: deno run -A mod.ts proxy ...)
  --json              print one JSON object instead of the table
  -h, --help          this text

Progress goes to stderr, the report to stdout.`;

/** Options after defaults. */
interface Options {
  targets: Target[];
  workloads: string[];
  rounds: number;
  warmup: number;
  /** A share of all cores, 0..1. */
  maxOtherCpu: number;
  retries: number;
  sysbench: Omit<SysbenchConfig, "user" | "password">;
  proxyCommand: string[];
  json: boolean;
}

function integer(value: string | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) {
    throw new RangeError(`Cannot use ${name}: expected an integer >= ${min}, got "${value}"`);
  }
  return number;
}

function parseOptions(args: string[]): Options | undefined {
  const string = { type: "string" } as const;
  const { values } = parseArgs({
    args,
    options: {
      targets: string,
      workloads: string,
      rounds: string,
      time: string,
      warmup: string,
      threads: string,
      tables: string,
      "table-size": string,
      rate: string,
      "proxy-cmd": string,
      "max-other-cpu": string,
      retries: string,
      quick: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  const quick = values.quick === true;
  const names = (values.targets ?? "direct,haproxy,haproxy-1t,proxy,record,replay,compare").split(
    ",",
  );
  const targets = names.map((name) => {
    const target = TARGETS.find((t) => t.name === name.trim());
    if (!target) {
      const known = TARGETS.map((t) => t.name).join(", ");
      throw new RangeError(`Cannot use --targets: unknown target "${name}", known: ${known}`);
    }
    return target;
  });
  return {
    targets,
    workloads: (values.workloads ?? "oltp_point_select,oltp_read_only").split(","),
    rounds: integer(values.rounds, quick ? 1 : 3, "--rounds"),
    warmup: integer(values.warmup, quick ? 1 : 3, "--warmup", 0),
    maxOtherCpu: integer(values["max-other-cpu"], 15, "--max-other-cpu", 0) / 100,
    retries: integer(values.retries, 1, "--retries", 0),
    sysbench: {
      threads: integer(values.threads, 8, "--threads"),
      time: integer(values.time, quick ? 3 : 10, "--time"),
      tables: integer(values.tables, 1, "--tables"),
      tableSize: integer(values["table-size"], 10_000, "--table-size"),
      ...(values.rate === undefined ? {} : { rate: integer(values.rate, 0, "--rate") }),
    },
    proxyCommand: values["proxy-cmd"]?.split(" ").filter((part) => part !== "") ??
      DEFAULT_PROXY_COMMAND,
    json: values.json === true,
  };
}

function progress(line: string): void {
  console.error(line);
}

/** The order of round `round` (1-based): the target list rotated by `round - 1`. */
function rotated<T>(items: T[], round: number): T[] {
  const shift = (round - 1) % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** How often {@link settle} looks, and the share of one core below which a target is idle. */
const SETTLE_WINDOW_MS = 500;
const SETTLE_IDLE_SHARE = 0.05;
/** Longest {@link settle} waits. */
const SETTLE_MAX_MS = 60_000;

/**
 * Waits until the target's processes are idle once sysbench has stopped, and returns how long
 * that took and the CPU they spent meanwhile: a target that defers work (the comparing process of
 * `proxy --compare`, in the idle scheduling class, catches up after a saturated run) must neither
 * leave it to the next target's measurement nor have it go uncounted.
 */
async function settle(
  pid: number,
  signal: AbortSignal,
): Promise<{ ms: number; cpuMs: number }> {
  const cpu = () => {
    const { user, system } = treeCpuMs(pid);
    return user + system;
  };
  const started = performance.now();
  const first = cpu();
  let last = first;
  for (;;) {
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_WINDOW_MS));
    const now = cpu();
    const busy = now - last > SETTLE_WINDOW_MS * SETTLE_IDLE_SHARE;
    last = now;
    if (!busy || performance.now() - started > SETTLE_MAX_MS) break;
  }
  return { ms: performance.now() - started - SETTLE_WINDOW_MS, cpuMs: last - first };
}

/** One sysbench run with the CPU time each process spent meanwhile. */
async function measure(
  running: RunningTarget,
  config: SysbenchConfig,
  signal: AbortSignal,
  at: { round: number; workload: string; target: string; attempt: number; db: { pid: number } },
): Promise<Measurement> {
  const threadsBefore = running.pid === undefined ? new Map() : threadTimes(running.pid);
  const before = sampleCpu(running.pid, at.db.pid);
  const result = await run(at.workload, running.port, config, signal);
  const after = sampleCpu(running.pid, at.db.pid);
  const busiest = running.pid === undefined
    ? undefined
    : busiestThread(threadsBefore, threadTimes(running.pid));
  const settled = running.pid === undefined ? undefined : await settle(running.pid, signal);
  const spent = (key: "target" | "targetSystem" | "mariadb" | "sysbench") =>
    (after[key] ?? 0) - (before[key] ?? 0);
  const per1k = (ms: number) => ms / result.queries * 1000;
  // What the target did after sysbench stopped (catching up) is its cost too.
  const targetMs = spent("target") + (settled?.cpuMs ?? 0);
  const ours = spent("target") + spent("mariadb") + spent("sysbench");
  const capacity = (after.wall - before.wall) * navigator.hardwareConcurrency;
  return {
    ...result,
    round: at.round,
    workload: at.workload,
    target: at.target,
    attempt: at.attempt,
    cpuPer1k: {
      ...(running.pid === undefined ? {} : {
        target: per1k(targetMs),
        targetSystem: per1k(spent("targetSystem")),
      }),
      mariadb: per1k(spent("mariadb")),
      sysbench: per1k(spent("sysbench")),
    },
    otherCpuShare: Math.max(0, (after.machine - before.machine - ours) / capacity),
    ...(settled && settled.ms >= SETTLE_WINDOW_MS ? { catchUpMs: settled.ms } : {}),
    ...(busiest === undefined ? {} : {
      busiestThread: {
        cpuPer1k: per1k(busiest.runNs / 1e6),
        waitUsPerQuery: busiest.waitNs / 1e3 / result.queries,
      },
    }),
  };
}

/** Runs the benchmark; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    progress(interrupts === 1 ? "interrupted: stopping..." : "interrupted again: killing");
    controller.abort();
    if (interrupts > 1) {
      // MariaDB's watchdog stops the server once this process is gone.
      killAllChildren();
      Deno.exit(130);
    }
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const signal = controller.signal;
  const started: { name: string; running: RunningTarget }[] = [];
  const tempDir = await Deno.makeTempDir({ prefix: "mysql-proxy-bench-" });
  const cleanUp = async () => {
    for (const { running } of started.reverse()) await running.stop().catch(() => {});
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    Deno.removeSignalListener("SIGINT", onInterrupt);
  };
  progress("starting MariaDB...");
  let db;
  try {
    db = await startMariaDB({ tls: false });
  } catch (error) {
    await cleanUp();
    throw error;
  }
  try {
    signal.throwIfAborted();
    const facts = await machineFacts(db.version);
    const config: SysbenchConfig = { ...options.sysbench, ...db.users.sysbench };
    progress(`sysbench prepare: ${config.tables} table(s) of ${config.tableSize} rows...`);
    await prepare(db.port, config, signal);
    const context = {
      serverPort: db.port,
      tempDir,
      proxyCommand: options.proxyCommand,
      signal,
      sysbench: { config, workloads: options.workloads },
    };
    for (const target of options.targets) {
      progress(`starting ${target.name}...`);
      started.push({ name: target.name, running: await target.start(context) });
    }
    if (options.warmup > 0) {
      const warmup = { ...config, time: options.warmup };
      for (const { name, running } of started) {
        const result = await run("oltp_point_select", running.port, warmup, signal);
        progress(`warmup ${name} ... ${formatQps(result.qps)} qps`);
      }
    }
    const measurements: Measurement[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const workload of options.workloads) {
        for (const { name, running } of rotated(started, round)) {
          let best: Measurement | undefined;
          for (let attempt = 1; attempt <= 1 + options.retries; attempt++) {
            const at = { round, workload, target: name, db, attempt };
            const m = await measure(running, config, signal, at);
            const noisy = m.otherCpuShare > options.maxOtherCpu;
            const cpu = m.cpuPer1k.target === undefined
              ? ""
              : `, ${m.cpuPer1k.target.toFixed(1)} cpu-ms/1k q`;
            const other = `other cpu ${(m.otherCpuShare * 100).toFixed(0)}%`;
            const caughtUp = m.catchUpMs === undefined
              ? ""
              : `, busy ${(m.catchUpMs / 1000).toFixed(1)} s after`;
            const wait = m.busiestThread === undefined
              ? ""
              : `, waited ${m.busiestThread.waitUsPerQuery.toFixed(1)} us/q`;
            progress(
              `round ${round}/${options.rounds} ${workload} ${name} ... ` +
                `${formatQps(m.qps)} qps (p50 ${m.latencyMs.p50.toFixed(3)} ms, ` +
                `p95 ${m.p95Ms.toFixed(2)} ms${cpu}${wait}${caughtUp}, ${other})` +
                (noisy && attempt <= options.retries ? " noisy, again" : ""),
            );
            if (!best || m.otherCpuShare < best.otherCpuShare) best = m;
            if (!noisy) break;
          }
          measurements.push(best!);
        }
      }
    }
    const references = new Set(TARGETS.filter((t) => t.reference).map((t) => t.name));
    // Stopped now, a target can say what its QPS does not (compare: connections it left
    // uncompared, in the report it writes on exit).
    const findings: Record<string, string[]> = {};
    for (const { name, running } of started) {
      // As in cleanUp: a target that fails to stop does not lose the run's figures.
      await running.stop().catch(() => {});
      const found = await running.findings?.() ?? [];
      if (found.length > 0) findings[name] = found;
    }
    const commands = Object.fromEntries(
      started.map(({ name, running }) => [name, running.command]),
    );
    const date = new Date().toISOString();
    facts.loadAverageAtEnd = Deno.loadavg().map((load) => load.toFixed(2)).join(" ");
    const settings = {
      rounds: options.rounds,
      warmupSeconds: options.warmup,
      maxOtherCpuPercent: options.maxOtherCpu * 100,
      retries: options.retries,
      ...options.sysbench,
      workloads: options.workloads,
      targets: started.map((s) => s.name),
    };
    if (options.json) {
      console.log(JSON.stringify(
        {
          date,
          machine: facts,
          settings,
          commands,
          summary: summarise(measurements),
          findings,
          ...(config.rate === undefined
            ? { ratios: ratios(measurements, references), goals: checkGoals(measurements) }
            : { latencyDeltas: latencyDeltas(measurements, references) }),
          measurements,
        },
        null,
        2,
      ));
    } else {
      const heading = [
        `${date}: ${options.rounds} round(s) x ${config.time} s, ${config.threads} threads, ` +
        `${config.tables} table(s) x ${config.tableSize} rows`,
        ...Object.entries(facts).map(([key, value]) => `  ${key}: ${value}`),
        ...Object.entries(commands).map(([name, command]) => `  ${name}: ${command}`),
      ].join("\n");
      console.log(formatReport(measurements, references, heading, config.rate));
      for (const [name, found] of Object.entries(findings)) {
        for (const finding of found) console.log(`warning: ${name} ${finding}`);
      }
    }
    return 0;
  } catch (error) {
    if (signal.aborted) return 130;
    throw error;
  } finally {
    await cleanUp();
    await db.stop();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
