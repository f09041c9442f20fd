import assert from "node:assert/strict";
import { type Catalog, loadCatalog } from "../../src/replay/catalog.ts";
import { type LiveConnection, Matcher, type MatchResult } from "../../src/replay/matcher.ts";
import { sqlRequest, useRequest } from "../../src/replay/keys.ts";
import { type ConnectionSpec, rows, writeRecording } from "./recordings.ts";

async function catalogOf(connections: ConnectionSpec[]): Promise<Catalog> {
  const path = await writeRecording(connections);
  try {
    return await loadCatalog([path]);
  } finally {
    await Deno.remove(path);
  }
}

function query(sql: string, ...values: (string | null)[]) {
  return { cmd: "query", sql, ...rows(...values) };
}

/** What a result served: the first row's value, the kind, and the recorded connection. */
function served(result: MatchResult): string {
  if (result.kind === "miss") return "miss";
  const element = result.exchange.command.elements[0] as { rows?: string[][]; ok?: unknown };
  const value = element.rows ? element.rows[0]?.[0] : "ok";
  return `${value} ${result.kind} #${result.exchange.connection.conn}`;
}

Deno.test("Matcher serves identical requests in recorded order, then repeats the last", async () => {
  const catalog = await catalogOf([{
    commands: [
      query("SELECT status FROM job", "queued"),
      query("SELECT status FROM job", "running"),
    ],
  }, { commands: [query("SELECT status FROM job", "done")] }]);
  const matcher = new Matcher(catalog);
  const live: LiveConnection = { id: 1 };
  const ask = () =>
    served(matcher.match(live, sqlRequest("query", "SELECT status FROM job", catalog.sql)));
  assert.deepEqual([ask(), ask(), ask(), ask()], [
    "queued exact #1",
    "running exact #1",
    "done exact #2",
    "running repeat #1",
  ]);
});

Deno.test("Matcher binds a live connection to the recorded one its first command starts", async () => {
  // Both recorded connections insert, then count; each saw its own count.
  const catalog = await catalogOf([
    {
      commands: [
        { cmd: "query", sql: "INSERT INTO t VALUES (1)", ok: {} },
        query("SELECT COUNT(*) FROM t", "1"),
      ],
    },
    {
      commands: [
        { cmd: "query", sql: "INSERT INTO t VALUES (2)", ok: {} },
        query("SELECT COUNT(*) FROM t", "2"),
      ],
    },
  ]);
  const matcher = new Matcher(catalog);
  const second: LiveConnection = { id: 1 };
  const first: LiveConnection = { id: 2 };
  const ask = (live: LiveConnection, sql: string) =>
    served(matcher.match(live, sqlRequest("query", sql, catalog.sql)));
  assert.equal(ask(second, "INSERT INTO t VALUES (2)"), "ok exact #2");
  assert.equal(ask(first, "INSERT INTO t VALUES (1)"), "ok exact #1");
  // The second asks first: recorded order alone would give it connection 1's count.
  assert.equal(ask(second, "SELECT COUNT(*) FROM t"), "2 exact #2");
  assert.equal(ask(first, "SELECT COUNT(*) FROM t"), "1 exact #1");
  assert.equal(second.bound?.conn, 2);
});

Deno.test("Matcher gives concurrent live connections sending the same queries different recorded ones", async () => {
  const spec = (value: string): ConnectionSpec => ({
    commands: [query("SELECT v FROM t", value), query("SELECT w FROM t", value)],
  });
  const catalog = await catalogOf([spec("a"), spec("b"), spec("c")]);
  const matcher = new Matcher(catalog);
  const lives: LiveConnection[] = [1, 2, 3, 4].map((id) => ({ id }));
  const ask = (live: LiveConnection, sql: string) =>
    served(matcher.match(live, sqlRequest("query", sql, catalog.sql)));
  const firsts = lives.map((live) => ask(live, "SELECT v FROM t"));
  const seconds = lives.map((live) => ask(live, "SELECT w FROM t"));
  assert.deepEqual(firsts, ["a exact #1", "b exact #2", "c exact #3", "c repeat #3"]);
  // Each bound connection goes on with its own story; the fourth, unbound, repeats.
  assert.deepEqual(seconds, ["a exact #1", "b exact #2", "c exact #3", "c repeat #3"]);
  assert.equal(lives[3].bound, undefined);
});

Deno.test("Matcher.release() frees a recorded connection for the next live one (pools)", async () => {
  const catalog = await catalogOf([
    { commands: [query("SELECT v FROM t", "a"), query("SELECT v FROM t", "b")] },
    { commands: [query("SELECT v FROM t", "c")] },
  ]);
  const matcher = new Matcher(catalog);
  const ask = (live: LiveConnection) =>
    served(matcher.match(live, sqlRequest("query", "SELECT v FROM t", catalog.sql)));
  const one: LiveConnection = { id: 1 };
  assert.equal(ask(one), "a exact #1");
  matcher.release(one);
  const two: LiveConnection = { id: 2 };
  assert.equal(ask(two), "b exact #1", "the freed connection's next exchange comes first");
  assert.equal(ask({ id: 3 }), "c exact #2");
});

Deno.test("Matcher prefers equal values over any recorded order, then the closest values", async () => {
  const catalog = await catalogOf([{
    commands: [
      query("SELECT v FROM t WHERE a = 1 AND b = 2", "one-two"),
      query("SELECT v FROM t WHERE a = 3 AND b = 4", "three-four"),
      query("SELECT v FROM t WHERE a = 3 AND b = 9", "three-nine"),
    ],
  }]);
  const matcher = new Matcher(catalog);
  const live: LiveConnection = { id: 1 };
  const ask = (sql: string) => served(matcher.match(live, sqlRequest("query", sql, catalog.sql)));
  assert.equal(ask("select v from t where a = 3 and b = 9"), "three-nine exact #1");
  assert.equal(ask("SELECT v FROM t WHERE a = 3 AND b = 5"), "three-four approximate #1");
  assert.equal(ask("SELECT v FROM t WHERE a = 7 AND b = 2"), "one-two approximate #1");
  // Every one served: the closest again, ties to the earliest.
  assert.equal(ask("SELECT v FROM t WHERE a = 8 AND b = 8"), "one-two approximate #1");
});

Deno.test("Matcher with approximate and repeat off misses, naming the closest recorded request", async () => {
  const catalog = await catalogOf([{
    commands: [query("SELECT v FROM users WHERE id = 5", "x")],
  }]);
  const matcher = new Matcher(catalog, { approximate: false, repeat: false });
  const live: LiveConnection = { id: 1 };
  const ask = (sql: string) => matcher.match(live, sqlRequest("query", sql, catalog.sql));
  const other = ask("SELECT v FROM users WHERE id = 6");
  assert.equal(other.kind, "miss");
  assert.equal(other.kind === "miss" && other.closest?.how, "same statement, 1 of 1 value differs");
  assert.equal(served(ask("SELECT v FROM users WHERE id = 5")), "x exact #1");
  assert.equal(ask("SELECT v FROM users WHERE id = 5").kind, "miss", "no repeat");
  const far = ask("SELECT v, w FROM userz WHERE id = 5");
  assert.equal(far.kind === "miss" && far.closest?.how, "3 tokens differ");
  assert.equal(
    far.kind === "miss" && far.closest?.exchange.request.text,
    'query "SELECT v FROM users WHERE id = 5"',
  );
});

Deno.test("Matcher serves session commands from any connection without using them up", async () => {
  const catalog = await catalogOf([
    {
      commands: [{ cmd: "query", sql: "SET NAMES utf8mb4", ok: {} }, query("SELECT v FROM t", "a")],
    },
    {
      commands: [query("SELECT @@version_comment LIMIT 1", "MariaDB"), {
        cmd: "init-db",
        schema: "shop",
        ok: {},
      }],
    },
  ]);
  const matcher = new Matcher(catalog);
  for (const id of [1, 2, 3]) {
    const live: LiveConnection = { id };
    const ask = (sql: string) => served(matcher.match(live, sqlRequest("query", sql, catalog.sql)));
    assert.equal(ask("SET NAMES utf8mb4"), "ok session #1");
    assert.equal(ask("select @@version_comment limit 1"), "MariaDB session #2");
    assert.equal(
      served(matcher.match(live, sqlRequest("query", "USE shop", catalog.sql))),
      "ok session #2",
    );
    assert.equal(live.bound, undefined, "session commands do not bind");
  }
  assert.deepEqual(matcher.unused().map((e) => e.request.text), ['query "SELECT v FROM t"']);
  assert.equal(matcher.match({ id: 9 }, useRequest("other")).kind, "miss");
});

Deno.test("Matcher never serves a LOCAL INFILE exchange for a request that differs", async () => {
  const load = (file: string) => ({
    cmd: "query",
    sql: `LOAD DATA LOCAL INFILE '${file}' INTO TABLE t`,
    results: [{ infile: { filename: file, data: "1\n" } }, { ok: { affected: 1 } }],
  });
  const catalog = await catalogOf([{ commands: [load("/tmp/a.tsv")] }]);
  const matcher = new Matcher(catalog);
  const ask = (file: string) =>
    matcher.match(
      { id: 1 },
      sqlRequest("query", `LOAD DATA LOCAL INFILE '${file}' INTO TABLE t`, catalog.sql),
    );
  assert.equal(ask("/tmp/b.tsv").kind, "miss");
  assert.equal(ask("/tmp/a.tsv").kind, "exact");
});

Deno.test("Matcher matches executes on the statement's SQL and parameter values", async () => {
  const execute = (id: number, value: string) => ({
    cmd: "stmt-execute",
    sql: "SELECT v FROM t WHERE id = ?",
    params: [id],
    types: ["LONGLONG"],
    ...rows(value),
  });
  const catalog = await catalogOf([{ commands: [execute(1, "one"), execute(2, "two")] }]);
  const matcher = new Matcher(catalog);
  const ask = (value: string) =>
    served(matcher.match(
      { id: 1 },
      sqlRequest("stmt-execute", "SELECT v FROM t WHERE id=?", catalog.sql, [value]),
    ));
  assert.equal(ask("2"), "two exact #1");
  assert.equal(ask("1"), "one exact #1");
  assert.equal(ask("3"), "one approximate #1");
});

Deno.test("Matcher.unused() lists recorded exchanges never served, in recorded order", async () => {
  const catalog = await catalogOf([
    { commands: [query("SELECT a FROM t", "1"), query("SELECT b FROM t", "2")] },
    { commands: [query("SELECT c FROM t", "3"), { cmd: "ping", ok: {} }] },
  ]);
  const matcher = new Matcher(catalog);
  matcher.match({ id: 1 }, sqlRequest("query", "SELECT b FROM t", catalog.sql));
  assert.deepEqual(matcher.unused().map((e) => `${e.connection.conn} ${e.request.text}`), [
    '1 query "SELECT a FROM t"',
    '2 query "SELECT c FROM t"',
  ]);
});

Deno.test("Matcher.closest() weighs the edit distance by the statements' length", async () => {
  const catalog = await catalogOf([{
    commands: [
      query("SELECT nope FROM products", "x"),
      query("SELECT id, name, price FROM products ORDER BY id", "y"),
    ],
  }]);
  const matcher = new Matcher(catalog);
  const result = matcher.match(
    { id: 1 },
    sqlRequest("query", "SELECT id, name FROM products", catalog.sql),
  );
  assert.equal(result.kind, "miss");
  // 3 of 6 tokens differ from the first; 5 of 11 from the second, which shares more.
  assert.equal(
    result.kind === "miss" && result.closest?.exchange.request.text,
    'query "SELECT id, name, price FROM products ORDER BY id"',
  );
  assert.equal(result.kind === "miss" && result.closest?.how, "5 tokens differ");
});
