/**
 * What the TLS work is for, with the command lines: a client that insists on TLS (the mariadb CLI
 * with `--ssl`, a REQUIRE SSL user) is recorded by `record --tls-auto --server-tls required`, the
 * recording holds its decoded queries and no password, and `replay --tls-auto` serves them back
 * over TLS to the same CLI and to mysql2 (`ssl: { rejectUnauthorized: false }`).
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { mariadbCli } from "./tls_helpers.ts";
import { loadRecording } from "../../src/record/reader.ts";
import { inspectRecording } from "../../src/record/inspect.ts";

const DATABASE = "e2e_tls_replay";
const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const USER = { user: "tls_replay", password: "Replay-Tls-Secret-7" };
const QUERY = `SELECT id, name FROM ${DATABASE}.t ORDER BY id`;
const decoder = new TextDecoder();

interface Server {
  child: Deno.ChildProcess;
  port: number;
  /** Everything printed so far on stdout, and stderr once it ended. */
  finish(): Promise<{ stdout: string; stderr: string; code: number }>;
}

/** Starts `mod.ts <command>` and waits for its ready line. */
async function start(command: string[], ready: RegExp): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...command, "--listen", "127.0.0.1:0"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let stdout = "";
  let port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += decoder.decode(value, { stream: true });
    const match = ready.exec(stdout);
    if (match) port = Number(match[1]);
  }
  const stderr = new Response(child.stderr).text();
  if (!port) {
    await child.status;
    throw new Error(`${command[0]} did not start:\n${stdout}\n${await stderr}`);
  }
  return {
    child,
    port,
    async finish() {
      child.kill("SIGINT");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      return { stdout, stderr: await stderr, code: (await child.status).code };
    },
  };
}

function cli(db: MariaDB, port: number, sql: string) {
  return mariadbCli(db.bin.mariadb, port, [
    "--ssl",
    `--user=${USER.user}`,
    `--password=${USER.password}`,
  ], sql);
}

liveTest(
  "record --tls-auto --server-tls required, then replay --tls-auto: a TLS-only client records and replays, the recording holds its queries",
  async (db) => {
    await db.sql(`
    DROP DATABASE IF EXISTS ${DATABASE};
    CREATE DATABASE ${DATABASE};
    CREATE TABLE ${DATABASE}.t (id INT PRIMARY KEY, name VARCHAR(20));
    INSERT INTO ${DATABASE}.t VALUES (1, 'alpha'), (2, 'beta');
    CREATE OR REPLACE USER '${USER.user}'@'%' IDENTIFIED BY '${USER.password}' REQUIRE SSL;
    GRANT ALL ON ${DATABASE}.* TO '${USER.user}'@'%';
  `);
    const out = await Deno.makeTempFile({ prefix: "tls-replay-", suffix: ".jsonl" });
    try {
      const recorder = await start([
        "record",
        "--server",
        `${db.hostname}:${db.port}`,
        "--out",
        out,
        "--overwrite",
        "--tls-auto",
        "--server-tls",
        "required",
      ], /^Listening on 127\.0\.0\.1:(\d+),/m);
      const direct = await cli(db, db.port, `status; ${QUERY}`);
      const recorded = await cli(db, recorder.port, `status; ${QUERY}`);
      const recording = await recorder.finish();
      assert.equal(recorded.code, 0, recorded.stderr);
      assert.equal(recording.code, 0, recording.stderr);
      assert.match(
        recording.stderr,
        /certificate SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2} \(self-signed/,
      );
      assert.match(recorded.stdout, /SSL:\s+Cipher in use is TLS/);
      assert.match(recorded.stdout, /id\tname\n1\talpha\n2\tbeta\n/);
      assert.equal(
        recorded.stdout.split(/\n/).filter((l) => /^\d\t/.test(l)).join(),
        direct.stdout.split(/\n/).filter((l) => /^\d\t/.test(l)).join(),
      );

      const file = await Deno.readTextFile(out);
      assert(file.includes(QUERY), "the recording holds the decoded query");
      assert(!file.includes(USER.password), "no password in the recording");
      const conn = (await loadRecording(out)).connections.get(1)!;
      assert.equal(conn.auth[0].packet.kind, "ssl-request");
      assert.equal((await inspectRecording(out)).connections[0].tls, true, "inspect says TLS");

      const replaying = await start(["replay", out, "--tls-auto"], /on 127\.0\.0\.1:(\d+)/);
      try {
        const replayed = await cli(db, replaying.port, QUERY);
        assert.equal(replayed.code, 0, replayed.stderr);
        assert.equal(replayed.stdout, "id\tname\n1\talpha\n2\tbeta\n");
        const connection = await mysql.createConnection({
          host: "127.0.0.1",
          port: replaying.port,
          ...USER,
          ssl: { rejectUnauthorized: false },
        });
        try {
          const [rows] = await connection.query(QUERY);
          assert.deepEqual(rows, [{ id: 1, name: "alpha" }, { id: 2, name: "beta" }]);
        } finally {
          await connection.end();
        }
        // TLS and compression at once: replay compresses inside the TLS session.
        const compressed = await mysql.createConnection({
          host: "127.0.0.1",
          port: replaying.port,
          ...USER,
          ssl: { rejectUnauthorized: false },
          compress: true,
        });
        try {
          const [rows] = await compressed.query(QUERY);
          assert.deepEqual(rows, [{ id: 1, name: "alpha" }, { id: 2, name: "beta" }]);
        } finally {
          await compressed.end();
        }
      } finally {
        const done = await replaying.finish();
        assert.match(done.stderr, /TLS offered to clients/);
        assert.match(done.stdout, /0 misses/);
      }
    } finally {
      await Deno.remove(out).catch(() => {});
    }
  },
);

Deno.test("proxy, record and replay refuse TLS options they cannot use: exit 2 for usage, 1 for a bad certificate, naming the problem", async () => {
  const run = async (args: string[]) => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MOD, ...args, "--listen", "127.0.0.1:0"],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    return { code, stderr: decoder.decode(stderr) };
  };
  const readme = new URL("../../README.md", import.meta.url).pathname;
  const demo = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
  const cases: [string[], number, RegExp][] = [
    [["proxy", "--tls-cert", "x.pem"], 2, /--tls-cert and --tls-key go together/],
    [["record", "--server-tls", "bogus"], 2, /Unknown TLS mode "bogus"/],
    [["proxy", "--tls-auto", "--tls-cert", "a", "--tls-key", "b"], 2, /either --tls-auto or/],
    [
      ["replay", demo, "--tls-cert", readme, "--tls-key", readme],
      1,
      /README\.md: not a PEM certificate/,
    ],
    [["proxy", "--tls-cert", "/nonexistent.pem", "--tls-key", "k"], 1, /Cannot read the TLS/],
  ];
  for (const [args, code, message] of cases) {
    const result = await run(args);
    assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
