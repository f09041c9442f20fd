/**
 * The three example scripts with real clients: show_databases.ts as the server for the mariadb
 * CLI (no MariaDB behind it), deny_writes.ts and rewrite.ts in front of the test MariaDB with
 * npm:mysql2.
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../tests/helpers/mariadb.ts";
import { startProxy } from "../mod.ts";
import { mariadbCli } from "../tests/e2e/tls_helpers.ts";

const DATABASE = "examples_hooks";

/** The mariadb CLI as user `anyone`: `args` then `-e SQL` (the last element of `args`). */
function cli(db: MariaDB, port: number, args: string[]) {
  return mariadbCli(db.bin.mariadb, port, ["-u", "anyone", ...args.slice(0, -2)], args.at(-1)!);
}

liveTest(
  "show_databases.ts is the server: SHOW DATABASES gives db_1 to db_70 to the mariadb CLI",
  async (db) => {
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: null,
      script: new URL("./show_databases.ts", import.meta.url).href,
    });
    const shown = await cli(db, proxy.port, ["-e", "SHOW DATABASES"]);
    assert.equal(shown.code, 0, shown.stderr);
    const lines = shown.stdout.trim().split("\n");
    assert.deepEqual(lines, ["Database", ...Array.from({ length: 70 }, (_, i) => `db_${i + 1}`)]);
    // COM_INIT_DB (the database argument) is OKed; anything else gets the script's error.
    const used = await cli(db, proxy.port, ["db_7", "-e", "SHOW DATABASES"]);
    assert.equal(used.code, 0, used.stderr);
    const other = await cli(db, proxy.port, ["-e", "SELECT 1"]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /ERROR 1064 \(42000\).*answers only SHOW DATABASES/);
  },
);

async function withExample(
  db: MariaDB,
  script: string,
  body: (conn: mysql.Connection) => Promise<void>,
) {
  await db.sql(
    `CREATE DATABASE IF NOT EXISTS ${DATABASE}; CREATE TABLE IF NOT EXISTS ${DATABASE}.items (id INT PRIMARY KEY); SET SESSION max_recursive_iterations = 5000; REPLACE INTO ${DATABASE}.items SELECT n FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1500) SELECT n FROM s) AS numbers`,
  );
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    script: new URL(script, import.meta.url).href,
  });
  const conn = await mysql.createConnection({
    host: proxy.hostname,
    port: proxy.port,
    user: db.users.native.user,
    password: db.users.native.password,
    database: DATABASE,
  });
  try {
    await body(conn);
  } finally {
    await conn.end();
  }
}

liveTest("deny_writes.ts: writes get ERR 1290, reads pass", async (db) => {
  await withExample(db, "./deny_writes.ts", async (conn) => {
    for (
      const sql of [
        "INSERT INTO items VALUES (5000)",
        "update items SET id = id + 1",
        "/* c */ DELETE FROM items",
        "DROP TABLE items",
        "REPLACE INTO items VALUES (1)",
      ]
    ) {
      await assert.rejects(conn.query(sql), (error: mysql.QueryError) => {
        assert.equal(error.errno, 1290, sql);
        return true;
      });
    }
    await assert.rejects(conn.execute("INSERT INTO items VALUES (?)", [6000]), { errno: 1290 });
    const [rows] = await conn.query("SELECT COUNT(*) AS n FROM items");
    assert.deepEqual(rows, [{ n: 1500 }]);
    const [prepared] = await conn.execute("SELECT id FROM items WHERE id = ?", [3]);
    assert.deepEqual(prepared, [{ id: 3 }]);
    await conn.query("SET @x = 1");
  });
});

liveTest("rewrite.ts: SELECTs without LIMIT are capped at 1000 rows and tagged", async (db) => {
  await withExample(db, "./rewrite.ts", async (conn) => {
    const [capped] = await conn.query("SELECT id FROM items");
    assert.equal((capped as unknown[]).length, 1000);
    const [limited] = await conn.query("SELECT id FROM items ORDER BY id LIMIT 3");
    assert.deepEqual(limited, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    const [info] = await conn.query(
      "SELECT INFO FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
    );
    assert.match(String((info as { INFO: string }[])[0].INFO), /^\/\* proxy conn=\d+ user=/);
  });
});
