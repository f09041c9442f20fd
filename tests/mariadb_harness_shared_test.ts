import assert from "node:assert/strict";
import { join } from "node:path";
import { liveTest, sharedStateDir } from "./helpers/mariadb.ts";

const MARKER_PREFIX = "MYSQL_PROXY_TEST_HARNESS_MARKER_";
const MODULE = "mariadb_harness_shared_test";

/**
 * The other half of the check in `mariadb_harness_test.ts`: both modules write a row and a
 * process environment variable; whichever runs second verifies the other's row is in its server.
 */
liveTest("sharedMariaDB() gives this second test module the same server", async (db) => {
  const state = JSON.parse(await Deno.readTextFile(join(sharedStateDir(), "state.json")));
  assert.equal(state.server.pid, db.pid);
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
