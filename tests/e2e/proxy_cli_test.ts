/**
 * The `mariadb` command line client cannot tell the proxy from the server: the same invocation,
 * once against MariaDB and once against an in-process proxy, prints the same stdout and stderr
 * and exits with the same code, and the proxy's tap decodes every packet. The last test runs the
 * proxy's own CLI (`deno run -A mod.ts proxy --trace`) as a subprocess.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { type ProxyHarness, withProxy } from "../helpers/proxy.ts";

const DATABASE = "e2e_proxy_cli";
const OTHER_DATABASE = "e2e_proxy_cli_other";

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `mariadb` CLI over TCP against `port`, with `stdin` as its input. */
async function mariadb(
  db: MariaDB,
  port: number,
  args: string[],
  stdin = "",
): Promise<CliRun> {
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
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

let prepared: Promise<void> | undefined;
function prepareDatabases(db: MariaDB): Promise<void> {
  prepared ??= db.sql(
    `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4;` +
      `DROP DATABASE IF EXISTS ${OTHER_DATABASE};` +
      `CREATE DATABASE ${OTHER_DATABASE} CHARACTER SET utf8mb4;` +
      `CREATE TABLE ${OTHER_DATABASE}.marker (note VARCHAR(20));` +
      `INSERT INTO ${OTHER_DATABASE}.marker VALUES ('other database');`,
  ).then(() => {});
  return prepared;
}

/** `(0.002 sec)`: how long a statement took, which `-vvv` prints and no two runs share. */
function maskTimings(text: string): string {
  return text.replace(/\(\d+\.\d+ sec\)/g, "(N sec)");
}

/**
 * Runs the same CLI invocation straight against the server and through a proxy; asserts the same
 * exit code, stdout and stderr (after `normalize`), that the tap decoded every packet, and hands
 * the proxy run to `inspect`.
 */
async function directAndProxied(
  db: MariaDB,
  args: string[],
  stdin: string,
  inspect: (harness: ProxyHarness, run: CliRun) => void | Promise<void> = () => {},
  normalize: (text: string) => string = maskTimings,
): Promise<CliRun> {
  await prepareDatabases(db);
  const view = (run: CliRun) => ({ ...run, stdout: normalize(run.stdout) });
  const direct = view(await mariadb(db, db.port, args, stdin));
  return await withProxy(db, async (h) => {
    const proxied = view(await mariadb(db, h.proxy.port, args, stdin));
    const opened = h.logs.filter((r) => r.event === "connection-opened").length;
    await h.waitForLog("connection-closed", opened);
    h.assertAllDecoded();
    assert.deepStrictEqual(proxied, direct, "the CLI printed something else through the proxy");
    await inspect(h, proxied);
    return proxied;
  });
}

/**
 * Asserts the commands the tap saw, as trace summaries, one for each of `expected`, in order,
 * each starting with its prefix (long SQL is cut in trace summaries).
 */
function assertCommands(h: ProxyHarness, expected: string[]): void {
  const seen = h.commands();
  const message = `the tap saw:\n${seen.join("\n")}`;
  assert.equal(seen.length, expected.length, message);
  expected.forEach((prefix, i) => assert.ok(seen[i].startsWith(prefix), `${i + 1}: ${message}`));
}

liveTest("mariadb CLI: a script on stdin prints the same through the proxy", async (db) => {
  const dir = await Deno.makeTempDir({ prefix: "e2e-cli-" });
  try {
    const sourced = join(dir, "sourced.sql");
    await Deno.writeTextFile(
      sourced,
      "SELECT 'from the sourced file' AS origin;\nSELECT COUNT(*) AS n FROM cli_values;\n",
    );
    const script = [
      "SELECT 1 AS one, NULL AS nothing, '' AS empty, 'héllo 😀 世界' AS unicode, " +
      "-9223372036854775808 AS minb, 18446744073709551615 AS maxu, 1.5e300 AS dbl;",
      "SELECT REPEAT('x', 251) AS s251, LENGTH(REPEAT('y', 70000)) AS len;",
      "CREATE OR REPLACE TABLE cli_values (id INT AUTO_INCREMENT PRIMARY KEY, " +
      "v VARCHAR(20), d DECIMAL(10,3), t DATETIME(3));",
      "INSERT INTO cli_values (v, d, t) VALUES ('a', 1.5, '2024-02-29 12:34:56.789'), " +
      "(NULL, NULL, NULL), ('ü', -0.001, '1000-01-01 00:00:00');",
      "UPDATE cli_values SET d = d * 2 WHERE v IS NOT NULL;",
      "SELECT * FROM cli_values ORDER BY id;",
      "SELECT * FROM cli_values WHERE 1 = 0;",
      "SHOW DATABASES LIKE 'e2e_proxy_cli%';",
      "SHOW CREATE TABLE cli_values;",
      "SHOW COLUMNS FROM cli_values;",
      "DELIMITER //",
      "SELECT 1 AS first_of_batch; SELECT 2 AS second_of_batch; UPDATE cli_values SET v = v//",
      "DELIMITER ;",
      "SELEC 'a syntax error';",
      "SELECT no_such_column FROM cli_values;",
      "SELECT 'after the errors' AS still_going, CAST('12abc' AS SIGNED) AS warned;",
      `source ${sourced}`,
      `\\u ${OTHER_DATABASE}`,
      "SELECT DATABASE() AS db, note FROM marker;",
      "",
    ].join("\n");
    const run = await directAndProxied(
      db,
      [
        "--batch",
        "-vvv",
        "--force",
        "--column-type-info",
        "--show-warnings",
        "--default-character-set=utf8mb4",
        DATABASE,
      ],
      script,
      (h) => {
        assertCommands(h, [
          "COM_QUERY SELECT 1 AS one, NULL AS nothing, '' AS empty, 'héllo 😀 世界' AS unicode",
          "COM_QUERY SELECT REPEAT('x', 251) AS s251, LENGTH(REPEAT('y', 70000)) AS len",
          "COM_QUERY CREATE OR REPLACE TABLE cli_values (id INT AUTO_INCREMENT PRIMARY KEY",
          "COM_QUERY INSERT INTO cli_values (v, d, t) VALUES ('a', 1.5, '2024-02-29 12:34:56.789')",
          "COM_QUERY UPDATE cli_values SET d = d * 2 WHERE v IS NOT NULL",
          "COM_QUERY SELECT * FROM cli_values ORDER BY id",
          "COM_QUERY SELECT * FROM cli_values WHERE 1 = 0",
          "COM_QUERY SHOW DATABASES LIKE 'e2e_proxy_cli%'",
          "COM_QUERY SHOW CREATE TABLE cli_values",
          "COM_QUERY SHOW COLUMNS FROM cli_values",
          "COM_QUERY SELECT 1 AS first_of_batch; SELECT 2 AS second_of_batch; UPDATE cli_values SET v = v",
          "COM_QUERY SELEC 'a syntax error'",
          "COM_QUERY show warnings",
          "COM_QUERY SELECT no_such_column FROM cli_values",
          "COM_QUERY show warnings",
          "COM_QUERY SELECT 'after the errors' AS still_going, CAST('12abc' AS SIGNED) AS warned",
          "COM_QUERY show warnings",
          "COM_QUERY SELECT 'from the sourced file' AS origin",
          "COM_QUERY SELECT COUNT(*) AS n FROM cli_values",
          // `\u` asks for the current database first, then changes it with COM_INIT_DB.
          "COM_QUERY SELECT DATABASE()",
          `COM_INIT_DB ${OTHER_DATABASE}`,
          "COM_QUERY SELECT DATABASE() AS db, note FROM marker",
          "COM_QUIT",
        ]);
        // The batch is one COM_QUERY answered by two result sets and an OK.
        const start = h.packets.findIndex((p) => p.line.includes("COM_QUERY SELECT 1 AS first_of"));
        const end = h.packets.findIndex((p, i) => i > start && p.direction === "client");
        const response = h.packets.slice(start + 1, end);
        assert.deepEqual(
          response.filter((p) => p.ends).map((p) => [p.kind, p.ends]),
          [["eof", "result-set"], ["eof", "result-set"], ["ok", "response"]],
        );
      },
    );
    // What the script claims to exercise did happen.
    assert.equal(run.code, 0, "with --force, errors go to stderr and the exit code stays 0");
    assert.match(run.stderr, /^ERROR 1064 \(42000\) at line 14: /m);
    assert.match(run.stderr, /^ERROR 1054 \(42S22\) at line 15: Unknown column 'no_such_column'/m);
    assert.match(run.stdout, /\| héllo 😀 世界 +\|/);
    assert.match(run.stdout, /\| first_of_batch \|[\s\S]*\| second_of_batch \|/);
    assert.match(run.stdout, /Rows matched: 2 {2}Changed: 2 {2}Warnings: 0/);
    assert.match(
      run.stdout,
      /\| {15}2 \|\n\+-+\+\n1 row in set \(N sec\)\n\nQuery OK, 0 rows affected/,
    );
    assert.match(run.stdout, /Rows matched: 3 {2}Changed: 0 {2}Warnings: 0/);
    assert.match(run.stdout, /Warning \(Code 1292\): Truncated incorrect INTEGER value: '12abc'/);
    assert.match(run.stdout, /\| from the sourced file \|/);
    assert.match(run.stdout, /\| e2e_proxy_cli_other \| other database \|/);
    assert.match(run.stdout, /Type: {7}NEWDECIMAL\nCollation: {2}binary \(63\)\nLength: {5}12/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveTest("mariadb CLI: LOAD DATA LOCAL INFILE, allowed and refused", async (db) => {
  const dir = await Deno.makeTempDir({ prefix: "e2e-cli-" });
  try {
    const file = join(dir, "rows.tsv");
    const lines = Array.from({ length: 3000 }, (_, i) => `${i + 1}\tname ${i + 1} ü`);
    await Deno.writeTextFile(file, lines.join("\n") + "\n3001\n");
    const script = [
      "CREATE OR REPLACE TABLE cli_loaded (id INT PRIMARY KEY, name VARCHAR(30));",
      `LOAD DATA LOCAL INFILE '${file}' INTO TABLE cli_loaded CHARACTER SET utf8mb4 ` +
      "FIELDS TERMINATED BY '\\t' (id, name);",
      "SELECT COUNT(*) AS n, MIN(name) AS lo, MAX(id) AS hi FROM cli_loaded;",
      "",
    ].join("\n");
    const args = ["--batch", "-vvv", "--show-warnings", "--default-character-set=utf8mb4"];
    const allowed = await directAndProxied(
      db,
      [...args, "--local-infile=1", DATABASE],
      script,
      (h) => {
        const kinds = h.kinds();
        assert.equal(kinds.filter((k) => k === "local-infile-request").length, 1);
        const data = h.packets.filter((p) => p.kind === "local-infile-data");
        assert.ok(data.length >= 2, "the file's packets and the empty one that ends it");
        assert.equal(data.at(-1)?.length, 0);
        assert.equal(
          data.reduce((n, p) => n + p.length, 0),
          new TextEncoder().encode(lines.join("\n") + "\n3001\n").length,
        );
        assert.ok(h.packets.some((p) => p.line.includes(`LOCAL INFILE ${JSON.stringify(file)}`)));
      },
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /Records: 3001 {2}Deleted: 0 {2}Skipped: 0 {2}Warnings: 1/);
    assert.match(allowed.stdout, /\| 3001 \| name 1 ü +\| 3001 \|/);

    const refused = await directAndProxied(
      db,
      [...args, "--local-infile=0", DATABASE],
      script,
      (h) => {
        // Without CLIENT_LOCAL_FILES the server refuses at once: no file is asked for.
        assert.equal(h.kinds().includes("local-infile-request"), false);
        assert.equal(h.kinds().includes("local-infile-data"), false);
        assert.ok(h.packets.some((p) => p.kind === "err" && p.line.includes("ERR 4166")));
      },
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^ERROR 4166 \(HY000\) at line 2: /m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Lines of `status` that legitimately differ between two connections: the connection id, the TLS
 * line (the CLI uses TLS by default when the server offers it, and the proxy does not offer it),
 * the TCP port, the uptime, and the server-wide counters of COM_STATISTICS (other sessions run on
 * the same server). The rest must be identical.
 */
function normalizeStatus(text: string): string {
  return text
    .replace(/^Connection id:\t+\d+$/m, "Connection id:\tN")
    .replace(/^SSL:\t+.*$/m, "SSL:\t(differs)")
    .replace(/^TCP port:\t+\d+$/m, "TCP port:\tN")
    .replace(/^Uptime:\t+.*$/m, "Uptime:\tN")
    .replace(
      /^Threads: \d+ {2}Questions: \d+ {2}Slow queries: \d+ {2}Opens: \d+ {2}Open tables: \d+ {2}Queries per second avg: [\d.]+$/m,
      "Threads: N  Questions: N  Slow queries: N  Opens: N  Open tables: N  Queries per second avg: N",
    );
}

liveTest("mariadb CLI: status (COM_STATISTICS) through the proxy", async (db) => {
  const run = await directAndProxied(
    db,
    ["--batch", DATABASE, "-e", "status"],
    "",
    (h) => {
      assertCommands(h, [
        "COM_QUERY select DATABASE(), USER() limit 1",
        "COM_QUERY select @@version_comment limit 1",
        "COM_QUERY select @@character_set_client, @@character_set_connection, " +
        "@@character_set_server, @@character_set_database",
        "COM_STATISTICS",
        "COM_QUIT",
      ]);
      const stats = h.packets.filter((p) => p.kind === "statistics");
      assert.equal(stats.length, 1);
      assert.match(stats[0].line, /STATISTICS Uptime: \d+ {2}Threads: \d+ {2}Questions: \d+/);
    },
    normalizeStatus,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Current database:\te2e_proxy_cli$/m);
  assert.match(run.stdout, /^Threads: N {2}Questions: N/m, "the statistics line was there");
});

liveTest("mariadb CLI --ssl connects in plaintext through the proxy", async (db) => {
  await withProxy(db, async (h) => {
    const status = (port: number, args: string[]) =>
      mariadb(db, port, ["--batch", ...args, "-e", "status"]);
    // Straight to the server the CLI negotiates TLS (the server offers it); through the proxy,
    // which clears CLIENT_SSL in the greeting, the same command goes on in plaintext.
    const direct = await status(db.port, ["--ssl"]);
    const proxied = await status(h.proxy.port, ["--ssl"]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(proxied.code, 0, proxied.stderr);
    if (db.tls) assert.match(direct.stdout, /^SSL:\t+Cipher in use is \S+$/m);
    assert.match(proxied.stdout, /^SSL:\t+Not in use$/m);
    const login = h.packets.find((p) => p.kind === "handshake-response-41");
    assert.ok(login, "the tap saw the login");
    const caps = Number(/caps=(0x[0-9a-f]+)/.exec(login.line)?.[1]);
    assert.equal(caps & 0x800, 0, "the client did not ask for CLIENT_SSL");
    assert.equal(h.kinds().includes("ssl-request"), false);
    const greeting = h.packets.find((p) => p.kind === "handshake-v10");
    // The tap sees the greeting as the server sent it (before the proxy clears the flag).
    assert.ok(greeting);

    if (db.tls) {
      // A client that insists on a verified TLS server is refused, never silently downgraded.
      const verify = ["--ssl-verify-server-cert", `--ssl-ca=${db.tls.ca}`];
      const directVerified = await status(db.port, verify);
      assert.equal(directVerified.code, 0, directVerified.stderr);
      const proxiedVerified = await status(h.proxy.port, verify);
      assert.equal(proxiedVerified.code, 1);
      assert.equal(
        proxiedVerified.stderr,
        "ERROR 2026 (HY000): TLS/SSL error: SSL is required, but the server does not support it\n",
      );
    }
    const opened = h.logs.filter((r) => r.event === "connection-opened").length;
    await h.waitForLog("connection-closed", opened);
    h.assertAllDecoded();
  });
});

/** Reads lines from a byte stream; `next()` resolves to undefined at its end. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const all: string[] = [];
  return {
    all,
    async next(): Promise<string | undefined> {
      for (;;) {
        const newline = buffered.indexOf("\n");
        if (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          all.push(line);
          return line;
        }
        const { value, done } = await lines.read();
        if (done) {
          if (buffered === "") return undefined;
          const line = buffered;
          buffered = "";
          all.push(line);
          return line;
        }
        buffered += value;
      }
    },
    async rest(): Promise<string[]> {
      while ((await this.next()) !== undefined) {
        // collecting into `all`
      }
      return all;
    },
  };
}

liveTest("`deno run mod.ts proxy --trace` as a subprocess traces a CLI query", async (db) => {
  const mod = new URL("../../mod.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      mod,
      "proxy",
      "--listen",
      "127.0.0.1:0",
      "--server",
      `${db.hostname}:${db.port}`,
      "--trace",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = lineReader(child.stdout);
  const stderrText = new Response(child.stderr).text();
  let exited = false;
  try {
    let listening: string | undefined;
    for (let line = await stdout.next(); line !== undefined; line = await stdout.next()) {
      if (line.startsWith("Listening on ")) {
        listening = line;
        break;
      }
    }
    assert.ok(listening, `no "Listening on" line; stdout:\n${stdout.all.join("\n")}`);
    const match = /^Listening on 127\.0\.0\.1:(\d+), forwarding to 127\.0\.0\.1:(\d+)$/.exec(
      listening,
    );
    assert.ok(match, listening);
    assert.equal(Number(match[2]), db.port);

    // Short enough for the trace to show it whole.
    const sql = "SELECT 1 a, 'x' b, NULL c UNION ALL SELECT 2, 'y', 3 " +
      "UNION ALL SELECT 3, 'z', NULL UNION ALL SELECT 4, '', 5";
    const run = await mariadb(db, Number(match[1]), ["--batch", "-e", sql]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "a\tb\tc\n1\tx\tNULL\n2\ty\t3\n3\tz\tNULL\n4\t\t5\n");

    child.kill("SIGTERM");
    const [status, lines, stderr] = await Promise.all([child.status, stdout.rest(), stderrText]);
    exited = true;
    assert.equal(status.code, 0, `exit ${status.code}, stderr:\n${stderr}`);
    const trace = lines.join("\n");
    assert.ok(trace.includes(`COM_QUERY ${sql}`), trace);
    assert.match(trace, /^#1 S>C \d+ EOF .*\[resultset 3 cols 4 rows\]$/m);
    assert.equal(lines.filter((l) => / ROW /.test(l)).length, 4);
    assert.ok(!trace.includes("UNKNOWN"), trace);
    assert.match(trace, /^#1 C>S 0 COM_QUIT$/m);
    assert.match(stderr, /Shutting down/);
    assert.match(stderr, /Closed after [\d.]+ s \(closed\): 2 commands/);
  } finally {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await Promise.all([child.status, stdout.rest(), stderrText]);
    }
  }
});

Deno.test("`proxy --relay` takes epoll or deno; anything else is a usage error (exit 2)", async () => {
  const mod = new URL("../../mod.ts", import.meta.url).pathname;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mod, "proxy", "--listen", "127.0.0.1:0", "--relay", "splice"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 2, stderr);
  assert.match(stderr, /Option --relay needs epoll or deno, got "splice"/);
});
