/**
 * The CLI: `proxy --fault` and `--control`, `proxy --script` with no server (the "done
 * means" commands, run as a user would), and `record --script`: the recording holds what the
 * client saw.
 *
 * @module
 */
import assert from "node:assert/strict";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { readRecording } from "../../mod.ts";
import { mariadbCli } from "../e2e/tls_helpers.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const SCRIPT = new URL("../../examples/show_databases.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Starts `mod.ts ARGS`, resolves once it prints its ready line; `stop()` sends SIGTERM. */
async function start(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args, "--listen", "127.0.0.1:0"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let stdout = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += decoder.decode(value, { stream: true });
    const match = /^Listening on 127\.0\.0\.1:(\d+)/m.exec(stdout);
    if (match) port = Number(match[1]);
  }
  const stderr = new Response(child.stderr).text();
  if (port === undefined) throw new Error(`did not start:\n${stdout}\n${await stderr}`);
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      return { status: await child.status, stdout, stderr: await stderr };
    },
  };
}

/** The mariadb CLI against the proxy: `args` then `-e SQL` (the last element of `args`). */
function mariadb(db: MariaDB, port: number, args: string[]) {
  return mariadbCli(db.bin.mariadb, port, args.slice(0, -2), args.at(-1)!);
}

liveTest(
  "proxy --script with no --server answers the mariadb CLI with db_1 to db_70",
  async (db) => {
    const proxy = await start(["proxy", "--script", SCRIPT]);
    const run = await mariadb(db, proxy.port, ["-u", "anyone", "-e", "SHOW DATABASES"]);
    const stopped = await proxy.stop();
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines.length, 71);
    assert.equal(lines[1], "db_1");
    assert.equal(lines[70], "db_70");
    assert.equal(stopped.status.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /forwarding to the script .*show_databases\.ts \(no --server\)/);
  },
);

liveTest(
  "proxy --fault latency=200ms: a query through the mariadb CLI takes at least 200 ms; --control lists it",
  async (db) => {
    const proxy = await start([
      "proxy",
      "--server",
      `${db.hostname}:${db.port}`,
      "--fault",
      "latency=200ms",
      "--fault",
      "error=1213,match=/^UPDATE/",
      "--control",
      "127.0.0.1:0",
    ]);
    const user = ["-u", db.users.native.user, `-p${db.users.native.password}`];
    try {
      const started = performance.now();
      const run = await mariadb(db, proxy.port, [...user, "-e", "SELECT 1; SELECT 2; SELECT 3"]);
      const ms = performance.now() - started;
      assert.equal(run.code, 0, run.stderr);
      // Greeting, login OK, version_comment, three queries: each answer at least 200 ms late.
      assert.ok(ms >= 5 * 200, `took ${ms.toFixed(0)} ms`);
      const failed = await mariadb(db, proxy.port, [...user, "-e", "UPDATE mysql.user SET x = 1"]);
      assert.match(failed.stderr, /ERROR 1213 \(40001\).*Deadlock/);
    } finally {
      const stopped = await proxy.stop();
      assert.equal(stopped.status.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /Control API on http:\/\/127\.0\.0\.1:\d+\/faults/);
    }
  },
);

liveTest(
  "record --script: the recording holds what the client saw (the script's answers)",
  async (db) => {
    const out = await Deno.makeTempFile({ suffix: ".jsonl" });
    try {
      const recorder = await start(["record", "--script", SCRIPT, "--out", out, "--overwrite"]);
      const run = await mariadb(db, recorder.port, [
        "-u",
        "anyone",
        "db_3",
        "-e",
        "SHOW DATABASES",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const stopped = await recorder.stop();
      assert.equal(stopped.status.code, 0, stopped.stderr);
      const lines = [];
      for await (const line of readRecording(out)) lines.push(line);
      const commands = lines.map((line) => line.event as unknown as { type: string; sql?: string })
        .filter((event) => event.type === "command");
      const show = commands.find((c) => c.sql === "SHOW DATABASES");
      assert.ok(show, JSON.stringify(commands).slice(0, 500));
      const text = lines.map((line) => JSON.stringify(line.event)).join("\n");
      assert.match(text, /db_70/);
    } finally {
      await Deno.remove(out);
    }
  },
);
