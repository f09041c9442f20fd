/**
 * The `record` command line and the `mariadb` client: the client's output is the same through the
 * recorder; the subcommand prints where it records, flushes and closes the file on SIGINT with
 * exit status 0 and a summary; the file is private (0600); and no password of any login or
 * statement ever reaches a file, while `--redact` rules replace values consistently.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { commands, directAndRecorded, rows, type Target } from "../helpers/record.ts";
import { inspectRecording } from "../../src/record/inspect.ts";
import { loadRecording } from "../../src/record/reader.ts";
import mysql from "mysql2/promise";

const DATABASE = "e2e_record_cli";
const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

let prepared: Promise<unknown> | undefined;
function prepare(db: MariaDB): Promise<unknown> {
  prepared ??= db.sql(`
    SET NAMES utf8mb4;
    DROP DATABASE IF EXISTS ${DATABASE};
    CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4;
    CREATE TABLE ${DATABASE}.customers (
      id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(100), balance DECIMAL(10, 2),
      born DATE
    );
    INSERT INTO ${DATABASE}.customers VALUES
      (1, 'Alice', 'alice@example.com', 120.50, '1990-04-01'),
      (2, 'Bob', 'bob@example.com', -3.25, '1985-12-31'),
      (3, 'Carol', NULL, 0.00, NULL);
  `);
  return prepared;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function mariadb(db: MariaDB, target: Target, args: string[], stdin = ""): Promise<CliRun> {
  const child = new Deno.Command(db.bin.mariadb, {
    args: [
      "--no-defaults",
      "--protocol=TCP",
      "-h",
      target.host,
      "-P",
      String(target.port),
      `--user=${db.users.native.user}`,
      `--password=${db.users.native.password}`,
      "--connect-timeout=10",
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

const SESSION = `
SELECT * FROM customers ORDER BY id;
SELECT name, balance * 2 AS doubled FROM customers WHERE balance > 0;
SHOW COLUMNS FROM customers;
SELECT nosuch FROM customers;
SELECT COUNT(*) AS n, SUM(balance) AS total FROM customers;
SELECT REPEAT('é', 300) AS long_text, NULL AS nothing, 0x00FF AS bytes;
`;

/** A `record` subprocess: started, its address read from its ready line. */
interface RecordProcess {
  child: Deno.ChildProcess;
  target: Target;
  /** Everything it printed on stdout, once it has exited. */
  finish(): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }>;
}

async function startRecord(
  args: string[],
  env: Record<string, string> = {},
): Promise<RecordProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "record", "--listen", "127.0.0.1:0", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const reader = child.stdout.getReader();
  let stdout = "";
  let target: Target | undefined;
  while (!target) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += decoder.decode(value, { stream: true });
    const match = /^Listening on (127\.0\.0\.1):(\d+),/m.exec(stdout);
    if (match) target = { host: match[1], port: Number(match[2]) };
  }
  if (!target) {
    const { stderr } = await child.output().catch(() => ({ stderr: new Uint8Array() }));
    throw new Error(`record did not start:\n${stdout}\n${decoder.decode(stderr)}`);
  }
  const stderrText = new Response(child.stderr).text();
  return {
    child,
    target,
    async finish() {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      return { status: await child.status, stdout, stderr: await stderrText };
    },
  };
}

liveTest(
  "record: the mariadb CLI sees the same through record(), and its session renders exactly",
  async (db) => {
    await prepare(db);
    await directAndRecorded(
      db,
      (target) => mariadb(db, target, ["--batch", "--force", DATABASE], SESSION),
      (run) => {
        assert.match(run.seen.stdout, /alice@example\.com/);
        assert.match(run.seen.stderr, /ERROR 1054/);
        const [select] = commands(run.recording, /^SELECT \* FROM customers ORDER BY id$/);
        assert.deepEqual(rows(select)[0], [
          "1",
          "Alice",
          "alice@example.com",
          "120.50",
          "1990-04-01",
        ]);
        const [error] = commands(run.recording, /^SELECT nosuch/);
        assert.equal((error.elements[0] as { error: { code: number } }).error.code, 1054);
      },
    );
  },
);

liveTest(
  "record CLI: prints its file, records the mariadb CLI, and on SIGINT flushes, summarizes, exits 0",
  async (db) => {
    await prepare(db);
    const dir = await Deno.makeTempDir({ prefix: "record-cli-" });
    try {
      const path = join(dir, "session.jsonl");
      const recorder = await startRecord(["--server", `${db.hostname}:${db.port}`, "--out", path]);
      const direct = await mariadb(db, { host: db.hostname, port: db.port }, [
        "--batch",
        "--force",
        DATABASE,
      ], SESSION);
      const through = await mariadb(db, recorder.target, ["--batch", "--force", DATABASE], SESSION);
      assert.deepEqual(
        through,
        direct,
        "the mariadb CLI printed something else through the recorder",
      );
      recorder.child.kill("SIGINT");
      const { status, stdout, stderr } = await recorder.finish();
      assert.equal(status.code, 0, stderr);
      assert.match(stdout, new RegExp(`^Recording to ${path}$`, "m"));
      assert.match(stdout, new RegExp(`^Recorded 1 connection, \\d+ commands to ${path}$`, "m"));
      assert.match(
        stdout,
        /^ {2}on the wire: [\d.]+ KiB \(from clients [\d.]+ (B|KiB), from the server [\d.]+ KiB\)$/m,
      );
      assert.match(stdout, /^ {2}file: [\d.]+ KiB in \d+ lines, [\d.]+x the bytes on the wire$/m);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, "the recording is private");
      const report = await inspectRecording(path);
      assert.deepEqual(report.warnings, [], "the file was flushed and closed whole");
      assert.equal(report.connections[0].reason, "closed");
      const text = await Deno.readTextFile(path);
      assert.ok(text.includes('"sql":"SELECT * FROM customers ORDER BY id"'));
      assert.ok(text.includes('["2","Bob","bob@example.com","-3.25","1985-12-31"]'));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveTest(
  "record CLI: refuses to overwrite a recording, and a bad --redact rule is a usage error",
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "record-cli-" });
    try {
      const path = join(dir, "exists.jsonl");
      await Deno.writeTextFile(path, "precious\n");
      const run = (args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            MOD,
            "record",
            "--listen",
            "127.0.0.1:0",
            "--server",
            `${db.hostname}:${db.port}`,
            ...args,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
      const exists = await run(["--out", path]);
      assert.equal(exists.code, 1);
      assert.match(
        decoder.decode(exists.stderr),
        /Cannot create the recording .*exists\.jsonl: the file exists/,
      );
      assert.equal(await Deno.readTextFile(path), "precious\n");
      const bad = await run(["--out", join(dir, "x.jsonl"), "--redact", "columns:email"]);
      assert.equal(bad.code, 2);
      assert.match(
        decoder.decode(bad.stderr),
        /Option --redact: Cannot use redact rule "columns:email"/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveTest(
  "record CLI: no password reaches any file, and --redact replaces values consistently",
  async (db) => {
    await prepare(db);
    const secrets = [
      db.users.native.password,
      ...(db.users.ed25519 ? [db.users.ed25519.password] : []),
      "Cr3ate-User-Secret",
      "Alter-User-Secret",
      "Set-Password-Secret",
      "Grant-Identified-Secret",
    ];
    const dir = await Deno.makeTempDir({ prefix: "record-secrets-" });
    try {
      const paths = [join(dir, "one.jsonl"), join(dir, "two.jsonl"), join(dir, "three.jsonl")];
      const keys = ["same-key", "same-key", undefined];
      for (const [i, path] of paths.entries()) {
        const env: Record<string, string> = keys[i] ? { MYSQL_PROXY_REDACT_KEY: keys[i]! } : {};
        const recorder = await startRecord([
          "--server",
          `${db.hostname}:${db.port}`,
          "--out",
          path,
          "--redact",
          "column:^email$",
          "--redact",
          "query:'[^'@]+@[^']+'",
        ], env);
        const user = `rec_secret_${i}`;
        const cli = await mariadb(
          db,
          recorder.target,
          ["--batch", "--force", DATABASE],
          `
        SELECT id, email FROM customers WHERE email = 'alice@example.com';
        SELECT id, email FROM customers ORDER BY id;
        DROP USER IF EXISTS ${user};
        CREATE USER ${user} IDENTIFIED BY '${secrets.at(-4)}';
        ALTER USER ${user} IDENTIFIED BY '${secrets.at(-3)}';
        SET PASSWORD FOR ${user} = PASSWORD('${secrets.at(-2)}');
        GRANT SELECT ON ${DATABASE}.* TO ${user} IDENTIFIED BY '${secrets.at(-1)}';
        DROP USER ${user};
      `,
        );
        assert.equal(cli.code, 0, cli.stderr);
        // Other logins: mysql2 (native password), the ed25519 plugin, a wrong password.
        const connection = await mysql.createConnection({
          ...recorder.target,
          user: db.users.native.user,
          password: db.users.native.password,
          database: DATABASE,
        });
        const [found] = await connection.execute("SELECT id FROM customers WHERE email = ?", [
          "bob@example.com",
        ]);
        assert.deepEqual(found, [{ id: 2 }]);
        await connection.end();
        if (db.users.ed25519) {
          const ed = await new Deno.Command(db.bin.mariadb, {
            args: [
              "--no-defaults",
              "--protocol=TCP",
              "-h",
              recorder.target.host,
              "-P",
              String(recorder.target.port),
              `--user=${db.users.ed25519.user}`,
              `--password=${db.users.ed25519.password}`,
              "-e",
              "SELECT 1",
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert.equal(ed.code, 0, decoder.decode(ed.stderr));
        }
        const wrong = await mariadb(db, recorder.target, [
          "--password=not-the-password-Wrong1",
          "-e",
          "SELECT 1",
        ]);
        assert.notEqual(wrong.code, 0);
        recorder.child.kill("SIGTERM");
        const { status, stderr } = await recorder.finish();
        assert.equal(status.code, 0, stderr);
      }
      secrets.push("not-the-password-Wrong1");
      // Every file the test wrote: no password, no email address, in any encoding we write.
      for await (const entry of Deno.readDir(dir)) {
        const text = await Deno.readTextFile(join(dir, entry.name));
        for (const secret of secrets) {
          const base64 = btoa(secret);
          assert.ok(!text.includes(secret), `${entry.name} contains the password ${secret}`);
          assert.ok(
            !text.includes(base64.slice(0, -2)),
            `${entry.name} contains ${secret} as base64`,
          );
        }
        assert.doesNotMatch(text, /[a-z]+@example\.com/, `${entry.name} contains an email address`);
        assert.match(text, /IDENTIFIED BY '\*\*\*'/);
      }
      // The same value gets the same pseudonym in SQL, parameters and rows; the same key gives
      // the same pseudonyms in another recording; a random key other ones.
      const pseudonyms = [];
      for (const path of paths) {
        const recording = await loadRecording(path);
        const [byEmail] = commands(recording, /WHERE email = 'redacted:/, "query");
        const alice = /'(redacted:[0-9a-f]{12})'/.exec(String(byEmail.event.sql))![1];
        assert.deepEqual(rows(byEmail), [["1", alice]]);
        const [all] = commands(recording, /^SELECT id, email FROM customers ORDER BY id$/);
        const bob = rows(all)[1][1];
        assert.deepEqual(rows(all), [["1", alice], ["2", bob], ["3", null]]);
        const [execute] = commands(recording, /WHERE email = \?/, "stmt-execute");
        assert.deepEqual(execute.event.params, [bob]);
        pseudonyms.push([alice, bob]);
        assert.deepEqual(recording.header.redaction.rules, [
          "column:^email$",
          "query:'[^'@]+@[^']+'",
        ]);
      }
      assert.deepEqual(pseudonyms[0], pseudonyms[1], "the same key gives the same pseudonyms");
      assert.notDeepEqual(pseudonyms[0], pseudonyms[2], "without a key, other pseudonyms");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
