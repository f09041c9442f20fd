/**
 * The client against the shared MariaDB: logins with the native and ed25519 users, TLS in every
 * mode, wrong passwords, text and binary results, errors, LOCAL INFILE, COM_CHANGE_USER.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/connection.ts";
import { MysqlError } from "../../src/client/errors.ts";
import { TlsError } from "../../src/client/tls.ts";
import type { CommandResult } from "../../src/client/result.ts";
import { liveTest } from "../helpers/mariadb.ts";

const text = (result: CommandResult, set = 0) =>
  result.resultSets[set].rows.map((row) =>
    row.map((v) => v instanceof Uint8Array ? new TextDecoder().decode(v) : v)
  );

liveTest(
  "connect() logs in with mysql_native_password over TCP and reads text rows",
  async (db) => {
    const { user, password } = db.users.native;
    await using client = await connect({
      server: `127.0.0.1:${db.port}`,
      user,
      password,
      database: "proxytest",
    });
    assert.equal(client.authPlugin, "mysql_native_password");
    assert.equal(client.tls, false);
    const result = await client.query("SELECT 1 AS one, 'é' AS e, NULL AS n, DATABASE() AS db");
    assert.deepEqual(result.resultSets[0].columns.map((c) => c.name), ["one", "e", "n", "db"]);
    assert.deepEqual(text(result), [["1", "é", null, "proxytest"]]);
    assert.equal(result.packets[0].direction, "client");
    assert.equal(result.packets[0].message.kind, "COM_QUERY");
    assert.ok(result.timing.totalUs > 0 && result.timing.firstByteUs <= result.timing.totalUs);
    assert.equal(result.payloads.length, result.packets.length - 1);
  },
);

liveTest(
  "connect() logs in with client_ed25519 (auth switch) and rejects a wrong password",
  async (db) => {
    const credential = db.users.ed25519;
    if (!credential) throw new Error("the test server has no ed25519 user");
    await using client = await connect({
      server: `127.0.0.1:${db.port}`,
      user: credential.user,
      password: credential.password,
    });
    assert.equal(client.authPlugin, "client_ed25519");
    assert.deepEqual(text(await client.query("SELECT CURRENT_USER()")), [[`${credential.user}@%`]]);
    await assert.rejects(
      connect({ server: `127.0.0.1:${db.port}`, user: credential.user, password: "wrong" }),
      (error) => error instanceof MysqlError && error.code === 1045,
    );
  },
);

liveTest("connect() rejects a wrong native password with the server's error 1045", async (db) => {
  await assert.rejects(
    connect({ server: `127.0.0.1:${db.port}`, user: db.users.native.user, password: "nope" }),
    (error) =>
      error instanceof MysqlError && error.code === 1045 && error.sqlState === "28000" &&
      /Access denied for user 'proxy_native'/.test(error.message),
  );
});

liveTest(
  "connect() over a unix socket; an unknown database is the server's error 1049",
  async (db) => {
    const { user, password } = db.users.native;
    await using client = await connect({ server: `unix:${db.socket}`, user, password });
    assert.deepEqual(text(await client.query("SELECT 2")), [["2"]]);
    await assert.rejects(
      connect({ server: `unix:${db.socket}`, user, password, database: "no_such_db" }),
      (error) => error instanceof MysqlError && error.code === 1049,
    );
  },
);

liveTest(
  "connect() with TLS: required, verify-ca and verify-identity encrypt; a wrong CA or name fails",
  async (db) => {
    const tls = db.tls;
    if (!tls) throw new Error("the test server has no TLS (openssl missing)");
    const { user, password } = db.users.native;
    const server = `127.0.0.1:${db.port}`;
    for (
      const options of [
        { mode: "required" as const },
        { mode: "preferred" as const },
        { mode: "verify-ca" as const, caFile: tls.ca },
        { mode: "verify-identity" as const, caFile: tls.ca },
        {
          mode: "verify-identity" as const,
          ca: await Deno.readTextFile(tls.ca),
          hostname: "localhost",
        },
      ]
    ) {
      await using client = await connect({ server, user, password, tls: options });
      assert.equal(client.tls, true, options.mode);
      const cipher = text(await client.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))[0][1];
      assert.match(String(cipher), /^TLS_|AES|CHACHA/, `${options.mode}: cipher ${cipher}`);
    }
    await assert.rejects(
      connect({
        server,
        user,
        password,
        tls: { mode: "verify-identity", caFile: tls.ca, hostname: "example.com" },
      }),
      TlsError,
    );
    // The server's own certificate is no CA: the chain does not verify.
    await assert.rejects(
      connect({ server, user, password, tls: { mode: "verify-ca", caFile: tls.cert } }),
      TlsError,
    );
    await assert.rejects(
      connect({
        server,
        user,
        password,
        tls: { mode: "verify-ca", caFile: "/nonexistent/ca.pem" },
      }),
      /Cannot read the CA file \/nonexistent\/ca.pem/,
    );
  },
);

liveTest(
  "MysqlConnection: prepared statements, binary rows, errors as results, multi-results",
  async (db) => {
    const { user, password } = db.users.native;
    await using client = await connect({
      server: `127.0.0.1:${db.port}`,
      user,
      password,
      database: "proxytest",
    });
    const prepared = await client.prepare("SELECT ? + 1 AS x, ? AS s, CAST(? AS DATE) AS d");
    assert.ok(prepared.prepared);
    assert.equal(prepared.prepared.parameters.length, 3);
    assert.deepEqual(prepared.prepared.columns.map((c) => c.name), ["x", "s", "d"]);
    const executed = await client.execute(prepared.prepared.statementId, [41, "hé", "2024-01-02"]);
    assert.equal(executed.resultSets[0].binary, true);
    const [x, s, d] = executed.resultSets[0].rows[0];
    assert.equal(Number(x), 42);
    assert.equal(new TextDecoder().decode(s as Uint8Array), "hé");
    assert.equal(d, "2024-01-02");
    const failed = await client.query("SELECT nope FROM dual");
    assert.equal(failed.error?.code, 1054);
    assert.equal(failed.resultSets.length, 0);
    const multi = await client.query("SELECT 1; SELECT 2, 3; DO 1");
    assert.deepEqual(multi.resultSets.map((set) => text({ ...multi, resultSets: [set] })), [
      [["1"]],
      [["2", "3"]],
    ]);
    assert.ok(multi.ok, "the DO statement's OK ends the response");
    const closed = await client.closeStatement(prepared.prepared.statementId);
    assert.equal(closed.noResponse, true);
    const again = await client.execute(prepared.prepared.statementId, [1, "a", "2024-01-01"]);
    assert.equal(again.error?.code, 1243, "the closed statement is gone");
    assert.equal((await client.ping()).ok?.kind, "ok");
  },
);

liveTest(
  "MysqlConnection: LOCAL INFILE sends what the handler gives, and an empty file without one",
  async (db) => {
    const { user, password } = db.users.native;
    await db.sql("CREATE TABLE IF NOT EXISTS client_infile (a INT, b VARCHAR(10))", {
      database: "proxytest",
    });
    await db.sql("DELETE FROM client_infile", { database: "proxytest" });
    await using client = await connect({
      server: `127.0.0.1:${db.port}`,
      user,
      password,
      database: "proxytest",
    });
    const asked: string[] = [];
    const loaded = await client.query(
      "LOAD DATA LOCAL INFILE '/nowhere/data.tsv' INTO TABLE client_infile",
      { localInfile: (name) => (asked.push(name), new TextEncoder().encode("1\tone\n2\ttwo\n")) },
    );
    assert.deepEqual(asked, ["/nowhere/data.tsv"]);
    assert.equal(loaded.infile?.filename, "/nowhere/data.tsv");
    assert.equal(loaded.affectedRows, 2);
    const empty = await client.query("LOAD DATA LOCAL INFILE '/x' INTO TABLE client_infile");
    assert.equal(empty.affectedRows, 0);
    assert.deepEqual(text(await client.query("SELECT a, b FROM client_infile ORDER BY a")), [
      ["1", "one"],
      ["2", "two"],
    ]);
  },
);

liveTest(
  "MysqlConnection.changeUser() re-authenticates through an auth switch, or reports the error",
  async (db) => {
    const credential = db.users.ed25519;
    if (!credential) throw new Error("the test server has no ed25519 user");
    const { user, password } = db.users.native;
    await using client = await connect({ server: `127.0.0.1:${db.port}`, user, password });
    const changed = await client.changeUser({ ...credential, database: "proxytest" });
    assert.equal(changed.ok?.kind, "ok", JSON.stringify(changed.error));
    assert.equal(client.authPlugin, "client_ed25519");
    assert.deepEqual(text(await client.query("SELECT CURRENT_USER(), DATABASE()")), [[
      `${credential.user}@%`,
      "proxytest",
    ]]);
    const refused = await client.changeUser({ user, password: "wrong" });
    assert.equal(refused.error?.code, 1045);
    assert.equal(client.closed, true, "the server closes the connection after a failed change");
  },
);
