/**
 * Hooks through the mediated loop, with npm:mysql2 against the test MariaDB: rewrite, answer
 * directly, inject a query, observe and replace a response, deny a login, a throwing hook.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import {
  createLogger,
  errorAnswer,
  type Hooks,
  type QueryResult,
  resultSet,
  rewrite,
  startProxy,
} from "../../mod.ts";

const DATABASE = "hooks_mediate";

async function withHooks(
  db: MariaDB,
  hooks: Hooks,
  body: (
    connect: (database?: string) => Promise<mysql.Connection>,
    logs: string[],
  ) => Promise<void>,
) {
  await db.sql(
    `CREATE DATABASE IF NOT EXISTS ${DATABASE}; CREATE TABLE IF NOT EXISTS ${DATABASE}.t (id INT PRIMARY KEY, name VARCHAR(20)); REPLACE INTO ${DATABASE}.t VALUES (1, 'one'), (2, 'two'), (3, 'three')`,
  );
  const logs: string[] = [];
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    script: hooks,
    logger: createLogger({ format: "json", write: (line) => logs.push(line) }),
  });
  const connect = (database = DATABASE) =>
    mysql.createConnection({
      host: proxy.hostname,
      port: proxy.port,
      user: db.users.native.user,
      password: db.users.native.password,
      database,
    });
  await body(connect, logs);
}

liveTest("readQuery rewrite: the server runs the new SQL, the client gets its rows", async (db) => {
  await withHooks(db, {
    readQuery: ({ sql }) =>
      sql?.startsWith("SELECT name FROM t") ? rewrite(`${sql} ORDER BY id LIMIT 1`) : undefined,
  }, async (connect) => {
    const conn = await connect();
    const [rows] = await conn.query("SELECT name FROM t");
    assert.deepEqual(rows, [{ name: "one" }]);
    const [all] = await conn.query("SELECT id FROM t ORDER BY id");
    assert.equal((all as unknown[]).length, 3);
    await conn.end();
  });
});

liveTest("readQuery answers: a result set, an OK and an ERR made of plain values", async (db) => {
  await withHooks(db, {
    readQuery({ sql }) {
      if (sql === "SELECT magic") {
        return resultSet({
          columns: ["n", "s", { name: "f", type: "DOUBLE" }, "nothing"],
          rows: [[42, "forty-two", 4.5, null], [7n, "seven", 1, null]],
        });
      }
      if (sql === "DELETE FROM everything") return { kind: "ok", affectedRows: 99 };
      if (sql === "SELECT broken") return errorAnswer(1146, "Table 'x' doesn't exist", "42S02");
      return undefined;
    },
  }, async (connect) => {
    const conn = await connect();
    const [rows] = await conn.query("SELECT magic");
    assert.deepEqual(rows, [
      { n: 42, s: "forty-two", f: 4.5, nothing: null },
      { n: 7, s: "seven", f: 1, nothing: null },
    ]);
    const [ok] = await conn.query("DELETE FROM everything");
    assert.equal((ok as mysql.ResultSetHeader).affectedRows, 99);
    await assert.rejects(conn.query("SELECT broken"), (error: mysql.QueryError) => {
      assert.equal(error.errno, 1146);
      assert.equal(error.sqlState, "42S02");
      return true;
    });
    // The connection goes on, with the server.
    const [real] = await conn.query("SELECT COUNT(*) AS c FROM t");
    assert.deepEqual(real, [{ c: 3 }]);
    await conn.end();
  });
});

liveTest("injected queries: the script sees their results, the client never does", async (db) => {
  const seen: QueryResult[] = [];
  await withHooks(db, {
    async readQuery({ sql, query }) {
      if (sql === "SELECT who") {
        const result = await query("SELECT CURRENT_USER() AS u, DATABASE() AS d");
        seen.push(result);
        return resultSet({ columns: ["who"], rows: [[String(result.resultSets[0].rows[0][1])]] });
      }
      return undefined;
    },
  }, async (connect) => {
    const conn = await connect();
    const [rows] = await conn.query("SELECT who");
    assert.deepEqual(rows, [{ who: DATABASE }]);
    const [after] = await conn.query("SELECT 1 AS one");
    assert.deepEqual(after, [{ one: 1 }]);
    await conn.end();
  });
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0].resultSets[0].columns, ["u", "d"]);
});

liveTest("readQueryResult observes rows and can replace a response", async (db) => {
  const observed: string[] = [];
  await withHooks(db, {
    readQueryResult(event) {
      observed.push(`${event.sql}: ${JSON.stringify(event.resultSets[0]?.rows ?? event.ok)}`);
      if (event.sql?.includes("id = 2")) return errorAnswer(1290, "hidden by the script");
      return undefined;
    },
  }, async (connect) => {
    const conn = await connect();
    const [rows] = await conn.query("SELECT name FROM t WHERE id = 1");
    assert.deepEqual(rows, [{ name: "one" }]);
    await assert.rejects(conn.query("SELECT name FROM t WHERE id = 2"), { errno: 1290 });
    const [stmt] = await conn.execute("SELECT name FROM t WHERE id = ?", [3]);
    assert.deepEqual(stmt, [{ name: "three" }]);
    await conn.end();
  });
  assert.ok(observed.includes('SELECT name FROM t WHERE id = 1: [["one"]]'), observed.join("\n"));
});

liveTest(
  "a hook that throws costs its command an ERR and a log line, not the connection",
  async (db) => {
    await withHooks(db, {
      readQuery({ sql }) {
        if (sql === "SELECT boom") throw new Error("kaboom");
      },
    }, async (connect, logs) => {
      const conn = await connect();
      await assert.rejects(conn.query("SELECT boom"), (error: mysql.QueryError) => {
        assert.equal(error.errno, 1105);
        assert.match(error.message, /kaboom/);
        return true;
      });
      const [rows] = await conn.query("SELECT 2 AS two");
      assert.deepEqual(rows, [{ two: 2 }]);
      await conn.end();
      assert.ok(logs.some((line) => line.includes("script-failed") && line.includes("kaboom")));
    });
  },
);

liveTest(
  "readAuth sees user and database and can deny; readHandshake rewrites the greeting",
  async (db) => {
    const auths: string[] = [];
    await withHooks(db, {
      readHandshake: (greeting) => ({ ...greeting, serverVersion: "5.5.5-10.11.99-Scripted" }),
      readAuth({ user, database }) {
        auths.push(`${user}@${database}`);
        if (database === "forbidden") {
          return errorAnswer(1045, "Access denied by the script", "28000");
        }
        return undefined;
      },
    }, async (connect) => {
      const conn = await connect();
      const [rows] = await conn.query("SELECT 1 AS x");
      assert.deepEqual(rows, [{ x: 1 }]);
      const core =
        (conn as unknown as { connection: { _handshakePacket: { serverVersion: string } } })
          .connection;
      assert.equal(core._handshakePacket.serverVersion, "5.5.5-10.11.99-Scripted");
      await conn.end();
      await assert.rejects(connect("forbidden"), (error: mysql.QueryError) => {
        assert.equal(error.errno, 1045);
        assert.match(error.message, /denied by the script/);
        return true;
      });
    });
    assert.equal(auths[0], `${db.users.native.user}@${DATABASE}`);
    assert.ok(auths.includes(`${db.users.native.user}@forbidden`));
  },
);

liveTest("hooks behind TLS termination: the login and commands arrive decrypted", async (db) => {
  const users: string[] = [];
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    tls: "auto",
    script: {
      readAuth: ({ user }) => {
        users.push(user);
      },
      readQuery: ({ sql }) =>
        sql === "SELECT via_tls" ? resultSet({ columns: ["ok"], rows: [["yes"]] }) : undefined,
    },
  });
  const conn = await mysql.createConnection({
    host: proxy.hostname,
    port: proxy.port,
    user: db.users.native.user,
    password: db.users.native.password,
    ssl: { rejectUnauthorized: false },
  });
  const [rows] = await conn.query("SELECT via_tls");
  assert.deepEqual(rows, [{ ok: "yes" }]);
  const [cipher] = await conn.query("SHOW STATUS LIKE 'Ssl_cipher'");
  assert.equal((cipher as { Value: string }[])[0].Value, "", "plaintext to the server");
  await conn.end();
  assert.deepEqual(users, [db.users.native.user]);
});

liveTest(
  "the mediated loop carries what a plain relay does: change user, LOCAL INFILE, multi-statements, prepared statements",
  async (db) => {
    const seen: string[] = [];
    // The table withHooks() makes.
    await withHooks(db, {}, async () => {});
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      script: {
        readQueryResult(event) {
          seen.push(event.command.kind);
          return undefined;
        },
      },
    });
    const conn = await mysql.createConnection({
      host: proxy.hostname,
      port: proxy.port,
      user: db.users.native.user,
      password: db.users.native.password,
      database: DATABASE,
      multipleStatements: true,
      infileStreamFactory: () => Readable.from([Buffer.from("7\tseven\n8\teight\n")]),
    });
    await conn.query("DELETE FROM t WHERE id > 3");
    const [loaded] = await conn.query("LOAD DATA LOCAL INFILE 'x.tsv' INTO TABLE t");
    assert.equal((loaded as mysql.ResultSetHeader).affectedRows, 2);
    const [multi] = await conn.query("SELECT 1 AS a; SELECT name FROM t WHERE id = 8");
    assert.deepEqual(multi, [[{ a: 1 }], [{ name: "eight" }]]);
    const [stmt] = await conn.execute("SELECT name FROM t WHERE id = ?", [7]);
    assert.deepEqual(stmt, [{ name: "seven" }]);
    await conn.changeUser({ user: db.users.native.user, password: db.users.native.password });
    const [after] = await conn.query("SELECT CURRENT_USER() AS u");
    assert.match((after as { u: string }[])[0].u, new RegExp(`^${db.users.native.user}@`));
    await conn.query("DELETE FROM t WHERE id > 3");
    await conn.end();
    assert.ok(seen.includes("COM_STMT_EXECUTE") && seen.includes("COM_QUERY"), seen.join());
  },
);

liveTest(
  "connectServer can refuse before the server is dialed; disconnectClient hears every end",
  async (db) => {
    const events: string[] = [];
    let refuse = true;
    await withHooks(db, {
      connectServer(connection) {
        events.push(`open ${connection.id}`);
        if (refuse) return errorAnswer(1129, "Host is blocked by the script", "HY000");
        return undefined;
      },
      disconnectClient(connection, reason) {
        events.push(`close ${connection.id} ${connection.user} ${reason}`);
      },
    }, async (connect) => {
      await assert.rejects(connect(), (error: mysql.QueryError) => error.errno === 1129);
      refuse = false;
      const conn = await connect();
      await conn.query("SELECT 1");
      await conn.end();
    });
    assert.equal(events[0], "open 1");
    assert.equal(events[1], "close 1 undefined refused");
    assert.equal(events[2], "open 2");
    assert.match(
      events[3],
      new RegExp(`^close 2 ${db.users.native.user} closed( by proxy)?$`),
      events.join(" | "),
    );
  },
);
