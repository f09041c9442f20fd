/**
 * `deno task bench:record-size`: how large a recording is against the bytes that crossed the wire.
 * Runs sysbench workloads (prepared statements and plain queries) through `record` (the CLI, as
 * its own process) against a throwaway MariaDB and prints, per workload, the bytes on the wire,
 * the file size, their ratio (the target: at most 1.5x) and the recorder's CPU time per
 * 1000 queries.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import { cpuMs, parseReport } from "./sysbench.ts";
import { freePort } from "./targets.ts";

const USAGE = `Usage: deno task bench:record-size [options]

  --workloads LIST   sysbench scripts (default oltp_point_select,oltp_read_write)
  --ps-modes LIST    --db-ps-mode values (default auto,disable: prepared statements and plain text)
  --time S           seconds per run (default 10)
  --threads N        sysbench threads (default 8)
  --table-size N     rows in sbtest1 (default 10000)
  --keep DIR         keep the recordings in DIR (default: deleted)
  --json             one JSON object instead of the table`;

interface SizeResult {
  workload: string;
  psMode: string;
  queries: number;
  qps: number;
  wireBytes: number;
  fileBytes: number;
  ratio: number;
  lines: number;
  longestLine: number;
  recorderCpuMsPer1k: number;
}

const MOD = new URL("../mod.ts", import.meta.url).pathname;

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      workloads: { type: "string", default: "oltp_point_select,oltp_read_write" },
      "ps-modes": { type: "string", default: "auto,disable" },
      time: { type: "string", default: "10" },
      threads: { type: "string", default: "8" },
      "table-size": { type: "string", default: "10000" },
      keep: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  await using db = await startMariaDB({ tls: false });
  const dir = values.keep ?? await Deno.makeTempDir({ prefix: "record-size-" });
  await Deno.mkdir(dir, { recursive: true });
  const common = [
    "--db-driver=mysql",
    "--mysql-host=127.0.0.1",
    `--mysql-user=${db.users.sysbench.user}`,
    `--mysql-password=${db.users.sysbench.password}`,
    "--mysql-db=sbtest",
    "--mysql-ssl=off",
    "--tables=1",
    `--table-size=${values["table-size"]}`,
  ];
  await sysbench(["oltp_point_select", ...common, `--mysql-port=${db.port}`, "prepare"]);
  const results: SizeResult[] = [];
  try {
    for (const workload of values.workloads.split(",")) {
      for (const psMode of values["ps-modes"].split(",")) {
        const out = join(dir, `${workload}-${psMode}.jsonl`);
        const port = freePort();
        const recorder = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            MOD,
            "record",
            "--quiet",
            "--json",
            "--overwrite",
            "--listen",
            `127.0.0.1:${port}`,
            "--server",
            `127.0.0.1:${db.port}`,
            "--out",
            out,
          ],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        await waitForPort(port);
        const before = cpuMs(recorder.pid);
        const report = parseReport(
          await sysbench([
            workload,
            ...common,
            `--mysql-port=${port}`,
            `--db-ps-mode=${psMode}`,
            `--threads=${values.threads}`,
            `--time=${values.time}`,
            "--events=0",
            "run",
          ]),
        );
        const cpu = cpuMs(recorder.pid);
        recorder.kill("SIGINT");
        const output = new TextDecoder().decode((await recorder.output()).stdout);
        const summary = output.split("\n").filter((l) =>
          l.includes('"recorded"')
        ).map((l) => JSON.parse(l))[0];
        if (!summary) throw new Error(`record printed no summary:\n${output}`);
        const wireBytes = summary.wire.client + summary.wire.server;
        results.push({
          workload,
          psMode,
          queries: report.queries,
          qps: report.qps,
          wireBytes,
          fileBytes: summary.bytesWritten,
          ratio: summary.bytesWritten / wireBytes,
          lines: summary.lines,
          longestLine: summary.longestLine,
          recorderCpuMsPer1k: (cpu.user + cpu.system - before.user - before.system) /
            report.queries * 1000,
        });
        console.error(`${workload} --db-ps-mode=${psMode}: ${format(results.at(-1)!)}`);
      }
    }
  } finally {
    if (values.keep === undefined) await Deno.remove(dir, { recursive: true });
  }
  if (values.json) console.log(JSON.stringify({ results }, null, 2));
  else {for (const result of results) {
      console.log(`${result.workload} ps=${result.psMode}: ${format(result)}`);
    }}
  return 0;
}

function format(r: SizeResult): string {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${r.queries.toLocaleString("en-US")} queries (${Math.round(r.qps)} qps), wire ${
    mib(r.wireBytes)
  }, file ${mib(r.fileBytes)}, ratio ${r.ratio.toFixed(3)}x, longest line ${r.longestLine} B, ` +
    `recorder ${r.recorderCpuMsPer1k.toFixed(1)} cpu-ms/1k q`;
}

async function sysbench(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("sysbench", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(
      `sysbench ${args[0]} failed (${code}): ${new TextDecoder().decode(stderr)}${text}`,
    );
  }
  return text;
}

async function waitForPort(port: number): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`record did not listen on port ${port}`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
