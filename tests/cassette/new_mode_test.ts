/**
 * The `new` cassette mode against a real MariaDB: known exchanges are replayed, new ones (new
 * values, new statements, a statement prepared from the cassette but executed with new values)
 * are forwarded to the server and appended, and the next run replays everything with no server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { cassette, CassetteError, loadRecording } from "../../mod.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";

const DATABASE = "cassette_new_test";
const quiet = () => undefined;

async function setup(db: MariaDB): Promise<void> {
  await db.sql(
    `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};` +
      `CREATE TABLE ${DATABASE}.items (id INT PRIMARY KEY, name VARCHAR(20));` +
      `INSERT INTO ${DATABASE}.items VALUES (1, 'pen'), (2, 'cup'), (3, 'ink')`,
  );
}

function url(db: MariaDB): string {
  const { user, password } = db.users.native;
  return `mysql://${user}:${encodeURIComponent(password)}@${db.hostname}:${db.port}/${DATABASE}`;
}

async function session(
  endpoint: { hostname: string; port: number },
  body: (c: mysql.Connection) => Promise<unknown[]>,
): Promise<unknown[]> {
  const connection = await mysql.createConnection({
    host: endpoint.hostname,
    port: endpoint.port,
    user: "proxy_native",
    password: "native-pw-1",
    database: DATABASE,
  });
  try {
    return await body(connection);
  } finally {
    await connection.end();
  }
}

const first = (c: mysql.Connection) =>
  Promise.all([
    c.query("SELECT id, name FROM items ORDER BY id").then(([rows]) => rows),
    c.execute("SELECT name FROM items WHERE id = ?", [1]).then(([rows]) => rows),
  ]);

const extended = async (c: mysql.Connection) => [
  (await c.query("SELECT id, name FROM items ORDER BY id"))[0],
  (await c.execute("SELECT name FROM items WHERE id = ?", [1]))[0],
  // The statement is prepared from the cassette; this execute's value is new.
  (await c.execute("SELECT name FROM items WHERE id = ?", [3]))[0],
  (await c.query("SELECT COUNT(*) AS n FROM items"))[0],
  (await c.execute("SELECT id FROM items WHERE name = ?", ["cup"]))[0],
];

liveTest("new mode replays known exchanges, forwards and appends new ones", async (db) => {
  await setup(db);
  const dir = await Deno.makeTempDir({ prefix: "cassette-new-" });
  try {
    const path = join(dir, "items.jsonl");
    const server = `${db.hostname}:${db.port}`;
    {
      await using rec = await cassette(path, { mode: "record", server, env: quiet });
      await session(rec, first);
    }
    const before = await loadRecording(path);
    // Proof that known exchanges are replayed: the server's row changes, the answer does not.
    await db.sql(`UPDATE ${DATABASE}.items SET name = 'quill' WHERE id = 1`);
    let results;
    {
      await using tape = await cassette(path, { mode: "new", server: url(db), env: quiet });
      results = await session(tape, extended);
    }
    assert.deepEqual(results, [
      [{ id: 1, name: "pen" }, { id: 2, name: "cup" }, { id: 3, name: "ink" }],
      [{ name: "pen" }],
      [{ name: "ink" }],
      [{ n: 3 }],
      [{ id: 2 }],
    ]);
    const after = await loadRecording(path);
    assert.equal(after.connections.size, before.connections.size + 1, "one forwarding connection");
    const added = [...after.connections.values()].at(-1)!;
    assert.deepEqual(
      added.commands.map((c) => `${c.event.cmd} ${c.event.sql}${JSON.stringify(c.event.params)}`),
      [
        "stmt-prepare SELECT name FROM items WHERE id = ?undefined",
        "stmt-execute SELECT name FROM items WHERE id = ?[3]",
        "query SELECT COUNT(*) AS n FROM itemsundefined",
        "stmt-prepare SELECT id FROM items WHERE name = ?undefined",
        'stmt-execute SELECT id FROM items WHERE name = ?["cup"]',
      ],
    );
    assert.doesNotMatch(await Deno.readTextFile(path), /native-pw-1/);

    // The next run needs no server: everything is in the cassette, and all of it is used.
    await using again = await cassette(path, { mode: "replay", env: quiet });
    assert.deepEqual(await session(again, extended), results);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveTest("new mode needs credentials and says what it could not forward", async (db) => {
  await setup(db);
  const dir = await Deno.makeTempDir({ prefix: "cassette-new-" });
  try {
    const path = join(dir, "items.jsonl");
    {
      await using rec = await cassette(path, {
        mode: "record",
        server: `${db.hostname}:${db.port}`,
        env: quiet,
      });
      await session(rec, first);
    }
    await assert.rejects(
      cassette(path, { mode: "new", server: `${db.hostname}:${db.port}`, env: quiet }),
      /Cannot extend cassette .* in mode "new": .*mysql:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/,
    );
    const tape = await cassette(path, { mode: "new", server: url(db), env: quiet });
    await session(tape, async (c) => {
      await first(c);
      await assert.rejects(
        c.query({
          sql: "LOAD DATA LOCAL INFILE 'x.tsv' INTO TABLE items",
          infileStreamFactory: () => null as never,
        }),
        /no recorded answer/,
      );
      return [];
    });
    await assert.rejects(tape.close(), (error: CassetteError) => {
      assert.equal(error.misses.length, 1);
      assert.match(
        error.message,
        /not forwarded: query "LOAD DATA LOCAL INFILE 'x.tsv' INTO TABLE items": LOAD DATA LOCAL INFILE is not forwarded/,
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
