/**
 * `deno run -A bench/compression.ts`: what the compressed protocol costs through the proxy.
 * sysbench cannot compress, so a mysql2 loop does the work: a few connections, each sending text
 * point selects (and, in the `range` workload, 100-row selects) back to back, with
 * `compress: true` and without, straight to MariaDB, through `proxy` (track mode: it inflates the
 * stream only to follow the protocol) and through `record` (full decoding and writing). With
 * `--before DIR`, also through the proxy of another checkout (e.g. the commit before compression
 * was decoded, made with `git worktree add`), to check that connections without compression did
 * not get slower. `--targets "proxy,proxy-before"` picks targets (names as printed). Interleaved rounds on one private MariaDB; prints the median queries per second
 * and the CPU the proxy process spent per 1000 queries.
 *
 * @module
 */
import { parseArgs } from "node:util";
import mysql from "mysql2/promise";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import { freePort } from "./targets.ts";

const args = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    time: { type: "string", default: "5" },
    connections: { type: "string", default: "4" },
    workloads: { type: "string", default: "point,range" },
    before: { type: "string" },
    targets: { type: "string" },
  },
});
const rounds = Number(args.values.rounds);
const seconds = Number(args.values.time);
const connections = Number(args.values.connections);
const workloads = args.values.workloads!.split(",");
const MOD = new URL("../mod.ts", import.meta.url).pathname;

await using db = await startMariaDB();
const user = db.users.native;
await db.sql("CREATE DATABASE IF NOT EXISTS bench_compress");
await db.sql(
  "CREATE OR REPLACE TABLE bench_compress.t " +
    "(id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60));" +
    "INSERT INTO bench_compress.t SELECT seq, seq % 1000, REPEAT(CHAR(97 + seq % 26), 120), " +
    "REPEAT('p', 60) FROM seq_1_to_10000;",
  { database: "bench_compress" },
);

interface Target {
  name: string;
  command?: string[];
  compress: boolean;
}

const proxy = (mod: string, extra: string[] = []) => (port: number) => [
  "run",
  "-A",
  mod,
  ...extra,
  "--listen",
  `127.0.0.1:${port}`,
  "--server",
  `127.0.0.1:${db.port}`,
  "--quiet",
];
const out = await Deno.makeTempFile({ suffix: ".jsonl" });
const commands: Record<string, ((port: number) => string[]) | undefined> = {
  direct: undefined,
  proxy: (port) => proxy(MOD, ["proxy"])(port),
  record: (port) => proxy(MOD, ["record", "--overwrite", "--out", out])(port),
};
if (args.values.before) {
  commands["proxy-before"] = (port) => proxy(`${args.values.before}/mod.ts`, ["proxy"])(port);
}
const targets: Target[] = [];
const only = args.values.targets?.split(",");
for (const name of Object.keys(commands)) {
  for (const compress of [false, true]) {
    if (only && !only.includes(`${name}${compress ? " compress" : ""}`)) continue;
    // The checkout from before cleared CLIENT_COMPRESS: only its uncompressed figure means something.
    if (name === "proxy-before" && compress) continue;
    targets.push({ name, compress });
  }
}

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

/** Children of `pid` (deno run may exec or spawn): the process that does the work is the newest. */
function worker(pid: number): number {
  try {
    const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    return children ? Number(children.split(" ").at(-1)) : pid;
  } catch {
    return pid;
  }
}

async function startTarget(
  name: string,
): Promise<{ port: number; stop(): Promise<void>; pid?: number }> {
  const make = commands[name];
  if (!make) return { port: db.port, stop: () => Promise.resolve() };
  const port = await freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: make(port),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("Listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited before listening`);
    seen += value;
  }
  // Drain the rest so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return {
    port,
    pid: worker(child.pid),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function measure(target: Target, workload: string): Promise<{ qps: number; cpu?: number }> {
  const running = await startTarget(target.name);
  try {
    const conns = await Promise.all(
      Array.from({ length: connections }, () =>
        mysql.createConnection({
          host: "127.0.0.1",
          port: running.port,
          user: user.user,
          password: user.password,
          database: "bench_compress",
          compress: target.compress,
        })),
    );
    const before = running.pid ? cpuTicks(running.pid) : 0;
    const end = performance.now() + seconds * 1000;
    let queries = 0;
    await Promise.all(conns.map(async (conn, c) => {
      let i = c;
      while (performance.now() < end) {
        i = (i * 7919 + 13) % 10000;
        if (workload === "range" && i % 10 === 0) {
          await conn.query(`SELECT id, k, c, pad FROM t WHERE id BETWEEN ${i} AND ${i + 99}`);
        } else {
          await conn.query(`SELECT id, k, c, pad FROM t WHERE id = ${i + 1}`);
        }
        queries++;
      }
    }));
    const cpu = running.pid
      ? (cpuTicks(running.pid) - before) / 100 * 1000 / (queries / 1000) // ms per 1000 queries
      : undefined;
    await Promise.all(conns.map((c) => c.end()));
    return { qps: queries / seconds, cpu };
  } finally {
    await running.stop();
  }
}

const median = (values: number[]) => values.toSorted((a, b) => a - b)[values.length >> 1];
for (const workload of workloads) {
  const results = new Map<string, { qps: number[]; cpu: number[] }>();
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round, so drift on a busy machine hits every target alike.
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const target of order) {
      const key = `${target.name}${target.compress ? " compress" : ""}`;
      const { qps, cpu } = await measure(target, workload);
      console.error(`${workload} round ${round + 1}: ${key} ${qps.toFixed(0)} q/s`);
      const entry = results.get(key) ?? { qps: [], cpu: [] };
      entry.qps.push(qps);
      if (cpu !== undefined) entry.cpu.push(cpu);
      results.set(key, entry);
    }
  }
  console.log(`\n${workload} (${connections} connections, ${rounds} rounds of ${seconds} s)`);
  console.log("| target | median q/s | range | proxy CPU ms / 1000 queries |");
  console.log("| --- | ---: | --- | ---: |");
  for (const [key, { qps, cpu }] of results) {
    const range = `${Math.min(...qps).toFixed(0)}-${Math.max(...qps).toFixed(0)}`;
    const cpuText = cpu.length ? median(cpu).toFixed(0) : "";
    console.log(`| ${key} | ${median(qps).toFixed(0)} | ${range} | ${cpuText} |`);
  }
}
await Deno.remove(out).catch(() => {});
