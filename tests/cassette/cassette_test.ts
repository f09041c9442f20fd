/**
 * `cassette()` against a real MariaDB with real drivers: `once` records a missing file and then
 * replays it with no server, `replay` never dials, `record` replaces, `passthrough` writes
 * nothing, the environment overrides the mode, and closing reports misses and (strict) unused
 * exchanges with a readable message.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import mysql from "mysql2/promise";
import mariadb from "npm:mariadb@3.4.5";
import { cassette, CassetteError } from "../../mod.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";

const DATABASE = "cassette_test";
/** Nothing listens here: a cassette that needs no server must not notice. */
const NO_SERVER = "127.0.0.1:1";
const quiet = () => undefined;

let created: Promise<unknown> | undefined;
function setup(db: MariaDB): Promise<unknown> {
  created ??= db.sql(
    `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};` +
      `CREATE TABLE ${DATABASE}.items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6,2));` +
      `INSERT INTO ${DATABASE}.items VALUES (1, 'pen', 1.50), (2, 'cup', 4.25), (3, 'ink', 9.00)`,
  );
  return created;
}

/** A temporary directory, deleted on dispose. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "cassette-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The code under test: text and prepared queries through npm:mysql2. */
async function useItems(
  db: MariaDB,
  endpoint: { hostname: string; port: number },
  password = db.users.native.password,
) {
  const connection = await mysql.createConnection({
    host: endpoint.hostname,
    port: endpoint.port,
    user: db.users.native.user,
    password,
    database: DATABASE,
  });
  try {
    const [all] = await connection.query("SELECT id, name, price FROM items ORDER BY id");
    const [one] = await connection.execute("SELECT name, price FROM items WHERE id = ?", [2]);
    return { all, one };
  } finally {
    await connection.end();
  }
}

liveTest(
  "cassette() in once mode records a missing file, then replays it with no server",
  async (db) => {
    await setup(db);
    await using temp = await tempDir();
    const dir = temp.path;
    const path = join(dir, "nested", "items.jsonl");
    const server = `${db.hostname}:${db.port}`;
    let recorded;
    {
      await using first = await cassette(path, { server, env: quiet });
      assert.equal(first.mode, "record");
      recorded = await useItems(db, first);
    }
    assert.ok((await Deno.stat(path)).isFile);
    assert.deepEqual(
      [...Deno.readDirSync(join(dir, "nested"))].map((e) => e.name),
      ["items.jsonl"],
      "no partial file left behind",
    );
    await using again = await cassette(path, { server: NO_SERVER, env: quiet });
    assert.equal(again.mode, "replay");
    const replayed = await useItems(db, again, "any password");
    assert.deepEqual(replayed, recorded);
    assert.deepEqual(recorded.one, [{ name: "cup", price: "4.25" }]);
  },
);

liveTest(
  "a cassette's close fails on a miss, naming the query and the closest recorded one",
  async (db) => {
    await setup(db);
    await using temp = await tempDir();
    const dir = temp.path;
    const path = join(dir, "items.jsonl");
    {
      await using rec = await cassette(path, {
        mode: "record",
        server: `${db.hostname}:${db.port}`,
      });
      await useItems(db, rec);
    }
    const tape = await cassette(path, { mode: "replay", env: quiet });
    const connection = await mysql.createConnection({
      host: tape.hostname,
      port: tape.port,
      user: "anyone",
      database: DATABASE,
    });
    await connection.query("SELECT id, name, price FROM items ORDER BY id");
    await assert.rejects(
      connection.execute("SELECT name, price FROM items WHERE id = ?", [3]),
      (error: { errno?: number; message: string }) =>
        error.errno === 1105 && /no recorded answer/.test(error.message),
    );
    await connection.end();
    assert.equal(tape.misses.length, 1);
    const error = await tape.close().then(() => undefined, (e) => e);
    assert.ok(error instanceof CassetteError, String(error));
    assert.equal(error.misses.length, 1);
    assert.match(
      error.message,
      /^Cassette .*items\.jsonl \(mode replay\): 1 command had no recorded answer, 1 recorded exchange was never used\n/,
    );
    assert.match(
      error.message,
      /missed on connection 1: stmt-execute "SELECT name, price FROM items WHERE id = \?" with \["3"\]\n/,
    );
    assert.match(
      error.message,
      /closest recorded: stmt-execute "SELECT name, price FROM items WHERE id = \?" with \["2"\] \(items\.jsonl#1: same statement, 1 of 1 value differs\)/,
    );
    assert.match(
      error.message,
      /never used: stmt-execute .* with \["2"\] \(items\.jsonl#1, recorded at \d+\.\d{3} s\)/,
    );
  },
);

liveTest(
  "strict cassettes fail on exchanges never used; strict: false lets them be",
  async (db) => {
    await setup(db);
    await using temp = await tempDir();
    const dir = temp.path;
    const path = join(dir, "items.jsonl");
    {
      await using rec = await cassette(path, {
        mode: "record",
        server: `${db.hostname}:${db.port}`,
      });
      await useItems(db, rec);
    }
    const onlyList = async (strict: boolean) => {
      const tape = await cassette(path, { mode: "replay", strict, env: quiet });
      const connection = await mysql.createConnection({
        host: tape.hostname,
        port: tape.port,
        user: "u",
        database: DATABASE,
      });
      await connection.query("SELECT id, name, price FROM items ORDER BY id");
      await connection.end();
      return tape.close();
    };
    await assert.rejects(onlyList(true), (error: CassetteError) => {
      assert.equal(error.misses.length, 0);
      assert.deepEqual(error.unused.map((u) => u.cmd), ["stmt-execute"]);
      assert.match(error.message, /1 recorded exchange was never used/);
      assert.doesNotMatch(error.message, /had no recorded answer/);
      return true;
    });
    await onlyList(false);
  },
);

liveTest(
  "record mode replaces the cassette; a recording no client used keeps the old file",
  async (db) => {
    await setup(db);
    await using temp = await tempDir();
    const dir = temp.path;
    const path = join(dir, "items.jsonl");
    await Deno.writeTextFile(path, "old content\n");
    const server = `${db.hostname}:${db.port}`;
    const unused = await cassette(path, { mode: "record", server, env: quiet });
    await assert.rejects(
      unused.close(),
      /recorded nothing: no client connected to 127\.0\.0\.1:\d+/,
    );
    assert.equal(await Deno.readTextFile(path), "old content\n");
    {
      await using rec = await cassette(path, { mode: "replay", server, env: env("record") });
      assert.equal(rec.mode, "record", "MYSQL_CASSETTE_MODE wins over the options");
      await useItems(db, rec);
    }
    assert.match(
      await Deno.readTextFile(path),
      /"sql":"SELECT id, name, price FROM items ORDER BY id"/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["items.jsonl"]);
  },
);

function env(mode: string, server?: string) {
  return (name: string) =>
    name === "MYSQL_CASSETTE_MODE" ? mode : name === "MYSQL_CASSETTE_SERVER" ? server : undefined;
}

liveTest(
  "passthrough mode proxies to the server from MYSQL_CASSETTE_SERVER and writes nothing",
  async (db) => {
    await setup(db);
    await using temp = await tempDir();
    const dir = temp.path;
    const path = join(dir, "items.jsonl");
    await using proxy = await cassette(path, {
      server: NO_SERVER,
      env: env("passthrough", `${db.hostname}:${db.port}`),
    });
    assert.equal(proxy.mode, "passthrough");
    const { one } = await useItems(db, proxy);
    assert.deepEqual(one, [{ name: "cup", price: "4.25" }]);
    await proxy.close();
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  },
);

Deno.test("cassette() refuses to replay a missing file, saying how to record it", async () => {
  await assert.rejects(
    cassette("/nonexistent/dir/items.jsonl", { mode: "replay", env: quiet }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.NotFound);
      assert.match(
        error.message,
        /^Cannot replay cassette \/nonexistent\/dir\/items\.jsonl: the file does not exist\. Record it first \(mode "once" or "record", or MYSQL_CASSETTE_MODE=record\) against a server \(MYSQL_CASSETTE_SERVER, now 127\.0\.0\.1:3306\)$/,
      );
      return true;
    },
  );
});

Deno.test("cassette() needing an unreachable server fails at once, naming the setting", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      cassette(join(dir, "x.jsonl"), {
        env: env("", "mysql://app:secret@127.0.0.1:1/shop"),
      }),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot record cassette .*x\.jsonl \(mode once, and the file does not exist yet\): the MySQL server at app@127\.0\.0\.1:1 \(from MYSQL_CASSETTE_SERVER\) is unreachable: .*Start it, or point MYSQL_CASSETTE_SERVER at one$/,
        );
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no file created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveTest("cassettes serve npm:mariadb and the mariadb CLI as they recorded them", async (db) => {
  await setup(db);
  await using temp = await tempDir();
  const dir = temp.path;
  const path = join(dir, "drivers.jsonl");
  const { user, password } = db.users.native;
  const session = async (endpoint: { hostname: string; port: number }, pass: string) => {
    const connection = await mariadb.createConnection({
      host: endpoint.hostname,
      port: endpoint.port,
      user,
      password: pass,
      database: DATABASE,
    });
    const rows = await connection.execute("SELECT id, name FROM items WHERE price > ?", [2]);
    await connection.end();
    const cli = await new Deno.Command(db.bin.mariadb, {
      args: [
        "--no-defaults",
        "--protocol=TCP",
        "-h",
        endpoint.hostname,
        "-P",
        String(endpoint.port),
        `-u${user}`,
        `-p${pass}`,
        DATABASE,
        "-e",
        "SELECT name FROM items ORDER BY price DESC",
      ],
    }).output();
    return { rows: JSON.stringify(rows), cli: new TextDecoder().decode(cli.stdout) };
  };
  let recorded;
  {
    await using rec = await cassette(path, { server: `${db.hostname}:${db.port}`, env: quiet });
    recorded = await session(rec, password);
  }
  await using tape = await cassette(path, { server: NO_SERVER, env: quiet });
  assert.equal(tape.mode, "replay");
  assert.deepEqual(await session(tape, "whatever"), recorded);
  assert.equal(recorded.cli, "name\nink\ncup\npen\n");
});

Deno.test("recording a cassette with query: redact rules requires a redactKey", async () => {
  await assert.rejects(
    cassette("/tmp/never-written.jsonl", {
      mode: "record",
      redact: ["column:^email$", "query:'[^']+@[^']+'"],
      env: quiet,
    }),
    /Cannot record cassette \/tmp\/never-written\.jsonl with the redact rule query:'\[\^'\]\+@\[\^'\]\+' and no redactKey: .*Give a redactKey/,
  );
});
