/**
 * The library's servers behave alike: `startProxy()`, `record()`, `replay()` and `cassette()` all
 * listen on a free port for `127.0.0.1:0` (or a unix socket), expose `endpoint`, `hostname`,
 * `port`, `close()` (safe to call twice) and `[Symbol.asyncDispose]`, and stop listening once
 * closed. No MariaDB needed: the upstream is a bare TCP listener.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cassette, record, replay, startProxy } from "../../mod.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;

interface ServerLike {
  readonly endpoint: { transport: string };
  readonly hostname: string;
  readonly port: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): PromiseLike<void>;
}

/** A TCP listener that accepts and drops connections: enough for modes that only dial. */
function upstream(): Deno.TcpListener & { address: string } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  return Object.assign(listener, { address: `127.0.0.1:${listener.addr.port}` });
}

async function assertServerLike(name: string, server: ServerLike): Promise<void> {
  assert.equal(server.hostname, "127.0.0.1", `${name}: hostname`);
  assert.ok(server.port > 0, `${name}: a free port was picked`);
  assert.deepEqual(
    server.endpoint,
    { transport: "tcp", hostname: "127.0.0.1", port: server.port },
    `${name}: endpoint`,
  );
  assert.equal(typeof server[Symbol.asyncDispose], "function", `${name}: asyncDispose`);
  const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
  conn.close();
  await server.close();
  await server.close();
  await assert.rejects(
    Deno.connect({ hostname: server.hostname, port: server.port }),
    Deno.errors.ConnectionRefused,
    `${name}: closed`,
  );
}

Deno.test("startProxy(), record(), replay() and cassette() servers share one shape", async () => {
  using server = upstream();
  const dir = await Deno.makeTempDir({ prefix: "api-test-" });
  try {
    const env = () => undefined;
    await assertServerLike(
      "startProxy",
      await startProxy({ listen: "127.0.0.1:0", server: server.address }),
    );
    await assertServerLike(
      "record",
      await record({ listen: "127.0.0.1:0", server: server.address, out: join(dir, "r.jsonl") }),
    );
    await assertServerLike("replay", await replay(DEMO, { listen: "127.0.0.1:0" }));
    const demoCopy = join(dir, "demo.jsonl");
    await Deno.copyFile(DEMO, demoCopy);
    await assertServerLike(
      "cassette replay",
      await cassette(demoCopy, { mode: "replay", strict: false, env }),
    );
    await assertServerLike(
      "cassette passthrough",
      await cassette(join(dir, "p.jsonl"), { mode: "passthrough", server: server.address, env }),
    );
    await assertServerLike(
      "cassette new",
      await cassette(demoCopy, {
        mode: "new",
        server: `mysql://app:pw@${server.address}/shop`,
        strict: false,
        env,
      }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the servers listen on unix sockets too: hostname is the path, port 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "api-unix-" });
  try {
    for (
      const [name, start] of [
        ["startProxy", (path: string) => startProxy({ listen: `unix:${path}` })],
        ["replay", (path: string) => replay(DEMO, { listen: `unix:${path}` })],
      ] as const
    ) {
      const path = join(dir, `${name}.sock`);
      await using server = await start(path);
      assert.equal(server.hostname, path, name);
      assert.equal(server.port, 0, name);
      const conn = await Deno.connect({ transport: "unix", path });
      conn.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
