/**
 * The comparing side steps aside while the machine is busy: `SpareTime` measures each slice's
 * share of the CPU, and `Comparing` applies the relay's batches in such slices, pausing between
 * them while the share is low, and at once when the traffic is over.
 */
import assert from "node:assert/strict";
import { type MachineTime, machineTime, SpareTime } from "../../src/compare/spare_time.ts";
import { Comparing, type ComparingResponse, ItemKind } from "../../src/compare/comparing.ts";
import { FORWARD_ITEM_FIELDS, ForwardItem } from "../../src/net/epoll/forward.ts";

/** A clock the test moves. */
function clocks() {
  const clock = { cpu: 0, wall: 0 };
  return { clock, threadCpu: () => clock.cpu, now: () => clock.wall };
}

Deno.test("SpareTime.due() says when a slice has run its length", () => {
  const { clock, ...time } = clocks();
  const spare = new SpareTime({ ...time, sliceMs: 5 });
  spare.begin();
  clock.wall = 4.9;
  assert.equal(spare.due(), false);
  clock.wall = 5;
  assert.equal(spare.due(), true);
});

Deno.test("SpareTime.end() never pauses a slice that got its time", () => {
  const { clock, ...time } = clocks();
  const spare = new SpareTime(time);
  for (let i = 0; i < 10; i++) {
    spare.begin();
    clock.wall += 5;
    clock.cpu += 2.5; // half: the threshold itself
    assert.equal(spare.end(), 0);
  }
  assert.deepEqual(spare.paused, { count: 0, ms: 0, extended: 0 });
});

Deno.test("SpareTime.end() pauses longer while the machine stays busy, and stops when it is not", () => {
  const { clock, ...time } = clocks();
  const spare = new SpareTime(time);
  const slice = (cpu: number) => {
    spare.begin();
    clock.wall += 5;
    clock.cpu += cpu;
    return spare.end();
  };
  assert.deepEqual([slice(0.2), slice(2), slice(0), slice(1), slice(0), slice(0.5)], [
    20,
    40,
    80,
    160,
    320,
    320,
  ]);
  assert.equal(slice(5), 0);
  assert.equal(slice(0), 20);
  assert.deepEqual(spare.paused, { count: 7, ms: 960, extended: 0 });
});

/** A SpareTime whose machine the test runs: `run(ms, idle)` passes `ms` on two cores. */
function machine(options: { minIdle?: number } = {}) {
  const { clock, ...time } = clocks();
  const cores = { idle: 0, busy: 0 };
  const spare = new SpareTime({ ...time, machineTime: () => ({ ...cores }), ...options });
  return {
    spare,
    /** A slice that got a tenth of its time: the machine is busy. */
    busySlice: () => {
      spare.begin();
      clock.wall += 5;
      clock.cpu += 0.5;
      return spare.end();
    },
    /** `ms` of a pause, with `idle` of both cores' time idle. */
    run: (ms: number, idle: number) => {
      clock.wall += ms;
      cores.idle += 2 * ms * idle;
      cores.busy += 2 * ms * (1 - idle);
    },
  };
}

Deno.test("SpareTime.resume() goes on pausing while the cores have no idle time, longer each time", () => {
  const { spare, busySlice, run } = machine();
  run(busySlice(), 0.04); // saturated: 4% idle, as this VM at saturation
  // 20 ms on two cores is under the 100 ms of machine time a pause must span to be judged.
  assert.equal(spare.resume(), 0, "a short pause ends as scheduled");
  busySlice();
  let pause = busySlice();
  assert.equal(pause, 80);
  const longer = [];
  for (let i = 0; i < 4; i++) {
    run(pause, 0.04);
    pause = spare.resume();
    longer.push(pause);
  }
  assert.deepEqual(longer, [160, 320, 320, 320]);
  run(pause, 0.5); // the burst is over: half of both cores idle
  assert.equal(spare.resume(), 0);
  assert.deepEqual(spare.paused, { count: 7, ms: 20 + 40 + 80 + 160 + 3 * 320, extended: 4 });
});

Deno.test("SpareTime.resume() ends a pause that found minIdle of the cores' time idle, and without a machine clock", () => {
  const { spare, busySlice, run } = machine({ minIdle: 0.25 });
  busySlice(), busySlice();
  run(busySlice(), 0.25);
  assert.equal(spare.resume(), 0, "exactly minIdle is enough");
  run(busySlice(), 0.24);
  assert.equal(spare.resume(), 320);
  const { clock, ...time } = clocks();
  const unknown = new SpareTime({ ...time, machineTime: () => undefined });
  unknown.begin();
  clock.wall += 5;
  assert.equal(unknown.end(), 20);
  clock.wall += 1000;
  assert.equal(unknown.resume(), 0, "a machine that cannot say is never held up for");
  assert.equal(new SpareTime(time).resume(), 0);
});

Deno.test("machineTime() reads the cores' idle and busy time where /proc/stat is", () => {
  const read = machineTime();
  let stat = true;
  try {
    Deno.statSync("/proc/stat");
  } catch {
    stat = false;
  }
  assert.equal(read !== undefined, stat);
  if (!read) return;
  const before = read()!;
  const until = performance.now() + 50;
  while (performance.now() < until) {
    // busy: the cores' busy time goes up
  }
  const after = read()!;
  assert.ok(before.idle >= 0 && before.busy > 0, JSON.stringify(before));
  assert.ok(after.busy >= before.busy && after.idle >= before.idle);
  assert.ok(after.busy + after.idle > before.busy + before.idle, "time passed on the cores");
});

/** A comparing side with a busy or idle machine, and what it said it applied. */
function comparingSide(
  options: { busy: boolean; minPauseMs?: number; machineTime?: () => MachineTime },
) {
  const clock = { cpu: 0, wall: 0 };
  // Each look at the clock is a millisecond later; the thread gets all of it, or nothing.
  const spare = new SpareTime({
    now: () => (options.busy ? clock.wall++ : (clock.cpu++, clock.wall++)),
    threadCpu: () => clock.cpu,
    minPauseMs: options.minPauseMs ?? 1,
    maxPauseMs: 2,
    machineTime: options.machineTime,
  });
  const applied: number[] = [];
  const posted: ComparingResponse[] = [];
  const comparing = new Comparing({
    post: (message) => posted.push(message),
    applied: (_bytes, relayBatches) => relayBatches > 0 && applied.push(relayBatches),
    relayDrained: () => Promise.resolve(),
    spareTime: spare,
  });
  return { comparing, spare, applied, posted };
}

/** A relay batch of `count` items for connection 1 (bytes no tap sees: none is open). */
function relayBatch(count: number): [Float64Array, Uint8Array] {
  const items = new Float64Array(count * FORWARD_ITEM_FIELDS);
  for (let i = 0; i < count; i++) {
    items.set([ForwardItem.client, 1, 0, 0, 0], i * FORWARD_ITEM_FIELDS);
  }
  return [items, new Uint8Array(16)];
}

async function forwarded(comparing: Comparing): Promise<void> {
  await comparing.handle({
    type: "batch",
    items: [[ItemKind.Forwarded, 1, 0]],
    bytes: new ArrayBuffer(0),
  });
}

Deno.test("Comparing applies the relay's batches at once on a machine with time to spare", async () => {
  const { comparing, spare, applied } = comparingSide({ busy: false });
  await forwarded(comparing);
  comparing.relayBatch(...relayBatch(2000));
  assert.deepEqual(applied, [1]);
  assert.equal(comparing.pausedFor, 0);
  assert.deepEqual(spare.paused, { count: 0, ms: 0, extended: 0 });
});

Deno.test("Comparing pauses between slices of the relay's batches while the machine is busy", async () => {
  const { comparing, spare, applied } = comparingSide({ busy: true });
  await forwarded(comparing);
  const released: string[] = [];
  comparing.relayBatch(...relayBatch(2000), () => released.push("first"));
  comparing.relayBatch(...relayBatch(10), () => released.push("second"));
  assert.deepEqual(applied, [], "a busy slice must not go on to apply the whole batch");
  assert.deepEqual(released, [], "a batch's memory is given back only once it is applied");
  const until = Date.now() + 5000;
  while (applied.length < 2 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.deepEqual(applied, [1, 1], "every batch is applied in the end, in order");
  assert.deepEqual(released, ["first", "second"]);
  assert.ok(spare.paused.count >= 2, `paused ${spare.paused.count} times`);
});

Deno.test("Comparing keeps pausing while the cores have no idle time, and applies once they do", async () => {
  // Each reading of the machine is 100 ms of both cores later, 4% idle, then half idle.
  const cores = { idle: 0, busy: 0, idleShare: 0.04 };
  const { comparing, spare, applied } = comparingSide({
    busy: true,
    machineTime: () => {
      cores.idle += 200 * cores.idleShare;
      cores.busy += 200 * (1 - cores.idleShare);
      return { idle: cores.idle, busy: cores.busy };
    },
  });
  await forwarded(comparing);
  comparing.relayBatch(...relayBatch(2000));
  const wait = async (ok: () => boolean) => {
    const until = Date.now() + 5000;
    while (!ok() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await wait(() => spare.paused.extended >= 5);
  assert.ok(spare.paused.extended >= 5, `extended ${spare.paused.extended} pauses`);
  assert.deepEqual(applied, [], "no slice runs while the cores are saturated");
  cores.idleShare = 0.5;
  await wait(() => applied.length > 0);
  assert.deepEqual(applied, [1], "the batch is applied once the cores have idle time");
});

Deno.test("Comparing applies what waits at once when the traffic is over", async () => {
  const { comparing, applied, posted } = comparingSide({ busy: true, minPauseMs: 60_000 });
  await comparing.handle({
    type: "init",
    recording: new URL("../../recordings/demo.jsonl", import.meta.url).pathname,
    against: "test",
    noise: [],
    ordered: false,
    maxBehindBytes: 1 << 20,
  });
  await forwarded(comparing);
  comparing.relayBatch(...relayBatch(2000));
  assert.deepEqual(applied, []);
  // The comparing process looks at its ring again only then.
  assert.ok(comparing.pausedFor > 59_000, `paused for ${comparing.pausedFor} ms`);
  // A minute's pause is due; `finish` cancels it (the test's timer check would see it left).
  assert.equal(comparing.draining, false);
  await comparing.handle({ type: "finish" });
  assert.deepEqual(applied, [1]);
  assert.equal(comparing.pausedFor, 0);
  assert.equal(comparing.draining, true, "the ring is then looked at every millisecond");
  assert.deepEqual(posted.map((message) => message.type), ["ready", "log", "report"]);
});
