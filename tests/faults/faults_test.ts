/**
 * Each fault with a real client (npm:mysql2) through the proxy to the test MariaDB: what the
 * client sees (delays, a reset, an injected error code, a refused connection, a timeout, a
 * connection lost mid-result), and that sliced traffic still arrives intact.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { type ProxyServer, readRecording, record, startProxy } from "../../mod.ts";

const DATABASE = "faults_e2e";
/** Rows of about 1 KiB: 300 of them make a result of about 300 KiB. */
const BIG = "SELECT id, REPEAT(CHAR(65 + id % 26), 1000) AS payload FROM big ORDER BY id";

let prepared: Promise<unknown> | undefined;
function prepare(db: MariaDB) {
  prepared ??= db.sql(
    `CREATE DATABASE IF NOT EXISTS ${DATABASE}; CREATE TABLE IF NOT EXISTS ${DATABASE}.big (id INT PRIMARY KEY); ` +
      `CREATE TABLE IF NOT EXISTS ${DATABASE}.counter (id INT PRIMARY KEY, n INT); ` +
      `REPLACE INTO ${DATABASE}.counter VALUES (1, 0); ` +
      `REPLACE INTO ${DATABASE}.big SELECT n FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 300) SELECT n FROM s) AS numbers`,
  );
  return prepared;
}

async function withFaults(
  db: MariaDB,
  faults: string[],
  body: (
    proxy: ProxyServer,
    connect: (extra?: mysql.ConnectionOptions) => Promise<mysql.Connection>,
  ) => Promise<void>,
) {
  await prepare(db);
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    faults,
  });
  const open: mysql.Connection[] = [];
  const connect = async (extra: mysql.ConnectionOptions = {}) => {
    const conn = await mysql.createConnection({
      host: proxy.hostname,
      port: proxy.port,
      user: db.users.native.user,
      password: db.users.native.password,
      database: DATABASE,
      ...extra,
    });
    conn.on("error", () => {});
    open.push(conn);
    return conn;
  };
  try {
    await body(proxy, connect);
  } finally {
    for (const conn of open) conn.destroy();
  }
}

function digest(rows: unknown): string {
  return createHash("sha256").update(JSON.stringify(rows)).digest("hex");
}

liveTest("latency=200ms: every query takes at least 200 ms", async (db) => {
  await withFaults(db, ["latency=200ms"], async (_, connect) => {
    const conn = await connect();
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await conn.query("SELECT 1");
      const ms = performance.now() - started;
      assert.ok(ms >= 195 && ms < 5000, `query took ${ms.toFixed(0)} ms`);
    }
  });
});

liveTest("latency with direction=up and jitter: delays what the client sends", async (db) => {
  await withFaults(db, ["latency=100ms,jitter=50ms,direction=up"], async (_, connect) => {
    const conn = await connect();
    const started = performance.now();
    await conn.query("SELECT 1");
    const ms = performance.now() - started;
    assert.ok(ms >= 95 && ms < 5000, `query took ${ms.toFixed(0)} ms`);
  });
});

liveTest("bandwidth=128kb/s: 300 KiB of rows take about 2 s, and arrive intact", async (db) => {
  const [expected] = await (await withDirect(db)).query(BIG);
  await withFaults(db, ["bandwidth=128kb/s"], async (_, connect) => {
    const conn = await connect();
    const started = performance.now();
    const [rows] = await conn.query(BIG);
    const ms = performance.now() - started;
    assert.equal(digest(rows), digest(expected));
    assert.ok(ms >= 1500 && ms < 20000, `took ${ms.toFixed(0)} ms`);
  });
});

let direct: mysql.Connection | undefined;
async function withDirect(db: MariaDB) {
  await prepare(db);
  direct ??= await mysql.createConnection({
    host: db.hostname,
    port: db.port,
    user: db.users.native.user,
    password: db.users.native.password,
    database: DATABASE,
  });
  return direct;
}

liveTest("slice=64b: a 300 KiB result in 64-byte segments arrives intact", async (db) => {
  const [expected] = await (await withDirect(db)).query(BIG);
  await direct!.end();
  direct = undefined;
  await withFaults(db, ["slice=64b,direction=both"], async (_, connect) => {
    const conn = await connect();
    const [rows] = await conn.query(BIG);
    assert.equal((rows as unknown[]).length, 300);
    assert.equal(digest(rows), digest(expected));
    const [again] = await conn.execute("SELECT ? AS echo", ["x".repeat(5000)]);
    assert.equal((again as { echo: string }[])[0].echo.length, 5000);
  });
});

liveTest("reset-after=10kb: the client sees the connection reset (ECONNRESET)", async (db) => {
  await withFaults(db, ["reset-after=10kb"], async (_, connect) => {
    const conn = await connect();
    await assert.rejects(conn.query(BIG), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, "ECONNRESET", `${error.code}: ${error.message}`);
      return true;
    });
  });
});

liveTest("refuse: the client gets ERR 1040 Too many connections at connect", async (db) => {
  await withFaults(db, ["refuse"], async (_, connect) => {
    await assert.rejects(connect(), (error: mysql.QueryError) => {
      assert.equal(error.errno, 1040);
      assert.match(error.message, /Too many connections/);
      return true;
    });
  });
});

liveTest(
  "timeout: nothing is forwarded, the socket stays open, the client times out",
  async (db) => {
    await withFaults(db, ["timeout"], async (proxy, connect) => {
      await assert.rejects(connect({ connectTimeout: 700 }), (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, "ETIMEDOUT", error.message);
        return true;
      });
      assert.equal(proxy.activeConnections, 1);
    });
  },
);

liveTest(
  "error=1213,match=/^UPDATE/,every=2: every second UPDATE gets the injected deadlock",
  async (db) => {
    await withFaults(db, ["error=1213,match=/^UPDATE/i,every=2"], async (_, connect) => {
      const conn = await connect();
      const outcomes: string[] = [];
      for (let i = 0; i < 4; i++) {
        try {
          await conn.query("UPDATE counter SET n = n + 1 WHERE id = 1");
          outcomes.push("ok");
        } catch (error) {
          const err = error as mysql.QueryError;
          assert.equal(err.sqlState, "40001");
          outcomes.push(String(err.errno));
        }
        const [rows] = await conn.query("SELECT 1 AS one");
        assert.deepEqual(rows, [{ one: 1 }]);
      }
      assert.deepEqual(outcomes, ["ok", "1213", "ok", "1213"]);
    });
  },
);

liveTest("p= decides each occurrence: p=0 never fires, p=1 always", async (db) => {
  await withFaults(db, ["error=1205,p=0", "error=1213,match=/boom/,p=1"], async (_, connect) => {
    const conn = await connect();
    for (let i = 0; i < 5; i++) await conn.query("SELECT 1");
    await assert.rejects(conn.query("SELECT 'boom'"), { errno: 1213 });
  });
});

liveTest(
  "connections=0 targets no connection; the fault is listed with its counters",
  async (db) => {
    await withFaults(db, ["error=1213,connections=0"], async (proxy, connect) => {
      const conn = await connect();
      await conn.query("SELECT 1");
      assert.deepEqual(proxy.faults.list().map((f) => [f.kind, f.connections, f.fired]), [[
        "error",
        0,
        0,
      ]]);
    });
  },
);

liveTest(
  "drop-after-query: the client loses the connection in the middle of the result",
  async (db) => {
    await withFaults(db, ["drop-after-query=/FROM big/"], async (_, connect) => {
      const conn = await connect();
      const [small] = await conn.query("SELECT 2 AS two");
      assert.deepEqual(small, [{ two: 2 }]);
      await assert.rejects(conn.query(BIG), (error: mysql.QueryError) => {
        assert.equal(error.code, "PROTOCOL_CONNECTION_LOST", `${error.code}: ${error.message}`);
        return true;
      });
    });
  },
);

liveTest("slow-close=500ms: the client's connection ends late", async (db) => {
  await withFaults(db, ["slow-close=500ms"], async (_, connect) => {
    const conn = await connect();
    const closed = new Promise<number>((resolve) => {
      const core =
        (conn as unknown as { connection: { stream: { on(e: string, f: () => void): void } } })
          .connection;
      core.stream.on("close", () => resolve(performance.now()));
    });
    const started = performance.now();
    await conn.query("KILL CONNECTION_ID()").catch(() => {});
    const ms = (await closed) - started;
    assert.ok(ms >= 450, `closed after ${ms.toFixed(0)} ms`);
  });
});

liveTest(
  "record() with faults: the recording holds what the client saw and reads back whole",
  async (db) => {
    await prepare(db);
    const out = await Deno.makeTempFile({ suffix: ".jsonl" });
    try {
      const recording = await record({
        listen: "127.0.0.1:0",
        server: `${db.hostname}:${db.port}`,
        out,
        overwrite: true,
        faults: ["error=1213,match=/^UPDATE/", "drop-after-query=/FROM big/", "slice=64b"],
      });
      const conn = await mysql.createConnection({
        host: recording.hostname,
        port: recording.port,
        user: db.users.native.user,
        password: db.users.native.password,
        database: DATABASE,
      });
      conn.on("error", () => {});
      await assert.rejects(conn.query("UPDATE counter SET n = n + 1"), { errno: 1213 });
      await assert.rejects(conn.query(BIG), { code: "PROTOCOL_CONNECTION_LOST" });
      conn.destroy();
      await recording.close();
      const events = [];
      for await (const line of readRecording(out)) events.push(JSON.stringify(line.event));
      const text = events.join("\n");
      assert.match(text, /"sql":"UPDATE counter SET n = n \+ 1"/);
      assert.match(text, /"code":1213/);
      assert.match(text, /FROM big/);
    } finally {
      await Deno.remove(out);
    }
  },
);
