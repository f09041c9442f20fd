/**
 * The plain proxy's tap (`createSessionTap()` with no packet reader, as `proxy` without `--trace`
 * makes it) follows the protocol in the epoll worker after the login: the close line's command
 * count and a decoding failure's warning are the same as with the Deno relay, which decodes every
 * byte on the main thread.
 */
import assert from "node:assert/strict";
import { createSessionTap, type RelayMode, startProxy } from "../../mod.ts";
import { EpollRelay } from "../../src/net/epoll/relay.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { captureLogger } from "../fuzz/net.ts";
import { connectNative } from "../helpers/mysql2.ts";

/** One mysql2 session through a proxy on `relay`: what its close line says, and opaque reasons. */
async function session(db: MariaDB, relay: RelayMode) {
  const log = captureLogger();
  const opaque: string[] = [];
  await using proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    logger: log.logger,
    relay,
    tap: () => createSessionTap({ onOpaque: (reason) => opaque.push(reason) }),
  });
  const conn = await connectNative(db, proxy.port);
  try {
    for (let i = 0; i < 20; i++) {
      const [rows] = await conn.query(`SELECT ${i} AS i, REPEAT('x', ${i * 1000}) AS pad`);
      assert.equal((rows as { i: number }[])[0].i, i);
    }
    const [rows] = await conn.execute("SELECT ? + 1 AS n", [41]);
    assert.deepEqual(rows, [{ n: 42 }]);
    // 70,000 bytes: a result row past the 64 KiB a track-only tap keeps of a packet.
    const [big] = await conn.query("SELECT REPEAT('y', 70000) AS y");
    assert.equal((big as { y: string }[])[0].y.length, 70_000);
    await conn.ping();
  } finally {
    await conn.end();
  }
  await log.waitFor("connection-closed", 1);
  const closed = log.records.find((r) => r.event === "connection-closed")!;
  return { commands: closed.commands, bytes: closed.bytesFromServer, opaque };
}

liveTest(
  "proxy: the worker following the protocol counts the same commands as the Deno relay",
  async (db) => {
    const deno = await session(db, "deno");
    // 20 queries, a prepare and its execute, 1 query, a ping and the quit.
    assert.equal(deno.commands, 25, JSON.stringify(deno));
    assert.deepEqual(deno.opaque, []);
    if (EpollRelay.unavailable() !== undefined) return;
    const epoll = await session(db, "epoll");
    assert.deepEqual(epoll, deno);
  },
);
