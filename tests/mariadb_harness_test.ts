import assert from "node:assert/strict";
import { join } from "node:path";
import mysql from "mysql2/promise";
import {
  type Credential,
  liveTest,
  type MariaDB,
  sharedMariaDB,
  sharedStateDir,
} from "./helpers/mariadb.ts";

const MARKER_PREFIX = "MYSQL_PROXY_TEST_HARNESS_MARKER_";
const MODULE = "mariadb_harness_test";

/** Runs the `mariadb` CLI over TCP as `credential`; returns the exit code and both outputs. */
async function cliOverTcp(
  db: MariaDB,
  credential: Credential,
  statement: string,
  extra: string[] = [],
) {
  const { code, stdout, stderr } = await new Deno.Command(db.bin.mariadb, {
    args: [
      "--no-defaults",
      "--protocol=TCP",
      `--host=${db.hostname}`,
      `--port=${db.port}`,
      `--user=${credential.user}`,
      `--password=${credential.password}`,
      "--batch",
      "--skip-column-names",
      ...extra,
      `--execute=${statement}`,
    ],
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout).trim(), stderr: decoder.decode(stderr).trim() };
}

liveTest("sharedMariaDB() lets proxy_native run SELECT 1+1 through mysql2 over TCP", async (db) => {
  const connection = await mysql.createConnection({
    host: db.hostname,
    port: db.port,
    user: db.users.native.user,
    password: db.users.native.password,
    database: "proxytest",
  });
  try {
    const [rows] = await connection.query("SELECT 1+1 AS x, CURRENT_USER() AS who");
    assert.deepEqual(rows, [{ x: 2, who: "proxy_native@%" }]);
  } finally {
    await connection.end();
  }
});

liveTest("sharedMariaDB() lets mysql2 connect over TLS verified by the test CA", async (db, t) => {
  await t.step({
    name: "TLS session reports its version",
    ignore: db.tls === undefined,
    fn: async () => {
      const connection = await mysql.createConnection({
        host: db.hostname,
        port: db.port,
        user: db.users.native.user,
        password: db.users.native.password,
        ssl: { ca: await Deno.readTextFile(db.tls!.ca) },
      });
      try {
        const [rows] = await connection.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
        assert.match((rows as { Value: string }[])[0].Value, /^TLSv1\.[23]$/);
      } finally {
        await connection.end();
      }
    },
  });
});

liveTest("sharedMariaDB() accepts proxy_native in the mariadb CLI over TCP", async (db) => {
  const ok = await cliOverTcp(db, db.users.native, "SELECT CURRENT_USER(), @@port");
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `proxy_native@%\t${db.port}`);

  const wrong = { user: db.users.native.user, password: "wrong" };
  const denied = await cliOverTcp(db, wrong, "SELECT 1");
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /Access denied/);
});

liveTest("sharedMariaDB() accepts proxy_ed25519 in the mariadb CLI over TCP", async (db, t) => {
  if (Deno.env.get("CI") === "true") assert.ok(db.ed25519, "auth_ed25519 did not load in CI");
  await t.step({
    name: "log in with the ed25519 plugin, and not with a wrong password",
    ignore: !db.ed25519,
    fn: async () => {
      const credential = db.users.ed25519!;
      const plugin = await db.sql(
        `SELECT plugin FROM mysql.user WHERE user = '${credential.user}'`,
      );
      assert.equal(plugin.trim(), "ed25519");
      const ok = await cliOverTcp(db, credential, "SELECT CURRENT_USER()");
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "proxy_ed25519@%");
      const denied = await cliOverTcp(db, { ...credential, password: "wrong" }, "SELECT 1");
      assert.match(denied.stderr, /Access denied/);
    },
  });
});

liveTest("sharedMariaDB() returns one server per process, recorded in state.json", async (db) => {
  assert.equal(await sharedMariaDB(), db);
  assert.equal(db.shared, true);
  const state = JSON.parse(await Deno.readTextFile(join(sharedStateDir(), "state.json")));
  assert.equal(state.server.port, db.port);
  assert.equal(state.server.pid, db.pid);
  const [pidFile, port] = (await db.sql("SELECT @@pid_file, @@port")).trim().split("\t");
  assert.equal(Number((await Deno.readTextFile(pidFile)).trim()), db.pid);
  assert.equal(Number(port), db.port);
  const servers = [];
  for await (const entry of Deno.readDir(sharedStateDir())) {
    if (entry.name.startsWith("server-")) servers.push(entry.name);
  }
  assert.equal(servers.length, 1, `more than one server dir: ${servers.join(", ")}`);
  await db.stop();
  assert.equal((await db.sql("SELECT 1")).trim(), "1", "stop() on the shared server is a no-op");
});

/**
 * Each module (this one and `mariadb_harness_shared_test.ts`) writes a row into the server and
 * the same token into a process environment variable; whichever module runs second must find the
 * other's row in *its* server, which only holds if both got the same one.
 */
liveTest("sharedMariaDB() gives every test module the same server", async (db) => {
  await db.sql(
    "CREATE TABLE IF NOT EXISTS harness_marker (module VARCHAR(100) PRIMARY KEY, token CHAR(36))",
    { database: "proxytest" },
  );
  const token = crypto.randomUUID();
  await db.sql(`REPLACE INTO harness_marker VALUES ('${MODULE}', '${token}')`, {
    database: "proxytest",
  });
  // The environment is the process's, shared by all test modules and independent of the harness.
  Deno.env.set(`${MARKER_PREFIX}${MODULE}`, token);
  for (const [name, expected] of Object.entries(Deno.env.toObject())) {
    if (!name.startsWith(MARKER_PREFIX)) continue;
    const module = name.slice(MARKER_PREFIX.length);
    const found = await db.sql(
      `SELECT token FROM harness_marker WHERE module = '${module}'`,
      { database: "proxytest" },
    );
    assert.equal(found.trim(), expected, `${module} wrote its marker into another server`);
  }
});
