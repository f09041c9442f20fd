/**
 * Replay with clients other than the recorded one, the mariadb CLI, and the auth plugins: a CLI
 * session replayed prints the same output; a recording made by one driver serves another that
 * sends the same queries; clients get in whatever plugin they start with, and through the auth
 * switch the recorded server made.
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import mariadb from "npm:mariadb@3.4.5";
import { replay } from "../../mod.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { startRecorder } from "../helpers/recording.ts";
import { findBinary } from "../helpers/mariadb_server.ts";
import { clientOptions, freshDatabase, watchLogins } from "./replay_helpers.ts";

const DATABASE = "e2e_replay_clients";

/** What one `mariadb` CLI run printed. */
interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(db: MariaDB, port: number, args: string[], input?: string): Promise<CliRun> {
  const child = new Deno.Command(db.bin.mariadb, {
    args: ["--no-defaults", "-h", "127.0.0.1", "-P", String(port), ...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

async function items(db: MariaDB): Promise<void> {
  await freshDatabase(db, DATABASE);
  await db.sql(
    `CREATE TABLE ${DATABASE}.items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2), ` +
      `added DATE, note TEXT);` +
      `INSERT INTO ${DATABASE}.items VALUES (1, 'pen', 1.50, '2024-01-02', NULL), ` +
      `(2, 'ünïcode ✓', 20.00, '2024-02-03', 'tab\\there'), (3, 'cup', 4.25, NULL, '')`,
  );
}

const CLI_STATEMENTS =
  "SELECT * FROM items ORDER BY id; SELECT COUNT(*) AS n, SUM(price) AS total " +
  "FROM items; SELECT name FROM items WHERE id = 2; SELECT nope FROM items; SELECT 'never'";

liveTest(
  "the mariadb CLI prints the same output, tables and errors included, when replayed",
  async (db) => {
    await items(db);
    const { user, password } = db.users.native;
    const runs = async (port: number, pass: string) => [
      await cli(db, port, ["-u", user, `-p${pass}`, DATABASE, "-e", CLI_STATEMENTS]),
      await cli(db, port, ["-u", user, `-p${pass}`, DATABASE, "--table", "-e", CLI_STATEMENTS]),
      // Statements on stdin, as a script: --force goes on after the error, -E prints vertically.
      await cli(db, port, ["-u", user, `-p${pass}`, DATABASE, "--force", "-E"], CLI_STATEMENTS),
    ];
    await using recorder = await startRecorder(db);
    const recorded = await runs(recorder.port, password);
    const path = await recorder.close();
    await using server = await replay(path, { listen: "127.0.0.1:0", strict: true });
    const replayed = await runs(server.port, "not-the-password");
    assert.deepEqual(replayed, recorded);
    assert.match(recorded[0].stdout, /ünïcode ✓\t20.00/);
    assert.match(recorded[1].stderr, /ERROR 1054 \(42S22\)/);
    assert.equal(recorded[2].code, 0, "--force: the error does not fail the script");
    assert.match(recorded[2].stdout, /\*\*\* 1\. row \*\*\*[^]*never/, "--force went on");
  },
);

liveTest(
  "a recording made with the mariadb CLI serves mysql2 sending the same queries",
  async (db) => {
    await items(db);
    const queries = [
      "SELECT * FROM items ORDER BY id",
      "SELECT COUNT(*) AS n, SUM(price) AS total FROM items",
      "SELECT name FROM items WHERE id = 2",
    ];
    const withMysql2 = async (target: { host: string; port: number }, password?: string) => {
      const options = clientOptions(db, target, DATABASE);
      const c = await mysql.createConnection(password ? { ...options, password } : options);
      try {
        const out: unknown[] = [];
        for (const sql of queries) {
          const [rows, fields] = await c.query(sql);
          out.push({ rows, fields: (fields as mysql.FieldPacket[]).map((f) => [f.name, f.type]) });
        }
        return out;
      } finally {
        await c.end();
      }
    };
    const direct = await withMysql2({ host: db.hostname, port: db.port });
    await using recorder = await startRecorder(db);
    const { user, password } = db.users.native;
    const run = await cli(db, recorder.port, [
      "-u",
      user,
      `-p${password}`,
      DATABASE,
      "-e",
      queries.join(";"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const path = await recorder.close();
    await using server = await replay(path, { listen: "127.0.0.1:0" });
    const replayed = await withMysql2({ host: server.hostname, port: server.port }, "x");
    assert.deepStrictEqual(replayed, direct);
    assert.deepEqual(server.misses, []);
    assert.equal(server.stats().exact, queries.length);
  },
);

/** npm:mariadb results as plain JSON (its arrays carry metadata; COUNT(*) is a BigInt). */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_, v) => typeof v === "bigint" ? `${v}n` : v));
}

liveTest(
  "a recording made with mysql2 serves npm:mariadb (pipelined prepares included)",
  async (db) => {
    await items(db);
    const withMariadb = async (port: number, password: string) => {
      const c = await mariadb.createConnection({
        host: "127.0.0.1",
        port,
        user: db.users.native.user,
        password,
        database: DATABASE,
        dateStrings: true,
        decimalAsNumber: false,
      });
      try {
        return plain([
          await c.query("SELECT * FROM items ORDER BY id"),
          await c.execute("SELECT name, price FROM items WHERE id = ?", [2]),
          await c.execute("SELECT name, price FROM items WHERE id = ?", [3]),
          await c.query("SELECT COUNT(*) AS n FROM items"),
        ]);
      } finally {
        await c.end();
      }
    };
    const direct = await withMariadb(db.port, db.users.native.password);
    await using recorder = await startRecorder(db);
    const c = await mysql.createConnection({ ...clientOptions(db, recorder.address, DATABASE) });
    await c.query("SELECT * FROM items ORDER BY id");
    await c.execute("SELECT name, price FROM items WHERE id = ?", [2]);
    await c.execute("SELECT name, price FROM items WHERE id = ?", [3]);
    await c.query("SELECT COUNT(*) AS n FROM items");
    await c.end();
    const path = await recorder.close();
    await using server = await replay(path, { listen: "127.0.0.1:0" });
    const replayed = await withMariadb(server.port, "x");
    assert.deepStrictEqual(replayed, direct);
    assert.deepEqual(server.misses, []);
  },
);

liveTest(
  "npm:mariadb replayed against its own recording: pipelined executes are matched",
  async (db) => {
    await items(db);
    const session = async (port: number, password: string) => {
      const c = await mariadb.createConnection({
        host: "127.0.0.1",
        port,
        user: db.users.native.user,
        password,
        database: DATABASE,
        dateStrings: true,
      });
      try {
        const out = [];
        for (const id of [3, 1, 2, 1]) {
          out.push(await c.execute("SELECT name FROM items WHERE id = ?", [id]));
        }
        return plain(out);
      } finally {
        await c.end();
      }
    };
    await using recorder = await startRecorder(db);
    const recorded = await session(recorder.port, db.users.native.password);
    const path = await recorder.close();
    await using server = await replay(path, { listen: "127.0.0.1:0", approximate: false });
    assert.deepStrictEqual(await session(server.port, "x"), recorded);
    assert.deepEqual(server.misses, []);
  },
);

liveTest(
  "mysql2 logs in with caching_sha2_password when replay asks for it: fast auth",
  async (db) => {
    await freshDatabase(db, DATABASE);
    await using recorder = await startRecorder(db);
    const c = await mysql.createConnection(clientOptions(db, recorder.address, DATABASE));
    await c.query("SELECT 1 + 1 AS two");
    await c.end();
    const path = await recorder.close();
    await using server = await replay(path, {
      listen: "127.0.0.1:0",
      authPlugin: "caching_sha2_password",
    });
    const watch = await watchLogins(server);
    try {
      const live = await mysql.createConnection({
        ...clientOptions(db, { host: "127.0.0.1", port: watch.port }, DATABASE),
        password: "whatever",
      });
      const [rows] = await live.query("SELECT 1 + 1 AS two");
      await live.end();
      assert.deepEqual(rows, [{ two: 2 }]);
    } finally {
      await watch.close();
    }
    // COM_QUIT may or may not be read before the proxy closes: only the login is asserted.
    assert.deepEqual(watch.auth.filter((a) => !a.startsWith("client COM_")), [
      "server handshake-v10 plugin=caching_sha2_password",
      "client handshake-response-41 plugin=caching_sha2_password",
      "server auth-more-data data=3",
      "server ok",
    ]);
  },
);

liveTest(
  "the mariadb CLI of an ed25519 user gets the recorded auth switch to client_ed25519",
  async (db) => {
    if (!db.ed25519 || !db.users.ed25519) {
      throw new Error("the test MariaDB has no ed25519 user (auth_ed25519 did not load)");
    }
    const { user, password } = db.users.ed25519;
    const sql = "SELECT CURRENT_USER() AS me, 40 + 2 AS answer";
    await using recorder = await startRecorder(db);
    const recorded = await cli(db, recorder.port, ["-u", user, `-p${password}`, "-e", sql]);
    assert.equal(recorded.code, 0, recorded.stderr);
    const path = await recorder.close();
    await using server = await replay(path, { listen: "127.0.0.1:0", users: "recorded" });
    const watch = await watchLogins(server);
    try {
      const replayed = await cli(db, watch.port, ["-u", user, "-pnot-it", "-e", sql]);
      assert.deepEqual(replayed, recorded);
      const other = await cli(db, watch.port, ["-u", db.users.native.user, "-pnot-it", "-e", sql]);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /ERROR 1045 \(28000\): Access denied for user 'proxy_native'/);
    } finally {
      await watch.close();
    }
    assert.deepEqual(watch.auth.slice(0, 5), [
      "server handshake-v10 plugin=mysql_native_password",
      "client handshake-response-41 plugin=mysql_native_password",
      "server auth-switch-request plugin=client_ed25519",
      "client auth-switch-response",
      "server ok",
    ]);
  },
);

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
const DEMO_QUERY = "SELECT id, name, price FROM products ORDER BY id";

const MARIADB_CLI = findBinary("mariadb");

Deno.test({
  name:
    "replay asks for sha256_password, mysql_clear_password or client_ed25519 and lets clients in" +
    (MARIADB_CLI ? "" : " (ignored: the mariadb CLI not found)"),
  ignore: !MARIADB_CLI,
  fn: authPlugins,
});

async function authPlugins() {
  const cli = (port: number) =>
    new Deno.Command(MARIADB_CLI!, {
      args: [
        ...["--no-defaults", "-h", "127.0.0.1", "-P", String(port), "-u", "app", "-psecret"],
        ...["--enable-cleartext-plugin", "shop", "-e", DEMO_QUERY],
      ],
      stdin: "null",
    }).output();
  const expected: Record<string, { mysql2?: string[]; cli: string[] }> = {
    sha256_password: {
      // mysql2 starts with mysql_native_password: replay switches it.
      mysql2: [
        "server handshake-v10 plugin=sha256_password",
        "client handshake-response-41 plugin=mysql_native_password",
        "server auth-switch-request plugin=sha256_password",
        "client auth-switch-response",
        "server auth-more-data (a public key)",
        "client auth-switch-response",
        "server ok",
      ],
      cli: [
        "server handshake-v10 plugin=sha256_password",
        "client handshake-response-41 plugin=sha256_password",
        "server auth-more-data (a public key)",
        "client auth-switch-response",
        "server ok",
      ],
    },
    mysql_clear_password: {
      cli: [
        "server handshake-v10 plugin=mysql_clear_password",
        "client handshake-response-41 plugin=mysql_clear_password",
        "server ok",
      ],
    },
    client_ed25519: {
      cli: [
        "server handshake-v10 plugin=mysql_native_password",
        "client handshake-response-41 plugin=mysql_native_password",
        "server auth-switch-request plugin=client_ed25519",
        "client auth-switch-response",
        "server ok",
      ],
    },
  };
  for (const [plugin, steps] of Object.entries(expected)) {
    await using server = await replay(DEMO, { listen: "127.0.0.1:0", authPlugin: plugin });
    const watch = await watchLogins(server);
    const logins = () =>
      watch.auth.filter((a) => !a.startsWith("client COM_")).map((a) =>
        a.replace(/ data=45,45,45,45,45,66,69,71,73,78,.*/, " (a public key)")
      );
    try {
      if (steps.mysql2) {
        const c = await mysql.createConnection({
          host: "127.0.0.1",
          port: watch.port,
          user: "app",
          password: "secret",
          database: "shop",
        });
        const [rows] = await c.query(DEMO_QUERY);
        await c.end();
        assert.equal((rows as unknown[]).length, 4, plugin);
        await watch.settled();
        assert.deepEqual(logins(), steps.mysql2, `${plugin}: mysql2`);
        watch.auth.length = 0;
      }
      const run = await cli(watch.port);
      assert.equal(run.code, 0, `${plugin}: ${new TextDecoder().decode(run.stderr)}`);
      assert.match(new TextDecoder().decode(run.stdout), /Burr grinder\t129.00/);
      await watch.settled();
      assert.deepEqual(logins(), steps.cli, `${plugin}: mariadb CLI`);
    } finally {
      await watch.close();
    }
  }
}
