/**
 * Network fuzzing: garbage clients (against the proxy, the recorder and replay) and a garbage
 * server (behind the proxy). Each session ends by itself: a client half-closes after its garbage
 * and reads until the other side closes, so a session that does not end is a hang, reported.
 *
 * @module
 */

import { createLogger, type Logger } from "../../src/log.ts";
import { frame } from "../helpers/hex.ts";
import { concat, type CorpusPacket, loadCorpus, mutate, type Random } from "./random.ts";

const CORPUS = loadCorpus();
const CLIENT_PACKETS = CORPUS.flatMap((s) => s.packets.filter((p) => p.direction === "client"));
const SERVER_PACKETS = CORPUS.flatMap((s) => s.packets.filter((p) => p.direction === "server"));
/** Real logins (HandshakeResponse41, sequence 1) from the captures: replay accepts any of them. */
const LOGINS = CLIENT_PACKETS.filter((p) => p.sequenceId === 1 && p.payload.length > 32);
const GREETINGS = SERVER_PACKETS.filter((p) => p.sequenceId === 0 && p.payload[0] === 10);
const COMMANDS = CLIENT_PACKETS.filter((p) => p.sequenceId === 0);

/** A parsed log record. */
export interface LogRecord {
  level: string;
  event: string;
  message: string;
  connection?: number;
  reason?: string;
  [field: string]: unknown;
}

/** A JSON logger whose records a test can read and wait for. */
export function captureLogger(): {
  logger: Logger;
  records: LogRecord[];
  count(event: string): number;
  waitFor(event: string, count: number, timeoutMs?: number): Promise<void>;
} {
  const records: LogRecord[] = [];
  const waiters = new Set<() => void>();
  const logger = createLogger({
    format: "json",
    level: "debug",
    write(line) {
      records.push(JSON.parse(line));
      for (const wake of waiters) wake();
    },
  });
  const count = (event: string) => records.filter((r) => r.event === event).length;
  return {
    logger,
    records,
    count,
    waitFor(event, wanted, timeoutMs = 20_000) {
      if (count(event) >= wanted) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`Timed out waiting for ${wanted} "${event}" records: ${count(event)}`));
        }, timeoutMs);
        const wake = () => {
          if (count(event) < wanted) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
    },
  };
}

/** Writes, ignoring a peer that already left (garbage often makes it leave). */
async function send(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    return true;
  } catch {
    return false;
  }
}

/** Reads until the peer closes or `deadline` passes; true when it closed. */
async function readUntilClosed(conn: Deno.Conn, deadline: number): Promise<boolean> {
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), left);
    });
    let count: number | null | "timeout";
    try {
      count = await Promise.race([conn.read(buffer), timeout]);
    } catch {
      return true; // reset by the peer: closed
    } finally {
      clearTimeout(timer);
    }
    if (count === "timeout") return false;
    if (count === null) return true;
  }
}

/** Reads at least one byte; false on the end, or when nothing came within `timeoutMs`. */
async function readSome(conn: Deno.Conn, timeoutMs = 10_000): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const count = await Promise.race([conn.read(new Uint8Array(16 * 1024)), timeout]);
    return count !== null && count !== "timeout";
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes cut into 1-4 writes at random points. */
function pieces(random: Random, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = random.int(4); i > 0 && at < bytes.length; i--) {
    const size = 1 + random.int(bytes.length - at);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}

function framed(random: Random, packets: CorpusPacket[], mutateOne: boolean): Uint8Array {
  let out: Uint8Array = new Uint8Array(0);
  for (const packet of packets) {
    const payload = mutateOne && random.chance(0.5)
      ? mutate(random, packet.payload)
      : packet.payload;
    out = concat(out, frame(packet.sequenceId, payload));
  }
  return out;
}

/** What a garbage client did, for the failure message. */
export interface GarbageOutcome {
  kind: string;
  /** Whether the server side closed the connection before the deadline. */
  closed: boolean;
}

/**
 * One garbage client session against `port`: random bytes, a header claiming 16 MiB and nothing
 * after it, a real login then mutated commands, a mutated login, or a connection dropped at
 * once. It half-closes and waits (up to `timeoutMs`) for the server to close.
 */
export async function garbageClient(
  random: Random,
  port: number,
  timeoutMs = 10_000,
): Promise<GarbageOutcome> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const kinds = ["random", "huge-header", "login-then-garbage", "mutated-login", "drop"] as const;
  const kind = random.pick(kinds);
  try {
    if (kind === "drop") {
      return { kind, closed: true };
    }
    let bytes: Uint8Array;
    if (kind === "random") {
      bytes = random.bytes(1 + random.int(300));
    } else if (kind === "huge-header") {
      // 16 MiB - 1 announced (a continued packet), a few bytes sent, then nothing more.
      bytes = concat(new Uint8Array([0xff, 0xff, 0xff, 1]), random.bytes(random.int(32)));
    } else {
      // Wait for the greeting, as a client does, then log in and send commands.
      if (!(await readSome(conn))) return { kind, closed: true };
      const login = random.pick(LOGINS);
      const commands = Array.from({ length: 1 + random.int(6) }, () => random.pick(COMMANDS));
      bytes = kind === "mutated-login"
        ? framed(random, [{ ...login, payload: mutate(random, login.payload) }], false)
        : concat(frame(1, login.payload), framed(random, commands, true));
    }
    for (const piece of pieces(random, bytes)) {
      if (!(await send(conn, piece))) break;
    }
    try {
      await conn.closeWrite();
    } catch {
      // the server left already
    }
    return { kind, closed: await readUntilClosed(conn, Date.now() + timeoutMs) };
  } finally {
    try {
      conn.close();
    } catch {
      // closed
    }
  }
}

/**
 * A fake MySQL server that answers every connection with garbage: random bytes, a mutated
 * greeting then mutated responses to whatever the client sends, a header claiming 16 MiB and
 * nothing more, or an immediate close. With `passthrough` set it relays to a real server instead,
 * so a test can check that the proxy in front of it still works.
 */
export function garbageServer(random: Random): {
  port: number;
  passthrough: { hostname: string; port: number } | undefined;
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Promise<void>>();
  const state = {
    port: (listener.addr as Deno.NetAddr).port,
    passthrough: undefined as { hostname: string; port: number } | undefined,
    async close() {
      listener.close();
      await accepting;
      await Promise.all(open);
    },
  };
  const serveOne = async (conn: Deno.Conn) => {
    try {
      if (state.passthrough) {
        const upstream = await Deno.connect(state.passthrough);
        await Promise.all([
          conn.readable.pipeTo(upstream.writable).catch(() => {}),
          upstream.readable.pipeTo(conn.writable).catch(() => {}),
        ]);
        return;
      }
      const kind = random.int(4);
      if (kind === 0) return; // close at once
      if (kind === 1) {
        await send(conn, random.bytes(1 + random.int(300)));
      } else if (kind === 2) {
        await send(conn, concat(new Uint8Array([0xff, 0xff, 0xff, 0]), random.bytes(10)));
      } else {
        const greeting = random.pick(GREETINGS);
        await send(
          conn,
          frame(0, random.chance(0.5) ? mutate(random, greeting.payload) : greeting.payload),
        );
        // Answer each read with mutated server packets, until the client leaves.
        for (let i = 0; i < 8 && (await readSome(conn, 1000)); i++) {
          const answers = Array.from(
            { length: 1 + random.int(4) },
            () => random.pick(SERVER_PACKETS),
          );
          if (!(await send(conn, framed(random, answers, true)))) break;
        }
        return;
      }
      // Wait for the client to leave (it half-closes after its own packets), at most a second
      // per read, as a server's connect_timeout would: the proxy holds its half-read greeting
      // until the server gives up.
      while (await readSome(conn, 1000));
    } catch {
      // the proxy closed on us: fine
    } finally {
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const served = serveOne(conn);
      open.add(served);
      served.finally(() => open.delete(served));
    }
  })().catch(() => {});
  return state;
}

/**
 * A client for {@link garbageServer}: a real login and commands, some mutated, then half-close and
 * wait for the end.
 */
export async function politeClient(
  random: Random,
  port: number,
  timeoutMs = 10_000,
): Promise<GarbageOutcome> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // Wait for the greeting (the fake server may never send one that completes), then go on.
    if (random.chance(0.8)) await readSome(conn, 500);
    const login = random.pick(LOGINS);
    const commands = Array.from({ length: random.int(4) }, () => random.pick(COMMANDS));
    const bytes = concat(frame(1, login.payload), framed(random, commands, true));
    for (const piece of pieces(random, bytes)) {
      if (!(await send(conn, piece))) break;
    }
    try {
      await conn.closeWrite();
    } catch {
      // gone
    }
    return { kind: "polite", closed: await readUntilClosed(conn, Date.now() + timeoutMs) };
  } finally {
    try {
      conn.close();
    } catch {
      // closed
    }
  }
}

/** Runs `count` sessions, `parallel` at a time; returns the outcomes in order. */
export async function sessions(
  count: number,
  parallel: number,
  run: (index: number) => Promise<GarbageOutcome>,
): Promise<GarbageOutcome[]> {
  const outcomes: GarbageOutcome[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      outcomes[index] = await run(index);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return outcomes;
}
