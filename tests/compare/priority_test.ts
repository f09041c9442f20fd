/**
 * The comparing worker of `proxy --compare` runs below the relay's priority (nice 10), so that a
 * comparison takes a core only when forwarding does not need it.
 */
import assert from "node:assert/strict";
import { startOffThreadCompare } from "../../src/compare/offthread.ts";
import { EpollRelay } from "../../src/net/epoll/relay.ts";
import { silentLogger } from "../../src/log.ts";

/** The niceness of each thread of this process, by thread id. */
function threadNiceness(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    const stat = Deno.readTextFileSync(`/proc/self/task/${entry.name}/stat`);
    // Fields after the command's closing parenthesis: state is field 3, nice field 19.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    nice.set(Number(entry.name), Number(fields[16]));
  }
  return nice;
}

const unavailable = EpollRelay.unavailable();

Deno.test({
  name: unavailable === undefined
    ? "proxy --compare's comparing worker runs at nice 10 (or lower), the rest of the process as it was"
    : `proxy --compare's comparing worker runs at nice 10 (not run: ${unavailable})`,
  ignore: unavailable !== undefined,
  async fn() {
    const before = threadNiceness();
    // Never raised: a process started with `nice -n 15` keeps 15.
    const expected = Math.max(10, before.get(Deno.pid) ?? 0);
    const compare = await startOffThreadCompare({
      recording: new URL("../../recordings/demo.jsonl", import.meta.url).pathname,
      against: "127.0.0.1:3306",
      noise: [],
      ordered: false,
      logger: silentLogger,
    });
    try {
      const after = threadNiceness();
      // The worker's thread, and threads it started since (they inherit its niceness).
      const fresh = [...after].filter(([thread]) => !before.has(thread));
      assert.ok(fresh.some(([, nice]) => nice === expected), JSON.stringify(fresh));
      const base = before.get(Deno.pid) ?? 0;
      assert.ok(fresh.every(([, nice]) => nice >= base), `none raised: ${JSON.stringify(fresh)}`);
      for (const [thread, nice] of before) assert.equal(after.get(thread) ?? nice, nice);
    } finally {
      await compare.finish();
    }
  },
});
