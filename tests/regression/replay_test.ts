/**
 * The project's own recordings (recordings/*.jsonl, made by `deno task recordings` against a real
 * MariaDB) and the example's cassettes, replayed: each recording's client side is driven against
 * `replay()` of it, and every response must be byte for byte what the recording renders to
 * (normalizations: `REPLAY_NORMALIZATIONS`), with nothing missed and nothing left unused. No
 * server needed.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { RECORDINGS } from "../../scripts/recordings/specs.ts";
import { checkReplay } from "./drive_replay.ts";

const ROOT = new URL("../../", import.meta.url);

const CASES = [
  ...RECORDINGS.map((spec) => ({
    path: fileURLToPath(new URL(`recordings/${spec.name}.jsonl`, ROOT)),
    user: spec.login.user,
    what: spec.description,
  })),
  ...["catalog", "orders"].map((name) => ({
    path: fileURLToPath(new URL(`examples/shop/cassettes/${name}.jsonl`, ROOT)),
    user: "app",
    what: "the example shop's cassette",
  })),
];

for (const { path, user, what } of CASES) {
  const name = path.slice(fileURLToPath(ROOT).length);
  Deno.test(`${name} replays byte for byte to its own client side (${what})`, async () => {
    const check = await checkReplay(path, user);
    assert.deepEqual(check.differences.slice(0, 3), [], `${check.differences.length} differ`);
    assert.deepEqual(check.notes, []);
    for (const reason of check.notDriven) assert.match(reason, /no command was recorded on it/);
    assert.ok(check.compared > 0, "commands were compared");
    assert.equal(check.stats.misses, 0, "no command missed");
    assert.equal(check.stats.unused, 0, "every recorded exchange was used");
  });
}
