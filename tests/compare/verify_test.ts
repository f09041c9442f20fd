/**
 * verify() against the shared MariaDB: a session recorded through record() with npm:mysql2, then
 * the server changed in one way at a time, and each change reported in its category (and nothing
 * else when nothing changed).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { record } from "../../src/record/recorder.ts";
import { assertNoRegressions, RegressionError, verify } from "../../src/compare/verify.ts";
import type { CompareReport } from "../../src/compare/report.ts";
import type { Category } from "../../src/compare/compare.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";

const DATABASE = "verify_lib";

const SETUP = `
DROP DATABASE IF EXISTS ${DATABASE};
CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4;
USE ${DATABASE};
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, price DECIMAL(8, 2),
  qty INT, updated_at DATETIME);
INSERT INTO items VALUES (1, 'pen', 1.50, 10, '2024-01-01 10:00:00'),
  (2, 'book', 20.00, 3, '2024-01-02 10:00:00'), (3, 'lamp', 35.00, 1, '2024-01-03 10:00:00');
CREATE TABLE heap (v VARCHAR(10));
INSERT INTO heap VALUES ('a'), ('b'), ('c');
CREATE TABLE ranked (name VARCHAR(10), pos INT);
INSERT INTO ranked VALUES ('x', 1), ('y', 2), ('z', 3);
CREATE TABLE codes (code VARCHAR(5));
INSERT INTO codes VALUES ('0'), ('1');
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(20));
`;

const QUERIES = {
  one: "SELECT id, name, price FROM items WHERE id = 2",
  all: "SELECT * FROM items ORDER BY id",
  heap: "SELECT v FROM heap",
  ranked: "SELECT name FROM ranked ORDER BY pos",
  missing: "SELECT * FROM maybe_missing",
  codes: "SELECT COUNT(*) AS n FROM codes WHERE code = 0",
  insert: "INSERT INTO log (msg) VALUES ('hello')",
  stamps: "SELECT id, name, updated_at FROM items WHERE id < 3",
  prepared: "SELECT name, price FROM items WHERE id = ?",
};

let recording: Promise<string> | undefined;

/** Records the session once per module, through record() with npm:mysql2. */
function recorded(db: MariaDB): Promise<string> {
  recording ??= (async () => {
    await db.sql(SETUP);
    const dir = await Deno.makeTempDir({ prefix: "verify-test-" });
    const out = join(dir, "session.jsonl");
    await using recorder = await record({
      listen: "127.0.0.1:0",
      server: `127.0.0.1:${db.port}`,
      out,
    });
    const connection = await mysql.createConnection({
      host: "127.0.0.1",
      port: recorder.port,
      user: db.users.native.user,
      password: db.users.native.password,
      database: DATABASE,
    });
    try {
      for (const [name, sql] of Object.entries(QUERIES)) {
        if (name === "prepared") await connection.execute(sql, [2]);
        else await connection.query(sql).catch(() => {}); // maybe_missing fails, as intended
      }
    } finally {
      await connection.end();
    }
    await recorder.close();
    return out;
  })();
  return recording;
}

/**
 * These tests are about every category but `time` (tested with its floor in compare_test.ts): a
 * query stalled for 50 ms on a loaded 2-core CI machine must not count here.
 */
const NO_TIME_DIFFERENCES = 60_000;

/** The data as recorded, then `change`, then verify(). */
async function verifyAfter(
  db: MariaDB,
  change: string,
  ignore: string[] = [],
  ordered = false,
): Promise<CompareReport> {
  const path = await recorded(db);
  await db.sql(SETUP);
  if (change) await db.sql(change, { database: DATABASE });
  return await verify(path, {
    server: `127.0.0.1:${db.port}`,
    user: db.users.native.user,
    password: db.users.native.password,
    ignore,
    ordered,
    timeFloorMs: NO_TIME_DIFFERENCES,
  });
}

/** Categories found per statement (its SQL). */
function found(report: CompareReport): Record<string, Category[]> {
  const out: Record<string, Category[]> = {};
  for (const group of report.groups) {
    for (const example of group.examples) {
      out[example.sql ?? example.cmd] = example.differences.map((d) => d.category);
    }
  }
  return out;
}

liveTest(
  "verify() of an unchanged server reports nothing and assertNoRegressions() passes",
  async (db) => {
    const report = await verifyAfter(db, "");
    assert.deepEqual(found(report), {});
    assert.equal(report.exitCode, 0);
    assert.equal(
      report.tally.compared,
      Object.keys(QUERIES).length + 1,
      "every query, the prepare and the execute",
    );
    assert.equal(report.tally.different, 0);
    assertNoRegressions(report);
  },
);

liveTest("verify(): a changed row is row-values, with the old and new values", async (db) => {
  const report = await verifyAfter(db, "UPDATE items SET price = 25.00 WHERE id = 2");
  const categories = found(report);
  assert.deepEqual(categories[QUERIES.one], ["row-values"]);
  assert.deepEqual(categories[QUERIES.all], ["row-values"]);
  assert.deepEqual(categories[QUERIES.prepared], ["row-values"]);
  assert.equal(Object.keys(categories).length, 3, JSON.stringify(categories));
  const one = report.groups.flatMap((g) => g.examples).find((e) => e.sql === QUERIES.one)!;
  assert.match(one.differences[0].message, /price 20\.00 -> 25\.00/);
  assert.equal(report.exitCode, 4);
  assert.throws(
    () => assertNoRegressions(report),
    (error) =>
      error instanceof RegressionError && /price +20\.00 +25\.00/.test(error.message) &&
      error.message.includes(QUERIES.one),
  );
});

liveTest("verify(): a dropped column and a changed type are column-metadata", async (db) => {
  const dropped = found(await verifyAfter(db, "ALTER TABLE items DROP COLUMN qty"));
  assert.deepEqual(dropped[QUERIES.all], ["column-metadata"]);
  assert.equal(Object.keys(dropped).length, 1, JSON.stringify(dropped));
  const typed = await verifyAfter(db, "ALTER TABLE items MODIFY qty BIGINT");
  assert.deepEqual(found(typed)[QUERIES.all], ["column-metadata"]);
  const message = typed.groups[0].examples[0].differences[0].message;
  assert.match(message, /qty: type LONG -> LONGLONG/);
});

liveTest(
  "verify(): a new warning is warnings; an error that disappears is result-vs-error",
  async (db) => {
    const warned = found(await verifyAfter(db, "UPDATE codes SET code = '1x' WHERE code = '1'"));
    assert.deepEqual(warned, { [QUERIES.codes]: ["warnings"] });
    const fixed = found(await verifyAfter(db, "CREATE TABLE maybe_missing (a INT)"));
    assert.deepEqual(fixed, { [QUERIES.missing]: ["result-vs-error"] });
  },
);

liveTest("verify(): reordered rows differ only when the statement has ORDER BY", async (db) => {
  const heap = found(
    await verifyAfter(db, "DELETE FROM heap; INSERT INTO heap VALUES ('c'), ('b'), ('a')"),
  );
  assert.deepEqual(heap, {}, "without ORDER BY the rows are a multiset");
  const ranked = found(await verifyAfter(db, "UPDATE ranked SET pos = 4 - pos"));
  assert.deepEqual(ranked, { [QUERIES.ranked]: ["row-values"] });
  const forced = found(
    await verifyAfter(
      db,
      "DELETE FROM heap; INSERT INTO heap VALUES ('c'), ('b'), ('a')",
      [],
      true,
    ),
  );
  assert.deepEqual(forced, { [QUERIES.heap]: ["row-values"] }, "--ordered compares in order");
});

liveTest("verify(): noise rules silence exactly what they name", async (db) => {
  const change =
    "UPDATE items SET updated_at = '2030-01-01 00:00:00'; INSERT INTO log (msg) VALUES ('x')";
  const noisy = found(await verifyAfter(db, change));
  assert.deepEqual(noisy[QUERIES.stamps], ["row-values"]);
  assert.deepEqual(noisy[QUERIES.all], ["row-values"]);
  assert.deepEqual(noisy[QUERIES.insert], ["affected-rows"]);
  const quiet = await verifyAfter(db, change, ["column:updated_at", "field:insertId"]);
  assert.deepEqual(found(quiet), {});
  assert.deepEqual(quiet.noise, ["column:updated_at", "field:insertId"]);
  // The column rule leaves the other columns compared.
  const priced = found(
    await verifyAfter(db, `${change}; UPDATE items SET price = 1.75 WHERE id = 1`, [
      "column:updated_at",
      "field:insertId",
    ]),
  );
  assert.deepEqual(priced, { [QUERIES.all]: ["row-values"] });
  const byValue = found(
    await verifyAfter(db, change, ["value:/^\\d{4}-\\d\\d-\\d\\d /", "field:insertId"]),
  );
  assert.deepEqual(byValue, {});
  const byShape = await verifyAfter(db, change, [
    "fingerprint:SELECT id, name, updated_at FROM items WHERE id < 99",
    "fingerprint:select * from items order by id",
    "fingerprint:INSERT INTO log (msg) VALUES ('other')",
  ]);
  assert.deepEqual(found(byShape), {});
  assert.equal(byShape.tally.ignored, 3);
});

liveTest("verify() logs in with ed25519 over TLS (verify-ca) as well", async (db) => {
  const credential = db.users.ed25519;
  if (!credential || !db.tls) throw new Error("the test server has no ed25519 user or no TLS");
  const path = await recorded(db);
  await db.sql(SETUP);
  const report = await verify(path, {
    server: `127.0.0.1:${db.port}`,
    user: credential.user,
    password: credential.password,
    tls: { mode: "verify-ca", caFile: db.tls.ca },
  });
  assert.deepEqual(report.errors, []);
  assert.equal(report.exitCode, 0, JSON.stringify(found(report)));
  assert.ok(report.tally.compared > 5);
});

liveTest("verify() keeps the order between connections that the recording shows", async (db) => {
  const dir = await Deno.makeTempDir({ prefix: "verify-test-" });
  try {
    await db.sql(SETUP);
    const out = join(dir, "two.jsonl");
    await using recorder = await record({
      listen: "127.0.0.1:0",
      server: `127.0.0.1:${db.port}`,
      out,
    });
    const options = {
      host: "127.0.0.1",
      port: recorder.port,
      user: db.users.native.user,
      password: db.users.native.password,
      database: DATABASE,
    };
    const writer = await mysql.createConnection(options);
    const reader = await mysql.createConnection(options);
    // The reader sees each write of the other connection, in between.
    await writer.query("UPDATE items SET qty = 100 WHERE id = 1");
    await reader.query("SELECT qty FROM items WHERE id = 1");
    await writer.query("UPDATE items SET qty = 200 WHERE id = 1");
    await reader.query("SELECT qty FROM items WHERE id = 1 AND 1 = 1");
    await writer.end();
    await reader.end();
    await recorder.close();
    const run = async (concurrency?: number) => {
      await db.sql(SETUP);
      return await verify(out, {
        server: `127.0.0.1:${db.port}`,
        user: db.users.native.user,
        password: db.users.native.password,
        concurrency,
        timeFloorMs: NO_TIME_DIFFERENCES,
      });
    };
    const paced = await run();
    assert.deepEqual(found(paced), {}, "the reads see the writes they saw when recorded");
    // One connection after the other: the reader runs after both writes and sees 200 twice.
    const serial = found(await run(1));
    assert.deepEqual(serial, { "SELECT qty FROM items WHERE id = 1": ["row-values"] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
