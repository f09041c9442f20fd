/**
 * Garbage over the network: 300 garbage client sessions against the proxy (with full decoding and
 * a 64 KiB --max-packet), the recorder and replay, and a garbage server behind the proxy. No
 * session may hang, each closes with exactly one `connection-closed` log line, nothing is logged
 * as an error, and afterwards a real client (mysql2) still gets answers.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { createSessionTap, record, replay, startProxy } from "../../mod.ts";
import { loadRecording } from "../../src/record/reader.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import {
  captureLogger,
  garbageClient,
  garbageServer,
  type LogRecord,
  politeClient,
  sessions,
} from "./net.ts";
import { Random } from "./random.ts";
import { queryDemo } from "../hardening/cli.ts";

const SESSIONS = 300;
const PARALLEL = 16;
const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;

/** Every connection logged `connection-closed` exactly once; nothing logged at level error. */
function assertOneCloseEach(records: LogRecord[], connections: number): void {
  const closes = new Map<number, number>();
  for (const r of records) {
    if (r.event === "connection-closed") {
      closes.set(r.connection!, (closes.get(r.connection!) ?? 0) + 1);
    }
  }
  const wrong = [];
  for (let id = 1; id <= connections; id++) {
    if (closes.get(id) !== 1) wrong.push(`#${id}: ${closes.get(id) ?? 0} close lines`);
  }
  assert.deepEqual(wrong, [], "each connection closes with one log line");
  const errors = records.filter((r) => r.level === "error").map((r) => `${r.event}: ${r.message}`);
  assert.deepEqual(errors, [], "nothing is logged as an error");
  // A decoding failure costs at most one line per connection.
  const decodeFailures = new Map<number, number>();
  for (const r of records.filter((r) => r.event === "decode-failed")) {
    decodeFailures.set(r.connection!, (decodeFailures.get(r.connection!) ?? 0) + 1);
  }
  assert.deepEqual([...decodeFailures].filter(([, n]) => n > 1), []);
}

/** A connection is logged closed a few reactions before the proxy forgets it. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function assertNoHang(outcomes: { kind: string; closed: boolean }[]): void {
  const hung = outcomes.map((o, i) => ({ ...o, i })).filter((o) => !o.closed);
  assert.deepEqual(hung, [], "every garbage session was closed by the other side");
}

async function answers(db: MariaDB, port: number): Promise<void> {
  const { user, password } = db.users.native;
  const conn = await mysql.createConnection({ host: "127.0.0.1", port, user, password });
  try {
    const [rows] = await conn.query("SELECT 6 * 7 AS answer");
    assert.deepEqual(rows, [{ answer: 42 }]);
  } finally {
    await conn.end();
  }
}

liveTest(
  `proxy: ${SESSIONS} garbage client sessions, then mysql2 still gets answers`,
  async (db) => {
    const log = captureLogger();
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      logger: log.logger,
      // Full decoding of every packet, as with --trace, reassembling at most 64 KiB.
      tap: () => createSessionTap({ onPacket: () => {}, maxPacketLength: 64 * 1024 }),
    });
    const outcomes = await sessions(
      SESSIONS,
      PARALLEL,
      (i) => garbageClient(new Random(1000 + i), proxy.port),
    );
    assertNoHang(outcomes);
    await log.waitFor("connection-closed", SESSIONS);
    await answers(db, proxy.port);
    await log.waitFor("connection-closed", SESSIONS + 1);
    assertOneCloseEach(log.records, SESSIONS + 1);
    await settle();
    assert.equal(proxy.activeConnections, 0);
  },
  { timeoutMs: 120_000 },
);

liveTest(`record: ${SESSIONS} garbage client sessions leave a readable recording`, async (db) => {
  const log = captureLogger();
  const dir = await Deno.makeTempDir({ prefix: "fuzz-record-" });
  try {
    const out = `${dir}/garbage.jsonl`;
    const recording = await record({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      logger: log.logger,
      out,
      maxPacketLength: 64 * 1024,
    });
    try {
      const outcomes = await sessions(
        SESSIONS,
        PARALLEL,
        (i) => garbageClient(new Random(5000 + i), recording.port),
      );
      assertNoHang(outcomes);
      await answers(db, recording.port);
      await log.waitFor("connection-closed", SESSIONS + 1);
    } finally {
      await recording.close();
    }
    assertOneCloseEach(log.records, SESSIONS + 1);
    const warnings: string[] = [];
    const loaded = await loadRecording(out, { onWarning: (w) => warnings.push(w) });
    assert.equal(loaded.connections.size, SESSIONS + 1);
    const last = loaded.connections.get(SESSIONS + 1)!;
    assert.ok(last.commands.some((c) => c.event.sql === "SELECT 6 * 7 AS answer"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}, { timeoutMs: 120_000 });

Deno.test(`replay: ${SESSIONS} garbage client sessions, then mysql2 still gets answers`, async () => {
  const log = captureLogger();
  await using server = await replay(DEMO, { listen: "127.0.0.1:0", logger: log.logger });
  const outcomes = await sessions(
    SESSIONS,
    PARALLEL,
    (i) => garbageClient(new Random(9000 + i), server.port),
  );
  assertNoHang(outcomes);
  await log.waitFor("connection-closed", SESSIONS);
  assert.equal(await queryDemo(server.port), 4);
  await log.waitFor("connection-closed", SESSIONS + 1);
  assertOneCloseEach(log.records, SESSIONS + 1);
  // A garbage client may cost its connection, never reach a bug: only the codec's own errors.
  const failures = log.records.filter((r) =>
    r.event === "connection-closed" && r.reason?.startsWith("failed") &&
    !/^failed: Cannot (parse|reassemble)/.test(r.reason)
  ).map((r) => r.reason);
  assert.deepEqual(failures, []);
});

liveTest(
  "proxy: a garbage server behind it costs each client its session, nothing more",
  async (db) => {
    const log = captureLogger();
    const fake = garbageServer(new Random(77));
    try {
      await using proxy = await startProxy({
        listen: "127.0.0.1:0",
        server: `127.0.0.1:${fake.port}`,
        logger: log.logger,
        tap: () => createSessionTap({ onPacket: () => {}, maxPacketLength: 64 * 1024 }),
      });
      const outcomes = await sessions(
        SESSIONS,
        PARALLEL,
        (i) => politeClient(new Random(20_000 + i), proxy.port),
      );
      assertNoHang(outcomes);
      await log.waitFor("connection-closed", SESSIONS);
      // The same proxy, the fake server now relaying to MariaDB: a real client is served.
      fake.passthrough = { hostname: db.hostname, port: db.port };
      await answers(db, proxy.port);
      await log.waitFor("connection-closed", SESSIONS + 1);
      assertOneCloseEach(log.records, SESSIONS + 1);
    } finally {
      await fake.close();
    }
  },
  { timeoutMs: 120_000 },
);
