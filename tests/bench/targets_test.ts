/**
 * The bench's compare target says what its QPS does not: connections its comparison left
 * uncompared, read from the report `proxy --compare` writes on exit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compareFindings } from "../../bench/targets.ts";

Deno.test("compareFindings() names connections left uncompared, and a missing report", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const report = (connections: Record<string, number>) => {
      const path = join(dir, `${crypto.randomUUID()}.json`);
      Deno.writeTextFileSync(path, JSON.stringify({ tally: { commands: 9, connections } }));
      return path;
    };
    assert.deepEqual(await compareFindings(report({ total: 8, uncompared: 0 })), []);
    const [behind, ...more] = await compareFindings(report({ total: 8, uncompared: 3 }));
    assert.deepEqual(more, []);
    assert.match(behind, /^left 3 of 8 connections uncompared .*did not pay for all/);
    const [missing] = await compareFindings(join(dir, "none.json"));
    assert.match(missing, /^wrote no readable report .*did the comparison fail\?$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
