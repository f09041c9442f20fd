/**
 * sysbench (libmariadb, four threads of oltp_read_write) through the proxy, with prepared
 * statements and without: no errors, no reconnects, and the tap decodes every packet and sees
 * every statement sysbench reports.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createLogger, createSessionTap, startProxy } from "../../mod.ts";
import { liveTest, type MariaDB, unavailableTest } from "../helpers/mariadb.ts";
import { findBinary } from "../helpers/mariadb_server.ts";

/** A database of its own, so the sbtest tables of other tests are not touched. */
const DATABASE = "e2e_sysbench";
const SYSBENCH = findBinary("sysbench");
/** Deadlocks and lock wait timeouts: sysbench retries these (`--mysql-ignore-errors`). */
const RETRIED_ERRORS = new Set([1213, 1205, 1020]);

/** What a proxy's tap and logger saw. */
interface Seen {
  kinds: Map<string, number>;
  /** Codes of the ERR packets the server sent. */
  errors: number[];
  /** Unknown packets and decoding problems, as text. */
  problems: string[];
}

/** Runs `fn` with a proxy whose tap counts decoded packets by kind. */
async function throughProxy(
  db: MariaDB,
  fn: (port: number) => Promise<string>,
): Promise<{ output: string; seen: Seen }> {
  const seen: Seen = { kinds: new Map(), errors: [], problems: [] };
  const logger = createLogger({
    format: "json",
    level: "warn",
    write: (line) => seen.problems.push(line),
  });
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    logger,
    tap: (info) =>
      createSessionTap({
        onPacket(packet) {
          const message = packet.message;
          seen.kinds.set(message.kind, (seen.kinds.get(message.kind) ?? 0) + 1);
          if (message.kind === "err") seen.errors.push(message.code);
          if (message.kind === "unknown") {
            seen.problems.push(`#${info.id} ${packet.direction} unknown: ${message.reason}`);
          }
        },
        onOpaque: (reason) => seen.problems.push(`#${info.id} opaque: ${reason}`),
      }),
  });
  const output = await fn(proxy.port);
  await proxy.drain();
  return { output, seen };
}

async function sysbench(db: MariaDB, port: number, args: string[]): Promise<string> {
  const { user, password } = db.users.sysbench;
  const { code, stdout, stderr } = await new Deno.Command(SYSBENCH!, {
    args: [
      "oltp_read_write",
      "--db-driver=mysql",
      "--mysql-host=127.0.0.1",
      `--mysql-port=${port}`,
      `--mysql-user=${user}`,
      `--mysql-password=${password}`,
      `--mysql-db=${DATABASE}`,
      "--mysql-ssl=off",
      // 10 000 rows: with 1 000, four threads deadlock a few times a second even without the proxy.
      "--tables=1",
      "--table-size=10000",
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  const errors = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `sysbench ${args.at(-1)} failed (${code}):\n${text}\n${errors}`);
  assert.doesNotMatch(text + errors, /FATAL|ALERT/, text + errors);
  return text;
}

/** A number from sysbench's report, e.g. `ignored errors:  0  (0.00 per sec.)`. */
function reported(output: string, label: string): number {
  const match = output.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, "m"));
  if (!match) throw new Error(`sysbench reported no "${label}":\n${output}`);
  return Number(match[1]);
}

function count(seen: Seen, kind: string): number {
  return seen.kinds.get(kind) ?? 0;
}

async function runMode(db: MariaDB, mode: "auto" | "disable"): Promise<Seen> {
  await db.sql(
    `CREATE DATABASE IF NOT EXISTS ${DATABASE};` +
      ` GRANT ALL PRIVILEGES ON ${DATABASE}.* TO '${db.users.sysbench.user}'@'%'`,
  );
  const prepared = await throughProxy(db, (port) => sysbench(db, port, ["prepare"]));
  assert.deepEqual(prepared.seen.problems, []);
  try {
    const { output, seen } = await throughProxy(
      db,
      (port) =>
        sysbench(db, port, [
          "--time=3",
          "--threads=4",
          "--report-interval=0",
          `--db-ps-mode=${mode}`,
          "run",
        ]),
    );
    const transactions = reported(output, "transactions");
    const queries = reported(output, "total");
    const ignored = reported(output, "ignored errors");
    console.log(
      `sysbench --db-ps-mode=${mode}: ${transactions} transactions, ${queries} queries, ` +
        `${ignored} ignored errors, ${reported(output, "reconnects")} reconnects; tap: ${
          [...seen.kinds].map(([kind, n]) => `${kind} ${n}`).join(", ")
        }`,
    );
    assert.ok(transactions > 0, output);
    assert.equal(reported(output, "reconnects"), 0);
    assert.deepEqual(seen.problems, [], seen.problems.join("\n"));
    assert.equal(count(seen, "unknown"), 0);
    // The only errors are the server's deadlocks, which sysbench counts as ignored and retries;
    // usually there are none at all.
    assert.deepEqual(seen.errors.filter((code) => !RETRIED_ERRORS.has(code)), []);
    assert.equal(seen.errors.length, ignored);
    // sysbench counts the statements that succeeded; each ignored error is one more it sent.
    assert.equal(
      count(seen, "COM_QUERY") + count(seen, "COM_STMT_EXECUTE"),
      queries + ignored,
      "the tap saw a different number of statements than sysbench sent",
    );
    return seen;
  } finally {
    await throughProxy(db, (port) => sysbench(db, port, ["cleanup"]));
  }
}

if (!SYSBENCH) {
  for (const mode of ["auto", "disable"]) {
    unavailableTest(
      `sysbench oltp_read_write --db-ps-mode=${mode} through the proxy`,
      "sysbench not found on PATH",
    );
  }
} else {
  liveTest(
    "sysbench oltp_read_write --db-ps-mode=auto through the proxy: no errors, prepared " +
      "statements decoded",
    async (db) => {
      const seen = await runMode(db, "auto");
      assert.ok(count(seen, "COM_STMT_PREPARE") > 0);
      assert.ok(count(seen, "stmt-prepare-ok") === count(seen, "COM_STMT_PREPARE"));
      assert.ok(count(seen, "COM_STMT_EXECUTE") > 0);
      assert.ok(count(seen, "binary-row") > 0);
      assert.equal(count(seen, "text-row"), 0, "every SELECT went through a prepared statement");
    },
    { timeoutMs: 60_000 },
  );

  liveTest(
    "sysbench oltp_read_write --db-ps-mode=disable through the proxy: no errors, every " +
      "statement a COM_QUERY",
    async (db) => {
      const seen = await runMode(db, "disable");
      assert.equal(count(seen, "COM_STMT_PREPARE"), 0);
      assert.equal(count(seen, "COM_STMT_EXECUTE"), 0);
      assert.ok(count(seen, "COM_QUERY") > 0);
      assert.ok(count(seen, "text-row") > 0);
    },
    { timeoutMs: 60_000 },
  );
}
