/**
 * Recording npm:mysql2 sessions with `record()`: the client sees exactly what it sees straight
 * against MariaDB, the file holds the decoded queries and rows, and every recorded response
 * renders back to the server's bytes (text and prepared statements over every column type,
 * multi-results and CALL, LOCAL INFILE, a 20 MB blob, errors).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { commands, directAndRecorded, rows, type Target } from "../helpers/record.ts";

const DATABASE = "e2e_record_mysql2";

let prepared: Promise<unknown> | undefined;
function prepare(db: MariaDB): Promise<unknown> {
  prepared ??= db.sql(
    `
    SET NAMES utf8mb4;
    DROP DATABASE IF EXISTS ${DATABASE};
    CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4;
    USE ${DATABASE};
    CREATE TABLE types (
      id INT PRIMARY KEY,
      t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, m MEDIUMINT, i INT, iu INT UNSIGNED,
      b BIGINT, bu BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec1 DECIMAL(20, 6),
      dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3), y YEAR,
      c CHAR(5), vc VARCHAR(100), bin BINARY(4), vb VARBINARY(20), tb TINYBLOB, bl BLOB,
      tx TEXT, e ENUM('red', 'green'), st SET('a', 'b', 'c'), bt BIT(10), j JSON, g POINT
    );
    INSERT INTO types VALUES
      (1, -128, 255, -32768, 8388607, -2147483648, 4294967295, -9223372036854775808,
       18446744073709551615, 1.5, -2.25e100, '-12345678901234.123456', '2024-02-29',
       '2024-02-29 23:59:59.123456', '2024-01-02 03:04:05.678', '-838:59:59.000', 2155,
       'abc', 'héllo wörld 🐬', x'00ff7f80', x'deadbeef', 'tiny', x'c328ff',
       'text with\\nnewline', 'green', 'a,c', b'1010101010', '{"k": [1, 2.5, null]}',
       ST_GeomFromText('POINT(1 2)')),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0000-00-00',
       '0000-00-00 00:00:00', NULL, '00:00:00', 0, '', '', x'00000000', x'', x'', x'',
       '', 'red', '', b'0', 'null', NULL),
      (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '1000-01-01', '9999-12-31 23:59:59.999999',
       '1970-01-01 00:00:01', '12:00:00.5', 1901, 'z', 'x', 'abcd', 'y', 'z', 'w', 'v',
       'red', 'b', b'1111111111', '[]', ST_GeomFromText('POINT(-1.5 0)'));
    CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50) UNIQUE, qty INT);
    CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB);
    DELIMITER //
    CREATE PROCEDURE two_sets(IN n INT)
      BEGIN SELECT n AS first; SELECT n + 1 AS second, 'x' AS third; END //
    CREATE PROCEDURE rows_then_error()
      BEGIN SELECT 1 AS a; SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'stop here'; END //
    DELIMITER ;
  `,
    { database: "mysql" },
  );
  return prepared;
}

function options(db: MariaDB, target: Target): mysql.ConnectionOptions {
  return {
    ...target,
    user: db.users.native.user,
    password: db.users.native.password,
    database: DATABASE,
    charset: "UTF8MB4_UNICODE_CI",
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  };
}

/** Rows and field metadata as plain data, for comparison. */
function result([rows, fields]: [unknown, unknown]): unknown {
  const list = Array.isArray(fields) ? fields as mysql.FieldPacket[] : undefined;
  return {
    rows: JSON.parse(
      JSON.stringify(
        rows,
        (_, v) => v?.type === "Buffer" ? `hex:${Buffer.from(v.data).toString("hex")}` : v,
      ),
    ),
    fields: list?.map((f) => [f.name, f.columnType, f.flags, f.columnLength, f.decimals]),
  };
}

async function outcome(promise: Promise<[unknown, unknown]>): Promise<unknown> {
  try {
    return result(await promise);
  } catch (error) {
    const e = error as { code?: string; errno?: number; sqlState?: string; sqlMessage?: string };
    return { error: [e.code, e.errno, e.sqlState, e.sqlMessage] };
  }
}

async function session<T>(
  db: MariaDB,
  target: Target,
  fn: (c: mysql.Connection) => Promise<T>,
  extra: mysql.ConnectionOptions = {},
): Promise<T> {
  const connection = await mysql.createConnection({ ...options(db, target), ...extra });
  try {
    return await fn(connection);
  } finally {
    await connection.end();
  }
}

liveTest(
  "record: mysql2 text queries over every column type are seen, recorded and rendered exactly",
  async (db) => {
    await prepare(db);
    await directAndRecorded(db, (target) =>
      session(db, target, async (c) => [
        await outcome(c.query("SELECT * FROM types ORDER BY id")),
        await outcome(c.query("SELECT id, HEX(g), j->'$.k[1]' AS k FROM types WHERE id < ?", [3])),
        await outcome(c.query("SELECT 1 AS a, NULL AS n, 'x' AS b, 2.5 AS c, NOW() > 0 AS now")),
        await outcome(c.query("DO 1")),
        await outcome(c.query("SHOW WARNINGS")),
      ]), (run) => {
      // grep the query, find its rows.
      const line = run.text.split("\n").find((l) =>
        l.includes('"sql":"SELECT * FROM types ORDER BY id"')
      );
      assert.ok(line, "the query is in the file as text");
      assert.match(line, /"héllo wörld 🐬"/);
      assert.match(line, /"18446744073709551615"/);
      const [select] = commands(run.recording, /^SELECT \* FROM types ORDER BY id$/, "query");
      const recorded = rows(select);
      assert.equal(recorded.length, 3);
      assert.deepEqual(recorded[0].slice(0, 3), ["1", "-128", "255"]);
      assert.deepEqual(recorded[1][1], null, "SQL NULL is null");
      assert.deepEqual(recorded[0][22], { base64: "wyj/" }, "bytes that are not UTF-8 stay exact");
    });
  },
);

liveTest(
  "record: mysql2 prepared statements keep typed values and parameters, rendered exactly",
  async (db) => {
    await prepare(db);
    await directAndRecorded(db, (target) =>
      session(db, target, async (c) => [
        await outcome(c.execute("SELECT * FROM types ORDER BY id")),
        await outcome(c.execute("SELECT * FROM types WHERE id = ?", [1])),
        await outcome(c.execute("SELECT * FROM types WHERE id = ?", [2])),
        await outcome(
          c.execute("SELECT ? AS i, ? AS s, ? AS n, ? AS d, ? AS b, ? AS f", [
            42,
            "text ☕",
            null,
            new Date("2024-05-06T07:08:09.010Z"),
            Buffer.from([0, 1, 254, 255]),
            -0.125,
          ]),
        ),
        await outcome(
          c.query("CREATE TEMPORARY TABLE scratch (id INT PRIMARY KEY AUTO_INCREMENT, qty INT)"),
        ),
        await outcome(c.execute("INSERT INTO scratch (qty) VALUES (?), (?)", [3, 4])),
        await outcome(c.execute("SELECT COUNT(*) AS n FROM scratch WHERE qty > ?", [0])),
      ]), (run) => {
      const executes = commands(
        run.recording,
        /^SELECT \* FROM types WHERE id = \?$/,
        "stmt-execute",
      );
      assert.equal(
        executes.length,
        2,
        "executes carry their statement's SQL, resolved at record time",
      );
      assert.deepEqual(executes.map((e) => e.event.params), [[1], [2]]);
      const [first] = rows(executes[0]);
      assert.deepEqual(first.slice(0, 9), [
        1,
        -128,
        255,
        -32768,
        8388607,
        -2147483648,
        4294967295,
        "-9223372036854775808",
        "18446744073709551615",
      ], "binary rows hold typed values");
      assert.equal(first[9], 1.5);
      assert.equal(first[13], "2024-02-29 23:59:59.123456");
      const [typed] = commands(run.recording, /^SELECT \? AS i/, "stmt-execute");
      assert.equal((typed.event.params as unknown[])[1], "text ☕");
      assert.equal((typed.event.params as unknown[])[2], null);
    });
  },
);

liveTest(
  "record: multi-statements and CALL keep every result set and the trailing OK",
  async (db) => {
    await prepare(db);
    await directAndRecorded(db, (target) =>
      session(db, target, async (c) => [
        await outcome(c.query("SELECT 1 AS one; SELECT 2 AS two, 'b' AS bee; DO 0")),
        await outcome(c.query("CALL two_sets(7)")),
        await outcome(c.execute("CALL two_sets(?)", [8])),
      ], { multipleStatements: true }), (run) => {
      const [call] = commands(run.recording, /^CALL two_sets\(7\)$/, "query");
      const results = call.elements;
      assert.equal(results.length, 3, "two result sets and the OK of the CALL");
      assert.deepEqual(rows(call), [["7"], ["8", "x"]]);
      assert.ok("ok" in results[2]);
      const [multi] = commands(run.recording, /^SELECT 1 AS one;/, "query");
      assert.equal(multi.elements.length, 3);
    });
  },
);

liveTest(
  "record: LOAD DATA LOCAL INFILE keeps the file the server asked for and what was sent",
  async (db) => {
    await prepare(db);
    const data = "101\tinfile-a\t1\n102\tinfile-b\t2\n";
    await directAndRecorded(db, (target) =>
      session(db, target, async (c) => {
        await c.query("DELETE FROM items WHERE id > 100");
        const loaded = await outcome(
          c.query("LOAD DATA LOCAL INFILE '/virtual/items.tsv' INTO TABLE items (id, name, qty)"),
        );
        return [loaded, await outcome(c.query("SELECT * FROM items WHERE id > 100 ORDER BY id"))];
      }, {
        infileStreamFactory: () => Readable.from([Buffer.from(data)]),
      } as mysql.ConnectionOptions), (run) => {
      const [load] = commands(run.recording, /^LOAD DATA LOCAL INFILE/, "query");
      assert.deepEqual(load.elements[0], {
        infile: { filename: "/virtual/items.tsv", data },
      });
      assert.deepEqual((load.elements[1] as { ok: { affected: number } }).ok.affected, 2);
    });
  },
);

liveTest("record: a 20 MB blob crosses in 16 MiB packets and renders back exactly", async (db) => {
  await prepare(db);
  const blob = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919 + (i >> 13)) & 0xff;
  const digest = createHash("sha256").update(blob).digest("hex");
  await directAndRecorded(db, (target) =>
    session(db, target, async (c) => {
      await c.execute("REPLACE INTO blobs VALUES (1, ?)", [blob]);
      const hash = (rows: unknown) =>
        createHash("sha256").update((rows as { data: Buffer }[])[0].data).digest("hex");
      const [text] = await c.query("SELECT data FROM blobs WHERE id = 1");
      const [binary] = await c.execute("SELECT data FROM blobs WHERE id = ?", [1]);
      return [hash(text), hash(binary)];
    }), (run) => {
    assert.deepEqual(run.seen, [digest, digest]);
    assert.ok(run.rendered >= 3);
    const [insert] = commands(run.recording, /^REPLACE INTO blobs/, "stmt-execute");
    const param = (insert.event.params as { base64: string }[])[0];
    assert.equal(
      createHash("sha256").update(Buffer.from(param.base64, "base64")).digest("hex"),
      digest,
      "the parameter is recorded whole",
    );
  }, { record: { maxPacketLength: 64 * 1024 * 1024 } });
});

liveTest(
  "record: errors are seen as without the recorder and recorded with code, state and message",
  async (db) => {
    await prepare(db);
    await directAndRecorded(db, (target) =>
      session(db, target, async (c) => [
        await outcome(c.query("SELEC 1")),
        await outcome(c.query("SELECT * FROM no_such_table")),
        await outcome(c.query("INSERT INTO items (id, name) VALUES (1, 'dup'), (1, 'dup')")),
        await outcome(c.execute("SELECT * FROM types WHERE nope = ?", [1])),
        await outcome(c.query("CALL rows_then_error()")),
        await outcome(c.query("SELECT 'still usable' AS ok")),
      ]), (run) => {
      const [missing] = commands(run.recording, /no_such_table/, "query");
      assert.deepEqual(missing.elements, [{
        error: {
          code: 1146,
          sqlState: "42S02",
          message: `Table '${DATABASE}.no_such_table' doesn't exist`,
        },
      }]);
      const [call] = commands(run.recording, /^CALL rows_then_error/, "query");
      assert.deepEqual(rows(call), [["1"]]);
      assert.deepEqual(call.elements.at(-1), {
        error: { code: 1644, sqlState: "45000", message: "stop here" },
      });
    });
  },
);
