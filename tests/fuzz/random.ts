/**
 * Deterministic randomness for the fuzz suite: a seeded generator and the mutations applied to
 * real packets. Every failure names its seed, and the same seed gives the same bytes again.
 *
 * @module
 */

import { readCapture } from "../helpers/hex.ts";

/** A small seeded generator (mulberry32): fast, and the same sequence for the same seed. */
export class Random {
  #state: number;
  /** The seed it started from. */
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One element of `list`. */
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Bytes that mean something in the protocol: length prefixes, NULL, EOF/OK/ERR headers, limits. */
const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff];

/**
 * A mutated copy of `payload`: bit flips, interesting bytes, truncation, extension, a chunk
 * duplicated or removed, a length-encoded integer planted. One to four mutations.
 */
export function mutate(random: Random, payload: Uint8Array): Uint8Array {
  let bytes: Uint8Array = payload.slice();
  const rounds = 1 + random.int(4);
  for (let round = 0; round < rounds; round++) {
    const at = bytes.length === 0 ? 0 : random.int(bytes.length);
    switch (random.int(8)) {
      case 0:
        if (bytes.length > 0) bytes[at] ^= 1 << random.int(8);
        break;
      case 1:
        if (bytes.length > 0) bytes[at] = random.pick(INTERESTING);
        break;
      case 2:
        bytes = bytes.slice(0, at);
        break;
      case 3:
        bytes = concat(bytes, random.bytes(1 + random.int(16)));
        break;
      case 4: {
        const end = Math.min(bytes.length, at + 1 + random.int(16));
        bytes = concat(bytes.subarray(0, end), bytes.subarray(at));
        break;
      }
      case 5: {
        const end = Math.min(bytes.length, at + 1 + random.int(16));
        bytes = concat(bytes.subarray(0, at), bytes.subarray(end));
        break;
      }
      case 6: {
        // A length-encoded integer claiming far more than there is.
        const planted = random.pick([
          [0xfc, 0xff, 0xff],
          [0xfd, 0xff, 0xff, 0xff],
          [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
          [0xfe, 0, 0, 0, 0, 0, 0, 0x20, 0],
        ]);
        bytes = concat(concat(bytes.subarray(0, at), new Uint8Array(planted)), bytes.subarray(at));
        break;
      }
      default:
        if (bytes.length > 0) bytes[at] = random.int(256);
    }
  }
  return bytes;
}

/** `a` then `b`, in a new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One direction's packet of a real capture. */
export interface CorpusPacket {
  direction: "client" | "server";
  sequenceId: number;
  payload: Uint8Array;
}

/** The real captures of tests/fixtures/captures/, one packet list per connection. */
export function loadCorpus(): { name: string; packets: CorpusPacket[] }[] {
  const dir = new URL("../fixtures/captures/", import.meta.url);
  const sessions: { name: string; packets: CorpusPacket[] }[] = [];
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".txt"))
    .sort();
  for (const name of names) {
    const byConnection = new Map<number, CorpusPacket[]>();
    for (const frame of readCapture(new URL(name, dir))) {
      const list = byConnection.get(frame.connection) ?? [];
      list.push({
        direction: frame.direction,
        sequenceId: frame.sequenceId,
        payload: frame.payload,
      });
      byConnection.set(frame.connection, list);
    }
    for (const [conn, packets] of byConnection) sessions.push({ name: `${name}#${conn}`, packets });
  }
  return sessions;
}

/** A failure the fuzz loop found, with the seed that replays it. */
export class FuzzFailure extends Error {
  /** The seed of the failing iteration: `deno task fuzz --target T --seed S --iterations 1`. */
  readonly seed: number;

  constructor(target: string, seed: number, cause: unknown) {
    super(
      `Fuzz target ${target} failed at seed ${seed} ` +
        `(replay: deno task fuzz --target ${target} --seed ${seed} --iterations 1): ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
      { cause },
    );
    this.name = "FuzzFailure";
    this.seed = seed;
  }
}

/**
 * Runs `iterations` iterations of `target`, iteration `i` with the seed `seed + i`, so any one
 * can be replayed alone. Throws a {@link FuzzFailure} at the first failure.
 */
export function runTarget(
  name: string,
  target: (random: Random) => void,
  options: { seed: number; iterations: number; onProgress?: (done: number) => void },
): void {
  for (let i = 0; i < options.iterations; i++) {
    const seed = (options.seed + i) >>> 0;
    try {
      target(new Random(seed));
    } catch (error) {
      throw new FuzzFailure(name, seed, error);
    }
    if (options.onProgress && (i + 1) % 1000 === 0) options.onProgress(i + 1);
  }
}
