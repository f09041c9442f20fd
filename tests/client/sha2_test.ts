/**
 * caching_sha2_password and sha256_password against a fake MySQL 8 server that checks passwords
 * (MySQL 8 is not available here), plus mysql_clear_password's refusal against `replay`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect } from "../../src/client/connection.ts";
import { AuthError, MysqlError } from "../../src/client/errors.ts";
import { replay } from "../../src/replay/server.ts";
import { startFakeAuthServer } from "./fake_auth_server.ts";
import { findBinary } from "../helpers/mariadb_server.ts";

const users = {
  sha2: { password: "sha2-pw", plugin: "caching_sha2_password" as const },
  sha256: { password: "sha256-pw", plugin: "sha256_password" as const },
};

Deno.test("caching_sha2_password: fast auth when the server has the password cached", async () => {
  await using server = startFakeAuthServer({ users, cached: ["sha2"] });
  await using client = await connect({
    server: `127.0.0.1:${server.port}`,
    user: "sha2",
    password: "sha2-pw",
  });
  assert.equal(client.authPlugin, "caching_sha2_password");
  assert.deepEqual(server.logins.map((l) => l.path), ["fast"]);
  assert.equal((await client.ping()).ok?.kind, "ok");
});

Deno.test("caching_sha2_password: full auth over plaintext asks for the RSA key, then the cache serves", async () => {
  await using server = startFakeAuthServer({ users });
  await (await connect({ server: `127.0.0.1:${server.port}`, user: "sha2", password: "sha2-pw" }))
    .close();
  await (await connect({ server: `127.0.0.1:${server.port}`, user: "sha2", password: "sha2-pw" }))
    .close();
  assert.deepEqual(server.logins.map((l) => [l.path, l.askedForKey]), [["full-rsa", true], [
    "fast",
    false,
  ]]);
});

Deno.test("caching_sha2_password: a given public key spares the request", async () => {
  await using server = startFakeAuthServer({ users });
  await (await connect({
    server: `127.0.0.1:${server.port}`,
    user: "sha2",
    password: "sha2-pw",
    serverPublicKey: server.publicKey,
  })).close();
  assert.deepEqual(server.logins.map((l) => [l.path, l.askedForKey]), [["full-rsa", false]]);
});

Deno.test("caching_sha2_password: a wrong password is refused with 1045", async () => {
  await using server = startFakeAuthServer({ users, cached: ["sha2"] });
  await assert.rejects(
    connect({ server: `127.0.0.1:${server.port}`, user: "sha2", password: "bad" }),
    (error) => error instanceof MysqlError && error.code === 1045,
  );
});

Deno.test("caching_sha2_password: an auth switch from a mysql_native_password greeting", async () => {
  await using server = startFakeAuthServer({ users, greetingPlugin: "mysql_native_password" });
  await using client = await connect({
    server: `127.0.0.1:${server.port}`,
    user: "sha2",
    password: "sha2-pw",
  });
  assert.equal(client.authPlugin, "caching_sha2_password");
  assert.deepEqual(server.logins.map((l) => l.path), ["full-rsa"]);
});

Deno.test("sha256_password: the key on request, or the given one; wrong password refused", async () => {
  await using server = startFakeAuthServer({ users, greetingPlugin: "sha256_password" });
  await (await connect({
    server: `127.0.0.1:${server.port}`,
    user: "sha256",
    password: "sha256-pw",
  })).close();
  await (await connect({
    server: `127.0.0.1:${server.port}`,
    user: "sha256",
    password: "sha256-pw",
    serverPublicKey: server.publicKey,
  })).close();
  await assert.rejects(
    connect({ server: `127.0.0.1:${server.port}`, user: "sha256", password: "nope" }),
    (error) => error instanceof MysqlError && error.code === 1045,
  );
  assert.deepEqual(server.logins.map((l) => [l.path, l.askedForKey]), [
    ["sha256-rsa", true],
    ["sha256-rsa", false],
    ["denied", true],
  ]);
});

async function selfSignedCertificate(): Promise<{ cert: string; key: string } | undefined> {
  const openssl = findBinary("openssl");
  if (!openssl) return undefined;
  const dir = await Deno.makeTempDir();
  try {
    const { success } = await new Deno.Command(openssl, {
      args: [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"],
        ...["-subj", "/CN=localhost", "-days", "1", "-keyout", join(dir, "key.pem")],
        ...["-out", join(dir, "cert.pem")],
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) return undefined;
    return {
      cert: await Deno.readTextFile(join(dir, "cert.pem")),
      key: await Deno.readTextFile(join(dir, "key.pem")),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("caching_sha2_password and sha256_password: full auth over TLS sends the clear password", async () => {
  const certificate = await selfSignedCertificate();
  if (!certificate) throw new Error("openssl is needed to make a test certificate");
  await using server = startFakeAuthServer({ users, tls: certificate });
  for (const user of ["sha2", "sha256"] as const) {
    await using client = await connect({
      server: `127.0.0.1:${server.port}`,
      user,
      password: users[user].password,
      tls: { mode: "required" },
    });
    assert.equal(client.tls, true);
  }
  assert.deepEqual(server.logins.map((l) => [l.path, l.tls]), [["full-tls", true], [
    "sha256-tls",
    true,
  ]]);
});

Deno.test("mysql_clear_password is refused without TLS (replay asking for it)", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "empty.jsonl");
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      type: "header",
      format: "mysql-proxy-recording",
      version: 1,
      created: new Date().toISOString(),
      tool: "test",
      server: {
        address: "x",
        version: null,
        capabilities: null,
        mariadbCapabilities: null,
        characterSet: null,
        statusFlags: null,
        authPlugin: null,
      },
      redaction: { auth: true, sqlPasswords: true, rules: [] },
    }) + "\n",
  );
  try {
    await using fake = await replay(path, {
      listen: "127.0.0.1:0",
      authPlugin: "mysql_clear_password",
    });
    await assert.rejects(
      connect({ server: `127.0.0.1:${fake.port}`, user: "u", password: "secret" }),
      (error) => error instanceof AuthError && /refused without TLS/.test(error.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
