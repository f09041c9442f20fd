/**
 * TLS terminated at the proxy with real clients: the mariadb CLI with `--ssl` (verifying a
 * certificate the test CA signed) and npm:mysql2 with `ssl`, through `record()`, against MariaDB
 * in plaintext and over TLS (`serverTls`): the client sees TLS, the recording holds the decoded
 * queries and says the client used TLS. Without a certificate, a client that sends an SSLRequest
 * anyway gets an ERR naming the fix.
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { mariadbCli } from "./tls_helpers.ts";
import { loadRecording } from "../../src/record/reader.ts";
import { record } from "../../mod.ts";
import type { TlsMode } from "../../src/client/tls.ts";

const DATABASE = "e2e_tls_proxy";

let prepared: Promise<unknown> | undefined;
function prepare(db: MariaDB): Promise<unknown> {
  prepared ??= db.sql(`
    DROP DATABASE IF EXISTS ${DATABASE};
    CREATE DATABASE ${DATABASE};
    CREATE TABLE ${DATABASE}.t (id INT PRIMARY KEY, name VARCHAR(20));
    INSERT INTO ${DATABASE}.t VALUES (1, 'one'), (2, 'two');
    CREATE OR REPLACE USER 'tls_only'@'%' IDENTIFIED BY 'TlsOnly-Secret-1' REQUIRE SSL;
    GRANT ALL ON ${DATABASE}.* TO 'tls_only'@'%';
  `);
  return prepared;
}

function cli(db: MariaDB, port: number, args: string[], sql: string) {
  return mariadbCli(db.bin.mariadb, port, args, sql);
}

async function startRecording(
  db: MariaDB,
  options: { tls?: "auto" | "ca-signed"; serverTls?: TlsMode } = {},
) {
  const out = await Deno.makeTempFile({ prefix: "tls-", suffix: ".jsonl" });
  const tls = options.tls === "auto"
    ? "auto" as const
    : options.tls === "ca-signed"
    ? { certFile: db.tls!.cert, keyFile: db.tls!.key }
    : undefined;
  const recording = await record({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    out,
    overwrite: true,
    tls,
    serverTls: options.serverTls,
    serverCaFile: db.tls?.ca,
  });
  return { recording, out };
}

/** Every line of the file, as text: for secrets that must not be anywhere in it. */
async function assertNoSecret(path: string, secret: string): Promise<void> {
  const text = await Deno.readTextFile(path);
  const bytes = new TextEncoder().encode(secret);
  for (
    const form of [
      secret,
      bytes.toHex(),
      btoa(secret),
      btoa(secret).replace(/=+$/, ""),
    ]
  ) {
    assert(!text.includes(form), `the recording holds the secret as ${form}`);
  }
}

liveTest(
  "record() with TLS: the mariadb CLI verifies the CA-signed certificate, the recording holds the queries",
  async (db) => {
    assert(db.tls, "the test MariaDB runs with TLS");
    await prepare(db);
    const { recording, out } = await startRecording(db, { tls: "ca-signed" });
    const run = await cli(db, recording.port, [
      "--ssl",
      "--ssl-verify-server-cert",
      `--ssl-ca=${db.tls.ca}`,
      `--user=${db.users.native.user}`,
      `--password=${db.users.native.password}`,
    ], `status; SHOW STATUS LIKE 'Ssl_cipher'; SELECT name FROM ${DATABASE}.t ORDER BY id`);
    await recording.close();
    assert.equal(run.code, 0, run.stderr);
    // The client's own view (`status`) says TLS; the server's status variable says plaintext: the
    // proxy talks to it without TLS by default.
    assert.match(run.stdout, /SSL:\s+Cipher in use is TLS/);
    assert.match(run.stdout, /Ssl_cipher\t\n/);
    assert.match(run.stdout, /name\none\ntwo\n/);
    const loaded = await loadRecording(out);
    const conn = loaded.connections.get(1)!;
    assert.equal(conn.auth[0]?.packet.kind, "ssl-request");
    assert(
      conn.commands.some((c) =>
        (c.event as { sql?: string }).sql === `SELECT name FROM ${DATABASE}.t ORDER BY id`
      ),
    );
    await assertNoSecret(out, db.users.native.password);
    await Deno.remove(out);
  },
);

/** Connects with mysql2, runs the queries, returns their rows. */
async function mysql2Session(
  port: number,
  user: { user: string; password: string },
  ssl: Record<string, unknown> | undefined,
  queries: string[],
): Promise<unknown[]> {
  const connection = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user: user.user,
    password: user.password,
    ...(ssl ? { ssl } : {}),
  });
  try {
    const results: unknown[] = [];
    for (const sql of queries) results.push((await connection.query(sql))[0]);
    return results;
  } finally {
    await connection.end();
  }
}

const TLS_ONLY = { user: "tls_only", password: "TlsOnly-Secret-1" };

liveTest(
  "record() with TLS on both sides: mysql2 verifies the CA, a REQUIRE SSL user logs in through --server-tls verify-ca",
  async (db) => {
    assert(db.tls, "the test MariaDB runs with TLS");
    await prepare(db);
    const { recording, out } = await startRecording(db, {
      tls: "ca-signed",
      serverTls: "verify-ca",
    });
    const ca = await Deno.readTextFile(db.tls.ca);
    const [cipher, rows] = await mysql2Session(recording.port, TLS_ONLY, { ca }, [
      "SHOW STATUS LIKE 'Ssl_cipher'",
      `SELECT name FROM ${DATABASE}.t WHERE id = 2`,
    ]) as [{ Value: string }[], { name: string }[]];
    await recording.close();
    // The server's status: the proxy's upstream session is TLS.
    assert.notEqual(cipher[0].Value, "");
    assert.deepEqual(rows, [{ name: "two" }]);
    const loaded = await loadRecording(out);
    const conn = loaded.connections.get(1)!;
    assert.equal(conn.auth[0]?.packet.kind, "ssl-request");
    assert.equal(conn.auth.at(-1)?.packet.kind, "ok");
    assert(conn.commands.some((c) => (c.event as { sql?: string }).sql?.includes("WHERE id = 2")));
    await assertNoSecret(out, TLS_ONLY.password);
    await Deno.remove(out);
  },
);

liveTest(
  "record() renumbers the login when only the server side is TLS (plaintext client, --server-tls required)",
  async (db) => {
    await prepare(db);
    const { recording, out } = await startRecording(db, { serverTls: "required" });
    const [cipher, rows] = await mysql2Session(recording.port, TLS_ONLY, undefined, [
      "SHOW STATUS LIKE 'Ssl_cipher'",
      `SELECT COUNT(*) AS n FROM ${DATABASE}.t`,
    ]) as [{ Value: string }[], { n: number }[]];
    await recording.close();
    assert.notEqual(cipher[0].Value, "");
    assert.deepEqual(rows, [{ n: 2 }]);
    const conn = (await loadRecording(out)).connections.get(1)!;
    assert.equal(conn.auth[0]?.packet.kind, "handshake-response-41");
    assert(conn.commands.some((c) => (c.event as { sql?: string }).sql?.includes("COUNT(*)")));
    await Deno.remove(out);
  },
);

liveTest(
  "record() renumbers the login when only the client side is TLS (tls auto, mysql2 without verification)",
  async (db) => {
    await prepare(db);
    const { recording, out } = await startRecording(db, { tls: "auto" });
    assert.equal(recording.tlsFingerprint?.length, 95);
    const [rows] = await mysql2Session(
      recording.port,
      db.users.native,
      { rejectUnauthorized: false },
      [`SELECT id FROM ${DATABASE}.t ORDER BY id`],
    ) as [{ id: number }[]];
    await recording.close();
    assert.deepEqual(rows, [{ id: 1 }, { id: 2 }]);
    const conn = (await loadRecording(out)).connections.get(1)!;
    assert.deepEqual(conn.auth.map((a) => a.packet.kind).slice(0, 2), [
      "ssl-request",
      "handshake-response-41",
    ]);
    await assertNoSecret(out, db.users.native.password);
    await Deno.remove(out);
  },
);

liveTest(
  "the proxy without a certificate answers an SSLRequest with an ERR naming --tls-cert/--tls-auto",
  async (db) => {
    const { recording, out } = await startRecording(db);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: recording.port });
    try {
      const greeting = await readPacket(conn);
      const nul = greeting.payload.indexOf(0, 1);
      const capabilities = greeting.payload[nul + 1 + 4 + 8 + 1 + 1];
      assert.equal(capabilities & 0x08, 0, "CLIENT_SSL is cleared in the greeting");
      // An SSLRequest anyway: CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION.
      const request = new Uint8Array(32);
      request.set([0x00, 0x8a, 0x00, 0x00, 0, 0, 0, 1, 45]);
      await conn.write(new Uint8Array([32, 0, 0, 1, ...request]));
      const answer = await readPacket(conn);
      assert.equal(answer.sequenceId, 2);
      assert.equal(answer.payload[0], 0xff);
      const text = new TextDecoder().decode(answer.payload.subarray(9));
      assert.match(text, /--tls-cert FILE --tls-key FILE or --tls-auto/);
    } finally {
      conn.close();
      await recording.close();
      await Deno.remove(out);
    }
  },
);

async function readPacket(conn: Deno.Conn): Promise<{ sequenceId: number; payload: Uint8Array }> {
  const header = new Uint8Array(4);
  await readFull(conn, header);
  const payload = new Uint8Array(header[0] | (header[1] << 8) | (header[2] << 16));
  await readFull(conn, payload);
  return { sequenceId: header[3], payload };
}

async function readFull(conn: Deno.Conn, into: Uint8Array): Promise<void> {
  for (let at = 0; at < into.length;) {
    const n = await conn.read(into.subarray(at));
    if (n === null) throw new Error("the proxy closed the connection");
    at += n;
  }
}

liveTest(
  "COM_CHANGE_USER over a terminated TLS session (server side plaintext) needs no renumbering and is recorded",
  async (db) => {
    await prepare(db);
    await db.sql(`
      CREATE OR REPLACE USER 'tls_second'@'%' IDENTIFIED BY 'Second-Secret-3';
      GRANT ALL ON ${DATABASE}.* TO 'tls_second'@'%';
    `);
    const { recording, out } = await startRecording(db, { tls: "auto" });
    const connection = await mysql.createConnection({
      host: "127.0.0.1",
      port: recording.port,
      ...db.users.native,
      ssl: { rejectUnauthorized: false },
    });
    try {
      await connection.changeUser({ user: "tls_second", password: "Second-Secret-3" });
      const [rows] = await connection.query("SELECT CURRENT_USER() AS u") as unknown as [
        { u: string }[],
      ];
      assert.equal(rows[0].u, "tls_second@%");
      await connection.changeUser({ ...db.users.native });
      const [again] = await connection.query(`SELECT COUNT(*) AS n FROM ${DATABASE}.t`);
      assert.deepEqual(again, [{ n: 2 }]);
    } finally {
      await connection.end();
      await recording.close();
    }
    const conn = (await loadRecording(out)).connections.get(1)!;
    const changes = conn.commands.filter((c) => c.event.cmd === "change-user");
    assert.equal(changes.length, 2);
    assert.equal((changes[0].event as { user?: string }).user, "tls_second");
    await assertNoSecret(out, "Second-Secret-3");
    await assertNoSecret(out, db.users.native.password);
    await Deno.remove(out);
  },
);

liveTest(
  "--server-tls verify-identity checks the server's name against the CA; without the CA the client gets ERR 1043 naming the failed handshake",
  async (db) => {
    assert(db.tls, "the test MariaDB runs with TLS");
    await prepare(db);
    const { recording, out } = await startRecording(db, { serverTls: "verify-identity" });
    const [cipher] = await mysql2Session(recording.port, TLS_ONLY, undefined, [
      "SHOW STATUS LIKE 'Ssl_cipher'",
    ]) as [{ Value: string }[]];
    await recording.close();
    assert.notEqual(cipher[0].Value, "");
    await Deno.remove(out);

    // The system's roots do not know the test CA.
    const untrusted = await record({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      out,
      overwrite: true,
      serverTls: "verify-ca",
    });
    try {
      await assert.rejects(
        mysql2Session(untrusted.port, TLS_ONLY, undefined, ["SELECT 1"]),
        (error: Error & { errno?: number }) => {
          assert.equal(error.errno, 1043);
          assert.match(
            error.message,
            /cannot start TLS with the server \(--server-tls verify-ca\)/,
          );
          return true;
        },
      );
    } finally {
      await untrusted.close();
      await Deno.remove(out);
    }
  },
);

liveTest(
  "TLS and compression together: mariadb --ssl --compress through record() --tls-auto, the recording holds the queries",
  async (db) => {
    await prepare(db);
    const { recording, out } = await startRecording(db, { tls: "auto" });
    const run = await cli(db, recording.port, [
      "--ssl",
      "--compress",
      `--user=${db.users.native.user}`,
      `--password=${db.users.native.password}`,
    ], `status; SELECT name FROM ${DATABASE}.t WHERE id = 1`);
    await recording.close();
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /SSL:\s+Cipher in use is TLS/);
    assert.match(run.stdout, /Protocol:\s+Compressed/);
    assert.match(run.stdout, /name\none\n/);
    const conn = (await loadRecording(out)).connections.get(1)!;
    assert.equal(conn.opaque, undefined);
    assert(conn.commands.some((c) => (c.event as { sql?: string }).sql?.includes("WHERE id = 1")));
    await Deno.remove(out);
  },
);
