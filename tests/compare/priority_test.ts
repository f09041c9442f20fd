/**
 * The comparison of `proxy --compare` runs below the relay's priority (nice 10), so that it takes
 * a core only when forwarding does not need it. In a child process (the default), every thread of
 * that process is niced, the runtime's and garbage collector's included; in a worker thread, that
 * thread is. The proxy's own threads keep their priority either way.
 */
import assert from "node:assert/strict";
import { type CompareIsolation, startOffThreadCompare } from "../../src/compare/offthread.ts";
import { EpollRelay } from "../../src/net/epoll/relay.ts";
import { silentLogger } from "../../src/log.ts";

/** The niceness of each thread of process `pid`, by thread id. */
function threadNiceness(pid = Deno.pid): Map<number, number> {
  const nice = new Map<number, number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
    // Fields after the command's closing parenthesis: state is field 3, nice field 19.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    nice.set(Number(entry.name), Number(fields[16]));
  }
  return nice;
}

const unavailable = EpollRelay.unavailable();

for (const isolation of ["process", "thread"] as CompareIsolation[]) {
  Deno.test({
    name: unavailable === undefined
      ? `proxy --compare in a ${isolation} compares at nice 10 (or lower), the proxy's threads as they were`
      : `proxy --compare in a ${isolation} compares at nice 10 (not run: ${unavailable})`,
    ignore: unavailable !== undefined,
    async fn() {
      const before = threadNiceness();
      const base = before.get(Deno.pid) ?? 0;
      // Never raised: a process started with `nice -n 15` keeps 15.
      const expected = Math.max(10, base);
      const compare = await startOffThreadCompare({
        recording: new URL("../../recordings/demo.jsonl", import.meta.url).pathname,
        against: "127.0.0.1:3306",
        noise: [],
        ordered: false,
        logger: silentLogger,
        isolation,
      });
      try {
        assert.equal(compare.isolation, isolation);
        const after = threadNiceness();
        const fresh = [...after].filter(([thread]) => !before.has(thread));
        if (isolation === "process") {
          const threads = [...threadNiceness(compare.pid)];
          // A Deno process has a dozen threads or more: V8's and the runtime's, all niced.
          assert.ok(threads.length > 4, JSON.stringify(threads));
          assert.ok(threads.every(([, nice]) => nice === expected), JSON.stringify(threads));
          assert.ok(
            fresh.every(([, nice]) => nice === base),
            `none here: ${JSON.stringify(fresh)}`,
          );
        } else {
          // The worker's thread, and threads it started since (they inherit its niceness).
          assert.ok(fresh.some(([, nice]) => nice === expected), JSON.stringify(fresh));
          assert.ok(
            fresh.every(([, nice]) => nice >= base),
            `none raised: ${JSON.stringify(fresh)}`,
          );
        }
        for (const [thread, nice] of before) assert.equal(after.get(thread) ?? nice, nice);
      } finally {
        await compare.finish();
      }
    },
  });
}
