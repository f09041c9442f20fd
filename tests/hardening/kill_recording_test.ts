/**
 * `record` killed with SIGKILL under load (8 mysql2 connections querying as fast as they can)
 * leaves a file that `inspect` reads and `replay` serves, up to its last complete line, with no
 * option: a last line cut short is dropped with a warning.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { replay } from "../../mod.ts";
import { liveTest } from "../helpers/mariadb.ts";
import { runCli, startCli } from "./cli.ts";

const WORKERS = 8;

/** Lines written to `path` so far (0 while it does not exist). */
async function linesIn(path: string): Promise<number> {
  try {
    let lines = 0;
    for (const byte of await Deno.readFile(path)) if (byte === 10) lines++;
    return lines;
  } catch {
    return 0;
  }
}

liveTest(
  "record killed with -9 under load: inspect reads the file and replay serves it",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "kill-record-" });
    try {
      const out = `${dir}/killed.jsonl`;
      const recorder = await startCli([
        ...["record", "--quiet", "--listen", "127.0.0.1:0"],
        ...["--server", `${db.hostname}:${db.port}`, "--out", out],
      ]);
      const port = recorder.port;
      const { user, password } = db.users.native;
      let answered = 0;
      let stop = false;
      const lost: string[] = [];
      const worker = async (w: number) => {
        const conn = await mysql.createConnection({ host: "127.0.0.1", port, user, password });
        conn.on("error", () => {});
        try {
          for (let i = 0; !stop; i++) {
            const [rows] = await conn.query(`SELECT ${w} AS w, ${i} AS i, REPEAT('r', 200) AS pad`);
            assert.equal((rows as { i: number }[])[0].i, i);
            answered++;
          }
        } catch (error) {
          lost.push((error as { code?: string }).code ?? String(error));
        } finally {
          conn.destroy();
        }
      };
      const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
      // Under load for a while (thousands of queries, a thousand of them in the file: recording
      // runs behind the relay, further on a slow machine), then SIGKILL mid-run. A recorder that
      // writes nothing while the traffic flows fails here (CI once saw an empty file).
      const deadline = performance.now() + 30_000;
      while (answered < 3000 || await linesIn(out) < 1000) {
        assert.ok(performance.now() < deadline, `${await linesIn(out)} lines after 30 s of load`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const killed = await recorder.stop("SIGKILL");
      stop = true;
      await Promise.all(workers);
      assert.equal(killed.signal, "SIGKILL");
      assert.equal(lost.length, WORKERS, "every client lost its connection when the proxy died");

      // inspect: valid (exit 0), whatever the last line holds.
      const inspected = await runCli(["inspect", "--json", out]);
      const stderr = inspected.stderr;
      assert.equal(inspected.code, 0, stderr);
      const report = JSON.parse(inspected.stdout);
      assert.equal(report.connections.length, WORKERS);
      assert.ok(report.commands.total > 1000, `${report.commands.total} commands recorded`);
      // Killed: connections have no close line, and the warning says so.
      assert.match(stderr, /have no "close" line/);

      // replay (no option) serves what was recorded: worker 0's first query, as MariaDB answered it.
      const warnings: string[] = [];
      await using server = await replay(out, {
        listen: "127.0.0.1:0",
        onWarning: (w) => warnings.push(w),
      });
      assert.ok(server.stats().recorded > 1000);
      const conn = await mysql.createConnection({
        host: "127.0.0.1",
        port: server.port,
        user,
        password: "any",
      });
      try {
        const [rows] = await conn.query("SELECT 0 AS w, 0 AS i, REPEAT('r', 200) AS pad");
        assert.deepEqual(rows, [{ w: 0, i: 0, pad: "r".repeat(200) }]);
      } finally {
        await conn.end();
      }
      console.log(
        `killed after ${answered} answers: ${report.commands.total} commands in ${report.lines} ` +
          `lines; warnings: ${[...stderr.trim().split("\n"), ...warnings].length}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { timeoutMs: 90_000 },
);
