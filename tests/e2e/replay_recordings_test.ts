/**
 * Every committed recording replays completely: its own client side, driven command by command
 * (`driveRecording`, connections interleaved as recorded) against a replay of it, gets an answer
 * to everything from the recording (no miss), uses every recorded exchange, and loses no
 * connection. The recordings cover the protocol's features (all types, multi-results and CALL,
 * LOCAL INFILE, 1 MiB packets, auth switches and change user, cursors and long data, bulk
 * executes, sysbench), so this runs them all through replay with no server.
 *
 * @module
 */
import assert from "node:assert/strict";
import { replay } from "../../mod.ts";
import { driveRecording } from "../../src/compare/drive.ts";

const RECORDINGS = new URL("../../recordings/", import.meta.url).pathname;
const files = [...Deno.readDirSync(RECORDINGS)]
  .filter((entry) => entry.isFile && entry.name.endsWith(".jsonl"))
  .map((entry) => entry.name)
  .sort();

for (const name of files) {
  Deno.test(`recording ${name} replays completely to its own client side`, async () => {
    const path = RECORDINGS + name;
    await using server = await replay(path, { listen: "127.0.0.1:0" });
    const problems: string[] = [];
    let answered = 0;
    for await (
      const event of driveRecording(path, {
        server: `${server.hostname}:${server.port}`,
        user: "app",
        password: "any",
      })
    ) {
      if (event.kind === "connection") {
        if (event.event === "failed" || event.event === "lost") {
          problems.push(`connection ${event.conn} ${event.event}: ${event.error?.message}`);
        }
      } else if (event.live) {
        answered++;
      } else if (event.skipped) {
        problems.push(`connection ${event.conn} command ${event.index}: ${event.skipped}`);
      }
    }
    await server.drain();
    const stats = server.stats();
    assert.deepEqual(problems, []);
    assert.deepEqual(server.misses.map((m) => m.message), []);
    assert.deepEqual(server.unused().map((u) => `${u.recording} ${u.request}`), []);
    assert.ok(answered > 0, "the recording has commands");
    assert.equal(stats.matched + stats.synthesized, stats.commands);
  });
}
