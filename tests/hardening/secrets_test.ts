/**
 * No password or auth data in anything the tool writes. The main flows run with a distinctive
 * password (logins, a failed login, COM_CHANGE_USER, and the password inside SQL): `proxy --trace
 * --json`, `record --trace --json`, `inspect` (text and JSON), `replay --json --report`, `verify
 * --json --report`. Then every byte written (recordings, reports, stdout, stderr) is searched for
 * the password as text, hex, base64, and for its mysql_native_password hashes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { type CliResult, runCli, startCli } from "./cli.ts";

const PASSWORD = "Zq7hunter2SecretPw";
const USER = "hardening_secret";

/** The password in every form that would count as leaking it. */
function forms(): Record<string, string[]> {
  const bytes = new TextEncoder().encode(PASSWORD);
  const sha1 = (data: Uint8Array) => new Uint8Array(createHash("sha1").update(data).digest());
  const stage1 = sha1(bytes);
  const stage2 = sha1(stage1);
  const hex = (b: Uint8Array) => b.toHex();
  const b64 = (b: Uint8Array) => b.toBase64();
  return {
    text: [PASSWORD, PASSWORD.toLowerCase()],
    hex: [hex(bytes), hex(bytes).toUpperCase()],
    base64: [
      b64(bytes),
      b64(bytes).slice(0, -2),
      b64(bytes).replace(/\+/g, "-").replace(/\//g, "_"),
    ],
    "sha1 (auth stage 1)": [hex(stage1), hex(stage1).toUpperCase(), b64(stage1)],
    "sha1(sha1) (the stored hash)": [hex(stage2), hex(stage2).toUpperCase(), b64(stage2)],
  };
}

/** One client session exercising every place a password travels. */
async function session(db: MariaDB, port: number, changeUser: boolean): Promise<void> {
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user: USER,
    password: PASSWORD,
  });
  try {
    await conn.query("SELECT 1 AS one");
    await conn.query(`SET PASSWORD FOR '${USER}'@'%' = PASSWORD('${PASSWORD}')`);
    await conn.query(`ALTER USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
    if (changeUser) await conn.changeUser({ user: USER, password: PASSWORD });
    await conn.query("SELECT 2 AS two");
  } finally {
    await conn.end();
  }
  // A failed login: the wrong user, the same password.
  await assert.rejects(
    mysql.createConnection({ host: "127.0.0.1", port, user: "nobody_here", password: PASSWORD }),
    { errno: 1045 },
  );
  void db;
}

function leaks(name: string, text: string): string[] {
  const found: string[] = [];
  for (const [form, values] of Object.entries(forms())) {
    for (const value of values) {
      if (text.includes(value)) found.push(`${name}: the password as ${form} (${value})`);
    }
  }
  return found;
}

liveTest("no password or auth data in recordings, reports, logs or traces", async (db) => {
  await db.sql(
    `DROP USER IF EXISTS '${USER}'@'%';\n` +
      `CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}';\n` +
      `GRANT ALL PRIVILEGES ON *.* TO '${USER}'@'%' WITH GRANT OPTION;`,
  );
  const dir = await Deno.makeTempDir({ prefix: "secrets-" });
  const written: Record<string, string> = {};
  const keep = (name: string, result: CliResult) => {
    written[`${name} stdout`] = result.stdout;
    written[`${name} stderr`] = result.stderr;
  };
  try {
    const server = `${db.hostname}:${db.port}`;
    // proxy --trace --json
    const proxy = await startCli([
      "proxy",
      "--trace",
      "--json",
      "--listen",
      "127.0.0.1:0",
      "--server",
      server,
    ]);
    await session(db, proxy.port, true);
    keep("proxy", await proxy.stop());

    // record --trace --json
    const file = `${dir}/secret.jsonl`;
    const recorder = await startCli([
      ...["record", "--trace", "--json", "--listen", "127.0.0.1:0", "--server", server],
      ...["--out", file],
    ]);
    await session(db, recorder.port, true);
    keep("record", await recorder.stop());
    written["recording"] = await Deno.readTextFile(file);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600, "recordings are 0600");
    assert.match(written["recording"], /"redacted":true/, "the auth data was replaced");

    // inspect, text and JSON
    keep("inspect", await runCli(["inspect", file]));
    keep("inspect --json", await runCli(["inspect", "--json", file]));

    // replay --json --report: a client logs in with the password and runs what was recorded
    const report = `${dir}/replay-report.json`;
    const replaying = await startCli([
      "replay",
      "--json",
      "--report",
      report,
      "--listen",
      "127.0.0.1:0",
      file,
    ]);
    const client = await mysql.createConnection({
      host: "127.0.0.1",
      port: replaying.port,
      user: USER,
      password: PASSWORD,
    });
    await client.query("SELECT 1 AS one");
    await client.query("SELECT 'not recorded' AS miss").catch(() => {});
    await client.end();
    keep("replay", await replaying.stop());
    written["replay report"] = await Deno.readTextFile(report);

    // verify against the live server, the password from the environment
    const verifyReport = `${dir}/verify-report.json`;
    keep(
      "verify",
      await runCli(
        ["verify", file, "--server", server, "--user", USER, "--json", "--report", verifyReport],
        { MYSQL_PWD: PASSWORD },
      ),
    );
    written["verify report"] = await Deno.readTextFile(verifyReport);

    // The flows did run: each wrote something about the session.
    assert.match(written["proxy stdout"], /COM_QUERY|"kind":"COM_QUERY"/);
    assert.match(written["recording"], /SET PASSWORD FOR/);
    assert.match(written["replay report"], /"connections": 1/);
    const found = Object.entries(written).flatMap(([name, text]) => leaks(name, text));
    assert.deepEqual(found, []);
    // Control: the search finds the password where it is.
    assert.notDeepEqual(leaks("control", `x ${PASSWORD.toLowerCase()} y`), []);
  } finally {
    await db.sql(`DROP USER IF EXISTS '${USER}'@'%'`);
    await Deno.remove(dir, { recursive: true });
  }
}, { timeoutMs: 120_000 });
