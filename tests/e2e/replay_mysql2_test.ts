/**
 * npm:mysql2 cannot tell replay from MariaDB: each scenario runs once through a recorder in front
 * of the real server, then against a replay of that recording (which has no path to MariaDB), and
 * the client must see the same rows, field metadata, OK results and errors.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { replay } from "../../mod.ts";
import { startRecorder } from "../helpers/recording.ts";
import {
  clientOptions,
  type Connect,
  freshDatabase,
  type Outcome,
  outcome,
  recordThenReplay,
  using,
} from "./replay_helpers.ts";

const DATABASE = "e2e_replay_mysql2";

/** A mysql2 connector to `target` for this file's database. */
function connector(db: MariaDB, target: { host: string; port: number }): Connect {
  const options = clientOptions(db, target, DATABASE);
  return Object.assign(
    (extra: mysql.ConnectionOptions = {}) => mysql.createConnection({ ...options, ...extra }),
    { options },
  );
}

const ALL_TYPES = `CREATE TABLE all_types (
  id INT PRIMARY KEY, ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, i INT, bi BIGINT,
  biu BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec1 DECIMAL(30,10), dt DATE, dtm DATETIME(6),
  ts TIMESTAMP(3) NULL, tm TIME(6), y YEAR, c CHAR(5), vc VARCHAR(50), tx TEXT, bl BLOB,
  vb VARBINARY(10), e ENUM('a','b'), s SET('x','y','z'), b BIT(9), j JSON, u UUID, g POINT
)`;
const INSERT = `INSERT INTO all_types VALUES (${Array(26).fill("?").join(", ")})`;

function allTypesRows(): unknown[][] {
  return [
    [
      1,
      -128,
      0,
      -8388608,
      -2147483648,
      "-9223372036854775808",
      "0",
      -1.5,
      -1e-300,
      "-12345678901234567890.0123456789",
      "1000-01-01",
      "1000-01-01 00:00:00.000000",
      "1970-01-02 00:00:00.000",
      "-838:59:59.000000",
      1901,
      "",
      "",
      "",
      Buffer.alloc(0),
      Buffer.alloc(0),
      "a",
      "",
      Buffer.from([0, 0]),
      "{}",
      "00000000-0000-0000-0000-000000000000",
      null,
    ],
    [
      2,
      127,
      65535,
      8388607,
      2147483647,
      "9223372036854775807",
      "18446744073709551615",
      3.25,
      1.7976931348623157e308,
      "99999999999999999999.9999999999",
      "9999-12-31",
      "9999-12-31 23:59:59.999999",
      "2038-01-19 03:14:07.999",
      "838:59:59.000000",
      2155,
      "ünï",
      'it\'s "quoted"',
      "x".repeat(300),
      Buffer.from([0, 1, 0xfb, 0xff]),
      Buffer.from("bin"),
      "b",
      "x,z",
      Buffer.from([1, 0xff]),
      '{"k": [1, 2, null]}',
      "123e4567-e89b-12d3-a456-426614174000",
      null,
    ],
    [3, ...Array(25).fill(null)],
  ];
}

liveTest(
  "replayed mysql2 sees the same text and binary results over every column type",
  async (db) => {
    await freshDatabase(db, DATABASE);
    const scenario = (connect: Connect) =>
      using(connect, async (c) => {
        const out: Outcome[] = [];
        out.push(await outcome(c.query("SET time_zone = '+00:00'")));
        out.push(await outcome(c.query(ALL_TYPES)));
        for (const row of allTypesRows()) out.push(await outcome(c.execute(INSERT, row as never)));
        out.push(await outcome(c.query("UPDATE all_types SET g = POINT(1, 2) WHERE id = 2")));
        const select = "SELECT * FROM all_types ORDER BY id";
        out.push(await outcome(c.query(select)));
        out.push(await outcome(c.execute(select)));
        out.push(await outcome(c.execute(select))); // the same statement again
        for (const id of [2, 3, 1, 99]) {
          out.push(await outcome(c.execute("SELECT * FROM all_types WHERE id = ?", [id])));
        }
        out.push(await outcome(c.execute("SELECT ? AS a, ? AS b, ? AS c", [null, 1.25, "ü"])));
        out.push(await outcome(c.query("SELECT nope FROM all_types")));
        out.push(await outcome(c.execute(INSERT, allTypesRows()[0] as never)));
        out.push(await outcome(c.query("SELECT COUNT(*) AS n FROM all_types")));
        return out;
      });
    const { recorded, replayed, server } = await recordThenReplay(db, DATABASE, scenario);
    await server.close();
    assert.deepStrictEqual(replayed, recorded);
    const errors = recorded.filter((o) => "error" in o).map((o) => "error" in o && o.error.errno);
    assert.deepEqual(errors, [1054, 1062], "the recording has the server's errors");
    assert.deepEqual(server.misses, []);
    assert.equal(server.stats().unused, 0);
  },
);

liveTest("replayed mysql2 multi-statements and CALL return the same result sets", async (db) => {
  await freshDatabase(db, DATABASE);
  await db.sql(
    `CREATE TABLE ${DATABASE}.t (id INT PRIMARY KEY, v VARCHAR(10));\nDELIMITER //\n` +
      `CREATE PROCEDURE ${DATABASE}.two_sets(IN n INT) BEGIN ` +
      `SELECT n AS a; SELECT n * 2 AS b, 'x' AS c; END //\nDELIMITER ;`,
  );
  const scenario = (connect: Connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      out.push(
        await outcome(c.query(
          "INSERT INTO t VALUES (1, 'one'); SELECT * FROM t; SELECT 'two' AS b; " +
            "UPDATE t SET v = 'uno' WHERE id = 1; SELECT * FROM t",
        )),
      );
      out.push(await outcome(c.query("CALL two_sets(4)")));
      out.push(await outcome(c.execute("CALL two_sets(?)", [5])));
      out.push(await outcome(c.query("SELECT 1 AS x; SELECT nope")));
      out.push(await outcome(c.query("SELECT v FROM t")));
      return out;
    }, { multipleStatements: true });
  const { recorded, replayed, server } = await recordThenReplay(db, DATABASE, scenario);
  await server.close();
  assert.deepStrictEqual(replayed, recorded);
  const call = recorded[1] as { result: unknown[] };
  assert.equal(call.result.length, 3, "two result sets and the CALL's OK");
  assert.equal(server.stats().unused, 0);
});

liveTest(
  "a replay miss is an ERR naming the query and the closest candidate; the connection goes on",
  async (db) => {
    await freshDatabase(db, DATABASE);
    await db.sql(
      `CREATE TABLE ${DATABASE}.users (id INT PRIMARY KEY, name TEXT);` +
        `INSERT INTO ${DATABASE}.users VALUES (5, 'eve')`,
    );
    const { replayed, server } = await recordThenReplay(
      db,
      DATABASE,
      (connect) => using(connect, (c) => outcome(c.query("SELECT name FROM users WHERE id = 5"))),
      {
        replay: { approximate: false },
        replayScenario: (connect) =>
          using(connect, async (c) => {
            const missed = await outcome(c.query("SELECT name, id FROM users WHERE id = 5"));
            const value = await outcome(c.query("SELECT name FROM users WHERE id = 6"));
            const after = await outcome(c.query("SELECT name FROM users WHERE id = 5"));
            return [missed, value, after] as unknown as Outcome;
          }),
      },
    );
    await server.close();
    const [missed, value, after] = replayed as unknown as Outcome[];
    assert.ok("error" in missed);
    assert.equal(missed.error.errno, 1105);
    assert.equal(missed.error.sqlState, "HY000");
    assert.equal(
      missed.error.sqlMessage,
      'Replay has no recorded answer for query "SELECT name, id FROM users WHERE id = 5"; ' +
        'closest recorded: query "SELECT name FROM users WHERE id = 5" (2 tokens differ)',
    );
    assert.ok("error" in value);
    assert.match(String(value.error.sqlMessage), /\(same statement, 1 of 1 value differs\)$/);
    assert.deepEqual("result" in after && after.result, [{ name: "eve" }], "still usable");
    assert.equal(server.misses.length, 2);
    assert.equal(server.misses[0].closest?.request, 'query "SELECT name FROM users WHERE id = 5"');
    assert.equal(server.stats().misses, 2);
  },
);

liveTest(
  "strict replay rejects close() on misses and on recorded exchanges never used",
  async (db) => {
    await freshDatabase(db, DATABASE);
    const scenario = (connect: Connect) =>
      using(connect, async (c) => {
        await c.query("SELECT 1 AS a FROM DUAL");
        await c.query("SELECT 2 AS b FROM DUAL");
      });
    const unusedRun = await recordThenReplay(db, DATABASE, scenario, {
      replay: { strict: true },
      replayScenario: (connect) =>
        using(connect, async (c) => void await c.query("SELECT 1 AS a FROM DUAL")),
    });
    await assert.rejects(unusedRun.server.close(), (error: Error) => {
      assert.equal(error.name, "ReplayStrictError");
      assert.match(error.message, /0 miss\(es\), 1 recorded exchange\(s\) never used/);
      assert.match(error.message, /unused: query "SELECT 2 AS b FROM DUAL"/);
      return true;
    });
    const missRun = await recordThenReplay(db, DATABASE, scenario, {
      replay: { strict: true },
      replayScenario: (connect) =>
        using(connect, async (c) => {
          await c.query("SELECT 1 AS a FROM DUAL");
          await c.query("SELECT 2 AS b FROM DUAL");
          await c.query("SELECT 3 AS c FROM DUAL").catch(() => {});
        }),
    });
    await assert.rejects(
      missRun.server.close(),
      /1 miss\(es\), 0 recorded exchange\(s\) never used/,
    );
    const cleanRun = await recordThenReplay(db, DATABASE, scenario, { replay: { strict: true } });
    await cleanRun.server.close();
  },
);

liveTest("50 concurrent mysql2 clients each get their own recorded answers", async (db) => {
  await freshDatabase(db, DATABASE);
  const scenario = (connect: Connect) =>
    Promise.all(Array.from({ length: 50 }, (_, i) =>
      using(connect, async (c) => {
        const [a] = await c.execute("SELECT ? * 2 AS d, ? AS t", [i, `conn ${i}`]);
        const [b] = await c.query(`SELECT ${i} + 1 AS n, CONNECTION_ID() > 0 AS ok`);
        const [d] = await c.execute("SELECT ? * 2 AS d, ? AS t", [i, `conn ${i}`]);
        return [a, b, d];
      })));
  const { recorded, replayed, server } = await recordThenReplay(db, DATABASE, scenario);
  await server.close();
  assert.deepStrictEqual(replayed, recorded);
  assert.deepEqual(server.misses, []);
  const stats = server.stats();
  assert.equal(stats.connections, 50);
  assert.equal(stats.unused, 0);
  assert.equal(stats.repeated + stats.approximate, 0, "every client got its own exchanges");
});

liveTest(
  "a mysql2 pool that closes and reopens connections is served across reconnects",
  async (db) => {
    await freshDatabase(db, DATABASE);
    await db.sql(
      `CREATE TABLE ${DATABASE}.kv (k INT PRIMARY KEY, v TEXT);` +
        `INSERT INTO ${DATABASE}.kv VALUES (1, 'a'), (2, 'b'), (3, 'c')`,
    );
    const scenario = async (connect: Connect, limit: number) => {
      const out: unknown[] = [];
      for (let round = 0; round < 3; round++) {
        const pool = mysql.createPool({ ...connect.options, connectionLimit: limit, maxIdle: 0 });
        out.push(
          await Promise.all([1, 2, 3, 1].map(async (k) => {
            const [rows] = await pool.execute("SELECT v FROM kv WHERE k = ?", [k]);
            return rows;
          })),
        );
        const connection = await pool.getConnection();
        out.push((await connection.query("SELECT COUNT(*) AS n FROM kv"))[0]);
        connection.destroy(); // the pool must open a new one
        out.push((await pool.query("SELECT v FROM kv ORDER BY k"))[0]);
        await pool.end();
      }
      return out;
    };
    const { recorded, replayed, server } = await recordThenReplay(
      db,
      DATABASE,
      (connect) => scenario(connect, 2),
      { replayScenario: (connect) => scenario(connect, 4) },
    );
    await server.close();
    assert.deepStrictEqual(replayed, recorded);
    assert.deepEqual(server.misses, []);
    assert.ok(server.stats().connections > 3, "the pools opened several connections");
  },
);

liveTest("LOAD DATA LOCAL INFILE is replayed only for the recorded statement", async (db) => {
  await freshDatabase(db, DATABASE);
  await db.sql(`CREATE TABLE ${DATABASE}.loaded (id INT, name TEXT)`);
  const load = "LOAD DATA LOCAL INFILE 'people.tsv' INTO TABLE loaded";
  const asked: string[] = [];
  const streams = {
    infileStreamFactory: (path: string) => {
      asked.push(path);
      return Readable.from([Buffer.from("1\tann\n2\tbob\n")]);
    },
  };
  const scenario = (connect: Connect) =>
    using(connect, async (c) => {
      const out: Outcome[] = [];
      out.push(await outcome(c.query({ sql: load, ...streams })));
      out.push(await outcome(c.query("SELECT * FROM loaded ORDER BY id")));
      return out;
    });
  const { recorded, replayed, server } = await recordThenReplay(db, DATABASE, scenario, {
    replayScenario: async (connect) => {
      const out = await scenario(connect);
      const other = await using(connect, (c) =>
        outcome(c.query({
          sql: "LOAD DATA LOCAL INFILE 'other.tsv' INTO TABLE loaded",
          ...streams,
        })));
      return [...out, other];
    },
  });
  await server.close();
  assert.deepStrictEqual(replayed.slice(0, 2), recorded);
  assert.deepEqual(asked, ["people.tsv", "people.tsv"], "asked once recording, once replaying");
  const other = replayed[2];
  assert.ok("error" in other && other.error.errno === 1105, JSON.stringify(other));
});

liveTest("a 20 MB result is replayed in packets longer than 16 MiB", async (db) => {
  await freshDatabase(db, DATABASE);
  const size = 20 * 1024 * 1024;
  const scenario = (connect: Connect) =>
    using(connect, async (c) => {
      const [rows] = await c.query(`SELECT REPEAT('x', ${size}) AS big, 7 AS after`);
      const row = (rows as { big: string; after: number }[])[0];
      return { length: row.big.length, xs: /^x+$/.test(row.big), after: row.after };
    });
  const { recorded, replayed, server } = await recordThenReplay(db, DATABASE, scenario);
  await server.close();
  assert.deepEqual(recorded, { length: size, xs: true, after: 7 });
  assert.deepEqual(replayed, recorded);
});

liveTest(
  "replay --speed waits the recorded latency scaled; by default it does not wait",
  async (db) => {
    await freshDatabase(db, DATABASE);
    const scenario = (connect: Connect) =>
      using(connect, async (c) => {
        const started = performance.now();
        await c.query("SELECT SLEEP(0.4) AS s");
        return performance.now() - started;
      });
    const timed = async (speed?: number) => {
      const { replayed, server } = await recordThenReplay(db, DATABASE, scenario, {
        replay: speed === undefined ? {} : { speed },
      });
      await server.close();
      return replayed;
    };
    const fast = await timed();
    const real = await timed(1);
    const double = await timed(2);
    assert.ok(fast < 200, `no waiting by default: ${fast.toFixed(0)} ms`);
    assert.ok(real >= 390 && real < 1000, `--speed 1: ${real.toFixed(0)} ms`);
    assert.ok(double >= 190 && double < 390, `--speed 2: ${double.toFixed(0)} ms`);
  },
);

liveTest(
  "replay with users: recorded refuses other users (1045) and databases (1049)",
  async (db) => {
    await freshDatabase(db, DATABASE);
    const { server } = await recordThenReplay(
      db,
      DATABASE,
      (connect) => using(connect, (c) => outcome(c.query("SELECT 1 AS one"))),
      { replay: { users: "recorded" } },
    );
    try {
      const target = { host: server.hostname, port: server.port };
      const attempt = async (options: mysql.ConnectionOptions) => {
        try {
          const c = await mysql.createConnection({ ...target, ...options });
          const [rows] = await c.query("SELECT 1 AS one");
          await c.end();
          return rows;
        } catch (error) {
          const e = error as { errno: number; sqlMessage: string };
          return `${e.errno} ${e.sqlMessage}`;
        }
      };
      const user = db.users.native.user;
      assert.deepEqual(await attempt({ user, password: "anything", database: DATABASE }), [{
        one: 1,
      }]);
      assert.deepEqual(await attempt({ user, password: "" }), [{ one: 1 }]);
      assert.equal(
        await attempt({ user: "mallory", password: "x" }),
        "1045 Access denied for user 'mallory'@'127.0.0.1' (using password: YES)",
      );
      assert.equal(
        await attempt({ user, password: "x", database: "nowhere" }),
        "1049 Unknown database 'nowhere'",
      );
    } finally {
      await server.close();
    }
  },
);

liveTest(
  "replay with the recording's --redact-key matches redacted statements exactly",
  async (db) => {
    await freshDatabase(db, DATABASE);
    await db.sql(
      `CREATE TABLE ${DATABASE}.people (email VARCHAR(50), n INT);` +
        `INSERT INTO ${DATABASE}.people VALUES ('ann@example.com', 1), ('bob@example.com', 2)`,
    );
    const scenario = (connect: Connect) =>
      using(connect, async (c) => {
        const out: Outcome[] = [];
        out.push(await outcome(c.query("SELECT n FROM people WHERE email = 'bob@example.com'")));
        out.push(
          await outcome(c.execute("SELECT n FROM people WHERE email = ?", ["ann@example.com"])),
        );
        return out;
      });
    await using recorder = await startRecorder(db, {
      redact: ["query:'[^'@]+@[^']+'"],
      redactKey: "the-key",
    });
    const recorded = await scenario(connector(db, recorder.address));
    const path = await recorder.close();
    assert.doesNotMatch(await Deno.readTextFile(path), /example\.com/, "the emails are redacted");
    for (
      const [redactKey, expected] of [["the-key", "exact"], [undefined, "approximate"]] as const
    ) {
      const warnings: string[] = [];
      await using server = await replay(path, {
        listen: "127.0.0.1:0",
        redactKey,
        onWarning: (w) => warnings.push(w),
      });
      const replayed = await scenario(connector(db, { host: server.hostname, port: server.port }));
      assert.deepStrictEqual(replayed, recorded);
      await server.drain();
      const stats = server.stats();
      assert.equal(stats[expected], 2, `${JSON.stringify(stats)} with key ${redactKey}`);
      assert.equal(warnings.length, redactKey ? 0 : 1, warnings.join("\n"));
    }
  },
);
