/**
 * The server restarts under the recording proxy: the client whose connection it had loses it, a
 * client connecting while it is down gets ERR 2003 from the proxy, and once the server is back the
 * same proxy serves new connections; the recording stays readable. A private MariaDB, stopped
 * with SIGTERM (a clean restart) and started again on the same port and datadir.
 */
import assert from "node:assert/strict";
import process from "node:process";
import mysql from "mysql2/promise";
import { record } from "../../mod.ts";
import { loadRecording } from "../../src/record/reader.ts";
import { LIVE, startMariaDB } from "../helpers/mariadb.ts";
import { captureLogger } from "../fuzz/net.ts";

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000) {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out waiting until ${what}`);
}

Deno.test({
  name: "record: the server restarts mid-session; clients get errors, the proxy serves again after",
  ignore: !LIVE.available,
  async fn() {
    await using db = await startMariaDB({ tls: false });
    // How it was started, to start it again the same way once stopped.
    const argv = Deno.readTextFileSync(`/proc/${db.pid}/cmdline`).split("\0").filter((a) => a);
    const log = captureLogger();
    const dir = await Deno.makeTempDir({ prefix: "restart-" });
    let restarted: Deno.ChildProcess | undefined;
    try {
      const recording = await record({
        listen: "127.0.0.1:0",
        server: `${db.hostname}:${db.port}`,
        out: `${dir}/restart.jsonl`,
        logger: log.logger,
        connectTimeoutMs: 2000,
      });
      const { user, password } = db.users.native;
      const options = { host: "127.0.0.1", port: recording.port, user, password };
      try {
        const before = await mysql.createConnection(options);
        before.on("error", () => {});
        const [rows] = await before.query("SELECT 1 AS up");
        assert.deepEqual(rows, [{ up: 1 }]);

        process.kill(db.pid, "SIGTERM");
        await until("mariadbd has stopped", () => !alive(db.pid));
        // The open session: its server went away.
        // The open session: its server went away (MariaDB told it, ERR 1053, before closing;
        // mysql2 then reports the connection closed).
        await assert.rejects(
          before.query("SELECT 2 AS gone"),
          (error: { code?: string; fatal?: boolean; message: string }) =>
            error.fatal === true || /closed state|Server shutdown/.test(error.message),
        );
        before.destroy();
        // A new client while the server is down: the proxy answers ERR 2003 and stays up.
        await assert.rejects(
          mysql.createConnection(options),
          (error: { errno?: number; message: string }) =>
            error.errno === 2003 && /Can't connect to MySQL server/.test(error.message),
        );
        await log.waitFor("server-unreachable", 1);

        restarted = new Deno.Command(argv[0], {
          args: argv.slice(1),
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        // Back: the same proxy serves new connections.
        await until("the restarted server answers through the proxy", async () => {
          try {
            const conn = await mysql.createConnection(options);
            await conn.end();
            return true;
          } catch {
            return false;
          }
        });
        const after = await mysql.createConnection(options);
        try {
          const [again] = await after.query("SELECT 3 AS back");
          assert.deepEqual(again, [{ back: 3 }]);
        } finally {
          await after.end();
        }
      } finally {
        await recording.close();
      }
      const errors = log.records.filter((r) => r.level === "error");
      assert.deepEqual(errors.map((r) => r.message), []);
      const loaded = await loadRecording(`${dir}/restart.jsonl`);
      const sql = [...loaded.connections.values()].flatMap((c) => c.commands)
        .map((c) => c.event.sql);
      assert.ok(sql.includes("SELECT 1 AS up") && sql.includes("SELECT 3 AS back"), String(sql));
    } finally {
      if (restarted) {
        restarted.kill("SIGTERM");
        await restarted.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
