/**
 * `deno task bench:load`: the proxy, `record` and `replay` (each its own process, as users run
 * them) under load, on a private MariaDB:
 *
 * - concurrency: N mysql2 connections open at once (default 1000), each answering a query;
 * - churn: M connect/query/disconnect cycles (default 10 000, 8 at a time): open descriptors and
 *   resident memory of the target before and after;
 * - slow reader (proxy and record): the `mariadb` CLI reads a generated result (MariaDB's sequence
 *   engine, 4 KiB rows, default 1 GiB) through the target at a limited rate: the target's peak RSS
 *   must stay bounded (TCP backpressure), not grow with the result.
 *
 * `replay` serves the recording `record` made of the first two phases. Prints a table, or one JSON
 * object with `--json`. The figures go into BENCHMARKS.md ("Load").
 *
 * @module
 */
import { parseArgs } from "node:util";
import mysql from "mysql2/promise";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import { type RunningCli, startCli } from "../tests/hardening/cli.ts";
import { machineFacts } from "./report.ts";

const MiB = 1024 * 1024;

/** Resident memory and descriptors of a process. */
function usage(pid: number): { rss: number; hwm: number; fds: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))![1]);
  let fds = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) fds++;
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024, fds };
}

/** Resets VmHWM (peak RSS) to the current RSS. */
function resetPeak(pid: number): void {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // not permitted: the peak then counts from the process start
  }
}

interface Credentials {
  user: string;
  password: string;
}

const QUERY = "SELECT 6 * 7 AS answer";

async function concurrency(port: number, who: Credentials, count: number, pid: number) {
  resetPeak(pid);
  const before = usage(pid);
  const started = performance.now();
  const connections: mysql.Connection[] = [];
  // Opened 100 at a time: a burst of 1000 SYNs overflows the listen backlog and costs retries.
  for (let i = 0; i < count; i += 100) {
    connections.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(100, count - i) },
          () => mysql.createConnection({ host: "127.0.0.1", port, ...who }),
        ),
      ),
    );
  }
  const answers = await Promise.all(connections.map((c) => c.query(QUERY)));
  const open = usage(pid);
  const seconds = (performance.now() - started) / 1000;
  if (answers.some(([rows]) => (rows as { answer: number }[])[0].answer !== 42)) {
    throw new Error("a connection got a wrong answer");
  }
  await Promise.all(connections.map((c) => c.end()));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = usage(pid);
  return {
    count,
    seconds,
    before,
    open,
    after,
    peakRss: open.hwm > after.hwm ? open.hwm : after.hwm,
  };
}

async function churn(port: number, who: Credentials, cycles: number, pid: number) {
  const cycle = async () => {
    const conn = await mysql.createConnection({ host: "127.0.0.1", port, ...who });
    await conn.query(QUERY);
    await conn.end();
  };
  for (let i = 0; i < 100; i++) await cycle(); // warm-up: JIT, pools
  await new Promise((resolve) => setTimeout(resolve, 300));
  resetPeak(pid);
  const before = usage(pid);
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next++ < cycles) await cycle();
  }));
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = usage(pid);
  return { cycles, seconds, before, after, peakRss: after.hwm };
}

/** The mariadb CLI reads `bytes` of rows through `port`, its output drained at `rate` bytes/s. */
async function slowReader(
  bin: string,
  port: number,
  who: Credentials,
  bytes: number,
  rate: number,
  pid: number,
) {
  const rows = Math.ceil(bytes / 4000);
  resetPeak(pid);
  const before = usage(pid);
  const child = new Deno.Command(bin, {
    args: [
      ...["--no-defaults", "--protocol=tcp", "--host=127.0.0.1", `--port=${port}`],
      ...[`--user=${who.user}`, `--password=${who.password}`, "--quick", "--batch"],
      "--database=proxytest",
      "--skip-column-names",
      `--execute=SELECT seq, REPEAT(MD5(seq), 125) FROM seq_1_to_${rows}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const started = performance.now();
  let received = 0;
  let peak = 0;
  const sampler = setInterval(() => peak = Math.max(peak, usage(pid).rss), 100);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    received += value.length;
    const ahead = received / rate - (performance.now() - started) / 1000;
    if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead * 1000));
  }
  clearInterval(sampler);
  const status = await child.status;
  if (!status.success) throw new Error(`mariadb exited with ${status.code}: ${await errors}`);
  const seconds = (performance.now() - started) / 1000;
  const after = usage(pid);
  return { bytes: received, seconds, before, peakRss: Math.max(peak, after.hwm) };
}

interface TargetResult {
  start: ReturnType<typeof usage>;
  concurrency?: Awaited<ReturnType<typeof concurrency>>;
  churn?: Awaited<ReturnType<typeof churn>>;
  slow?: Awaited<ReturnType<typeof slowReader>>;
  fileBytes?: number;
}

const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      connections: { type: "string", default: "1000" },
      churn: { type: "string", default: "10000" },
      "slow-mib": { type: "string", default: "1024" },
      "slow-rate-mib": { type: "string", default: "64" },
      targets: { type: "string", default: "proxy,record,replay" },
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  const connections = quick ? 200 : Number(values.connections);
  const cycles = quick ? 1000 : Number(values.churn);
  const slowBytes = (quick ? 128 : Number(values["slow-mib"])) * MiB;
  const rate = Number(values["slow-rate-mib"]) * MiB;
  const targets = values.targets.split(",");
  const log = (line: string) => console.error(line);

  await using db = await startMariaDB({ tls: false });
  const who = db.users.native;
  const server = `${db.hostname}:${db.port}`;
  const dir = await Deno.makeTempDir({ prefix: "bench-load-" });
  const recording = `${dir}/load.jsonl`;
  const results: Record<string, TargetResult> = {};
  try {
    for (const target of targets) {
      const args = target === "replay"
        ? ["replay", "--quiet", "--listen", "127.0.0.1:0", recording]
        : [target, "--quiet", "--listen", "127.0.0.1:0", "--server", server];
      if (target === "record") args.push("--out", recording);
      const running: RunningCli = await startCli(args);
      const result: TargetResult = { start: usage(running.pid) };
      try {
        log(`${target}: ${connections} concurrent connections ...`);
        result.concurrency = await concurrency(running.port, who, connections, running.pid);
        log(`${target}: ${cycles} connect/query/disconnect cycles ...`);
        result.churn = await churn(running.port, who, cycles, running.pid);
      } finally {
        const { code, stderr } = await running.stop();
        if (code !== 0) log(`${target} exited with ${code}: ${stderr.trim().slice(-500)}`);
      }
      if (target === "record") result.fileBytes = (await Deno.stat(recording)).size;
      if (target !== "replay" && slowBytes > 0) {
        // A fresh process (and for record, another file: replay loads what it serves).
        const fresh = await startCli(
          target === "record" ? [...args.slice(0, -1), `${dir}/slow.jsonl`] : args,
        );
        try {
          log(`${target}: a slow reader of ${mb(slowBytes)} at ${mb(rate)}/s ...`);
          result.slow = await slowReader(
            db.bin.mariadb,
            fresh.port,
            who,
            slowBytes,
            rate,
            fresh.pid,
          );
        } finally {
          await fresh.stop();
          await Deno.remove(`${dir}/slow.jsonl`).catch(() => {});
        }
      }
      results[target] = result;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const facts = await machineFacts(db.version);
  if (values.json) {
    console.log(JSON.stringify({ facts, connections, cycles, slowBytes, rate, results }, null, 2));
    return 0;
  }
  console.log(Object.entries(facts).map(([k, v]) => `${k}: ${v}`).join("\n"));
  for (const [target, r] of Object.entries(results)) {
    const c = r.concurrency!;
    const ch = r.churn!;
    console.log(`\n${target}`);
    console.log(
      `  ${c.count} concurrent: ${c.seconds.toFixed(1)} s; fds ${c.before.fds} -> ${c.open.fds} ` +
        `open -> ${c.after.fds} after; RSS ${mb(c.before.rss)} -> peak ${mb(c.peakRss)} -> ` +
        `${mb(c.after.rss)} after`,
    );
    console.log(
      `  churn ${ch.cycles}: ${ch.seconds.toFixed(1)} s (${
        Math.round(ch.cycles / ch.seconds)
      }/s); ` +
        `fds ${ch.before.fds} -> ${ch.after.fds}; RSS ${mb(ch.before.rss)} -> ${
          mb(ch.after.rss)
        } ` +
        `(peak ${mb(ch.peakRss)})`,
    );
    if (r.slow) {
      const s = r.slow;
      console.log(
        `  slow reader: ${mb(s.bytes)} in ${s.seconds.toFixed(1)} s; RSS ${mb(s.before.rss)} ` +
          `before, peak ${mb(s.peakRss)}`,
      );
    }
    if (r.fileBytes) console.log(`  recording: ${mb(r.fileBytes)}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
