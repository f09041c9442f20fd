/**
 * The MySQL 8 authentication flows MariaDB cannot exercise, through `record()` with npm:mysql2,
 * against the fake server of tests/client (it checks passwords for real): caching_sha2_password
 * full auth with the RSA key request over plaintext, then fast auth; full auth over TLS, where the
 * client sends its password in clear inside TLS (the proxy terminates the client's TLS and talks
 * TLS to the server); sha256_password both ways. Every login succeeds through the recorder, each
 * step is recorded decoded, and neither the password nor the scramble reaches the file in any
 * form. `replay()` of such a recording lets mysql2 in again.
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { createLogger, record, replay, startProxy } from "../../mod.ts";
import { loadRecording } from "../../src/record/reader.ts";
import { selfSignedCertificate } from "../../src/net/certificate.ts";
import { cachingSha2Scramble } from "../../src/client/auth.ts";
import { decodeBase64 } from "../../src/record/base64.ts";
import { startFakeAuthServer } from "../client/fake_auth_server.ts";
import { findBinary } from "../helpers/mariadb_server.ts";
import { mariadbCli } from "./tls_helpers.ts";

const users = {
  sha2: { password: "Sha2-Secret-pw", plugin: "caching_sha2_password" as const },
  sha256: { password: "Sha256-Secret-pw", plugin: "sha256_password" as const },
};

/** Each form a secret could take in a JSON file: text, hex, base64 (padded or not). */
function forms(bytes: Uint8Array): string[] {
  const base64 = btoa(String.fromCharCode(...bytes));
  return [bytes.toHex(), bytes.toHex().toUpperCase(), base64, base64.replace(/=+$/, "")];
}

async function assertNoSecrets(path: string, secrets: (string | Uint8Array)[]): Promise<void> {
  const text = await Deno.readTextFile(path);
  for (const secret of secrets) {
    const bytes = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
    const all = typeof secret === "string" ? [secret, ...forms(bytes)] : forms(bytes);
    for (const form of all) assert(!text.includes(form), `the recording holds a secret: ${form}`);
  }
}

async function login(
  port: number,
  user: keyof typeof users,
  ssl?: Record<string, unknown>,
): Promise<void> {
  const connection = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user,
    password: users[user].password,
    ...(ssl ? { ssl } : {}),
  });
  await connection.query("DO 1");
  await connection.end();
}

async function recordAgainst(
  serverPort: number,
  options: { tls?: boolean } = {},
) {
  const out = await Deno.makeTempFile({ prefix: "tls-auth-", suffix: ".jsonl" });
  const recording = await record({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${serverPort}`,
    out,
    overwrite: true,
    ...(options.tls ? { tls: "auto" as const, serverTls: "required" as const } : {}),
  });
  return { recording, out };
}

/** Kinds of the auth events of a connection, with auth-more-data's first byte. */
function authSteps(auth: { from: string; packet: Record<string, unknown> }[]): string[] {
  return auth.map(({ from, packet }) => {
    const data = packet.data as { base64?: string } | string | undefined;
    const first = typeof data === "object" && data.base64
      ? decodeBase64(data.base64)[0]
      : typeof data === "string"
      ? data.charCodeAt(0)
      : undefined;
    return packet.kind === "auth-more-data" && first !== undefined && first < 0x10
      ? `${from}:${packet.kind}:${first}`
      : `${from}:${packet.kind}`;
  });
}

Deno.test("record(): caching_sha2_password full auth with the RSA key request, then fast auth, recorded without secrets", async () => {
  await using server = startFakeAuthServer({ users });
  const { recording, out } = await recordAgainst(server.port);
  await login(recording.port, "sha2");
  await login(recording.port, "sha2");
  await recording.close();
  assert.deepEqual(server.logins.map((l) => [l.path, l.askedForKey]), [
    ["full-rsa", true],
    ["fast", false],
  ]);
  const loaded = await loadRecording(out);
  const first = loaded.connections.get(1)!;
  assert.deepEqual(authSteps(first.auth), [
    "client:handshake-response-41",
    "server:auth-more-data:4",
    "client:auth-switch-response",
    "server:auth-more-data",
    "client:auth-switch-response",
    "server:ok",
  ]);
  assert.deepEqual(authSteps(loaded.connections.get(2)!.auth), [
    "client:handshake-response-41",
    "server:auth-more-data:3",
    "server:ok",
  ]);
  const scrambles = [...loaded.connections.values()].map((c) => {
    const nonce = c.greeting!.authPluginData as { base64?: string } | string;
    const bytes = typeof nonce === "string"
      ? new TextEncoder().encode(nonce)
      : decodeBase64(nonce.base64!);
    return cachingSha2Scramble(users.sha2.password, bytes.subarray(0, 20));
  });
  await assertNoSecrets(out, [users.sha2.password, ...scrambles]);
  for (const c of loaded.connections.values()) {
    assert.deepEqual(c.auth[0].packet.authResponse, { redacted: true });
  }

  // The recording replays: mysql2 logs in (replay serves caching_sha2's fast auth) and its
  // statement is answered from the recording.
  await using replayed = await replay(out, { listen: "127.0.0.1:0" });
  await login(replayed.port, "sha2");
  assert.equal(replayed.stats().misses, 0);
  await Deno.remove(out);
});

Deno.test("record() with TLS both sides: caching_sha2_password full auth sends the clear password inside TLS, which never reaches the recording", async () => {
  const certificate = selfSignedCertificate();
  await using server = startFakeAuthServer({ users, tls: certificate });
  const { recording, out } = await recordAgainst(server.port, { tls: true });
  await login(recording.port, "sha2", { rejectUnauthorized: false });
  await login(recording.port, "sha256", { rejectUnauthorized: false });
  await recording.close();
  assert.deepEqual(server.logins.map((l) => [l.path, l.tls]), [
    ["full-tls", true],
    ["sha256-tls", true],
  ]);
  const loaded = await loadRecording(out);
  assert.deepEqual(authSteps(loaded.connections.get(1)!.auth), [
    "client:ssl-request",
    "client:handshake-response-41",
    "server:auth-more-data:4",
    "client:auth-switch-response",
    "server:ok",
  ]);
  assert.deepEqual(loaded.connections.get(1)!.auth[3].packet.data, { redacted: true });
  assert.equal(loaded.connections.get(2)!.auth.at(-1)?.packet.kind, "ok");
  await assertNoSecrets(out, [users.sha2.password, users.sha256.password]);
  await Deno.remove(out);
});

Deno.test("record(): sha256_password over plaintext asks for the RSA key; the auth switch and the key exchange are recorded", async () => {
  await using server = startFakeAuthServer({ users });
  const { recording, out } = await recordAgainst(server.port);
  await login(recording.port, "sha256");
  await recording.close();
  assert.deepEqual(server.logins.map((l) => [l.path, l.askedForKey]), [["sha256-rsa", true]]);
  const loaded = await loadRecording(out);
  assert.deepEqual(authSteps(loaded.connections.get(1)!.auth), [
    "client:handshake-response-41",
    "server:auth-switch-request",
    "client:auth-switch-response",
    "server:auth-more-data",
    "client:auth-switch-response",
    "server:ok",
  ]);
  await assertNoSecrets(out, [users.sha256.password]);
  await Deno.remove(out);
});

Deno.test("mysql_clear_password over TLS: the mariadb CLI's clear password goes through record() (TLS both sides) to replay() and is never recorded", async () => {
  const mariadb = findBinary("mariadb");
  if (!mariadb) return; // the CLI is needed here; the live suite checks its presence
  const demo = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
  await using upstream = await replay(demo, {
    listen: "127.0.0.1:0",
    authPlugin: "mysql_clear_password",
    tls: "auto",
  });
  const { recording, out } = await recordAgainst(upstream.port, { tls: true });
  const password = "Clear-Text-Secret-9";
  const run = await mariadbCli(
    mariadb,
    recording.port,
    ["--ssl", "--user=app", `--password=${password}`],
    "SELECT id, name, price FROM products ORDER BY id",
  );
  await recording.close();
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^id\tname\tprice\n1\t/);
  const auth = (await loadRecording(out)).connections.get(1)!.auth;
  // Replay's greeting asks for the plugin: the password is the HandshakeResponse's auth data.
  assert.deepEqual(auth.map((a) => a.packet.kind), ["ssl-request", "handshake-response-41", "ok"]);
  assert.equal(auth[1].packet.authPluginName, "mysql_clear_password");
  assert.deepEqual(auth[1].packet.authResponse, { redacted: true });
  await assertNoSecrets(out, [password]);
  await Deno.remove(out);
});

Deno.test("record() with --server-tls required against a server without TLS refuses the client with ERR 1043 naming the reason", async () => {
  await using server = startFakeAuthServer({ users, cached: ["sha2"] });
  const out = await Deno.makeTempFile({ prefix: "tls-auth-", suffix: ".jsonl" });
  await using recording = await record({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${server.port}`,
    out,
    overwrite: true,
    serverTls: "required",
  });
  await assert.rejects(login(recording.port, "sha2"), (error: Error & { errno?: number }) => {
    assert.equal(error.errno, 1043);
    assert.match(error.message, /server does not offer TLS.*--server-tls required/);
    return true;
  });
  assert.deepEqual(server.logins, [], "the server never saw a login");
  await recording.close();
  await Deno.remove(out);
});

Deno.test("record() with --server-tls preferred talks plaintext to a server without TLS", async () => {
  await using server = startFakeAuthServer({ users, cached: ["sha2"] });
  const out = await Deno.makeTempFile({ prefix: "tls-auth-", suffix: ".jsonl" });
  await using recording = await record({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${server.port}`,
    out,
    overwrite: true,
    serverTls: "preferred",
  });
  await login(recording.port, "sha2");
  assert.deepEqual(server.logins.map((l) => [l.path, l.tls]), [["fast", false]]);
  await recording.close();
  await Deno.remove(out);
});

Deno.test("a client that leaves right after its SSLRequest, or sends garbage instead of TLS, frees its connection at once", async () => {
  await using server = startFakeAuthServer({ users });
  const logs: string[] = [];
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${server.port}`,
    tls: "auto",
    logger: createLogger({ format: "json", write: (line) => logs.push(line) }),
  });
  const sslRequest = new Uint8Array(36);
  sslRequest.set([32, 0, 0, 1, 0x00, 0x8a, 0x00, 0x00, 0, 0, 0, 1, 45]);
  for (const after of [undefined, new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n")]) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    await conn.read(new Uint8Array(1024)); // the greeting
    await conn.write(sslRequest);
    if (after) await conn.write(after);
    const started = performance.now();
    if (after) await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
    while (proxy.activeConnections > 0) await new Promise((r) => setTimeout(r, 10));
    // The handshake timeout is 10 s: ending well before means the proxy noticed.
    assert(performance.now() - started < 5000, "the connection ended without waiting");
  }
  assert(logs.some((l) => l.includes('"tls-failed"')), "the failed handshake is logged");
});
