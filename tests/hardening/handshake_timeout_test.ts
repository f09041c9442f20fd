/**
 * A silent peer during the handshake costs the proxy at most its connect timeout: a server that
 * accepts and never greets (frozen), a client that takes the greeting and never logs in. Each such
 * connection ends with one `connection-closed` line saying which side was silent.
 */
import assert from "node:assert/strict";
import { startProxy } from "../../mod.ts";
import { frame } from "../helpers/hex.ts";
import { captureLogger } from "../fuzz/net.ts";
import { loadCorpus } from "../fuzz/random.ts";

/** A server that accepts connections and then sends `greeting` (or nothing), holding them open. */
function silentServer(greeting?: Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      held.push(conn);
      if (greeting) await conn.write(greeting).catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting;
      for (const conn of held) {
        try {
          conn.close();
        } catch {
          // closed by the proxy's side already
        }
      }
    },
  };
}

/** A proxy in front of `server` with a 300 ms connect timeout, logging to `log`. */
function proxyTo(server: { port: number }, log: ReturnType<typeof captureLogger>) {
  return startProxy({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${server.port}`,
    logger: log.logger,
    connectTimeoutMs: 300,
  });
}

async function readToEnd(conn: Deno.Conn): Promise<number> {
  let total = 0;
  const buffer = new Uint8Array(4096);
  for (;;) {
    const count = await conn.read(buffer).catch(() => null);
    if (count === null) return total;
    total += count;
  }
}

Deno.test("proxy: a server that never greets ends the connection after the connect timeout", async () => {
  const server = silentServer();
  const log = captureLogger();
  try {
    await using proxy = await proxyTo(server, log);
    // One client waits for the greeting, one leaves at once: neither is held.
    const waiting = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    const leaving = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    leaving.close();
    const started = performance.now();
    assert.equal(await readToEnd(waiting), 0);
    waiting.close();
    assert.ok(performance.now() - started < 5000);
    await log.waitFor("connection-closed", 2);
    const closed = log.records.filter((r) => r.event === "connection-closed");
    assert.equal(closed.length, 2);
    for (const record of closed) {
      assert.match(record.reason!, /no greeting from the server within 300 ms/);
    }
  } finally {
    await server.close();
  }
});

Deno.test("proxy: a client that never sends its login ends the connection after the connect timeout", async () => {
  const greeting = loadCorpus().flatMap((s) => s.packets).find((p) =>
    p.direction === "server" && p.sequenceId === 0 && p.payload[0] === 10
  )!;
  const server = silentServer(frame(0, greeting.payload));
  const log = captureLogger();
  try {
    await using proxy = await proxyTo(server, log);
    const client = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    assert.ok((await readToEnd(client)) > 0, "the greeting was relayed, then the connection ended");
    client.close();
    await log.waitFor("connection-closed", 1);
    const closed = log.records.filter((r) => r.event === "connection-closed");
    assert.match(closed[0].reason!, /no login packet from the client within 300 ms/);
  } finally {
    await server.close();
  }
});
