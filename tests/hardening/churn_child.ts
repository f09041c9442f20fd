/**
 * Run by load_test.ts with `--v8-flags=--expose-gc`: replay of the demo recording and mysql2
 * clients in one process, connect/query/disconnect in rounds; after each round, a full GC, then
 * one JSON line with the live heap and the open descriptors. Growth from round to round is a leak.
 *
 * @module
 */
import { replay } from "../../mod.ts";
import { queryDemo } from "./cli.ts";

const [rounds, cycles] = Deno.args.map(Number);
const gc = (globalThis as unknown as { gc: () => void }).gc;
await using server = await replay(
  new URL("../../recordings/demo.jsonl", import.meta.url).pathname,
  {
    listen: "127.0.0.1:0",
  },
);
const cycle = () => queryDemo(server.port);
for (let round = 0; round < rounds; round++) {
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next++ < cycles) await cycle();
  }));
  for (let i = 0; i < 100 && server.activeConnections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  gc();
  let fds = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) fds++;
  console.log(
    JSON.stringify({
      round,
      heap: Deno.memoryUsage().heapUsed,
      fds,
      active: server.activeConnections,
    }),
  );
}
