/**
 * The proxy's resources under stress, with a real MariaDB and real clients: a slow reader must
 * not make the proxy buffer a large result (backpressure), a thousand connections must leave no
 * descriptor behind, and clients or servers that end a connection abruptly must cost one log line
 * and nothing else.
 *
 * @module
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import mysql from "mysql2/promise";
import { concat } from "../helpers/hex.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { type LogRecord, type ProxyHarness, withProxy } from "../helpers/proxy.ts";

const DATABASE = "e2e_proxy_resources";
const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;

async function ensureDatabase(db: MariaDB): Promise<void> {
  await db.sql(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`);
}

// ---------------------------------------------------------------------------------------------
// Backpressure: the proxy as a subprocess, so its resident memory is its own.

/** VmRSS and VmHWM of a process, in bytes. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) => {
    const match = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
    if (!match) throw new Error(`Cannot read ${name} of process ${pid}`);
    return Number(match[1]) * 1024;
  };
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Resets VmHWM to the current RSS (Linux `clear_refs` 5); false when not permitted. */
function resetPeak(pid: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The CLI proxy in a child process, listening on a free port. */
async function spawnProxy(db: MariaDB, extraArgs: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", MOD, "proxy", "--listen", "127.0.0.1:0"],
      ...["--server", `${db.hostname}:${db.port}`, "--quiet", ...extraArgs],
    ],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await lines.read();
    if (done) break;
    stdout += value;
    const match = stdout.match(/^Listening on 127\.0\.0\.1:(\d+), forwarding to /m);
    if (match) port = Number(match[1]);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return stdout;
      stdout += value;
    }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const status = await child.status;
    return { status, stdout: await rest, stderr: await stderr };
  };
  if (port === undefined) {
    const { stderr: text } = await stop();
    throw new Error(`The proxy did not say where it listens:\n${stdout}\n${text}`);
  }
  return { pid: child.pid, port, stop };
}

/** What a `readSlowly` client received. */
interface Received {
  rows: number;
  /** Sum of the first column. */
  seqSum: number;
  /** Sum of CRC-32 of the second column: `SUM(CRC32(v))` on the server. */
  crcSum: number;
  /** Bytes of CLI output. */
  bytes: number;
  seconds: number;
}

/**
 * Runs `sql` (two columns: an integer and a string without tabs or newlines) in the `mariadb` CLI
 * with `--quick` (one row at a time, no client-side buffering) through the proxy, and reads the
 * CLI's output at `bytesPerSecond`: the CLI blocks on its stdout, stops reading its socket, and
 * TCP pushes back on the proxy.
 */
async function readSlowly(
  db: MariaDB,
  port: number,
  sql: string,
  bytesPerSecond: number,
): Promise<Received> {
  const { user, password } = db.users.native;
  const child = new Deno.Command(db.bin.mariadb, {
    args: [
      ...["--no-defaults", "--protocol=tcp", "--host=127.0.0.1", `--port=${port}`],
      ...[`--user=${user}`, `--password=${password}`, `--database=${DATABASE}`],
      ...["--max-allowed-packet=1G", "--quick", "--batch", "--skip-column-names"],
      `--execute=${sql}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const started = performance.now();
  const got: Received = { rows: 0, seqSum: 0, crcSum: 0, bytes: 0, seconds: 0 };
  // A row's bytes so far, in pieces: joined once its newline arrives (rows can be 100 MB long).
  let pending: Uint8Array[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      got.bytes += value.length;
      if (value.indexOf(0x0a) < 0) {
        pending.push(value);
      } else {
        const data = pending.length === 0 ? value : concat([...pending, value]);
        let start = 0;
        for (let end = data.indexOf(0x0a); end >= 0; end = data.indexOf(0x0a, start)) {
          const tab = data.indexOf(0x09, start);
          assert.ok(tab > start && tab < end, `a row without a tab at byte ${got.bytes}`);
          let seq = 0;
          for (let i = start; i < tab; i++) seq = seq * 10 + data[i] - 0x30;
          got.rows++;
          got.seqSum += seq;
          got.crcSum += crc32(data.subarray(tab + 1, end));
          start = end + 1;
        }
        pending = start < data.length ? [data.slice(start)] : [];
      }
      const due = (got.bytes / bytesPerSecond) * 1000 - (performance.now() - started);
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    }
  } finally {
    reader.releaseLock();
  }
  const [status, errors] = await Promise.all([child.status, stderr]);
  assert.equal(status.code, 0, `mariadb CLI failed: ${errors}`);
  assert.deepEqual(pending, [], "the output ended in the middle of a row");
  got.seconds = (performance.now() - started) / 1000;
  return got;
}

/** The server's own `[COUNT(*), SUM(seq), SUM(CRC32(v))]` over the rows of `sql`. */
async function serverAggregate(db: MariaDB, sql: string): Promise<number[]> {
  const text = await db.sql(`SELECT COUNT(*), SUM(seq), SUM(CRC32(v)) FROM (${sql}) AS t`, {
    database: DATABASE,
  });
  return text.trim().split("\t").map(Number);
}

/** Resident memory of the proxy process before and during a body. */
interface MemoryFigures {
  baseline: number;
  peak: number;
  samples: number;
  /** Whether VmHWM could be reset after the baseline, so it counts in the peak. */
  hwmReset: boolean;
}

/**
 * Starts the CLI proxy, warms it up with one small query (so compiled code and the relay buffers
 * are in the baseline), then runs `body` while sampling VmRSS every 200 ms. The peak is the
 * largest sample, or VmHWM when it could be reset after the baseline.
 */
async function measureProxy<T>(
  db: MariaDB,
  extraArgs: string[],
  body: (port: number) => Promise<T>,
): Promise<{ result: T; memory: MemoryFigures; stderr: string }> {
  const proxy = await spawnProxy(db, extraArgs);
  let sampler: ReturnType<typeof setInterval> | undefined;
  let outcome: { result: T; memory: MemoryFigures };
  try {
    await readSlowly(db, proxy.port, rowsOf4KB(2_000), 1024 * MiB);
    const baseline = memoryOf(proxy.pid).rss;
    const memory = { baseline, peak: baseline, samples: 0, hwmReset: resetPeak(proxy.pid) };
    sampler = setInterval(() => {
      memory.samples++;
      memory.peak = Math.max(memory.peak, memoryOf(proxy.pid).rss);
    }, 200);
    const result = await body(proxy.port);
    clearInterval(sampler);
    const after = memoryOf(proxy.pid);
    memory.peak = Math.max(memory.peak, after.rss, memory.hwmReset ? after.hwm : 0);
    outcome = { result, memory };
  } catch (error) {
    clearInterval(sampler);
    await proxy.stop();
    throw error;
  }
  const { status, stderr } = await proxy.stop();
  assert.equal(status.code, 0, `the proxy exited with ${status.code}: ${stderr}`);
  return { ...outcome, stderr };
}

function describeMemory(memory: MemoryFigures): string {
  return `RSS baseline ${mib(memory.baseline)}, peak ${mib(memory.peak)}, growth ${
    mib(memory.peak - memory.baseline)
  } (${memory.samples} samples${memory.hwmReset ? " + VmHWM" : ""})`;
}

/** ~4 KB rows generated by the server (the sequence engine): no table, no disk. */
const rowsOf4KB = (rows: number) =>
  `SELECT seq, REPEAT(MD5(seq), 125) AS v FROM seq_1_to_${rows} ORDER BY seq`;

const SLOW_ROWS = 80_000; // ~320 MB through the proxy
const SLOW_RATE = 24 * MiB; // bytes per second the client reads; MariaDB sends far faster
const GROWTH_LIMIT = 64 * MiB;

liveTest(
  "proxy CLI: a slow client reading 320 MB keeps the proxy's RSS within 64 MiB of its baseline",
  async (db) => {
    await ensureDatabase(db);
    const sql = rowsOf4KB(SLOW_ROWS);
    const expected = await serverAggregate(db, sql);
    const { result: got, memory } = await measureProxy(
      db,
      [],
      (port) => readSlowly(db, port, sql, SLOW_RATE),
    );
    console.log(
      `slow client: ${got.rows} rows, ${mib(got.bytes)} in ${got.seconds.toFixed(1)} s ` +
        `(${mib(got.bytes / got.seconds)}/s); ${describeMemory(memory)}`,
    );
    assert.deepEqual([got.rows, got.seqSum, got.crcSum], expected);
    assert.ok(got.bytes >= 300 * 1_000_000, `only ${mib(got.bytes)} went through the proxy`);
    assert.ok(
      memory.peak - memory.baseline < GROWTH_LIMIT,
      `the proxy buffers instead of pushing back: ${describeMemory(memory)}`,
    );
  },
  { timeoutMs: 90_000 },
);

liveTest(
  "proxy CLI: a 64 MiB value is relayed intact and decoded without being reassembled",
  async (db) => {
    await ensureDatabase(db);
    const size = 64 * MiB;
    const sql = `SELECT 1 AS seq, REPEAT(MD5(1), ${size / 32}) AS v`;
    const expected = await serverAggregate(db, sql);
    // The default --max-packet (1 GiB): without --trace the proxy follows the protocol state
    // from each packet's first bytes, so it never holds the value, whatever the limit.
    const { result: got, memory, stderr } = await measureProxy(
      db,
      [],
      (port) => readSlowly(db, port, sql, 1024 * MiB),
    );
    console.log(`one ${mib(size)} value: ${describeMemory(memory)}`);
    assert.deepEqual([got.rows, got.seqSum, got.crcSum], expected);
    assert.doesNotMatch(stderr, /Decoding stopped|Cannot decode|exceeds/);
    assert.ok(
      memory.peak - memory.baseline < size / 8,
      `the proxy held the value: ${describeMemory(memory)}`,
    );
  },
  { timeoutMs: 60_000 },
);

// ---------------------------------------------------------------------------------------------
// In-process proxies: connection churn and abrupt ends.

/** Warnings and errors the proxy logged. */
function problems(h: ProxyHarness): LogRecord[] {
  return h.logs.filter((r) => r.level === "warn" || r.level === "error");
}

/** The server's packets on one connection, as `kind` (`err 1043` for an ERR). */
function fromServer(h: ProxyHarness, connection: number): string[] {
  return h.packets
    .filter((p) => p.connection === connection && p.direction === "server")
    .map((p) => p.kind === "err" ? `err ${p.line.match(/ ERR (\d+)/)?.[1]}` : p.kind);
}

/** Open file descriptors of this process, by what they are (`socket`, `pipe`, ...). */
function openDescriptors(): { total: number; sockets: number } {
  let total = 0;
  let sockets = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // the descriptor readDirSync itself used
    }
    total++;
    if (target.startsWith("socket:")) sockets++;
  }
  return { total, sockets };
}

/**
 * A connection is logged as closed a few promise reactions before its sockets are closed and the
 * proxy forgets it; one macrotask turn lets those reactions run.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

liveTest(
  "proxy: 1000 connect/query/disconnect cycles leave no descriptor and no connection behind",
  async (db) => {
    await withProxy(db, async (h) => {
      const { proxy } = h;
      const { user, password } = db.users.native;
      const cycle = async () => {
        const conn = await mysql.createConnection({
          host: proxy.hostname,
          port: proxy.port,
          user,
          password,
        });
        try {
          const [rows] = await conn.query("SELECT CONNECTION_ID() AS id");
          assert.equal((rows as { id: number }[])[0].id, conn.threadId);
        } finally {
          await conn.end();
        }
      };
      const WARMUP = 10;
      const CYCLES = 1000;
      for (let i = 0; i < WARMUP; i++) await cycle();
      await h.waitForLog("connection-closed", WARMUP);
      await settle();
      const before = openDescriptors();
      const started = performance.now();
      for (let i = 0; i < CYCLES; i++) await cycle();
      await h.waitForLog("connection-closed", WARMUP + CYCLES, 60_000);
      await settle();
      const seconds = (performance.now() - started) / 1000;
      const after = openDescriptors();
      console.log(
        `churn: ${CYCLES} cycles in ${seconds.toFixed(1)} s; open descriptors ` +
          `${before.total} (${before.sockets} sockets) before, ${after.total} (${after.sockets} ` +
          `sockets) after; active connections ${proxy.activeConnections}`,
      );
      assert.equal(proxy.activeConnections, 0);
      assert.deepEqual(after, before, "the proxy leaked descriptors");
      assert.equal(
        h.logs.filter((r) => r.event === "connection-opened").length,
        WARMUP + CYCLES,
      );
      assert.deepEqual(problems(h), []);
      h.assertAllDecoded();
      assert.equal(h.kinds().filter((kind) => kind === "COM_QUERY").length, WARMUP + CYCLES);
      assert.equal(h.kinds().filter((kind) => kind === "COM_QUIT").length, WARMUP + CYCLES);
    });
  },
);

/** The proxy still serves a normal client: mysql2 logs in and gets an answer. */
async function assertServes(db: MariaDB, port: number): Promise<void> {
  const { user, password } = db.users.native;
  const conn = await mysql.createConnection({ host: "127.0.0.1", port, user, password });
  try {
    const [rows] = await conn.query("SELECT 6 * 7 AS answer");
    assert.deepEqual(rows, [{ answer: 42 }]);
  } finally {
    await conn.end();
  }
}

/** The log events of one connection, in order. */
function eventsOf(h: ProxyHarness, connection: number): string[] {
  return h.logs.filter((r) => r.connection === connection).map((r) => r.event);
}

/** Reads until the peer closes; returns everything read. */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    let count: number | null;
    try {
      count = await conn.read(buffer);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) break;
      throw error;
    }
    if (count === null) break;
    parts.push(buffer.slice(0, count));
  }
  return concat(parts);
}

/** Reads one whole packet (header and payload). */
async function readPacket(conn: Deno.Conn): Promise<Uint8Array> {
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  while (bytes.length < 4 || bytes.length < 4 + (bytes[0] | bytes[1] << 8 | bytes[2] << 16)) {
    const count = await conn.read(buffer);
    if (count === null) throw new Error(`The proxy closed after ${bytes.length} bytes`);
    const joined = new Uint8Array(bytes.length + count);
    joined.set(bytes);
    joined.set(buffer.subarray(0, count), bytes.length);
    bytes = joined;
  }
  return bytes;
}

liveTest("proxy: a client that connects and leaves at once costs one log line", async (db) => {
  await withProxy(db, async (h) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.proxy.port });
    conn.close();
    await h.waitForLog("connection-closed", 1);
    await settle();
    assert.deepEqual(eventsOf(h, 1), ["connection-opened", "connection-closed"]);
    assert.equal(h.proxy.activeConnections, 0);
    await assertServes(db, h.proxy.port);
    assert.deepEqual(problems(h), []);
  });
}, { timeoutMs: 30_000 });

liveTest(
  "proxy: garbage after the greeting gets the server's ERR and one log line; the next client is served",
  async (db) => {
    await withProxy(db, async (h) => {
      const garbage = [
        // A well-framed packet (seq 1) that is no HandshakeResponse: MariaDB says "Bad handshake".
        { bytes: new Uint8Array([5, 0, 0, 1, ...new TextEncoder().encode("hello")]), code: 1043 },
        // Not MySQL at all: "GET" reads as a 5.5 MB frame with sequence id 0x20.
        { bytes: new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), code: 1156 },
      ];
      for (const [index, { bytes, code }] of garbage.entries()) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.proxy.port });
        let answer: Uint8Array;
        try {
          const greeting = await readPacket(conn);
          assert.equal(greeting[4], 10, "protocol version 10 greeting");
          await conn.write(bytes);
          answer = await readToEnd(conn);
        } finally {
          conn.close();
        }
        assert.equal(answer[4], 0xff, `an ERR packet, got ${answer.toHex()}`);
        assert.equal(
          answer[5] | answer[6] << 8,
          code,
          new TextDecoder().decode(answer.subarray(7)),
        );
        const id = index + 1;
        await h.waitForLog("connection-closed", id);
        assert.deepEqual(eventsOf(h, id), ["connection-opened", "connection-closed"]);
        if (code === 1043) assert.deepEqual(fromServer(h, id), ["handshake-v10", "err 1043"]);
      }
      await settle();
      assert.equal(h.proxy.activeConnections, 0);
      await assertServes(db, h.proxy.port);
      assert.deepEqual(problems(h), []);
    });
  },
  { timeoutMs: 30_000 },
);

/** Waits until the server runs `sql` on connection `id`. */
async function untilRunning(db: MariaDB, id: number, sql: string): Promise<void> {
  const probe = `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ${id} ` +
    `AND INFO = '${sql}'`;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    if ((await db.sql(probe)).trim() === "1") return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Connection ${id} never ran ${sql}`);
}

liveTest(
  "proxy: KILL QUERY and KILL of a running query reach the client as the server sends them",
  async (db) => {
    await withProxy(db, async (h) => {
      const { user, password } = db.users.native;
      const options = { host: "127.0.0.1", port: h.proxy.port, user, password };
      const SLEEP = "SELECT SLEEP(5)";

      // KILL QUERY: the server answers with ERR 1317 and the connection goes on.
      const survivor = await mysql.createConnection(options);
      try {
        const started = performance.now();
        const interrupted = assert.rejects(survivor.query(SLEEP), {
          errno: 1317,
          message: "Query execution was interrupted",
        });
        await untilRunning(db, survivor.threadId, SLEEP);
        await db.sql(`KILL QUERY ${survivor.threadId}`);
        await interrupted;
        assert.ok(performance.now() - started < 4_000, "the query was interrupted, not finished");
        const [rows] = await survivor.query("SELECT 1 AS still");
        assert.deepEqual(rows, [{ still: 1 }]);
      } finally {
        await survivor.end();
      }

      // KILL (CONNECTION): MariaDB closes the connection without an ERR packet, so the client
      // sees the connection lost, exactly as it would without the proxy.
      const victim = await mysql.createConnection(options);
      try {
        const started = performance.now();
        const lost = assert.rejects(victim.query(SLEEP), { code: "PROTOCOL_CONNECTION_LOST" });
        await untilRunning(db, victim.threadId, SLEEP);
        await db.sql(`KILL ${victim.threadId}`);
        await lost;
        assert.ok(performance.now() - started < 4_000, "the query was interrupted, not finished");
      } finally {
        victim.destroy();
      }
      await h.waitForLog("connection-closed", 2);
      await settle();
      assert.deepEqual(eventsOf(h, 2), ["connection-opened", "connection-closed"]);
      assert.equal(h.proxy.activeConnections, 0);
      await assertServes(db, h.proxy.port);
      assert.deepEqual(problems(h), []);
      // Not assertAllDecoded(): the killed query rightly has no response.
      assert.deepEqual(h.packets.filter((p) => p.kind === "unknown").map((p) => p.line), []);
      assert.deepEqual(h.opaque, []);
    });
  },
  { timeoutMs: 30_000 },
);

liveTest(
  "tap: the server's ERR rejecting a login packet that never completed decodes as ERR",
  async (db) => {
    // The client's "packet" announces 5.5 MB and never completes, so the decoder is still waiting
    // for the login when MariaDB answers with ERR 1156 and closes. That ERR is a well-formed
    // packet the client receives; the trace should show it, not "unknown".
    await withProxy(db, async (h) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.proxy.port });
      try {
        await readPacket(conn);
        await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        await readToEnd(conn);
      } finally {
        conn.close();
      }
      await h.waitForLog("connection-closed", 1);
      assert.deepEqual(fromServer(h, 1), ["handshake-v10", "err 1156"]);
    });
  },
  { timeoutMs: 30_000 },
);
