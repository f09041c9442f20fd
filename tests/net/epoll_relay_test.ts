/**
 * The epoll relay on its own, over loopback TCP with an echo or a scripted peer: bytes arrive
 * unchanged and in order, the taps see exactly what crossed in wire order (with a ring small
 * enough to wrap at every possible offset), half-closes and closes end each direction as `pump()`
 * does, and nothing is left open.
 */
import assert from "node:assert/strict";
import { EpollRelay, type RelaySink } from "../../src/net/epoll/relay.ts";
import {
  createSessionTap,
  type DetachOffer,
  forwardedState,
  type TapReport,
} from "../../src/session/tap.ts";
import {
  FORWARD_COUNTER_BYTES,
  FORWARD_ITEM_FIELDS,
  type ForwardBatch,
  ForwardCounter,
  ForwardItem,
} from "../../src/net/epoll/forward.ts";
import {
  closeDescriptor,
  createSharedMemory,
  sharedMemoryAt,
  unmapSharedMemory,
} from "../../src/net/epoll/libc.ts";
import { ByteRing, ringBytes, ringSource } from "../../src/net/epoll/ring.ts";
import { readFrames } from "../../src/compare/frames.ts";
import { Backlog, forwardFramesInto } from "../../src/compare/backlog.ts";
import { concat, frame, hex } from "../helpers/hex.ts";
import {
  CLASSIC,
  loginFrames,
  SELECT_1_QUERY,
  SELECT_1_RESULT,
  withCompression,
} from "../helpers/login.ts";
import { silentLogger } from "../../src/log.ts";

const unavailable = EpollRelay.unavailable();

function descriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/**
 * Descriptors open now, after one relay has come and gone: the first worker thread of a process
 * makes Deno open an eventfd and an epoll instance that stay for the process's life.
 */
async function baselineDescriptors(): Promise<number> {
  const relay = new EpollRelay({ logger: silentLogger });
  relay.start();
  await relay.settled();
  await relay.stop();
  return descriptors();
}

/**
 * A client connected through the relay to `upstream`'s accepted side; the relay's tap records
 * what it sees in `seen`, unless `tap` is given.
 */
async function relayedPair(
  relay: EpollRelay,
  seen: { side: string; bytes: Uint8Array }[],
  tap?: RelaySink["tap"],
) {
  const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const back = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: front.addr.port });
  const accepted = await front.accept();
  const upstream = await Deno.connect({ hostname: "127.0.0.1", port: back.addr.port });
  const server = await back.accept();
  front.close();
  back.close();
  const counts = { client: 0, server: 0 };
  const adopted = relay.adopt(accepted, upstream, {
    tap: tap ?? {
      client: (chunk) => seen.push({ side: "client", bytes: chunk.slice() }),
      server: (chunk) => seen.push({ side: "server", bytes: chunk.slice() }),
    },
    onClientBytes: (n) => counts.client += n,
    onServerBytes: (n) => counts.server += n,
  });
  assert.ok(adopted, "the relay took the connection");
  const close = () => {
    for (const conn of [client, server, accepted, upstream]) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  };
  return { client, server, adopted, counts, close };
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let got = 0; got < length;) {
    const n = await conn.read(out.subarray(got));
    if (n === null) throw new Error(`end of stream after ${got} of ${length} bytes`);
    got += n;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return bytes;
}

/** A test that needs epoll (Linux, FFI allowed); elsewhere it is ignored, naming the reason. */
function epollTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: unavailable === undefined ? name : `${name} (not run: ${unavailable})`,
    ignore: unavailable !== undefined,
    fn,
  });
}

epollTest(
  "EpollRelay relays request/response turns byte for byte; taps see them in wire order through a wrapping ring",
  async () => {
    const baseline = await baselineDescriptors();
    // A 4 KiB read buffer and an 8 KiB ring: chunks of every size land at every ring offset,
    // exactly at its end included.
    const relay = new EpollRelay({ logger: silentLogger, bufferSize: 4096, ringBytes: 8192 });
    const seen: { side: string; bytes: Uint8Array }[] = [];
    const pair = await relayedPair(relay, seen);
    try {
      const sizes = [1, 4096, 4095, 2, 4096, 4096, 3000, 1096, 8191, 12_288, 7, 4096];
      for (const [turn, size] of sizes.entries()) {
        const request = pattern(size, turn);
        await writeAll(pair.client, request);
        assert.deepEqual(await readExactly(pair.server, size), request, `request ${turn}`);
        const response = pattern(size + 13, turn + 100);
        await writeAll(pair.server, response);
        assert.deepEqual(await readExactly(pair.client, size + 13), response, `response ${turn}`);
      }
      await relay.settled();
      // In wire order: every request's bytes before its response's.
      const sides = seen.map((s) => s.side);
      const turns: string[] = [];
      for (const side of sides) if (turns.at(-1) !== side) turns.push(side);
      assert.equal(turns.length, sizes.length * 2, `alternating turns, got ${turns.join(",")}`);
      const sent = (side: string) =>
        concat(seen.filter((s) => s.side === side).map((s) => s.bytes));
      assert.deepEqual(sent("client"), concat(sizes.map((size, turn) => pattern(size, turn))));
      assert.deepEqual(
        sent("server"),
        concat(sizes.map((size, turn) => pattern(size + 13, turn + 100))),
      );
      assert.equal(pair.counts.client, sizes.reduce((a, b) => a + b, 0));

      // The client half-closes: the server sees the end, can still answer, then closes too.
      await pair.client.closeWrite();
      assert.equal(await pair.server.read(new Uint8Array(1)), null);
      await writeAll(pair.server, pattern(10, 1));
      assert.deepEqual(await readExactly(pair.client, 10), pattern(10, 1));
      pair.server.close();
      assert.deepEqual(await pair.adopted.ends, [{ kind: "eof" }, { kind: "eof" }]);
    } finally {
      pair.close();
      await relay.stop();
    }
    assert.equal(descriptors(), baseline, "descriptors given back");
  },
);

epollTest(
  "EpollRelay close() ends both sides for the peers and reports both directions stopped",
  async () => {
    const relay = new EpollRelay({ logger: silentLogger });
    const pair = await relayedPair(relay, []);
    try {
      await writeAll(pair.client, pattern(100, 1));
      await readExactly(pair.server, 100);
      pair.adopted.close();
      assert.deepEqual(await pair.adopted.ends, [{ kind: "stopped" }, { kind: "stopped" }]);
      assert.equal(await pair.client.read(new Uint8Array(1)), null, "the client sees the end");
      assert.equal(await pair.server.read(new Uint8Array(1)), null, "the server sees the end");
    } finally {
      pair.close();
      await relay.stop();
    }
  },
);

epollTest(
  "EpollRelay reports writing to a reset peer as a write error; stop() ends what is still open",
  async () => {
    const baseline = await baselineDescriptors();
    const relay = new EpollRelay({ logger: silentLogger });
    const reset = await relayedPair(relay, []);
    const open = await relayedPair(relay, []);
    try {
      // The server goes away; the client, told so by a FIN, writes anyway: the kernel answers
      // the first write with a reset, and the relay's next write to it fails.
      reset.server.close();
      assert.equal(await reset.client.read(new Uint8Array(1)), null);
      await writeAll(reset.client, pattern(10, 1));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await writeAll(reset.client, pattern(10, 2)).catch(() => {});
      const ends = await reset.adopted.ends;
      assert.ok(
        ends.some((end) => end.kind === "write-error"),
        `an error end, got ${JSON.stringify(ends)}`,
      );
      await relay.stop();
      assert.deepEqual(await open.adopted.ends, [{ kind: "stopped" }, { kind: "stopped" }]);
      assert.equal(await open.client.read(new Uint8Array(1)), null);
    } finally {
      reset.close();
      open.close();
      await relay.stop();
    }
    assert.equal(descriptors(), baseline, "descriptors given back");
  },
);

epollTest(
  "EpollRelay: starting and stopping relays again and again leaves no descriptor",
  async () => {
    const baseline = await baselineDescriptors();
    for (let i = 0; i < 5; i++) {
      const relay = new EpollRelay({ logger: silentLogger });
      relay.start();
      await relay.settled();
      await relay.stop();
    }
    assert.equal(descriptors(), baseline);
  },
);

epollTest(
  "EpollRelay: decoding far behind the traffic still leaves the main thread's timers and I/O running",
  async () => {
    // The peers make 3000 round trips in a child process, in a fraction of a second; each chunk
    // costs the tap 0.3 ms here, so decoding ends up seconds behind. Deno runs every message a
    // worker has queued before its timers and I/O: with a batch posted every 2 ms regardless,
    // a 10 ms timer fired only once the whole backlog was decoded (measured: 1.5 s late).
    const relay = new EpollRelay({ logger: silentLogger });
    const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const peers = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", new URL("./fixtures/ping_pong.ts", import.meta.url).pathname]
        .concat([String(front.addr.port), "3000"]),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const errors = new Response(peers.stderr).text();
    const lines = peers.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let chunks = 0;
    let bytes = 0;
    try {
      const accepted = await front.accept();
      const { value } = await lines.read();
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: Number(value) });
      await lines.cancel();
      const slow = (chunk: Uint8Array) => {
        chunks++;
        bytes += chunk.length;
        const until = performance.now() + 0.3;
        while (performance.now() < until) { /* decoding, slowly */ }
      };
      const adopted = relay.adopt(accepted, upstream, {
        tap: { client: slow, server: slow },
        onClientBytes: () => {},
        onServerBytes: () => {},
      });
      assert.ok(adopted, "the relay took the connection");
      let latest = 0;
      let ticks = 0;
      let ended = false;
      const ends = adopted.ends.then((ends) => (ended = true, ends));
      while (!ended) {
        const asked = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 10));
        latest = Math.max(latest, performance.now() - asked - 10);
        ticks++;
      }
      assert.deepEqual(await ends, [{ kind: "eof" }, { kind: "eof" }]);
      assert.equal((await peers.status).code, 0, await errors);
      assert.equal(bytes, 2 * 3000 * 100, "the taps saw every byte");
      assert.ok(chunks >= 3000, `${chunks} chunks decoded`);
      assert.ok(latest < 150, `a 10 ms timer fired ${latest.toFixed(0)} ms late`);
      assert.ok(ticks > 20, `decoding took ${ticks} ticks: it did fall behind`);
      for (const conn of [accepted, upstream]) conn.close();
    } finally {
      front.close();
      await relay.stop();
    }
  },
);

/** A track-only tap past the login of a captured session, wrapped to show what reaches it here. */
function detachableTap(patch?: (greeting: Uint8Array, response: Uint8Array) => void) {
  const login = loginFrames(CLASSIC, patch);
  const tap = createSessionTap();
  tap.server(login.greeting);
  tap.client(login.response);
  tap.server(login.ok);
  const here = { chunks: 0, reports: [] as TapReport[] };
  const wrapped: RelaySink["tap"] = {
    client: (chunk) => (here.chunks++, tap.client(chunk)),
    server: (chunk) => (here.chunks++, tap.server(chunk)),
    detach: () => tap.detach!(),
    reattach: (report) => (here.reports.push(report), tap.reattach!(report)),
  };
  return { tap, wrapped, here };
}

epollTest(
  "EpollRelay runs a detached tap in the worker: no bytes come back, its reports do",
  async () => {
    const relay = new EpollRelay({ logger: silentLogger });
    const plain = detachableTap();
    const compressed = detachableTap(withCompression);
    const a = await relayedPair(relay, [], plain.wrapped);
    const b = await relayedPair(relay, [], compressed.wrapped);
    try {
      const query = SELECT_1_QUERY;
      const result = [...SELECT_1_RESULT];
      for (let i = 0; i < 3; i++) {
        await writeAll(a.client, query);
        await readExactly(a.server, query.length);
        const answer = concat(result);
        await writeAll(a.server, answer);
        await readExactly(a.client, answer.length);
      }
      // A column count that cannot be one: the worker's decoder loses track and says so.
      await writeAll(a.client, query);
      await readExactly(a.server, query.length);
      await writeAll(a.server, frame(1, hex("fc 01")));
      await readExactly(a.client, 6);
      await relay.settled();
      assert.equal(plain.here.reports.length, 1, JSON.stringify(plain.here.reports));
      assert.match(plain.here.reports[0].opaque ?? "", /./);

      // Not zlib where a compressed frame's body should be: the worker's tap throws, decoding
      // stops and forwarding goes on.
      const garbage = hex("050000 01 0a0000 | 0102030405");
      await writeAll(b.client, garbage);
      assert.deepEqual(await readExactly(b.server, garbage.length), garbage);
      await relay.settled();
      assert.equal(compressed.here.reports[0].failed?.direction, "client");
      await writeAll(b.client, pattern(100, 1));
      assert.deepEqual(await readExactly(b.server, 100), pattern(100, 1));

      for (const pair of [a, b]) {
        pair.client.close();
        pair.server.close();
        assert.deepEqual(await pair.adopted.ends, [{ kind: "eof" }, { kind: "eof" }]);
      }
      assert.deepEqual(plain.here.reports.at(-1), { commands: 4 }, "the final count");
      assert.equal(a.counts.client, 4 * query.length, "bytes counted in the worker");
      assert.equal(a.counts.server, 3 * concat(result).length + 6);
      assert.equal(plain.tap.commands, 4);
      assert.equal(compressed.here.reports.length, 1, "no count from a tap that failed");
      assert.equal(plain.here.chunks + compressed.here.chunks, 0, "no bytes on this thread");
    } finally {
      a.close();
      b.close();
      await relay.stop();
    }
  },
);

/**
 * What reaches a forward port or ring: the items, and whether they are taken in (counted back).
 * A ring (of `ringCapacity` bytes) is read once `readFrom` resolves, until its close item has
 * come.
 */
function forwardReceiver(
  maxBehindBytes: number,
  sink: "port" | "ring" | "thread ring",
  readFrom: Promise<void> = Promise.resolve(),
  ringCapacity = 1 << 20,
) {
  const counters = new Int32Array(new SharedArrayBuffer(FORWARD_COUNTER_BYTES));
  const received: { kind: number; id: number; bytes: Uint8Array; time: number }[] = [];
  const receiver = { received, taking: true, batches: 0 };
  const take = (items: Float64Array, bytes: Uint8Array) => {
    receiver.batches++;
    for (let at = 0; at < items.length; at += FORWARD_ITEM_FIELDS) {
      const [kind, id, start, end, time] = items.subarray(at, at + FORWARD_ITEM_FIELDS);
      received.push({ kind, id, bytes: bytes.slice(start, end), time });
    }
    if (!receiver.taking) return;
    Atomics.sub(counters, ForwardCounter.bytes, bytes.length);
    Atomics.sub(counters, ForwardCounter.batches, 1);
  };
  if (sink === "port") {
    const channel = new MessageChannel();
    channel.port2.onmessage = (event: MessageEvent<ForwardBatch>) =>
      take(new Float64Array(event.data.items), new Uint8Array(event.data.bytes));
    const forward = { port: channel.port1, counters: counters.buffer, maxBehindBytes };
    return { receiver, forward, counters, close: () => channel.port2.close() };
  }
  // Shared with another process (mapped here as the comparing process maps it), or with another
  // thread, as for a comparing worker: the relay's worker views it too.
  const memory = sink === "ring"
    ? createSharedMemory("forward-test", ringBytes(ringCapacity))
    : undefined;
  if (memory) closeDescriptor(memory.fd);
  const shared = memory ?? new SharedArrayBuffer(ringBytes(ringCapacity));
  const ring = new ByteRing(memory ? sharedMemoryAt(memory) : shared as SharedArrayBuffer);
  // Frames lost or garbled would leave the reader looking for ever: past a deadline it is told
  // the ring has ended, and the test fails instead of hanging.
  let stopped = false;
  const source = ringSource(ring, () => 1, () => stopped);
  const reading = (async () => {
    await readFrom;
    // The comparing process's own reader, left once the close has come.
    const batches = readFrames(source, forwardFramesInto(new Backlog()));
    for await (const { items, bytes, release } of batches) {
      take(items, bytes);
      release();
      if (received.at(-1)?.kind === ForwardItem.close) return;
    }
    throw new Error("The forward ring's reader never saw the connection's close");
  })();
  const forward = { ring: shared, counters: counters.buffer, maxBehindBytes };
  const close = async () => {
    const late = setTimeout(() => (stopped = true), 5000);
    try {
      await reading;
    } finally {
      clearTimeout(late);
      // The relay has stopped: nothing views the ring any more.
      if (memory) unmapSharedMemory(memory);
    }
  };
  return { receiver, forward, counters, close };
}

/** `turns` SELECT 1 exchanges through a relayed pair; returns the answer's bytes. */
async function selectTurns(
  pair: { client: Deno.Conn; server: Deno.Conn },
  turns: number,
): Promise<Uint8Array> {
  const answer = concat([...SELECT_1_RESULT]);
  for (let i = 0; i < turns; i++) {
    await writeAll(pair.client, SELECT_1_QUERY);
    await readExactly(pair.server, SELECT_1_QUERY.length);
    await writeAll(pair.server, answer);
    await readExactly(pair.client, answer.length);
  }
  return answer;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

for (const sink of ["port", "ring", "thread ring"] as const) {
  epollTest(
    `EpollRelay forwards a connection to the forward ${sink} when its tap asks: in order, with its close; past the receiver's room it stops, says so, and still closes`,
    async () => {
      const { receiver, forward, counters, close } = forwardReceiver(1000, sink);
      const relay = new EpollRelay({ logger: silentLogger, forward });
      const { tap, wrapped, here } = detachableTap();
      const offers: (DetachOffer | undefined)[] = [];
      wrapped.detach = (offer) => (offers.push(offer), forwardedState(tap.detach!()!, 7));
      const pair = await relayedPair(relay, [], wrapped);
      const started = performance.now();
      try {
        const answer = await selectTurns(pair, 3);
        await relay.settled();
        await until(() => Atomics.load(counters, ForwardCounter.batches) === 0, "the batches");
        assert.deepEqual(offers, [{ forwards: true }]);
        const sides = (kind: number) =>
          concat(receiver.received.filter((item) => item.kind === kind).map((item) => item.bytes));
        assert.deepEqual(sides(ForwardItem.client), concat([0, 1, 2].map(() => SELECT_1_QUERY)));
        assert.deepEqual(sides(ForwardItem.server), concat([answer, answer, answer]));
        assert.ok(receiver.received.every((item) => item.id === 7));
        // Stamped on this thread's clock, as the main thread's own items.
        for (const item of receiver.received) {
          assert.ok(
            item.time >= started - 50 && item.time <= performance.now() + 50,
            `${item.time}`,
          );
        }
        assert.equal(here.chunks, 0, "no bytes on this thread");

        // The receiver stops taking batches in: past its 1000 bytes, the rest is not forwarded.
        receiver.taking = false;
        const big = pattern(1500, 3);
        await writeAll(pair.client, big);
        assert.deepEqual(await readExactly(pair.server, big.length), big, "relayed all the same");
        await relay.settled();
        await until(() => receiver.received.at(-1)?.kind === ForwardItem.stopped, "the stop");
        assert.deepEqual(here.reports, [{ forwardStopped: true }]);
        assert.equal(sides(ForwardItem.client).length, 3 * SELECT_1_QUERY.length);
        pair.client.close();
        pair.server.close();
        await pair.adopted.ends;
        await until(() => receiver.received.at(-1)?.kind === ForwardItem.close, "the close");
        assert.equal(Atomics.load(counters, ForwardCounter.batches) > 0, true);
      } finally {
        pair.close();
        await relay.stop();
        await close();
      }
    },
  );
}

epollTest(
  "EpollRelay gathers forwarded bytes for the forward's flushMs: a burst goes in one batch, at the deadline even with no more traffic",
  async () => {
    const { receiver, forward, close } = forwardReceiver(64 << 20, "port");
    const flushMs = 1000;
    const relay = new EpollRelay({ logger: silentLogger, forward: { ...forward, flushMs } });
    const { tap, wrapped } = detachableTap();
    wrapped.detach = () => forwardedState(tap.detach!()!, 3);
    const pair = await relayedPair(relay, [], wrapped);
    try {
      await selectTurns(pair, 3);
      const burst = performance.now();
      assert.equal(receiver.batches, 0, "held for the deadline");
      await until(() => receiver.batches > 0, "the batch");
      const waited = performance.now() - burst;
      assert.equal(receiver.batches, 1);
      const first = receiver.received[0].time;
      assert.ok(waited + (burst - first) >= flushMs - 50, `sent after ${waited} ms`);
      assert.ok(receiver.received.length >= 6, `${receiver.received.length} items`);
    } finally {
      pair.close();
      await relay.stop();
      await close();
    }
  },
);

epollTest(
  "EpollRelay keeps what a full forward ring has no room for, and writes it in order once the ring is read",
  async () => {
    let read!: () => void;
    const readFrom = new Promise<void>((resolve) => (read = resolve));
    const { receiver, forward, counters, close } = forwardReceiver(
      64 << 20,
      "ring",
      readFrom,
      64 << 10,
    );
    const relay = new EpollRelay({ logger: silentLogger, forward });
    const { tap, wrapped } = detachableTap();
    wrapped.detach = () => forwardedState(tap.detach!()!, 9);
    const pair = await relayedPair(relay, [], wrapped);
    try {
      // A 1 MiB query: 16 times what the ring holds.
      const query = frame(0, concat([new Uint8Array([0x03]), pattern(1 << 20, 5)]));
      const relayed = readExactly(pair.server, query.length);
      await writeAll(pair.client, query);
      assert.deepEqual(await relayed, query, "relayed while the ring is full");
      await relay.settled();
      assert.ok(Atomics.load(counters, ForwardCounter.batches) > 0, "not all taken in yet");
      read();
      await until(() => Atomics.load(counters, ForwardCounter.batches) === 0, "the rest");
      const client = receiver.received.filter((item) => item.kind === ForwardItem.client);
      assert.deepEqual(concat(client.map((item) => item.bytes)), query);
      assert.equal(Atomics.load(counters, ForwardCounter.bytes), 0);
      pair.client.close();
      pair.server.close();
      await pair.adopted.ends;
      await until(() => receiver.received.at(-1)?.kind === ForwardItem.close, "the close");
    } finally {
      pair.close();
      await relay.stop();
      await close();
    }
  },
);

epollTest(
  "EpollRelay drops what waits for the forward ring once its reader is gone, off the counters, and relays on",
  async () => {
    // Nothing reads this ring.
    const memory = createSharedMemory("forward-test", ringBytes(64 << 10));
    closeDescriptor(memory.fd);
    const counters = new Int32Array(new SharedArrayBuffer(FORWARD_COUNTER_BYTES));
    const forward = { ring: memory, counters: counters.buffer, maxBehindBytes: 64 << 20 };
    const relay = new EpollRelay({ logger: silentLogger, forward: { ...forward, flushMs: 1 } });
    const { tap, wrapped } = detachableTap();
    wrapped.detach = () => forwardedState(tap.detach!()!, 4);
    const pair = await relayedPair(relay, [], wrapped);
    try {
      const query = frame(0, concat([new Uint8Array([0x03]), pattern(256 << 10, 6)]));
      const relayed = readExactly(pair.server, query.length);
      await writeAll(pair.client, query);
      assert.deepEqual(await relayed, query);
      await relay.settled();
      assert.ok(Atomics.load(counters, ForwardCounter.bytes) > 64 << 10, "waiting for room");
      Atomics.store(counters, ForwardCounter.gone, 1);
      await until(() => Atomics.load(counters, ForwardCounter.batches) <= 1, "the drop");
      // What the ring took before is all that is still counted.
      assert.ok(Atomics.load(counters, ForwardCounter.bytes) <= 64 << 10);
      await writeAll(pair.client, query);
      assert.deepEqual(await readExactly(pair.server, query.length), query, "relayed on");
      await relay.settled();
      await until(() => Atomics.load(counters, ForwardCounter.batches) <= 1, "the next drop");
    } finally {
      pair.close();
      await relay.stop();
      unmapSharedMemory(memory);
    }
  },
);

epollTest("EpollRelay does not take unix sockets: the caller relays them itself", async () => {
  const dir = await Deno.makeTempDir();
  const relay = new EpollRelay({ logger: silentLogger });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/s.sock` });
  try {
    const client = await Deno.connect({ transport: "unix", path: `${dir}/s.sock` });
    const accepted = await listener.accept();
    const taken = relay.adopt(accepted, client, {
      tap: { client() {}, server() {} },
      onClientBytes() {},
      onServerBytes() {},
    });
    assert.equal(taken, undefined);
    client.close();
    accepted.close();
  } finally {
    listener.close();
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
