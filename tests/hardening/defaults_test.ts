/**
 * Safe defaults: the proxy, record and replay listen on loopback unless told otherwise.
 */
import assert from "node:assert/strict";
import { replay, startProxy } from "../../mod.ts";
import { PROXY_OPTIONS } from "../../src/cli/proxy.ts";
import { REPLAY_HELP } from "../../src/cli/replay.ts";

Deno.test("CLI: proxy and record (PROXY_OPTIONS) and replay listen on 127.0.0.1:3307 by default", () => {
  assert.equal(PROXY_OPTIONS.listen.default, "127.0.0.1:3307");
  assert.match(REPLAY_HELP, /default 127\.0\.0\.1:3307/);
});

/** Starts with the default listen address; port 3307 may be taken on a shared machine. */
async function defaultAddress(start: () => Promise<{ hostname: string; close(): Promise<void> }>) {
  try {
    const server = await start();
    await server.close();
    return server.hostname;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return "127.0.0.1 (3307 in use: bind tried there)";
    throw error;
  }
}

Deno.test("startProxy() and replay() bind loopback when no listen address is given", async () => {
  assert.match(await defaultAddress(() => startProxy({ server: "127.0.0.1:1" })), /^127\.0\.0\.1/);
  const demo = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
  assert.match(await defaultAddress(() => replay(demo)), /^127\.0\.0\.1/);
});
