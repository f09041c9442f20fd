/**
 * sysbench (libmariadb) against a replay of its own run: record a short run through the recorder,
 * then run the same workload with the same random seed against the replay, which has no path to
 * MariaDB. No errors, no reconnects, no misses: with prepared statements and without.
 *
 * @module
 */
import assert from "node:assert/strict";
import { replay, type ReplayStats } from "../../mod.ts";
import { liveTest, type MariaDB, unavailableTest } from "../helpers/mariadb.ts";
import { findBinary } from "../helpers/mariadb_server.ts";
import { startRecorder } from "../helpers/recording.ts";

const DATABASE = "e2e_replay_sysbench";
const SYSBENCH = findBinary("sysbench");

async function sysbench(db: MariaDB, port: number, args: string[]): Promise<string> {
  const { user, password } = db.users.sysbench;
  const { code, stdout, stderr } = await new Deno.Command(SYSBENCH!, {
    args: [
      args[0],
      "--db-driver=mysql",
      "--mysql-host=127.0.0.1",
      `--mysql-port=${port}`,
      `--mysql-user=${user}`,
      `--mysql-password=${password}`,
      `--mysql-db=${DATABASE}`,
      "--mysql-ssl=off",
      "--tables=1",
      "--table-size=1000",
      ...args.slice(1),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, `sysbench ${args.join(" ")} failed (${code}):\n${text}`);
  assert.doesNotMatch(text, /FATAL|ALERT/, text);
  return text;
}

/** A number from sysbench's report, e.g. `ignored errors:  0  (0.00 per sec.)`. */
function reported(output: string, label: string): number {
  const match = output.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, "m"));
  if (!match) throw new Error(`sysbench reported no "${label}":\n${output}`);
  return Number(match[1]);
}

let prepared: Promise<unknown> | undefined;
function prepare(db: MariaDB): Promise<unknown> {
  prepared ??= db.sql(
    `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};` +
      ` GRANT ALL PRIVILEGES ON ${DATABASE}.* TO '${db.users.sysbench.user}'@'%'`,
  ).then(() => sysbench(db, db.port, ["oltp_read_only", "prepare"]));
  return prepared;
}

async function recordAndReplay(
  db: MariaDB,
  workload: string,
  mode: "auto" | "disable",
): Promise<{ recorded: string; replayed: string; stats: ReplayStats }> {
  await prepare(db);
  const run = (port: number) =>
    sysbench(db, port, [
      workload,
      `--db-ps-mode=${mode}`,
      "--threads=4",
      "--events=400",
      "--time=0",
      "--rand-seed=42",
      "--report-interval=0",
      "run",
    ]);
  await using recorder = await startRecorder(db);
  const recorded = await run(recorder.port);
  const path = await recorder.close();
  await using server = await replay(path, { listen: "127.0.0.1:0" });
  const replayed = await run(server.port);
  await server.drain();
  const stats = server.stats();
  console.log(
    `${workload} --db-ps-mode=${mode}: ${reported(replayed, "total")} statements replayed; ` +
      JSON.stringify(stats),
  );
  return { recorded, replayed, stats };
}

function assertClean(run: { recorded: string; replayed: string; stats: ReplayStats }) {
  const { replayed, recorded, stats } = run;
  assert.equal(reported(replayed, "ignored errors"), 0);
  assert.equal(reported(replayed, "reconnects"), 0);
  assert.equal(reported(replayed, "total"), reported(recorded, "total"));
  assert.equal(stats.misses, 0);
  assert.equal(stats.connections, 4);
  // The same seed sends mostly the same statements, but which thread runs which event depends on
  // timing, and the statements sent then differ a little from the recorded ones (repeated and
  // approximate matches): 0.93-0.99 exact when quiet, 0.88 once in the full suite on a busy
  // machine.
  // (BEGIN and COMMIT are session commands, answered from any connection.)
  assert.ok(stats.exact + stats.session > 0.8 * stats.matched, JSON.stringify(stats));
}

if (!SYSBENCH) {
  for (const mode of ["auto", "disable"]) {
    unavailableTest(`sysbench --db-ps-mode=${mode} replayed`, "sysbench not found on PATH");
  }
} else {
  for (const mode of ["auto", "disable"] as const) {
    liveTest(
      `sysbench oltp_point_select and oltp_read_only --db-ps-mode=${mode} replayed: no errors`,
      async (db) => {
        assertClean(await recordAndReplay(db, "oltp_point_select", mode));
        assertClean(await recordAndReplay(db, "oltp_read_only", mode));
      },
      { timeoutMs: 90_000 },
    );
  }
}
