/**
 * npm:mysql2 cannot tell the proxy from the server: every scenario runs the same client code once
 * straight against MariaDB and once through an in-process proxy, and the two runs must see the
 * same rows, field metadata, OK results and errors. The proxy's decoding tap must understand every
 * packet of those sessions (no `unknown`, no opaque stretch) and see the commands the client sent.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { closedPort, type ProxyHarness, type TappedPacket, withProxy } from "../helpers/proxy.ts";
import type { RelayMode } from "../../mod.ts";

const DATABASE = "e2e_proxy_mysql2";
const T = mysql.TypedParameter;

type Target = { host: string; port: number } | { socketPath: string };
type Connect = (extra?: mysql.ConnectionOptions) => Promise<mysql.Connection>;

/** Options shared by both runs: exact big numbers and dates as text, so nothing is lossy. */
function clientOptions(db: MariaDB, target: Target): mysql.ConnectionOptions {
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

let prepared: Promise<void> | undefined;
function prepareDatabase(db: MariaDB): Promise<void> {
  prepared ??= db.sql(
    `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4`,
  ).then(() => {});
  return prepared;
}

function directTarget(db: MariaDB): Target {
  return { host: db.hostname, port: db.port };
}

/**
 * Runs `scenario` straight against the server, then through a proxy, asserts the two runs saw the
 * same, that the tap decoded every packet, and hands the proxy run to `inspect`.
 */
async function directAndProxied<T>(
  db: MariaDB,
  scenario: (connect: Connect) => Promise<T>,
  inspect: (harness: ProxyHarness, seen: T) => void | Promise<void> = () => {},
  targets: { direct?: Target; proxyServer?: string; listen?: string; relay?: RelayMode } = {},
): Promise<T> {
  await prepareDatabase(db);
  const connector = (target: Target): Connect => (extra = {}) =>
    mysql.createConnection({ ...clientOptions(db, target), ...extra });
  const direct = await scenario(connector(targets.direct ?? directTarget(db)));
  return await withProxy(targets.proxyServer ?? db, async (harness) => {
    const proxied = await scenario(connector(harness.address));
    await settled(harness);
    harness.assertAllDecoded();
    assert.deepStrictEqual(proxied, direct, "the client saw something else through the proxy");
    await inspect(harness, proxied);
    return proxied;
  }, { listen: targets.listen, relay: targets.relay });
}

/** Waits until every connection the proxy opened has been logged as closed. */
async function settled(harness: ProxyHarness): Promise<void> {
  const opened = harness.logs.filter((r) => r.event === "connection-opened").length;
  await harness.waitForLog("connection-closed", opened);
}

/** Runs `fn` with a connection and always ends it. */
async function using<T>(
  connect: Connect,
  fn: (c: mysql.Connection) => Promise<T>,
  extra?: mysql.ConnectionOptions,
): Promise<T> {
  const c = await connect(extra);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The field metadata mysql2 exposes, without its private packet buffer. */
function fieldView(field: unknown): unknown {
  if (field === undefined || field === null) return field;
  if (Array.isArray(field)) return field.map(fieldView);
  const f = field as mysql.FieldPacket & Record<string, unknown>;
  return {
    name: f.name,
    type: f.type,
    flags: f.flags,
    length: f.columnLength,
    characterSet: f.characterSet,
    decimals: f.decimals,
    schema: f.schema,
    table: f.table,
    orgTable: f.orgTable,
    orgName: f.orgName,
    encoding: f.encoding,
  };
}

/** Rows and OK results as plain data (ResultSetHeader spread into an object). */
function resultView(result: unknown): unknown {
  if (Array.isArray(result)) return result.map(resultView);
  if (result && typeof result === "object" && "affectedRows" in result) return { ...result };
  return result;
}

type Outcome =
  | { result: unknown; fields: unknown }
  | { error: Record<string, unknown> };

/** What the client saw from one call: its result and field metadata, or its error's fields. */
async function outcome(call: Promise<[unknown, unknown]>): Promise<Outcome> {
  try {
    const [result, fields] = await call;
    return { result: resultView(result), fields: fieldView(fields) };
  } catch (error) {
    return { error: errorView(error) };
  }
}

function errorView(error: unknown): Record<string, unknown> {
  const e = error as Record<string, unknown>;
  return {
    code: e.code,
    errno: e.errno,
    sqlState: e.sqlState,
    sqlMessage: e.sqlMessage,
    message: e.message,
    fatal: e.fatal,
  };
}

/** How many rows and field definitions the client received, over all its outcomes. */
function seenCounts(outcomes: Outcome[]): { rows: number; fields: number } {
  let rows = 0;
  let fields = 0;
  const walk = (result: unknown) => {
    if (!Array.isArray(result)) return;
    for (const item of result) {
      if (Array.isArray(item)) walk(item);
      else if (item && typeof item === "object" && !("affectedRows" in item)) rows++;
    }
  };
  const walkFields = (f: unknown) => {
    if (Array.isArray(f)) f.forEach(walkFields);
    else if (f) fields++;
  };
  for (const o of outcomes) {
    if ("result" in o) {
      walk(o.result);
      walkFields(o.fields);
    }
  }
  return { rows, fields };
}

/**
 * The tap decoded as many rows as the client received (text and binary), and, when only text
 * queries ran (no prepare responses), as many column definitions.
 */
function assertRowsDecoded(
  h: ProxyHarness,
  outcomes: Outcome[],
  options: { fields: boolean; rowsBeforeErrors?: number },
) {
  const counts = seenCounts(outcomes);
  const rows = packetsOf(h, "text-row").length + packetsOf(h, "binary-row").length;
  assert.equal(
    rows,
    counts.rows + (options.rowsBeforeErrors ?? 0),
    "rows decoded by the tap vs rows the client received",
  );
  if (options.fields) {
    assert.equal(packetsOf(h, "column-definition").length, counts.fields, "column definitions");
  }
}

function packetsOf(harness: ProxyHarness, kind: string): TappedPacket[] {
  return harness.packets.filter((p) => p.kind === kind);
}

function countKinds(harness: ProxyHarness): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of harness.packets) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  return counts;
}

/** Asserts the commands (trace summaries) begin with the given prefixes, in order. */
function assertCommands(harness: ProxyHarness, expected: string[]): void {
  const commands = harness.commands();
  assert.equal(
    commands.length,
    expected.length,
    `expected ${expected.length} commands, the tap saw:\n${commands.join("\n")}`,
  );
  expected.forEach((prefix, i) => {
    assert.ok(
      commands[i].startsWith(prefix),
      `command ${i + 1}: expected ${JSON.stringify(prefix)}, the tap saw:\n${commands.join("\n")}`,
    );
  });
}

liveTest("mysql2 text queries see the same values, fields, OK results and warnings", async (db) => {
  const queries = [
    "CREATE OR REPLACE TABLE text_values (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100), " +
    "t MEDIUMTEXT, n INT, UNIQUE KEY (v)) CHARACTER SET utf8mb4",
    "SELECT NULL AS n, '' AS empty, 'héllo wörld 😀🎉 世界' AS unicode, 0 AS zero, " +
    "-128 AS neg, 3.14159 AS decimal_value, 1e300 AS dbl, 18446744073709551615 AS maxu, " +
    "-9223372036854775808 AS minb, REPEAT('a', 250) AS s250, REPEAT('b', 251) AS s251, " +
    "REPEAT('c', 65535) AS s65535, REPEAT('d', 65536) AS s65536, " +
    "REPEAT('😀', 70000) AS emoji280k, X'00FB' AS bin",
    "INSERT INTO text_values (v, t, n) VALUES ('one', NULL, 1), ('', '', NULL), " +
    "('ünï 😀', REPEAT('x', 300000), 3)",
    "SELECT * FROM text_values ORDER BY id",
    "SELECT * FROM text_values WHERE 1 = 0",
    "UPDATE text_values SET n = COALESCE(n, 0) + 10 WHERE id <= 2",
    "UPDATE text_values SET n = n WHERE id = 1",
    "DELETE FROM text_values WHERE id = 2",
    "INSERT IGNORE INTO text_values (v) VALUES ('one')",
    "SHOW WARNINGS",
    "SELECT CAST('12abc' AS SIGNED) AS c, 1/0 AS d",
    "SHOW WARNINGS",
    "SELECT id, v, LENGTH(t) AS len, n FROM text_values ORDER BY id",
  ];
  const seen = await directAndProxied(db, (connect) =>
    using(connect, async (c) => {
      const outcomes: Outcome[] = [];
      for (const sql of queries) outcomes.push(await outcome(c.query(sql)));
      return outcomes;
    }), (h, outcomes) => {
    assertCommands(h, [...queries.map((sql) => `COM_QUERY ${sql.slice(0, 40)}`), "COM_QUIT"]);
    assertRowsDecoded(h, outcomes, { fields: true });
    assert.ok(packetsOf(h, "text-row")[0].length > 350_000, "the wide row went through whole");
  });
  // The scenario checks what it claims: a warning was raised and shown, OK fields are real.
  const of = (sql: string, nth = 0) =>
    seen.filter((_, i) => queries[i] === sql)[nth] as {
      result: Record<string, unknown> & Record<string, unknown>[];
    };
  const insert = of(queries[2]).result;
  assert.equal(insert.affectedRows, 3);
  assert.equal(insert.insertId, 1);
  assert.equal(insert.info, "Records: 3  Duplicates: 0  Warnings: 0");
  assert.equal(
    of("UPDATE text_values SET n = n WHERE id = 1").result.info,
    "Rows matched: 1  Changed: 0  Warnings: 0",
  );
  assert.equal(of("INSERT IGNORE INTO text_values (v) VALUES ('one')").result.warningStatus, 1);
  assert.deepEqual(of("SHOW WARNINGS", 0).result.map((w) => w.Code), [1062]);
  assert.deepEqual(of("SHOW WARNINGS", 1).result.map((w) => w.Code), [1292, 1365]);
  const values = of(queries[1]).result[0];
  assert.equal(values.unicode, "héllo wörld 😀🎉 世界");
  assert.equal(values.n, null);
  assert.equal(values.empty, "");
  assert.equal((values.emoji280k as string).length, 70_000 * 2);
  assert.deepEqual(of("SELECT * FROM text_values WHERE 1 = 0").result, []);
});

const ALL_TYPES_TABLE = `CREATE OR REPLACE TABLE all_types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dec65 DECIMAL(65,30),
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
  c CHAR(10), vc VARCHAR(100), b BINARY(4), vb VARBINARY(10),
  tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  e ENUM('a','b','c'), s SET('x','y','z'), bit1 BIT(1), bit64 BIT(64), j JSON,
  g GEOMETRY, p POINT
) CHARACTER SET utf8mb4`;

const INSERT_ALL_TYPES = `INSERT INTO all_types VALUES (${
  Array(36).fill("?").join(", ")
}, ST_GeomFromText(?), POINT(?, ?))`;

const DEC_MAX = `${"9".repeat(35)}.${"9".repeat(30)}`;

/** Rows for all_types: minimums, maximums, odd temporal lengths, and all NULL. */
function allTypesRows(): unknown[][] {
  const bytes = (n: number, seed: number) =>
    Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
  return [
    [
      1,
      T.TINY(-128),
      T.TINY.unsigned(0),
      T.SHORT(-32768),
      T.SHORT.unsigned(0),
      T.INT24(-8388608),
      T.INT24.unsigned(0),
      T.LONG(-2147483648),
      T.LONG.unsigned(0),
      T.LONGLONG(-9223372036854775808n),
      T.LONGLONG.unsigned(0n),
      T.FLOAT(-1.5),
      T.DOUBLE(-1.7976931348623157e308),
      T.DECIMAL(`-${DEC_MAX}`),
      "1000-01-01",
      "1000-01-01 00:00:00.000000",
      "1970-01-01 00:00:01.000000",
      T.TIME("-838:59:59.999999"),
      T.YEAR(1901),
      "",
      "",
      Buffer.from([0, 0, 0, 0]),
      Buffer.alloc(0),
      Buffer.alloc(0),
      Buffer.alloc(0),
      Buffer.alloc(0),
      Buffer.alloc(0),
      "",
      "",
      "",
      "",
      "a",
      "",
      0,
      T.LONGLONG.unsigned(0n),
      '{"a": [1, 2, null], "ü": "😀"}',
      "POINT(0 0)",
      -1.5,
      2.25,
    ],
    [
      2,
      T.TINY(127),
      T.TINY.unsigned(255),
      T.SHORT(32767),
      T.SHORT.unsigned(65535),
      T.INT24(8388607),
      T.INT24.unsigned(16777215),
      T.LONG(2147483647),
      T.LONG.unsigned(4294967295),
      T.LONGLONG(9223372036854775807n),
      T.LONGLONG.unsigned(18446744073709551615n),
      T.FLOAT(1.5e38),
      T.DOUBLE(1.7976931348623157e308),
      T.DECIMAL(DEC_MAX),
      "9999-12-31",
      "9999-12-31 23:59:59.999999",
      "2038-01-19 03:14:07.999999",
      T.TIME("838:59:59.999999"),
      T.YEAR(2155),
      "ÿ😀abcdefgh",
      "v".repeat(100),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      bytes(10, 1),
      bytes(255, 2),
      // 65534, not the BLOB maximum 65535: see the separate test of 65535-byte parameters.
      bytes(65534, 3),
      bytes(70000, 4),
      bytes(300000, 5),
      "t".repeat(255),
      "é".repeat(30000),
      "😀".repeat(20000),
      "L".repeat(300000),
      "c",
      "x,y,z",
      1,
      T.LONGLONG.unsigned(18446744073709551615n),
      "[]",
      "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))",
      1e10,
      -1e-10,
    ],
    [
      3,
      T.TINY(0),
      1,
      T.SHORT(-1),
      2,
      -3,
      4,
      -5,
      6,
      "-7",
      "8",
      0,
      0,
      "0",
      "0000-00-00",
      "2024-02-29 00:00:00",
      "2024-02-29 12:34:56",
      T.TIME("25:00:00.5"),
      0,
      "c",
      "vc",
      Buffer.from("bin4"),
      Buffer.from("vb"),
      Buffer.from("tb"),
      Buffer.from("bl"),
      Buffer.from("mb"),
      Buffer.from("lb"),
      "tt",
      "tx",
      "mt",
      "lt",
      "b",
      "y",
      true,
      1,
      "null",
      "LINESTRING(0 0, 1 1, 2 0)",
      0,
      0,
    ],
    [
      4,
      T.TINY(1),
      1,
      1,
      1,
      1,
      1,
      1,
      1,
      1,
      1,
      1,
      1,
      "1",
      "2001-02-03",
      "2001-02-03 04:05:06",
      "2001-02-03 04:05:06.7",
      T.TIME("12:34:56"),
      2001,
      "c",
      "vc",
      Buffer.from("b"),
      Buffer.from("v"),
      Buffer.from("1"),
      Buffer.from("2"),
      Buffer.from("3"),
      Buffer.from("4"),
      "1",
      "2",
      "3",
      "4",
      "a",
      "x,z",
      0,
      256,
      '"s"',
      "POINT(1 1)",
      1,
      1,
    ],
    [5, ...Array(38).fill(null)],
  ];
}

/** Parameters of many types echoed back: `SELECT ? AS p0, ...`. */
const ECHO_PARAMS = [
  null,
  true,
  false,
  0,
  -1,
  2 ** 53,
  1.25,
  -0.5,
  "",
  "text",
  "ünï 😀",
  Buffer.from([0, 1, 0xfb, 0xff]),
  Buffer.alloc(300, 7),
  T.TINY(-5),
  T.TINY.unsigned(250),
  T.SHORT(-300),
  T.SHORT.unsigned(60000),
  T.LONG(-100000),
  T.LONG.unsigned(4000000000),
  T.LONGLONG(-(2n ** 63n)),
  T.LONGLONG.unsigned(2n ** 64n - 1n),
  T.FLOAT(0.5),
  T.DOUBLE(-2.5e-300),
  T.DECIMAL("12345678901234567890.123456789"),
  T.DATE("2020-01-02"),
  T.DATETIME("2020-01-02T03:04:05.678Z"),
  T.TIMESTAMP("2020-01-02T03:04:05Z"),
  T.TIME("-01:02:03"),
  T.TIME("100:00:00.000001"),
  T.TIME(0),
  T.VARCHAR("vc"),
  T.BLOB(Buffer.from("blob")),
  T.NULL(),
  T.LONGLONG(null),
];
const ECHO_SQL = `SELECT ${ECHO_PARAMS.map((_, i) => `? AS p${i}`).join(", ")}`;

liveTest(
  "mysql2 prepared statements over every column type and many parameter types",
  async (db) => {
    const seen = await directAndProxied(db, (connect) =>
      using(connect, async (c) => {
        const out: Outcome[] = [];
        out.push(await outcome(c.query("SET time_zone = '+00:00'")));
        out.push(await outcome(c.query(ALL_TYPES_TABLE)));
        for (const row of allTypesRows()) {
          out.push(await outcome(c.execute(INSERT_ALL_TYPES, row as never)));
        }
        const select = "SELECT * FROM all_types ORDER BY id";
        out.push(await outcome(c.execute(select)));
        out.push(await outcome(c.execute(select))); // re-executed: same statement id
        const byId = "SELECT * FROM all_types WHERE id = ?";
        for (const id of [2, 3, 5, 99]) out.push(await outcome(c.execute(byId, [id])));
        out.push(await outcome(c.query(select))); // the text protocol's view, for comparison
        out.push(await outcome(c.execute(ECHO_SQL, ECHO_PARAMS as never)));
        out.push(await outcome(c.execute(ECHO_SQL, ECHO_PARAMS as never)));
        c.unprepare(select);
        c.unprepare(byId);
        out.push(await outcome(c.execute(select))); // prepared again after COM_STMT_CLOSE
        out.push(await outcome(c.query("SELECT COUNT(*) AS n FROM all_types")));
        return out;
      }), (h, outcomes) => {
      assertRowsDecoded(h, outcomes, { fields: false });
      const counts = countKinds(h);
      const rows = allTypesRows().length;
      assert.equal(counts["COM_STMT_PREPARE"], 1 + 1 + 1 + 1 + 1); // insert, select, byId, echo, select again
      assert.equal(counts["COM_STMT_EXECUTE"], rows + 2 + 4 + 2 + 1);
      // Two each: unprepare() closes the statement, then so does its cache's eviction hook.
      assert.equal(counts["COM_STMT_CLOSE"], 4);
      assert.equal(counts["binary-row"], rows + rows + 3 + 2 + rows);
      assert.equal(counts["text-row"], rows + 1);
    });
    const all = seen[2 + allTypesRows().length] as { result: Record<string, unknown>[] };
    assert.equal(all.result.length, 5);
    const [min, max, odd, , nulls] = all.result;
    assert.equal(min.bi, "-9223372036854775808");
    assert.equal(max.biu, "18446744073709551615");
    assert.equal(max.dec65, DEC_MAX);
    assert.equal(min.tm, "-838:59:59.999999");
    assert.equal(odd.tm, "25:00:00.5");
    assert.equal(odd.dt, "0000-00-00");
    assert.ok(Object.entries(nulls).every(([k, v]) => k === "id" || v === null));
  },
);

/**
 * mysql2 writes the length of a 65535-byte parameter as 0xfd + 3 bytes and that of a
 * 16777215-byte one as 0xfe + 8 bytes (it compares with `<` where `<=` would give the shortest
 * form). The server accepts both, so the decoder must too.
 */
liveTest("mysql2 execute with 65535- and 16777215-byte parameters is decoded", async (db) => {
  const sizes = [65534, 65535, 65536, 0xfffffe, 0xffffff];
  const seen = await directAndProxied(db, (connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      for (const size of sizes) {
        const text = "p".repeat(size);
        const blob = Buffer.alloc(size, 0xfb);
        out.push(
          await outcome(
            c.execute("SELECT LENGTH(?) AS t, LENGTH(?) AS b, ? AS n", [text, blob, size]),
          ),
        );
      }
      return out;
    }), (h) => {
    assert.equal(packetsOf(h, "COM_STMT_EXECUTE").length, sizes.length);
  });
  assert.deepEqual(
    seen.map((o) => "result" in o ? o.result : o.error),
    sizes.map((size) => [{ t: size, b: size, n: size }]),
  );
}, { timeoutMs: 120_000 });

liveTest("mysql2 multi-statements return an array of results", async (db) => {
  const seen = await directAndProxied(db, (connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      out.push(
        await outcome(c.query(
          "CREATE OR REPLACE TABLE multi (id INT PRIMARY KEY, v INT); " +
            "INSERT INTO multi VALUES (1, 1), (2, 2)",
        )),
      );
      out.push(
        await outcome(
          c.query("SELECT 1 AS one; SELECT 2 AS two, 'x' AS x; UPDATE multi SET v = v + 1"),
        ),
      );
      out.push(await outcome(c.query("SELECT * FROM multi; SELECT * FROM multi WHERE 0; DO 1")));
      out.push(await outcome(c.query("SELECT 1; SELEC 2; SELECT 3")));
      out.push(await outcome(c.query("SELECT 'still usable' AS ok")));
      return out;
    }, { multipleStatements: true }), (h, outcomes) => {
    // The row of SELECT 1 came before the ERR of SELEC 2; the client reports only the error.
    assertRowsDecoded(h, outcomes, { fields: false, rowsBeforeErrors: 1 });
    assertCommands(h, [
      "COM_QUERY CREATE OR REPLACE TABLE multi",
      "COM_QUERY SELECT 1 AS one; SELECT 2",
      "COM_QUERY SELECT * FROM multi;",
      "COM_QUERY SELECT 1; SELEC 2",
      "COM_QUERY SELECT 'still usable'",
      "COM_QUIT",
    ]);
    // The login's OK ends a response too, then one per COM_QUERY (COM_QUIT gets none).
    const ends = h.packets.filter((p) => p.ends === "response").length;
    assert.equal(ends, 1 + 5);
  });
  const second = seen[1] as { result: unknown[] };
  assert.equal(second.result.length, 3);
  assert.deepEqual(second.result[0], [{ one: 1 }]);
  assert.equal((second.result[2] as { affectedRows: number }).affectedRows, 2);
  assert.ok("error" in seen[3]);
});

/**
 * A trace line says `[resultset N cols M rows]` on the packet that ends a result set. An OK that
 * follows result sets in the same response (the UPDATE of a multi-statement, the status of a
 * CALL) ends no result set, so its line must not repeat the previous result set's summary.
 */
liveTest("trace lines label only the packets that end a result set", async (db) => {
  await directAndProxied(db, (connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      out.push(
        await outcome(
          c.query("CREATE OR REPLACE TABLE labels (id INT); INSERT INTO labels VALUES (1)"),
        ),
      );
      out.push(await outcome(c.query("SELECT 1 AS a; UPDATE labels SET id = id + 1")));
      out.push(await outcome(c.query("CREATE OR REPLACE PROCEDURE one_set() SELECT 2 AS b")));
      out.push(await outcome(c.query("CALL one_set()")));
      return out;
    }, { multipleStatements: true }), (h) => {
    const oks = h.packets.filter((p) => p.kind === "ok" && p.direction === "server");
    const labelled = oks.filter((p) => p.line.includes("[resultset"));
    assert.deepEqual(labelled.map((p) => p.line), [], "OK packets labelled as result sets");
    const eofs = h.packets.filter((p) => p.kind === "eof" && p.ends === "result-set");
    assert.deepEqual(eofs.map((p) => / \[resultset 1 cols 1 rows\]$/.test(p.line)), [true, true]);
  });
});

liveTest(
  "mysql2 CALL returns every result set, the trailing OK, and OUT parameters",
  async (db) => {
    const seen = await directAndProxied(db, (connect) =>
      using(connect, async (c) => {
        const out: Outcome[] = [];
        for (
          const sql of [
            "CREATE OR REPLACE PROCEDURE two_sets(IN n INT) BEGIN " +
            "SELECT n AS a, 'first' AS b; SELECT n * 2 AS c UNION ALL SELECT n * 3; END",
            "CREATE OR REPLACE PROCEDURE out_params(IN x INT, OUT doubled INT, INOUT s VARCHAR(20)) " +
            "BEGIN SET doubled = x * 2; SET s = CONCAT(s, '!'); END",
            "CREATE OR REPLACE PROCEDURE rows_and_out(OUT total INT) BEGIN " +
            "SELECT 1 AS r UNION ALL SELECT 2; SET total = 3; END",
          ]
        ) out.push(await outcome(c.query(sql)));
        out.push(await outcome(c.query("CALL two_sets(7)")));
        out.push(await outcome(c.execute("CALL two_sets(?)", [8])));
        // OUT parameters of a prepared CALL come back as an extra binary result set flagged
        // SERVER_PS_OUT_PARAMS, which MariaDB only sends to clients with CLIENT_PS_MULTI_RESULTS.
        out.push(await outcome(c.execute("CALL out_params(?, ?, ?)", [21, null, "hey"])));
        out.push(await outcome(c.execute("CALL rows_and_out(?)", [null])));
        out.push(await outcome(c.query("SET @s = 'user var'")));
        out.push(await outcome(c.query("CALL out_params(5, @d, @s)")));
        out.push(await outcome(c.query("SELECT @d AS d, @s AS s")));
        return out;
      }, { flags: ["PS_MULTI_RESULTS"] }), (h, outcomes) => {
      assertRowsDecoded(h, outcomes, { fields: false });
      const calls = h.commands().filter((c) => c.includes("CALL"));
      assert.deepEqual(calls, [
        "COM_QUERY CALL two_sets(7)",
        "COM_STMT_PREPARE CALL two_sets(?)",
        "COM_STMT_PREPARE CALL out_params(?, ?, ?)",
        "COM_STMT_PREPARE CALL rows_and_out(?)",
        "COM_QUERY CALL out_params(5, @d, @s)",
      ]);
      const outParams = h.packets.filter((p) => p.line.includes("status=0x100a"));
      assert.ok(outParams.length > 0, "the server sent SERVER_PS_OUT_PARAMS result sets");
    });
    const text = seen[3] as { result: unknown[] };
    assert.equal(text.result.length, 3, "two result sets and the trailing OK");
    assert.deepEqual(text.result[0], [{ a: 7, b: "first" }]);
    assert.deepEqual(text.result[1], [{ c: "14" }, { c: "21" }]);
    assert.deepEqual((seen[4] as { result: unknown[] }).result.length, 3);
    const outParams = seen[5] as { result: unknown[] };
    assert.deepEqual(outParams.result[0], [{ doubled: 42, s: "hey!" }]);
    const rowsAndOut = seen[6] as { result: unknown[] };
    assert.deepEqual(rowsAndOut.result.slice(0, 2), [[{ r: 1 }, { r: 2 }], [{ total: 3 }]]);
    assert.deepEqual((seen.at(-1) as { result: unknown }).result, [{ d: "10", s: "user var!" }]);
  },
);

liveTest("mysql2 LOAD DATA LOCAL INFILE loads the same rows through the proxy", async (db) => {
  const lines = Array.from({ length: 5000 }, (_, i) => `${i + 1}\tname ${i + 1} ü😀\t${i * 3}`);
  lines.push("5001\ttoo\tmany\tfields", "5002\tshort");
  const file = Buffer.from(lines.join("\n") + "\n");
  const requested: string[] = [];
  const infileStreamFactory = (path: string) => {
    requested.push(path);
    // Several chunks, so the data spans several packets.
    const chunks = [];
    for (let i = 0; i < file.length; i += 40_000) chunks.push(file.subarray(i, i + 40_000));
    return Readable.from(chunks);
  };
  const seen = await directAndProxied(db, (connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      out.push(
        await outcome(c.query(
          "CREATE OR REPLACE TABLE loaded (id INT PRIMARY KEY, name VARCHAR(50), n INT) CHARACTER SET utf8mb4",
        )),
      );
      out.push(
        await outcome(c.query({
          sql: "LOAD DATA LOCAL INFILE 'virtual/data.tsv' INTO TABLE loaded " +
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' (id, name, n)",
          infileStreamFactory,
        })),
      );
      out.push(await outcome(c.query("SHOW WARNINGS")));
      out.push(
        await outcome(c.query(
          "SELECT COUNT(*) AS n, SUM(n) AS s, MD5(GROUP_CONCAT(CONCAT_WS('|', id, name, n) " +
            "ORDER BY id SEPARATOR '\\n')) AS digest FROM loaded",
        )),
      );
      out.push(await outcome(c.query("SELECT * FROM loaded WHERE id IN (1, 5000, 5001, 5002)")));
      return out;
    }), (h, outcomes) => {
    assertRowsDecoded(h, outcomes, { fields: true });
    const counts = countKinds(h);
    assert.equal(counts["local-infile-request"], 1);
    assert.ok(counts["local-infile-data"] >= 3, "data packets and the empty end packet");
    assert.equal(packetsOf(h, "local-infile-data").at(-1)?.length, 0);
    const loaded = packetsOf(h, "local-infile-data").reduce((n, p) => n + p.length, 0);
    assert.equal(loaded, file.length);
  });
  assert.deepEqual(requested, ["virtual/data.tsv", "virtual/data.tsv"]);
  const load = seen[1] as { result: Record<string, unknown> };
  assert.equal(load.result.affectedRows, 5002);
  assert.equal(load.result.info, "Records: 5002  Deleted: 0  Skipped: 0  Warnings: 3");
  const warnings = seen[2] as { result: { Code: number }[] };
  assert.deepEqual(warnings.result.map((w) => w.Code), [1366, 1262, 1261]);
});

// The default relay (epoll) and the in-line Deno relay (--relay deno) for the heaviest cases.
for (const relay of ["epoll", "deno"] as const) {
  liveTest(
    `mysql2 round-trips a 20 MB blob in packets longer than 16 MiB (${relay} relay)`,
    async (db) => {
      const size = 20 * 1024 * 1024;
      const blob = Buffer.alloc(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(blob.subarray(i, i + 65536));
      const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
      const expected = sha(blob);
      const seen = await directAndProxied(db, (connect) =>
        using(connect, async (c) => {
          await c.query("CREATE OR REPLACE TABLE big_blob (id INT PRIMARY KEY, b LONGBLOB)");
          const [insert] = await c.execute("INSERT INTO big_blob VALUES (?, ?)", [1, blob]);
          const [textRows] = await c.query("SELECT b, LENGTH(b) AS len FROM big_blob WHERE id = 1");
          const [binaryRows] = await c.execute(
            "SELECT b, LENGTH(b) AS len FROM big_blob WHERE id = ?",
            [1],
          );
          const text = (textRows as { b: Buffer; len: string }[])[0];
          const binary = (binaryRows as { b: Buffer; len: string }[])[0];
          return {
            insert: resultView(insert),
            text: { sha: sha(text.b), len: Number(text.len) },
            binary: { sha: sha(binary.b), len: Number(binary.len) },
          };
        }), (h) => {
        const huge = h.packets.filter((p) => p.length > 0xffffff);
        assert.deepEqual(
          huge.map((p) => [p.direction, p.kind, p.length]),
          [
            ["client", "COM_STMT_EXECUTE", huge[0]?.length],
            ["server", "text-row", huge[1]?.length],
            ["server", "binary-row", huge[2]?.length],
          ],
        );
        assert.ok(huge.every((p) => p.length > size && p.length < size + 100));
      }, { relay });
      assert.deepEqual(seen.text, { sha: expected, len: size });
      assert.deepEqual(seen.binary, { sha: expected, len: size });
    },
    { timeoutMs: 180_000 },
  );
}

liveTest("mysql2 sees the same errors, including one after rows of a result set", async (db) => {
  const seen = await directAndProxied(db, (connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      for (
        const sql of [
          "CREATE OR REPLACE TABLE errs (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL)",
          "INSERT INTO errs VALUES (1, 'a')",
          "SELEC 1",
          "SELECT nope FROM errs",
          "INSERT INTO errs VALUES (1, 'dup')",
          "INSERT INTO errs VALUES (2, NULL)",
          "INSERT INTO errs VALUES (3, 'much too long')",
          "SELECT * FROM no_such_table",
          "CREATE OR REPLACE PROCEDURE rows_then_signal() BEGIN SELECT id, v FROM errs; " +
          "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom after rows', MYSQL_ERRNO = 1644; END",
          "CALL rows_then_signal()",
          "SELECT 'after errors' AS still",
        ]
      ) out.push(await outcome(c.query(sql)));
      out.push(await outcome(c.execute("SELECT nope FROM errs WHERE id = ?", [1])));
      out.push(await outcome(c.execute("INSERT INTO errs VALUES (?, ?)", [1, "dup"])));
      out.push(await outcome(c.execute("CALL rows_then_signal()")));
      out.push(await outcome(c.execute("SELECT ? AS still", ["usable"])));
      return out;
    }), (h, outcomes) => {
    // Each CALL rows_then_signal() sends the row of errs, then the ERR the client reports.
    assertRowsDecoded(h, outcomes, { fields: false, rowsBeforeErrors: 2 });
    const errs = packetsOf(h, "err");
    assert.equal(errs.length, 10, errs.map((p) => p.line).join("\n"));
    assert.ok(errs.some((p) => p.line.includes("1644") && p.line.includes("boom after rows")));
  });
  const codes = seen.map((o) => "error" in o ? o.error.code : "ok");
  assert.deepEqual(codes, [
    ...["ok", "ok", "ER_PARSE_ERROR", "ER_BAD_FIELD_ERROR", "ER_DUP_ENTRY", "ER_BAD_NULL_ERROR"],
    ...["ER_DATA_TOO_LONG", "ER_NO_SUCH_TABLE", "ok", "ER_SIGNAL_EXCEPTION", "ok"],
    ...["ER_BAD_FIELD_ERROR", "ER_DUP_ENTRY", "ER_SIGNAL_EXCEPTION", "ok"],
  ]);
});

liveTest("mysql2 transactions: rollback hides, commit shows, status flags match", async (db) => {
  const seen = await directAndProxied(
    db,
    (connect) =>
      using(connect, (c) =>
        using(connect, async (other) => {
          const out: Outcome[] = [];
          const both = async (sql: string) => {
            out.push(await outcome(c.query(sql)));
            out.push(await outcome(other.query("SELECT COUNT(*) AS n FROM tx")));
          };
          await c.query("CREATE OR REPLACE TABLE tx (id INT PRIMARY KEY) ENGINE=InnoDB");
          await both("BEGIN");
          await both("INSERT INTO tx VALUES (1)");
          out.push(await outcome(c.query("SELECT COUNT(*) AS n FROM tx")));
          await both("ROLLBACK");
          await c.beginTransaction();
          await both("INSERT INTO tx VALUES (2)");
          await c.commit();
          out.push(await outcome(other.query("SELECT id FROM tx")));
          await both("SET autocommit = 0");
          await both("INSERT INTO tx VALUES (3)");
          await c.rollback();
          await both("SET autocommit = 1");
          out.push(await outcome(other.query("SELECT id FROM tx")));
          return out;
        })),
    (h) => {
      const commands = h.commands();
      for (
        const expected of [
          "COM_QUERY BEGIN",
          "COM_QUERY ROLLBACK",
          "COM_QUERY START TRANSACTION",
          "COM_QUERY COMMIT",
        ]
      ) {
        assert.ok(commands.includes(expected), `${expected} missing from:\n${commands.join("\n")}`);
      }
    },
  );
  const status = (
    o: Outcome,
  ) => ("result" in o ? (o.result as { serverStatus: number }).serverStatus : -1);
  const IN_TRANS = 0x0001;
  const AUTOCOMMIT = 0x0002;
  assert.equal(status(seen[0]) & IN_TRANS, IN_TRANS, "BEGIN sets SERVER_STATUS_IN_TRANS");
  assert.deepEqual(
    (seen[3] as { result: unknown }).result,
    [{ n: "0" }],
    "the other session sees nothing",
  );
  assert.deepEqual(
    (seen[4] as { result: unknown }).result,
    [{ n: "1" }],
    "the own session sees its row",
  );
  assert.deepEqual((seen[6] as { result: unknown }).result, [{ n: "0" }], "rolled back");
  assert.deepEqual((seen[9] as { result: unknown }).result, [{ id: 2 }], "committed");
  assert.equal(status(seen[10]) & AUTOCOMMIT, 0, "autocommit off");
  assert.deepEqual(seen.at(-1), {
    result: [{ id: 2 }],
    fields: (seen[9] as { fields: unknown }).fields,
  });
});

liveTest(
  "mysql2 changeUser to another user and back, statements working after each",
  async (db) => {
    // mysql2 has no client_ed25519 plugin, so the second user is a native-password one of this file.
    const second = { user: "e2e_mysql2_second", password: "second-pw-2" };
    await prepareDatabase(db);
    await db.sql(
      `CREATE USER IF NOT EXISTS '${second.user}'@'%' IDENTIFIED BY '${second.password}';` +
        `GRANT ALL PRIVILEGES ON ${DATABASE}.* TO '${second.user}'@'%';`,
    );
    const whoAmI =
      "SELECT CURRENT_USER() AS cu, USER() LIKE CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '@%') AS same, DATABASE() AS db";
    const seen = await directAndProxied(db, (connect) =>
      using(connect, async (c) => {
        const out: Outcome[] = [];
        out.push(await outcome(c.query(whoAmI)));
        out.push(await outcome(c.execute("SELECT ? + 1 AS n", [1])));
        await c.changeUser({ user: second.user, password: second.password, database: DATABASE });
        out.push(await outcome(c.query(whoAmI)));
        out.push(await outcome(c.execute("SELECT ? + 2 AS n", [1])));
        out.push(await outcome(c.query("SELECT COUNT(*) AS n FROM mysql.user"))); // denied
        await c.changeUser({ user: db.users.native.user, password: db.users.native.password });
        out.push(await outcome(c.query(whoAmI)));
        out.push(await outcome(c.execute("SELECT ? + 3 AS n", [1])));
        try {
          await c.changeUser({ user: second.user, password: "wrong" });
          out.push({ result: "changed with a wrong password", fields: undefined });
        } catch (error) {
          out.push({ error: errorView(error) });
        }
        return out;
      }), (h) => {
      const changes = h.commands().filter((c) => c.startsWith("COM_CHANGE_USER"));
      assert.deepEqual(changes.map((c) => c.replace(/ auth=.*/, "")), [
        `COM_CHANGE_USER user="${second.user}" db="${DATABASE}"`,
        `COM_CHANGE_USER user="${db.users.native.user}" db="${DATABASE}"`,
        `COM_CHANGE_USER user="${second.user}" db="${DATABASE}"`,
      ]);
      // MariaDB answers each COM_CHANGE_USER with an auth switch, which mysql2 follows.
      assert.equal(packetsOf(h, "auth-switch-request").length, 3);
      assert.equal(packetsOf(h, "auth-switch-response").length, 3);
      assert.match(packetsOf(h, "err").at(-1)!.line, /ERR 1045 \(28000\) Access denied/);
    });
    assert.deepEqual(
      seen.map((o) => "error" in o ? o.error.code : (o.result as Record<string, unknown>[])[0]),
      [
        { cu: `${db.users.native.user}@%`, same: 1, db: DATABASE },
        { n: 2 },
        { cu: `${second.user}@%`, same: 1, db: DATABASE },
        { n: 3 },
        "ER_TABLEACCESS_DENIED_ERROR",
        { cu: `${db.users.native.user}@%`, same: 1, db: DATABASE },
        { n: 4 },
        "ER_ACCESS_DENIED_ERROR",
      ],
    );
  },
);

for (const relay of ["epoll", "deno"] as const) {
  liveTest(`100 concurrent mysql2 connections through one proxy (${relay} relay)`, async (db) => {
    const count = 100;
    const work = (connect: Connect) =>
      Promise.all(Array.from({ length: count }, (_, i) =>
        using(connect, async (c) => {
          const [a] = await c.query(`SELECT ${i} AS i, REPEAT('x', ${i * 100}) AS s`);
          const [b] = await c.execute("SELECT ? * 2 AS d, ? AS t", [i, `conn ${i}`]);
          const [d] = await c.query("SELECT SLEEP(0.05) AS z, DATABASE() AS db");
          return [a, b, d];
        })));
    const expected = Array.from({ length: count }, (_, i) => [
      [{ i, s: "x".repeat(i * 100) }],
      [{ d: i * 2, t: `conn ${i}` }],
      [{ z: 0, db: DATABASE }],
    ]);
    await directAndProxied(db, work, async (h, seen) => {
      assert.deepStrictEqual(JSON.parse(JSON.stringify(seen)), expected);
      const opened = h.logs.filter((r) => r.event === "connection-opened");
      const closed = await h.waitForLog("connection-closed", count);
      assert.equal(opened.length, count);
      assert.equal(closed.length, count);
      // Each connection: COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_QUERY, COM_QUIT.
      for (const record of closed) {
        assert.equal(record.commands, h.commands(record.connection).length, JSON.stringify(record));
        assert.equal(record.commands, 5, JSON.stringify(record));
        assert.equal(record.reason, "closed");
      }
      assert.deepEqual(new Set(closed.map((r) => r.connection)).size, count);
      // The last close is logged just before its connection leaves the proxy's table; one turn of
      // the event loop lets that settle.
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.equal(h.proxy.activeConnections, 0);
    }, { relay });
  });
}

liveTest(
  "an unreachable server: mysql2 gets errno 2003 naming the address, proxy goes on",
  async () => {
    const port = closedPort();
    await withProxy(`127.0.0.1:${port}`, async (h) => {
      const attempt = async () => {
        try {
          const c = await mysql.createConnection({ ...h.address, user: "u", password: "p" });
          await c.end();
          return undefined;
        } catch (error) {
          return error as Record<string, unknown>;
        }
      };
      for (const round of [1, 2]) {
        const error = await attempt();
        assert.ok(error, `connection ${round} was accepted by a server that does not exist`);
        assert.equal(error.errno, 2003, `got ${error.code}: ${error.message}`);
        assert.notEqual(error.code, "ECONNRESET");
        assert.notEqual(error.code, "ETIMEDOUT");
        assert.equal(error.sqlState, "HY000");
        assert.match(String(error.message), new RegExp(`127\\.0\\.0\\.1:${port}`));
      }
      const unreachable = await h.waitForLog("server-unreachable", 2);
      assert.equal(unreachable[0].server, `127.0.0.1:${port}`);
      assert.equal(unreachable[0].level, "warn");
      await h.proxy.drain();
      assert.equal(h.proxy.activeConnections, 0);
    }, { connectTimeoutMs: 5_000 });
  },
);

liveTest("mysql2 over unix sockets on both sides of the proxy", async (db) => {
  const dir = await Deno.makeTempDir({ prefix: "e2e-mysql2-" });
  try {
    const listen = `unix:${dir}/proxy.sock`;
    await directAndProxied(db, (connect) =>
      using(connect, async (c) => {
        const out: Outcome[] = [];
        out.push(await outcome(c.query("SELECT 1 AS one, 'ü😀' AS u, @@socket = '' AS no_socket")));
        out.push(await outcome(c.execute("SELECT ? AS p, ? AS q", [1, "two"])));
        out.push(await outcome(c.query("SELECT SUBSTRING_INDEX(USER(), '@', -1) AS host")));
        return out;
      }), (h) => {
      assert.equal(h.proxy.endpoint.transport, "unix");
      assert.deepEqual(h.address, { socketPath: `${dir}/proxy.sock` });
      assertCommands(h, [
        "COM_QUERY SELECT 1",
        "COM_STMT_PREPARE",
        "COM_STMT_EXECUTE",
        "COM_QUERY SELECT SUBSTRING_INDEX",
        "COM_QUIT",
      ]);
    }, { direct: { socketPath: db.socket }, proxyServer: `unix:${db.socket}`, listen });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
