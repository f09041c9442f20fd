/**
 * The cassette's settings: the mode and server from options and environment (the environment
 * wins), `mysql://` URLs, and errors that name the setting at fault.
 */
import assert from "node:assert/strict";
import {
  describeServer,
  parseServer,
  resolveMode,
  resolveServer,
} from "../../src/cassette/config.ts";
import { cassetteReport } from "../../src/cassette/report.ts";

const none = () => undefined;
const env = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("resolveMode() takes MYSQL_CASSETTE_MODE over the options, and defaults to once", () => {
  assert.equal(resolveMode(undefined, none), "once");
  assert.equal(resolveMode("replay", none), "replay");
  assert.equal(resolveMode("replay", env({ MYSQL_CASSETTE_MODE: "record" })), "record");
  assert.equal(resolveMode("new", env({ MYSQL_CASSETTE_MODE: " " })), "new");
});

Deno.test("resolveMode() names the variable or option holding an unknown mode", () => {
  assert.throws(
    () => resolveMode(undefined, env({ MYSQL_CASSETTE_MODE: "rerecord" })),
    /Cannot use cassette mode "rerecord" \(from MYSQL_CASSETTE_MODE\): expected one of once, replay, record, new, passthrough/,
  );
  assert.throws(
    () => resolveMode("all" as "once", none),
    /"all" \(from options.mode\)/,
  );
});

Deno.test("resolveServer() takes MYSQL_CASSETTE_SERVER over the options, then 127.0.0.1:3306", () => {
  assert.deepEqual(resolveServer(undefined, none).endpoint, {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 3306,
  });
  const fromOptions = resolveServer("db.local:3307", none);
  assert.equal(fromOptions.from, "options.server");
  const fromEnv = resolveServer(
    "db.local:3307",
    env({ MYSQL_CASSETTE_SERVER: "unix:/tmp/m.sock" }),
  );
  assert.deepEqual(fromEnv.endpoint, { transport: "unix", path: "/tmp/m.sock" });
  assert.equal(fromEnv.from, "MYSQL_CASSETTE_SERVER");
});

Deno.test("parseServer() reads credentials and database from a mysql:// URL", () => {
  const target = parseServer("mysql://app:p%40ss%3Aword@[::1]:3310/shop", "test");
  assert.deepEqual(target.endpoint, { transport: "tcp", hostname: "::1", port: 3310 });
  assert.equal(target.user, "app");
  assert.equal(target.password, "p@ss:word");
  assert.equal(target.database, "shop");
  assert.deepEqual(parseServer("mysql://root@localhost", "test").endpoint, {
    transport: "tcp",
    hostname: "localhost",
    port: 3306,
  });
  assert.equal(parseServer("mysql://root@localhost", "test").password, undefined);
});

Deno.test("parseServer() refuses what is not an address, saying which forms work", () => {
  assert.throws(
    () => parseServer("localhost", "MYSQL_CASSETTE_SERVER"),
    /Cannot use the cassette server "localhost" \(from MYSQL_CASSETTE_SERVER\): .*expected HOST:PORT, unix:\/PATH or mysql:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/,
  );
  assert.throws(() => parseServer("mysql://", "x"), /not a valid mysql:\/\/ URL|no host/);
});

Deno.test("describeServer() shows the user and address, never the password", () => {
  const text = describeServer(parseServer("mysql://app:hunter2@10.0.0.5:3306/shop", "x"));
  assert.equal(text, "app@10.0.0.5:3306");
});

Deno.test("cassetteReport() lists misses with their closest recorded request, then unused ones", () => {
  const text = cassetteReport("/tmp/c/shop.jsonl", "replay", [{
    connection: 2,
    cmd: "query",
    request: 'query "SELECT name FROM products WHERE id = 9"',
    closest: {
      request: 'query "SELECT name FROM products WHERE id = 1"',
      recording: "/tmp/c/shop.jsonl#1",
      how: "same statement, 1 of 1 values differ",
    },
    message: "",
    at: new Date(),
  }], [{
    recording: "/tmp/c/shop.jsonl#1",
    cmd: "query",
    request: 'query "DELETE FROM orders"',
    t: 1_500_000,
  }]);
  assert.equal(
    text.split("\n").slice(0, 4).join("\n"),
    "Cassette /tmp/c/shop.jsonl (mode replay): 1 command had no recorded answer, " +
      "1 recorded exchange was never used\n" +
      '  missed on connection 2: query "SELECT name FROM products WHERE id = 9"\n' +
      '    closest recorded: query "SELECT name FROM products WHERE id = 1" ' +
      "(shop.jsonl#1: same statement, 1 of 1 values differ)\n" +
      '  never used: query "DELETE FROM orders" (shop.jsonl#1, recorded at 1.500 s)',
  );
  assert.match(text, /MYSQL_CASSETTE_MODE=record/);
});
