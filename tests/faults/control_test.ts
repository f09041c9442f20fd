/**
 * The control API and the library's `proxy.faults` change live behaviour: a fault added applies
 * to the connections opened after it, a fault removed stops acting; tokens and bad specs.
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { liveTest } from "../helpers/mariadb.ts";
import { parseFault, startProxy } from "../../mod.ts";
import { startControl } from "../../src/control/server.ts";
import { FaultSet } from "../../src/faults/set.ts";
import { hookSettings } from "../../src/cli/hook_options.ts";
import { UsageError } from "../../src/cli/args.ts";

liveTest("control API: add, list and remove faults while the proxy runs", async (db) => {
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
  });
  await using control = await startControl(proxy.faults, { listen: "127.0.0.1:0" });
  const base = `http://${control.address}/faults`;
  const connect = () =>
    mysql.createConnection({
      host: proxy.hostname,
      port: proxy.port,
      user: db.users.native.user,
      password: db.users.native.password,
    });
  const before = await connect();
  await before.query("SELECT 1");

  const added = await fetch(base, {
    method: "POST",
    body: JSON.stringify({ spec: "error=1213,match=/^SELECT 1/" }),
  });
  assert.equal(added.status, 201);
  const fault = await added.json();
  assert.equal(fault.kind, "error");
  assert.deepEqual((await (await fetch(base)).json()).map((f: { id: string }) => f.id), [fault.id]);

  const during = await connect();
  await assert.rejects(during.query("SELECT 1"), { errno: 1213 });
  // A connection opened before the fault was added is not mediated: it goes on as it was.
  await before.query("SELECT 1");

  const removed = await fetch(`${base}/${fault.id}`, { method: "DELETE" });
  assert.equal(removed.status, 204);
  await removed.body?.cancel();
  // Removed: it stops acting at once, on the connections it was applied to too.
  await during.query("SELECT 1");
  assert.deepEqual(await (await fetch(base)).json(), []);
  const missing = await fetch(`${base}/${fault.id}`, { method: "DELETE" });
  assert.equal(missing.status, 404);
  await missing.body?.cancel();

  const bad = await fetch(base, { method: "POST", body: JSON.stringify({ spec: "latency=fast" }) });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /not a duration/);
  for (const conn of [before, during]) await conn.end();
});

Deno.test("startControl() with a token refuses requests without it", async () => {
  const faults = new FaultSet();
  await using control = await startControl(faults, { listen: "127.0.0.1:0", token: "s3cret" });
  const base = `http://${control.address}/faults`;
  const refused = await fetch(base);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  const allowed = await fetch(base, {
    method: "POST",
    headers: { authorization: "Bearer s3cret" },
    body: JSON.stringify({ spec: "latency=10ms" }),
  });
  assert.equal(allowed.status, 201);
  await allowed.body?.cancel();
  assert.equal(faults.list().length, 1);
});

Deno.test("parseFault() reads every fault of the issue and names what is wrong", () => {
  assert.deepEqual(
    { ...parseFault("latency=200ms,jitter=50ms,direction=down"), text: "" },
    { kind: "latency", ms: 200, jitterMs: 50, direction: "down", p: 1, connections: 1, text: "" },
  );
  assert.equal(
    (parseFault("bandwidth=64kb/s") as { bytesPerSecond: number }).bytesPerSecond,
    65536,
  );
  assert.equal((parseFault("slow-close=1s") as { ms: number }).ms, 1000);
  assert.equal((parseFault("timeout") as { ms: number }).ms, 0);
  assert.equal((parseFault("reset-after=10kb") as { bytes: number }).bytes, 10240);
  assert.equal((parseFault("slice=64b") as { bytes: number }).bytes, 64);
  assert.equal(parseFault("refuse").kind, "refuse");
  const error = parseFault("error=1213,match=/^UPDATE, x/i,every=10,p=0.1,connections=0.5");
  assert.ok(error.kind === "error");
  assert.equal(error.match?.source, "^UPDATE, x");
  assert.equal(error.every, 10);
  assert.equal(error.p, 0.1);
  assert.equal(error.connections, 0.5);
  assert.equal(error.sqlState, "40001");
  const drop = parseFault("drop-after-query=/FROM big/");
  assert.ok(drop.kind === "drop-after-query" && drop.match.test("SELECT * FROM big"));
  for (
    const [spec, message] of [
      ["latency", /needs a duration/],
      ["latency=2 weeks", /not a duration/],
      ["wobble=1", /unknown fault "wobble"/],
      ["slice=64b,jitter=1ms", /slice takes no "jitter"/],
      ["error=1213,p=2", /p: "2" is not a number from 0 to 1/],
      ["error=1213,match=/(/", /Cannot parse fault/],
      ["bandwidth=64kb", /a rate ends in \/s/],
      ["latency=1ms,direction=sideways", /direction is up, down or both/],
    ] as const
  ) {
    assert.throws(() => parseFault(spec), message, spec);
  }
});

Deno.test("--control on a non-loopback address needs a token; loopback does not", () => {
  const saved = Deno.env.get("MYSQL_PROXY_CONTROL_TOKEN");
  Deno.env.delete("MYSQL_PROXY_CONTROL_TOKEN");
  try {
    assert.throws(
      () => hookSettings({ control: "0.0.0.0:8474" }, true),
      (error) => error instanceof UsageError && /not a loopback address/.test(error.message),
    );
    hookSettings({ control: "0.0.0.0:8474", "control-token": "s3cret" }, true);
    hookSettings({ control: "127.0.0.1:8474" }, true);
    hookSettings({ control: "[::1]:8474" }, true);
  } finally {
    if (saved !== undefined) Deno.env.set("MYSQL_PROXY_CONTROL_TOKEN", saved);
  }
});
