/**
 * The `replay` subcommand as a process: the ready line, the summary and report at exit, exit codes
 * (--strict, invalid recordings, usage errors), unix sockets, merged files and directories,
 * SIGINT. The recordings are small hand-written ones: these tests need no MariaDB.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { rows, writeRecording } from "../replay/recordings.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

/** A running `replay` process. */
interface Running {
  child: Deno.ChildProcess;
  /** The ready line (parsed when --json). */
  ready: string;
  /** Everything else it printed on stdout and stderr, once it exited. */
  finish(): Promise<{ code: number; stdout: string; stderr: string }>;
}

async function start(args: string[]): Promise<Running> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "replay", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const newline = stdout.indexOf("\n");
  const ready = stdout.slice(0, newline);
  let rest = stdout.slice(newline + 1);
  const stderrText = new Response(child.stderr).text();
  return {
    child,
    ready,
    async finish() {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
      }
      const { code } = await child.status;
      return { code, stdout: rest, stderr: await stderrText };
    },
  };
}

/** Runs `replay` to completion (for invalid input that ends it at once). */
async function runToEnd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "replay", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

const COMMANDS = [
  { cmd: "query", sql: "SELECT v FROM t WHERE id = 1", ...rows("one") },
  { cmd: "query", sql: "SELECT v FROM t WHERE id = 2", ...rows("two") },
];

async function ask(target: mysql.ConnectionOptions, sql: string): Promise<unknown> {
  const c = await mysql.createConnection({ ...target, user: "app", password: "secret?" });
  try {
    return (await c.query(sql))[0];
  } catch (error) {
    return `${(error as { errno: number }).errno}`;
  } finally {
    await c.end();
  }
}

Deno.test("replay CLI --json: ready line, summary and --report at SIGINT, exit 0", async () => {
  const path = await writeRecording([{ commands: COMMANDS }]);
  const report = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const running = await start([path, "--listen", "127.0.0.1:0", "--json", "--report", report]);
    const ready = JSON.parse(running.ready);
    assert.equal(ready.event, "listening");
    assert.equal(ready.exchanges, 2);
    const [host, port] = [ready.listen.split(":")[0], Number(ready.listen.split(":")[1])];
    assert.deepEqual(await ask({ host, port }, "SELECT v FROM t WHERE id = 1"), [{ v: "one" }]);
    assert.equal(await ask({ host, port }, "SELECT w FROM t"), "1105");
    running.child.kill("SIGINT");
    const { code, stdout, stderr } = await running.finish();
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.equal(summary.event, "summary");
    assert.equal(summary.connections, 2);
    assert.equal(summary.exact, 1);
    assert.equal(summary.misses, 1);
    assert.equal(summary.unused, 1);
    assert.equal(summary.failed, false);
    const written = JSON.parse(await Deno.readTextFile(report));
    assert.equal(written.misses[0].request, 'query "SELECT w FROM t"');
    assert.equal(written.misses[0].closest.request, 'query "SELECT v FROM t WHERE id = 1"');
    assert.deepEqual(written.unused.map((u: { request: string }) => u.request), [
      'query "SELECT v FROM t WHERE id = 2"',
    ]);
    assert.match(stderr, /replay-miss|Replay has no recorded answer for query "SELECT w FROM t"/);
  } finally {
    await Deno.remove(path);
    await Deno.remove(report);
  }
});

Deno.test("replay CLI --strict exits 1 and lists the misses and unused exchanges", async () => {
  const path = await writeRecording([{ commands: COMMANDS }]);
  try {
    const running = await start([path, "--listen", "127.0.0.1:0", "--strict"]);
    const port = Number(running.ready.match(/ on 127\.0\.0\.1:(\d+)$/)![1]);
    assert.equal(await ask({ host: "127.0.0.1", port }, "SELECT nothing"), "1105");
    running.child.kill("SIGTERM");
    const { code, stdout } = await running.finish();
    assert.equal(code, 1);
    assert.match(stdout, /^Served 1 connection: 1 command, 0 matched .* 1 miss; 2 of 2 recorded/m);
    assert.match(stdout, /miss: Replay has no recorded answer for query "SELECT nothing"/);
    assert.match(stdout, /never used: query "SELECT v FROM t WHERE id = 1"/);
    assert.match(stdout, /Strict mode: failing/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("replay CLI serves a unix socket and merges files and directories", async () => {
  const dir = await Deno.makeTempDir();
  const first = await writeRecording([{ commands: COMMANDS.slice(0, 1) }]);
  const second = await writeRecording([{ commands: COMMANDS.slice(1) }]);
  await Deno.rename(first, join(dir, "a.jsonl"));
  await Deno.rename(second, join(dir, "b.jsonl"));
  const third = await writeRecording([{
    commands: [{ cmd: "query", sql: "SELECT v FROM t WHERE id = 3", ...rows("three") }],
  }]);
  const socket = join(dir, "replay.sock");
  try {
    const running = await start([dir, third, "--listen", `unix:${socket}`, "--strict"]);
    assert.match(running.ready, /^Replaying 3 recorded exchanges from .* on unix:/);
    for (const [id, value] of [[1, "one"], [2, "two"], [3, "three"]]) {
      assert.deepEqual(await ask({ socketPath: socket }, `SELECT v FROM t WHERE id = ${id}`), [{
        v: value,
      }]);
    }
    running.child.kill("SIGINT");
    const { code, stdout } = await running.finish();
    assert.equal(code, 0, stdout);
    assert.match(stdout, /3 matched \(3 exact/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(third);
  }
});

Deno.test("replay CLI names the invalid line and exits 1; --lenient serves the rest", async () => {
  const path = await writeRecording([{ commands: COMMANDS }]);
  const lines = (await Deno.readTextFile(path)).split("\n");
  const broken = lines.findIndex((line) => line.includes("id = 2"));
  lines.splice(broken, 0, '{"type":"open","conn":"x"}');
  await Deno.writeTextFile(path, lines.join("\n"));
  try {
    const failed = await runToEnd([path, "--listen", "127.0.0.1:0"]);
    assert.equal(failed.code, 1);
    assert.equal(
      failed.stderr.trim(),
      `replay: Invalid recording at ${path}:${broken + 1}: a "open" event needs a valid "conn" ` +
        `(got "x")`,
    );
    const running = await start([path, "--listen", "127.0.0.1:0", "--lenient"]);
    const port = Number(running.ready.match(/:(\d+)$/)![1]);
    assert.deepEqual(await ask({ host: "127.0.0.1", port }, "SELECT v FROM t WHERE id = 2"), [{
      v: "two",
    }]);
    running.child.kill("SIGINT");
    const { code, stderr } = await running.finish();
    assert.equal(code, 0);
    assert.match(stderr, new RegExp(`WARN .*:${broken + 1}: a "open" event needs a valid "conn"`));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("replay CLI usage errors exit 2; --help exits 0", async () => {
  const none = await runToEnd([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Give at least one recording/);
  const speed = await runToEnd(["x.jsonl", "--speed", "0"]);
  assert.equal(speed.code, 2);
  assert.match(speed.stderr, /--speed needs a positive number, got "0"/);
  const unknown = await runToEnd(["x.jsonl", "--bogus"]);
  assert.equal(unknown.code, 2);
  const missing = await runToEnd(["/nonexistent/x.jsonl"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read recording \/nonexistent\/x.jsonl: no such file/);
  const help = await runToEnd(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno run -A mod.ts replay FILE.jsonl/);
});
