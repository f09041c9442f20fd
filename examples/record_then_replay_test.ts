/**
 * Record once, replay forever, with the library alone: a test records its queries through
 * `record()` against a real MariaDB, the server goes away, and `replay()` answers the same
 * npm:mysql2 code (text and prepared queries) identically, while a query that was never recorded
 * shows up in `db.misses`.
 *
 * ```sh
 * deno test -A examples/record_then_replay_test.ts
 * ```
 *
 * The recording step starts a throwaway MariaDB (the project's test harness; it needs the MariaDB
 * server binaries: `apt-get install mariadb-server`) and stops it before the replay step, so the
 * replay provably needs no server. In your own project the recording step points at your
 * development database instead, and runs once; `cassette()` wraps both steps in one call (see
 * examples/shop/).
 *
 * @module
 */

import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { record, replay } from "../mod.ts";
import { LIVE, startMariaDB, unavailableTest } from "../tests/helpers/mariadb.ts";

const SCHEMA = `
CREATE DATABASE shop;
CREATE TABLE shop.products (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8, 2));
INSERT INTO shop.products VALUES (1, 'Espresso cup', 7.50), (2, 'Kettle', 39.90),
  (3, 'Grinder', 129.00);
CREATE USER 'app'@'%' IDENTIFIED BY 'app-password';
GRANT SELECT ON shop.* TO 'app'@'%';
`;

/** The code under test: what the application asks its database. */
async function appQueries(endpoint: { hostname: string; port: number }, password: string) {
  const connection = await mysql.createConnection({
    host: endpoint.hostname,
    port: endpoint.port,
    user: "app",
    password,
    database: "shop",
  });
  try {
    const [text] = await connection.query("SELECT id, name, price FROM products ORDER BY id");
    const [prepared] = await connection.execute(
      "SELECT name, price FROM products WHERE id = ?",
      [2],
    );
    return { text, prepared };
  } finally {
    await connection.end();
  }
}

const NAME =
  "record() once, then replay() answers mysql2 the same with no server, and reports a miss";

if (!LIVE.available) {
  unavailableTest(NAME, LIVE.reason);
} else {
  Deno.test(NAME, async () => {
    const path = await Deno.makeTempFile({ prefix: "products-", suffix: ".jsonl" });
    try {
      // 1. Record once, against a real server.
      let recorded;
      let serverPort: number;
      {
        await using server = await startMariaDB({ tls: false });
        serverPort = server.port;
        await server.sql(SCHEMA);
        await using recording = await record({
          listen: "127.0.0.1:0",
          server: `${server.hostname}:${server.port}`,
          out: path,
          overwrite: true,
        });
        recorded = await appQueries(recording, "app-password");
      } // Here the recording is complete and the server is stopped.
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port: serverPort }),
        Deno.errors.ConnectionRefused,
        "no server any more",
      );

      // 2. Replay: the same code, the same answers, any password.
      await using db = await replay(path, { listen: "127.0.0.1:0" });
      const replayed = await appQueries(db, "any password");
      assert.deepEqual(replayed, recorded);
      assert.deepEqual(recorded.prepared, [{ name: "Kettle", price: "39.90" }]);

      // 3. A query that was never recorded gets an error, and is listed in db.misses.
      const connection = await mysql.createConnection({
        host: db.hostname,
        port: db.port,
        user: "app",
        database: "shop",
      });
      await assert.rejects(
        connection.query("SELECT name FROM products WHERE price > 100"),
        /Replay has no recorded answer for query "SELECT name FROM products WHERE price > 100"/,
      );
      await connection.end();
      assert.equal(db.misses.length, 1);
      assert.equal(db.misses[0].request, 'query "SELECT name FROM products WHERE price > 100"');
    } finally {
      await Deno.remove(path);
    }
  });
}
