/**
 * `proxy --compare` never holds traffic back for the comparison: when the comparing worker is
 * more than `maxBehindBytes` behind, connections are relayed without being compared from then on,
 * and the log and the report say so. With room to spare, the same session's change is caught.
 * With the epoll relay forwarding (as the CLI runs it), the bytes after the login reach the
 * comparing worker without passing the main thread, and the same holds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { record, startProxy } from "../../mod.ts";
import {
  type CompareIsolation,
  type OffThreadCompare,
  startOffThreadCompare,
} from "../../src/compare/offthread.ts";
import { ForwardCounter } from "../../src/net/epoll/forward.ts";
import { EpollRelay } from "../../src/net/epoll/relay.ts";
import { formatReport } from "../../src/compare/format.ts";
import type { CompareReport } from "../../src/compare/report.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { captureLogger } from "../fuzz/net.ts";
import { connectNative } from "../helpers/mysql2.ts";

const DATABASE = "compare_behind";

async function session(db: MariaDB, port: number, afterLogin = () => {}): Promise<unknown[]> {
  const conn = await connectNative(db, port, { database: DATABASE });
  afterLogin();
  try {
    const [rows] = await conn.query("SELECT id, price FROM items ORDER BY id");
    return rows as unknown[];
  } finally {
    await conn.end();
  }
}

/**
 * The session through `proxy --compare` with `maxBehindBytes`: its rows, report, log, and the
 * bytes the main thread's tap saw. `forward`: the epoll relay sends the bytes after the login
 * straight to the comparing worker; `afterLogin` runs once the client is logged in.
 */
async function compared(
  db: MariaDB,
  recording: string,
  options: {
    maxBehindBytes?: number;
    forward?: boolean;
    afterLogin?: (compare: OffThreadCompare) => void;
    isolation?: CompareIsolation;
    /** The comparison is expected to fail: `failed` is its error. */
    dies?: boolean;
    /** What the client does (default: {@link session}). */
    client?: typeof session;
  } = {},
) {
  const { maxBehindBytes, forward = false, isolation } = options;
  const log = captureLogger();
  const compare = await startOffThreadCompare({
    recording,
    against: `${db.hostname}:${db.port}`,
    noise: [],
    ordered: false,
    logger: log.logger,
    maxBehindBytes,
    isolation,
  });
  let rows: unknown[];
  const seenHere = { bytes: 0 };
  try {
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      logger: log.logger,
      relayForward: forward ? compare.forward : undefined,
      tap: (info) => {
        const tap = compare.tap(info);
        const client = tap.client.bind(tap);
        const server = tap.server.bind(tap);
        tap.client = (chunk) => (seenHere.bytes += chunk.length, client(chunk));
        tap.server = (chunk) => (seenHere.bytes += chunk.length, server(chunk));
        return tap;
      },
    });
    rows = await (options.client ?? session)(db, proxy.port, () => options.afterLogin?.(compare));
    await log.waitFor("connection-closed", 1);
    await proxy.settled();
  } catch (error) {
    compare.terminate();
    throw error;
  }
  let report: CompareReport | undefined;
  let failed: Error | undefined;
  try {
    report = await compare.finish();
  } catch (error) {
    if (!options.dies) throw error;
    failed = error as Error;
  }
  return { rows, report: report!, failed, log, seenHere, compare };
}

/** The session, recorded in `dir` against a fresh `items` table; the recording's path. */
async function recorded(db: MariaDB, dir: string, client = session): Promise<string> {
  await db.sql(`DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};
    CREATE TABLE ${DATABASE}.items (id INT PRIMARY KEY, price DECIMAL(8, 2));
    INSERT INTO ${DATABASE}.items VALUES (1, 7.50), (2, 129.00);`);
  const path = join(dir, "session.jsonl");
  await using recorder = await record({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    out: path,
  });
  await client(db, recorder.port);
  return path;
}

liveTest(
  "proxy --compare: a comparison too far behind relays without comparing, and says so",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "compare-behind-" });
    try {
      const path = await recorded(db, dir);
      await db.sql(`UPDATE ${DATABASE}.items SET price = 99.00 WHERE id = 2`);

      // No room at all: the connection is relayed, its change goes unseen, and that is said.
      const behind = await compared(db, path, { maxBehindBytes: 0 });
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

      if (EpollRelay.unavailable() !== undefined) return;
      // Forwarded by the relay's worker: caught the same, with only the login on this thread.
      const forwarded = await compared(db, path, { forward: true });
      assert.equal(forwarded.report.tally.different, 1);
      assert.ok(forwarded.seenHere.bytes > 0, "the login passes here");
      assert.ok(
        forwarded.seenHere.bytes < caught.seenHere.bytes,
        `${forwarded.seenHere.bytes} bytes here, ${caught.seenHere.bytes} without forwarding`,
      );
      const commands = (log: typeof caught.log) =>
        log.records.find((record) => record.event === "connection-closed")?.commands;
      assert.ok(Number(commands(caught.log)) > 0);
      assert.equal(commands(forwarded.log), commands(caught.log), "counted in the relay's worker");
      assert.equal(forwarded.compare.isolation, "process");

      // The same with the comparison in a worker thread (where no child process can be started).
      const inThread = await compared(db, path, { forward: true, isolation: "thread" });
      assert.equal(inThread.compare.isolation, "thread");
      assert.equal(inThread.report.tally.different, 1);
      assert.equal(commands(inThread.log), commands(caught.log));

      // Too far behind once the connection is in the relay's worker: it stops forwarding there.
      const stopped = await compared(db, path, {
        forward: true,
        afterLogin: (compare) => {
          Atomics.add(new Int32Array(compare.forward!.counters), ForwardCounter.bytes, 1 << 30);
        },
      });
      assert.deepEqual(stopped.rows, behind.rows);
      assert.equal(stopped.report.tally.connections.uncompared, 1);
      assert.equal(stopped.report.tally.different, 0);
      assert.equal(stopped.log.count("compare-behind"), 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveTest(
  "proxy --compare: a comparing process that dies costs the client nothing; the failure is said",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "compare-dies-" });
    try {
      const path = await recorded(db, dir);
      const forward = EpollRelay.unavailable() === undefined;
      const dead = await compared(db, path, {
        forward,
        dies: true,
        afterLogin: (compare) => Deno.kill(compare.pid!, "SIGKILL"),
      });
      assert.deepEqual(dead.rows, [{ id: 1, price: "7.50" }, { id: 2, price: "129.00" }]);
      assert.match(String(dead.failed), /The comparing process exited early \(signal SIGKILL\)/);
      const said = dead.log.records.filter((record) => record.event === "compare-failed");
      assert.equal(said.length, 1, JSON.stringify(dead.log.records));
      assert.match(String(said[0].message), /goes on relaying without comparing/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * Prepared statements whose answers come 30 ms after their requests, with a blob parameter: each
 * request and its answer reach the comparing process in different relay batches (sent every 20
 * ms), and the batch holding the request is applied, and its memory reused for the next batches
 * (backlog.ts), before the answer arrives: the comparison must keep nothing of a batch's bytes.
 */
async function slowSession(db: MariaDB, port: number): Promise<unknown[]> {
  const conn = await connectNative(db, port, { database: DATABASE });
  try {
    const rows: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      const blob = new Uint8Array(200 + i).fill(0x41 + i);
      const [result] = await conn.execute(
        "SELECT SLEEP(0.03) AS s, LENGTH(?) AS n, price FROM items WHERE id = ?",
        [blob, 1 + i % 2],
      );
      rows.push(...(result as unknown[]));
    }
    return rows;
  } finally {
    await conn.end();
  }
}

liveTest(
  "proxy --compare: a request and its answer in different relay batches compare as recorded",
  async (db) => {
    if (EpollRelay.unavailable() !== undefined) return;
    const dir = await Deno.makeTempDir({ prefix: "compare-batches-" });
    try {
      const path = await recorded(db, dir, slowSession);
      const same = await compared(db, path, { forward: true, client: slowSession });
      assert.equal(same.compare.isolation, "process");
      // The prepare and six executes.
      assert.equal(same.report.tally.compared, 7, JSON.stringify(same.report.tally));
      assert.equal(same.report.tally.different, 0, formatReport(same.report));
      assert.equal(same.report.tally.skipped, 0, formatReport(same.report));

      await db.sql(`UPDATE ${DATABASE}.items SET price = 99.00 WHERE id = 2`);
      const changed = await compared(db, path, { forward: true, client: slowSession });
      assert.equal(changed.report.tally.different, 3, formatReport(changed.report));
      assert.equal(changed.report.tally.skipped, 0, formatReport(changed.report));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
