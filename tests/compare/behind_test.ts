/**
 * `proxy --compare` never holds traffic back for the comparison: when the comparing worker is
 * more than `maxBehindBytes` behind, connections are relayed without being compared from then on,
 * and the log and the report say so. With room to spare, the same session's change is caught.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { record, startProxy } from "../../mod.ts";
import { startOffThreadCompare } from "../../src/compare/offthread.ts";
import { formatReport } from "../../src/compare/format.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { captureLogger } from "../fuzz/net.ts";
import { connectNative } from "../helpers/mysql2.ts";

const DATABASE = "compare_behind";

async function session(db: MariaDB, port: number): Promise<unknown[]> {
  const conn = await connectNative(db, port, { database: DATABASE });
  try {
    const [rows] = await conn.query("SELECT id, price FROM items ORDER BY id");
    return rows as unknown[];
  } finally {
    await conn.end();
  }
}

/** The session through `proxy --compare` with `maxBehindBytes`: its rows, report and log. */
async function compared(db: MariaDB, recording: string, maxBehindBytes?: number) {
  const log = captureLogger();
  const compare = await startOffThreadCompare({
    recording,
    against: `${db.hostname}:${db.port}`,
    noise: [],
    ordered: false,
    logger: log.logger,
    maxBehindBytes,
  });
  let rows: unknown[];
  try {
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      logger: log.logger,
      tap: compare.tap,
    });
    rows = await session(db, proxy.port);
    await log.waitFor("connection-closed", 1);
    await proxy.settled();
  } catch (error) {
    compare.terminate();
    throw error;
  }
  return { rows, report: await compare.finish(), log };
}

liveTest(
  "proxy --compare: a comparison too far behind relays without comparing, and says so",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "compare-behind-" });
    try {
      await db.sql(`DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};
        CREATE TABLE ${DATABASE}.items (id INT PRIMARY KEY, price DECIMAL(8, 2));
        INSERT INTO ${DATABASE}.items VALUES (1, 7.50), (2, 129.00);`);
      const path = join(dir, "session.jsonl");
      {
        await using recorder = await record({
          listen: "127.0.0.1:0",
          server: `${db.hostname}:${db.port}`,
          out: path,
        });
        await session(db, recorder.port);
      }
      await db.sql(`UPDATE ${DATABASE}.items SET price = 99.00 WHERE id = 2`);

      // No room at all: the connection is relayed, its change goes unseen, and that is said.
      const behind = await compared(db, path, 0);
      assert.deepEqual(behind.rows, [{ id: 1, price: "7.50" }, { id: 2, price: "99.00" }]);
      assert.equal(behind.report.tally.connections.uncompared, 1);
      assert.equal(behind.report.tally.different, 0);
      assert.equal(behind.log.count("compare-behind"), 1);
      assert.match(
        formatReport(behind.report),
        /1 connection was relayed without being compared from some point on: the comparison fell more than 0 MiB behind/,
      );

      // The default room: the change is caught.
      const caught = await compared(db, path);
      assert.equal(caught.report.tally.connections.uncompared, 0);
      assert.equal(caught.report.tally.different, 1);
      assert.equal(caught.log.count("compare-behind"), 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
