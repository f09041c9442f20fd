/**
 * sysbench through `record()`, with prepared statements (`--db-ps-mode=auto`) and without
 * (`disable`): it runs the same number of queries without errors as straight against MariaDB,
 * every response renders back byte for byte, and the file stays within 1.5 times the bytes on the
 * wire (the size target).
 *
 * @module
 */
import assert from "node:assert/strict";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { commands, directAndRecorded, type Target } from "../helpers/record.ts";

const DATABASE = "e2e_record_sysbench";

function available(): boolean {
  try {
    new Deno.Command("sysbench", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

let prepared: Promise<void> | undefined;
function prepare(db: MariaDB): Promise<void> {
  prepared ??= (async () => {
    await db.sql(
      `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};` +
        `GRANT ALL ON ${DATABASE}.* TO '${db.users.sysbench.user}'@'%'`,
    );
    await sysbench(db, { host: db.hostname, port: db.port }, ["oltp_read_write", "prepare"]);
  })();
  return prepared;
}

async function sysbench(db: MariaDB, target: Target, args: string[]): Promise<string> {
  const [script, ...rest] = args;
  const { code, stdout, stderr } = await new Deno.Command("sysbench", {
    args: [
      script,
      "--db-driver=mysql",
      `--mysql-host=${target.host}`,
      `--mysql-port=${target.port}`,
      `--mysql-user=${db.users.sysbench.user}`,
      `--mysql-password=${db.users.sysbench.password}`,
      `--mysql-db=${DATABASE}`,
      "--mysql-ssl=off",
      "--tables=1",
      "--table-size=1000",
      ...rest,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(
    code,
    0,
    `sysbench ${args.join(" ")}:\n${text}\n${new TextDecoder().decode(stderr)}`,
  );
  return text;
}

/** What sysbench reports that does not depend on timing: queries by kind, errors, reconnects. */
function counts(report: string): Record<string, number> {
  const field = (name: string) => {
    const match = new RegExp(`^\\s*${name}:\\s+(\\d+)`, "m").exec(report);
    assert.ok(match, `sysbench reported ${name}:\n${report}`);
    return Number(match[1]);
  };
  return {
    read: field("read"),
    write: field("write"),
    other: field("other"),
    transactions: field("transactions"),
    ignoredErrors: field("ignored errors"),
    reconnects: field("reconnects"),
  };
}

for (const psMode of ["auto", "disable"]) {
  for (const script of ["oltp_point_select", "oltp_read_write"]) {
    liveTest(
      `record: sysbench ${script} --db-ps-mode=${psMode} runs as straight against MariaDB, renders exactly, file <= 1.5x the wire`,
      async (db) => {
        if (!available()) throw new Error("sysbench is not installed (apt-get install sysbench)");
        await prepare(db);
        await directAndRecorded(
          db,
          async (target) =>
            counts(
              await sysbench(db, target, [
                script,
                `--db-ps-mode=${psMode}`,
                "--threads=1",
                "--events=400",
                "--time=0",
                "run",
              ]),
            ),
          (run) => {
            assert.equal(run.seen.ignoredErrors, 0);
            assert.ok(run.seen.transactions === 400);
            const sql = "SELECT c FROM sbtest1 WHERE id=";
            const cmd = psMode === "auto" ? "stmt-execute" : "query";
            const points = commands(
              run.recording,
              new RegExp(`^${sql.replace(/[()]/g, "\\$&")}`),
              cmd,
            );
            assert.ok(points.length >= 400, `${points.length} point selects recorded as ${cmd}`);
            const wire = run.stats.wire.client + run.stats.wire.server;
            const ratio = run.stats.bytesWritten / wire;
            assert.ok(ratio <= 1.5, `the recording is ${ratio.toFixed(3)}x the bytes on the wire`);
          },
        );
      },
      { timeoutMs: 180_000 },
    );
  }
}
