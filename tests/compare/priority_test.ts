/**
 * The comparison of `proxy --compare` runs below the relay's priority, in the idle scheduling
 * class (`SCHED_IDLE`), so that it takes a core only when forwarding does not need it. In a child
 * process (the default), every thread of that process is, the runtime's and garbage collector's
 * included; in a worker thread, that thread is. The proxy's own threads keep their priority.
 */
import assert from "node:assert/strict";
import { type CompareIsolation, startOffThreadCompare } from "../../src/compare/offthread.ts";
import { EpollRelay } from "../../src/net/epoll/relay.ts";
import { silentLogger } from "../../src/log.ts";

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** The scheduling policy and niceness of each thread of process `pid`, by thread id. */
function threadPriority(pid = Deno.pid): Map<number, string> {
  const priority = new Map<number, string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
    // Fields after the command's closing parenthesis: state is field 3, nice 19, policy 41.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    priority.set(Number(entry.name), `policy ${fields[38]} nice ${fields[16]}`);
  }
  return priority;
}

const unavailable = EpollRelay.unavailable();

for (const isolation of ["process", "thread"] as CompareIsolation[]) {
  Deno.test({
    name: unavailable === undefined
      ? `proxy --compare in a ${isolation} compares in the idle scheduling class, the proxy's threads as they were`
      : `proxy --compare in a ${isolation} compares in the idle class (not run: ${unavailable})`,
    ignore: unavailable !== undefined,
    async fn() {
      const before = threadPriority();
      const base = before.get(Deno.pid)!;
      assert.match(base, new RegExp(`^policy ${SCHED_OTHER} `), "a normal process to begin with");
      // The nice value is the process's, kept (the idle class does not use it).
      const idle = base.replace(/^policy \d+/, `policy ${SCHED_IDLE}`);
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
        const after = threadPriority();
        const fresh = [...after].filter(([thread]) => !before.has(thread));
        if (isolation === "process") {
          const threads = [...threadPriority(compare.pid)];
          // A Deno process has a dozen threads or more: V8's and the runtime's, all idle.
          assert.ok(threads.length > 4, JSON.stringify(threads));
          assert.ok(threads.every(([, priority]) => priority === idle), JSON.stringify(threads));
          assert.ok(fresh.every(([, priority]) => priority === base), JSON.stringify(fresh));
        } else {
          // The worker's thread, and threads it started since (they inherit its class).
          assert.ok(fresh.some(([, priority]) => priority === idle), JSON.stringify(fresh));
        }
        for (const [thread, priority] of before) {
          assert.equal(after.get(thread) ?? priority, priority);
        }
      } finally {
        await compare.finish();
      }
    },
  });
}
