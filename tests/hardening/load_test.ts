/**
 * The suite's small version of `deno task bench:load`: 200 mysql2 connections open at once
 * through `record()`, then through `replay()` of that recording; connect/query/disconnect cycles
 * against replay in a child process with a full GC after each round. Every connection is
 * answered; no descriptor is left, and the live heap does not grow from round to round.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { record, replay, startProxy } from "../../mod.ts";
import { liveTest } from "../helpers/mariadb.ts";

const CONCURRENT = 200;
const CHURN = 1000;
const QUERY = "SELECT 6 * 7 AS answer";

function descriptors(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

/** Lets closed connections' last promise reactions and socket closes run. */
async function settle(active: () => number): Promise<void> {
  for (let i = 0; i < 200 && active() > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}

async function allAtOnce(port: number, user: string, password: string): Promise<void> {
  const connections: mysql.Connection[] = [];
  try {
    for (let i = 0; i < CONCURRENT; i += 50) {
      connections.push(
        ...await Promise.all(
          Array.from(
            { length: 50 },
            () => mysql.createConnection({ host: "127.0.0.1", port, user, password }),
          ),
        ),
      );
    }
    const answers = await Promise.all(connections.map((c) => c.query(QUERY)));
    assert.ok(answers.every(([rows]) => (rows as { answer: number }[])[0].answer === 42));
  } finally {
    await Promise.all(connections.map((c) => c.end()));
  }
}

liveTest(
  `record and replay: ${CONCURRENT} connections at once, every one answered, no descriptor left`,
  async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "load-" });
    try {
      const out = `${dir}/load.jsonl`;
      const { user, password } = db.users.native;
      // The first worker thread of a process makes Deno open an eventfd and an epoll instance
      // for good: a proxy started and closed before the baseline (the epoll relay's worker).
      await (await startProxy({ listen: "127.0.0.1:0", server: `${db.hostname}:${db.port}` }))
        .close();
      const baseline = descriptors();
      const recording = await record({
        listen: "127.0.0.1:0",
        server: `${db.hostname}:${db.port}`,
        out,
      });
      try {
        await allAtOnce(recording.port, user, password);
        await settle(() => recording.activeConnections);
        assert.equal(recording.activeConnections, 0);
      } finally {
        await recording.close();
      }
      assert.equal(recording.stats().connections, CONCURRENT);
      assert.equal(descriptors(), baseline, "record left descriptors open");

      const server = await replay(out, { listen: "127.0.0.1:0" });
      try {
        await allAtOnce(server.port, user, password);
        await settle(() => server.activeConnections);
        assert.equal(server.activeConnections, 0);
        assert.equal(server.stats().matched, CONCURRENT);
      } finally {
        await server.close();
      }
      assert.equal(descriptors(), baseline, "replay left descriptors open");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { timeoutMs: 120_000 },
);

Deno.test(`replay: ${CHURN} more connect/query/disconnect cycles grow neither heap nor descriptors`, async () => {
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--v8-flags=--expose-gc"],
      new URL("./churn_child.ts", import.meta.url).pathname,
      "3",
      String(CHURN / 2),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, stderr);
  const rounds = new TextDecoder().decode(child.stdout).trim().split("\n").map((line) =>
    JSON.parse(line) as { heap: number; fds: number; active: number }
  );
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(rounds.map((r) => `heap ${mib(r.heap)}, ${r.fds} fds`).join("; "));
  assert.equal(rounds.length, 3);
  assert.ok(rounds.every((r) => r.active === 0));
  // Round 1 warms up (JIT, pools); the next two must not keep what they served.
  assert.equal(rounds[2].fds, rounds[0].fds, "descriptors leaked");
  assert.ok(
    rounds[2].heap - rounds[0].heap < 4 * 2 ** 20,
    `heap grew: ${mib(rounds[0].heap)} -> ${mib(rounds[2].heap)}`,
  );
});
