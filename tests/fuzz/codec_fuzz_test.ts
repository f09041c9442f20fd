/**
 * The in-process fuzz targets with fixed seeds: a few thousand mutated real packets through every
 * codec parser, the framer, the session state machine and the tap. `deno task fuzz` runs the same
 * targets longer, with any seed.
 */
import assert from "node:assert/strict";
import { TARGETS } from "./targets.ts";
import { FuzzFailure, Random, runTarget } from "./random.ts";

const ITERATIONS: Record<string, number> = { codec: 1500, framer: 1500, session: 1500, tap: 1000 };

for (const [name, target] of Object.entries(TARGETS)) {
  Deno.test(`fuzz ${name}: ${ITERATIONS[name]} mutated inputs from seed 1 break no contract`, () => {
    runTarget(name, target, { seed: 1, iterations: ITERATIONS[name] });
  });
}

Deno.test("runTarget() names the seed of the failing iteration so it can be replayed alone", () => {
  const failing = (random: Random) => {
    if (random.seed === 7) throw new TypeError("boom");
  };
  assert.throws(
    () => runTarget("demo", failing, { seed: 5, iterations: 5 }),
    (error: unknown) =>
      error instanceof FuzzFailure && error.seed === 7 &&
      error.message.includes("--seed 7 --iterations 1") && error.message.includes("boom"),
  );
});

Deno.test("Random gives the same bytes for the same seed", () => {
  assert.deepEqual(new Random(42).bytes(16), new Random(42).bytes(16));
  assert.notDeepEqual(new Random(42).bytes(16), new Random(43).bytes(16));
});
