/**
 * The `verify`, `diff` and `proxy --compare` command lines, end to end: a session recorded with the
 * `record` command and the `mariadb` client; one row changed on the server; verify exits 4 naming
 * the query with the old and new values, and 0 on the unchanged server; exit codes 1 and 2; diff
 * of two recordings; proxy --compare catching the changed row live.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import type { CompareReport } from "../../src/compare/report.ts";

const DATABASE = "verify_e2e";
const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

const SETUP = `
DROP DATABASE IF EXISTS ${DATABASE};
CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4;
CREATE TABLE ${DATABASE}.products (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8, 2));
INSERT INTO ${DATABASE}.products VALUES (1, 'Espresso cup', 7.50), (2, 'Kettle', 39.90),
  (3, 'Grinder', 129.00);
`;
const CHANGE = `UPDATE ${DATABASE}.products SET price = 99.00 WHERE id = 3`;
const SESSION = [
  "SELECT id, name, price FROM products ORDER BY id;",
  "SELECT COUNT(*) AS n FROM products;",
].join("\n");

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Output> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    env: { NO_COLOR: "1", ...env },
  }).output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** A `record` or `proxy` process, started and listening. */
interface Server {
  port: number;
  /** SIGINT, then everything it printed. */
  stop(): Promise<Output>;
}

async function serve(args: string[]): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args, "--listen", "127.0.0.1:0"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let stdout = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += decoder.decode(value, { stream: true });
    const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
    if (match) port = Number(match[1]);
  }
  const stderr = new Response(child.stderr).text();
  if (port === undefined) {
    throw new Error(`${args[0]} did not start: ${stdout} ${await stderr}`);
  }
  return {
    port,
    async stop() {
      child.kill("SIGINT");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      const { code } = await child.status;
      return { code, stdout, stderr: await stderr };
    },
  };
}

async function mariadb(db: MariaDB, port: number, sql: string): Promise<Output> {
  const child = new Deno.Command(db.bin.mariadb, {
    args: [
      "--no-defaults",
      "--protocol=TCP",
      "-h",
      "127.0.0.1",
      "-P",
      String(port),
      `--user=${db.users.native.user}`,
      `--password=${db.users.native.password}`,
      DATABASE,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(sql));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Records SESSION with the record command and the mariadb client. */
async function recordSession(db: MariaDB, out: string): Promise<void> {
  const recorder = await serve(["record", "--server", `127.0.0.1:${db.port}`, "--out", out]);
  const client = await mariadb(db, recorder.port, SESSION);
  const stopped = await recorder.stop();
  assert.equal(client.code, 0, client.stderr);
  assert.equal(stopped.code, 0, stopped.stderr);
}

function verifyArgs(db: MariaDB, path: string, extra: string[] = []): string[] {
  return [
    "verify",
    path,
    "--server",
    `127.0.0.1:${db.port}`,
    "--user",
    db.users.native.user,
    ...extra,
  ];
}

liveTest(
  "Done means: record a session, change one row, verify exits 4 naming the query with old and new values; unchanged exits 0",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "verify-e2e-" });
    try {
      await db.sql(SETUP);
      const path = join(dir, "session.jsonl");
      await recordSession(db, path);
      const env = { MYSQL_PWD: db.users.native.password };

      const unchanged = await run(verifyArgs(db, path), env);
      assert.equal(unchanged.code, 0, unchanged.stdout + unchanged.stderr);
      assert.match(unchanged.stdout, /No differences in \d+ commands compared/);
      assert.match(unchanged.stdout, /Both sides must hold the same data/);

      await db.sql(CHANGE);
      const report = join(dir, "report.json");
      const changed = await run(verifyArgs(db, path, ["--report", report]), env);
      assert.equal(changed.code, 4, changed.stdout + changed.stderr);
      assert.match(changed.stdout, /SELECT id, name, price FROM products ORDER BY id/);
      assert.match(changed.stdout, /row-values: 1 of 3 rows differ: price 129\.00 -> 99\.00/);
      assert.match(changed.stdout, /\* price +129\.00 +99\.00/);
      assert.doesNotMatch(changed.stdout, /COUNT\(\*\)/, "the unchanged query is not listed");
      const json = JSON.parse(await Deno.readTextFile(report)) as CompareReport;
      assert.equal(json.format, "mysql-proxy-compare-report");
      assert.equal(json.exitCode, 4);
      assert.equal(json.tally.different, 1);
      assert.equal(json.groups[0].query, "SELECT id, name, price FROM products ORDER BY id");
      const row = json.groups[0].examples[0].differences[0].rows!.changed[0];
      assert.deepEqual(row, {
        position: 2,
        recorded: ["3", "Grinder", "129.00"],
        live: ["3", "Grinder", "99.00"],
        differing: [2],
      });

      const machine = await run(verifyArgs(db, path, ["--json"]), env);
      assert.equal(machine.code, 4);
      assert.equal((JSON.parse(machine.stdout) as CompareReport).tally.categories["row-values"], 1);

      const silenced = await run(verifyArgs(db, path, ["--ignore", "column:price"]), env);
      assert.equal(silenced.code, 0, silenced.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveTest(
  "verify exit codes: 1 for a refused login or an unreadable recording, 2 for usage errors",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "verify-e2e-" });
    try {
      await db.sql(SETUP);
      const path = join(dir, "session.jsonl");
      await recordSession(db, path);
      const refused = await run(verifyArgs(db, path, ["--password", "wrong"]));
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stdout, /Access denied for user 'proxy_native'/);
      const missing = await run(verifyArgs(db, join(dir, "nope.jsonl"), ["--password", "x"]));
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /nope\.jsonl/);
      for (
        const args of [
          ["verify", path, "--user", "u"],
          ["verify", path, "--server", "127.0.0.1:1"],
          ["verify", "--server", "127.0.0.1:1", "--user", "u"],
          verifyArgs(db, path, ["--ignore", "nonsense"]),
          verifyArgs(db, path, ["--tls", "sometimes"]),
          verifyArgs(db, path, ["--concurrency", "0"]),
        ]
      ) {
        const usage = await run(args);
        assert.equal(usage.code, 2, `${args.join(" ")}: ${usage.stderr}`);
        assert.match(usage.stderr, /--help/);
      }
      const help = await run(["verify", "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Exit status: 0 no differences, 4 differences found/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveTest("diff of two recordings: the same session before and after a change", async (db) => {
  const dir = await Deno.makeTempDir({ prefix: "verify-e2e-" });
  try {
    await db.sql(SETUP);
    const before = join(dir, "before.jsonl");
    const after = join(dir, "after.jsonl");
    await recordSession(db, before);
    await db.sql(CHANGE);
    await recordSession(db, after);
    const same = await run(["diff", before, before]);
    assert.equal(same.code, 0, same.stdout);
    const changed = await run(["diff", before, after]);
    assert.equal(changed.code, 4, changed.stdout + changed.stderr);
    assert.match(
      changed.stdout,
      /Compared .*before\.jsonl against .*after\.jsonl: 1 command of \d+ compared differ/,
    );
    assert.match(changed.stdout, /price 129\.00 -> 99\.00/);
    const usage = await run(["diff", before]);
    assert.equal(usage.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveTest("proxy --compare catches a changed row live and reports it on exit", async (db) => {
  const dir = await Deno.makeTempDir({ prefix: "verify-e2e-" });
  try {
    await db.sql(SETUP);
    const path = join(dir, "session.jsonl");
    await recordSession(db, path);
    await db.sql(CHANGE);
    const report = join(dir, "live.json");
    const proxy = await serve([
      "proxy",
      "--server",
      `127.0.0.1:${db.port}`,
      "--compare",
      path,
      "--report",
      report,
    ]);
    const client = await mariadb(db, proxy.port, SESSION);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, /99\.00/, "the application gets the live answer, unchanged");
    const stopped = await proxy.stop();
    assert.equal(stopped.code, 4, stopped.stdout + stopped.stderr);
    assert.match(
      stopped.stderr,
      /row-values: 1 of 3 rows differ: price 129\.00 -> 99\.00/,
      "logged as it happened",
    );
    assert.match(stopped.stdout, /\* price +129\.00 +99\.00/);
    const json = JSON.parse(await Deno.readTextFile(report)) as CompareReport;
    assert.equal(json.mode, "proxy-compare");
    assert.equal(json.tally.different, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
