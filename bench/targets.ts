/**
 * What the benchmark measures: MariaDB itself and the relays in front of it, each started on a
 * free port of 127.0.0.1. A new target (`record`, `replay`) is one more entry in `TARGETS`.
 *
 * @module
 */
import { join } from "node:path";
import { run as runSysbench, type SysbenchConfig } from "./sysbench.ts";

/** A started target: where sysbench connects, and the process that relays. */
export interface RunningTarget {
  port: number;
  /** The process whose CPU time is charged to the target; absent for `direct`. */
  pid?: number;
  /** The command line, for the report. */
  command: string;
  stop(): Promise<void>;
  /**
   * Once stopped: what the target says of the run that its QPS does not show (a comparison that
   * left connections uncompared did not pay for all of its work); none when all is well.
   */
  findings?(): Promise<string[]>;
}

/** What a target needs to start. */
export interface TargetContext {
  /** The MariaDB server every target relays to. */
  serverPort: number;
  /** A directory for config files, deleted after the run. */
  tempDir: string;
  /** The `proxy` command line; `{listen_port}` and `{server_port}` are replaced. */
  proxyCommand: string[];
  /** Aborted on SIGINT: stops waiting for a target to come up. */
  signal: AbortSignal;
  /** How sysbench runs and what it runs (the `replay` target records the same beforehand). */
  sysbench?: { config: SysbenchConfig; workloads: string[] };
}

/** One row of the benchmark. */
export interface Target {
  name: string;
  /** References are what the other targets are compared against. */
  reference: boolean;
  start(context: TargetContext): Promise<RunningTarget>;
}

/** How long a target may take to accept connections (a cold `deno run` compiles first). */
const READY_TIMEOUT_MS = 30_000;
const TAIL_BYTES = 4_096;
const STOP_TIMEOUT_MS = 5_000;
/** Every child still running, so a second Ctrl-C can kill them without waiting for anything. */
const LIVE_CHILDREN = new Set<Deno.ChildProcess>();

const BENCH_DIR = new URL(".", import.meta.url).pathname;

/** The default `--proxy-cmd`: the project's own proxy, from this checkout. */
export const DEFAULT_PROXY_COMMAND: string[] = [
  Deno.execPath(),
  ..."run -A".split(" "),
  join(BENCH_DIR, "..", "mod.ts"),
  ..."proxy --listen 127.0.0.1:{listen_port} --server 127.0.0.1:{server_port}".split(" "),
];

/** Every target, in the default order of a round. */
export const TARGETS: readonly Target[] = [
  {
    name: "direct",
    reference: true,
    start: (context) =>
      Promise.resolve({
        port: context.serverPort,
        command: "mariadbd",
        stop: () => Promise.resolve(),
      }),
  },
  { name: "haproxy", reference: true, start: (context) => startHaproxy(context, undefined) },
  // Measured on the 2-core machine: default threading (2 threads) ~14k QPS, nbthread 1 ~17k.
  { name: "haproxy-1t", reference: true, start: (context) => startHaproxy(context, 1) },
  { name: "proxy", reference: false, start: (context) => startCommand("proxy", context) },
  // A second, identical proxy: what the bench reads for two copies of one program (its resolution).
  { name: "proxy-b", reference: false, start: (context) => startCommand("proxy-b", context) },
  {
    name: "record",
    reference: false,
    // The proxy recording every connection to a file in the run's temp dir (deleted after).
    start: (context) =>
      startCommand("record", {
        ...context,
        proxyCommand: [
          Deno.execPath(),
          ..."run -A".split(" "),
          join(BENCH_DIR, "..", "mod.ts"),
          ..."record --quiet --overwrite --listen 127.0.0.1:{listen_port}".split(" "),
          ..."--server 127.0.0.1:{server_port}".split(" "),
          "--out",
          join(context.tempDir, "record.jsonl"),
        ],
      }),
  },
  {
    name: "replay",
    reference: false,
    // The project's fake server answering from a recording of the same sysbench workloads, made
    // through `record` against MariaDB just before; replay itself never talks to MariaDB.
    start: (context) => startReplay(context),
  },
  {
    name: "compare",
    reference: false,
    start: (context) => startCompare(context),
  },
  { name: "relay", reference: false, start: (context) => startBareRelay("relay", context) },
  {
    name: "relay-epoll",
    reference: false,
    // The same with the proxy's epoll relay (src/net/epoll/) and a tap that does nothing.
    start: (context) => startBareRelay("relay-epoll", context, "epoll"),
  },
];

/** Kills every child still running, without waiting; for a forced exit. */
export function killAllChildren(): void {
  for (const child of LIVE_CHILDREN) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** A port of 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Keeps the last bytes a child wrote; draining also stops a chatty child blocking on a pipe. */
class OutputTail {
  #text = "";

  async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      this.#text = (this.#text + chunk).slice(-TAIL_BYTES);
    }
  }

  toString(): string {
    return this.#text.trim() || "(no output)";
  }
}

async function startHaproxy(context: TargetContext, threads: number | undefined) {
  const port = freePort();
  const config = [
    "global",
    "  maxconn 4096",
    ...(threads === undefined ? [] : [`  nbthread ${threads}`]),
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 1h",
    "  timeout server 1h",
    "listen mysql",
    `  bind 127.0.0.1:${port}`,
    `  server mariadb 127.0.0.1:${context.serverPort}`,
    "",
  ].join("\n");
  const file = join(context.tempDir, `haproxy-${threads ?? "default"}.cfg`);
  await Deno.writeTextFile(file, config);
  // -db: stay in the foreground, so the pid is haproxy's own and stop() can end it.
  return await spawnTarget(`haproxy`, ["haproxy", "-db", "-f", file], port, context.signal);
}

/** `bench/relay.ts`: a bare relay that decodes nothing (`deno` loop, or the `epoll` worker). */
function startBareRelay(
  name: string,
  context: TargetContext,
  mode?: "epoll",
): Promise<RunningTarget> {
  return startCommand(name, {
    ...context,
    proxyCommand: [
      Deno.execPath(),
      ..."run -A".split(" "),
      join(BENCH_DIR, "relay.ts"),
      "{listen_port}",
      "{server_port}",
      ...(mode ? [mode] : []),
    ],
  });
}

async function startCommand(name: string, context: TargetContext): Promise<RunningTarget> {
  const port = freePort();
  const argv = context.proxyCommand.map((part) =>
    part.replaceAll("{listen_port}", String(port)).replaceAll(
      "{server_port}",
      String(context.serverPort),
    )
  );
  return await spawnTarget(name, argv, port, context.signal);
}

/**
 * Records every workload for one measurement's length through `record` against MariaDB, into the
 * run's temp dir, and says where the recording is.
 */
async function recordWorkloads(context: TargetContext, file: string): Promise<string> {
  if (!context.sysbench) throw new Error("Cannot record: no sysbench settings");
  const recording = join(context.tempDir, file);
  const recorder = await startCommand(`${file}-recorder`, {
    ...context,
    proxyCommand: [
      Deno.execPath(),
      ..."run -A".split(" "),
      join(BENCH_DIR, "..", "mod.ts"),
      ..."record --quiet --overwrite --listen 127.0.0.1:{listen_port}".split(" "),
      ..."--server 127.0.0.1:{server_port} --out".split(" "),
      recording,
    ],
  });
  try {
    for (const workload of context.sysbench.workloads) {
      await runSysbench(workload, recorder.port, context.sysbench.config, context.signal);
    }
  } finally {
    await recorder.stop();
  }
  return recording;
}

/**
 * Serves a recording of the same workloads with `replay` (no path to MariaDB). Queries beyond
 * what was recorded (a faster run, the warmup, later rounds) are served as repeats of recorded
 * ones, as docs/matching.md describes.
 */
async function startReplay(context: TargetContext): Promise<RunningTarget> {
  const recording = await recordWorkloads(context, "replay-source.jsonl");
  return await startCommand("replay", {
    ...context,
    proxyCommand: [
      Deno.execPath(),
      ..."run -A".split(" "),
      join(BENCH_DIR, "..", "mod.ts"),
      ..."replay --quiet --listen 127.0.0.1:{listen_port}".split(" "),
      recording,
    ],
  });
}

/**
 * The proxy comparing every answer with a recording of the same workloads (`proxy --compare`):
 * what checking live traffic costs the application.
 */
async function startCompare(context: TargetContext): Promise<RunningTarget> {
  const recording = await recordWorkloads(context, "compare-source.jsonl");
  const report = await Deno.makeTempFile({
    dir: context.tempDir,
    prefix: "compare-report-",
    suffix: ".json",
  });
  const running = await startCommand("compare", {
    ...context,
    proxyCommand: [
      ...context.proxyCommand,
      // sysbench's random ids make most answers differ from the matched recorded ones: ignoring
      // the values keeps the log quiet; decoding, matching and comparing still run per query.
      "--compare",
      recording,
      "--ignore",
      "column:/./",
      "--report",
      report,
    ],
  });
  return { ...running, findings: () => compareFindings(report) };
}

/**
 * What the report of `proxy --compare` says the QPS does not: connections relayed uncompared
 * because the comparison fell too far behind, or no report at all (the comparison failed).
 *
 * @example
 * ```ts ignore
 * const findings = await compareFindings("/tmp/compare-report.json");
 * ```
 */
export async function compareFindings(path: string): Promise<string[]> {
  let report: { tally?: { connections?: { total?: number; uncompared?: number } } };
  try {
    report = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    return [`wrote no readable report (${(error as Error).message}): did the comparison fail?`];
  }
  const { total = 0, uncompared = 0 } = report.tally?.connections ?? {};
  if (uncompared === 0) return [];
  return [
    `left ${uncompared} of ${total} connections uncompared (the comparison fell more than 64 MiB ` +
    `behind): its QPS did not pay for all of its comparing`,
  ];
}

async function spawnTarget(
  name: string,
  argv: string[],
  port: number,
  signal: AbortSignal,
): Promise<RunningTarget> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Plain text in the output tail of an error message.
    env: { NO_COLOR: "1" },
  }).spawn();
  LIVE_CHILDREN.add(child);
  const tail = new OutputTail();
  const drained = Promise.all([tail.drain(child.stdout), tail.drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    LIVE_CHILDREN.delete(child);
    return status;
  });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    const timer = setTimeout(() => exited || child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await status;
    clearTimeout(timer);
    await drained.catch(() => {});
  };
  const command = argv.join(" ");
  try {
    await waitForPort(port, () => exited, signal);
  } catch (error) {
    const died = exited;
    await stop();
    const { code } = await status;
    const why = died ? `it exited with code ${code}` : (error as Error).message;
    throw new Error(`Cannot start ${name}: ${why}\n  command: ${command}\n  output tail:\n${tail}`);
  }
  return { port, pid: child.pid, command, stop };
}

async function waitForPort(port: number, exited: () => boolean, signal: AbortSignal) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    if (exited()) throw new Error("exited before accepting connections");
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
    }
    if (Date.now() > deadline) {
      throw new Error(`no connection on 127.0.0.1:${port} after ${READY_TIMEOUT_MS} ms`);
    }
    await delay(50);
  }
}
