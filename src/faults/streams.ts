/**
 * Byte-level faults as a {@link ByteStream} wrapper around the client's connection: reads are
 * what travels up (client to server), writes what travels down. The wrapper exists only on
 * connections a byte-level fault targets; the others keep the bare connection and the relay's
 * hot path is unchanged.
 *
 * @module
 */

import type { ByteStream } from "../net/relay.ts";
import { resetConnection } from "./reset.ts";
import type { Direction, FaultSpec } from "./spec.ts";

/** A fault as the wrapper applies it: the spec, and whether it is still in force. */
export interface LiveFault {
  readonly spec: FaultSpec;
  /** False once removed: a removed fault stops acting on the connections it was applied to. */
  readonly active: boolean;
  /** Counts an occurrence (for `p`); true when it should act this time. */
  fires(): boolean;
}

type Conn = ByteStream & {
  localAddr?: Deno.Addr;
  remoteAddr?: Deno.Addr;
  setNoDelay?(on: boolean): void;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Never settles while the connection lives: what `timeout` does to reads and writes. */
function stall(signal: AbortSignal, ms: number): Promise<never> {
  return new Promise((_, reject) => {
    const stop = () => reject(new Deno.errors.Interrupted("the connection was closed"));
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    if (ms > 0) {
      const timer = setTimeout(() => reject(new Deno.errors.TimedOut("fault: timeout")), ms);
      signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    }
  });
}

const goesUp = (direction: Direction) => direction !== "down";
const goesDown = (direction: Direction) => direction !== "up";

/**
 * Wraps `conn` with the faults a connection drew.
 *
 * @example
 * ```ts ignore
 * const faulty = faultStream(client, [liveFault]);
 * ```
 */
export function faultStream(conn: Conn, faults: readonly LiveFault[]): ByteStream {
  return new FaultStream(conn, faults);
}

class FaultStream implements ByteStream {
  #conn: Conn;
  #faults: readonly LiveFault[];
  #closed = new AbortController();
  #bytes = { up: 0, down: 0 };
  #reset = false;
  /** Up to when each direction's bandwidth budget is spent (performance.now()). */
  #busyUntil = { up: 0, down: 0 };

  constructor(conn: Conn, faults: readonly LiveFault[]) {
    this.#conn = conn;
    this.#faults = faults;
    // The proxy closes the socket itself (not this wrapper) when it shuts a connection down: a
    // read or write stalled by `timeout` must end then, or the connection would never finish.
    const close = conn.close.bind(conn);
    conn.close = () => {
      this.#closed.abort();
      close();
    };
    if (faults.some((f) => f.spec.kind === "slice")) {
      try {
        // Each small write its own TCP segment.
        conn.setNoDelay?.(true);
      } catch {
        // not TCP
      }
    }
  }

  get localAddr(): Deno.Addr | undefined {
    return this.#conn.localAddr;
  }

  get remoteAddr(): Deno.Addr | undefined {
    return this.#conn.remoteAddr;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    await this.#before("up");
    const count = await this.#conn.read(buffer.subarray(0, this.#paced("up", buffer.length)));
    if (count === null) return null;
    await this.#after("up", count);
    return count;
  }

  async write(bytes: Uint8Array): Promise<number> {
    await this.#before("down");
    let chunk = bytes.subarray(0, this.#paced("down", bytes.length));
    for (const fault of this.#active()) {
      const spec = fault.spec;
      if (spec.kind === "slice" && goesDown(spec.direction) && fault.fires()) {
        chunk = chunk.subarray(0, Math.min(chunk.length, spec.bytes));
      }
    }
    const count = await this.#conn.write(chunk);
    await this.#after("down", count);
    return count;
  }

  async closeWrite(): Promise<void> {
    await this.#slowClose();
    await this.#conn.closeWrite();
  }

  close(): void {
    const slow = this.#active().find((f) => f.spec.kind === "slow-close");
    if (slow && slow.spec.kind === "slow-close" && !this.#closed.signal.aborted && !this.#reset) {
      this.#closed.abort();
      setTimeout(() => {
        try {
          this.#conn.close();
        } catch {
          // already closed
        }
      }, slow.spec.ms);
      return;
    }
    this.#closed.abort();
    this.#conn.close();
  }

  /** At most 50 ms worth of bytes at a time under a bandwidth limit, so the pace is even. */
  #paced(way: "up" | "down", length: number): number {
    for (const fault of this.#active()) {
      const spec = fault.spec;
      if (spec.kind === "bandwidth" && (way === "up" ? goesUp : goesDown)(spec.direction)) {
        length = Math.min(length, Math.max(64, Math.floor(spec.bytesPerSecond / 20)));
      }
    }
    return length;
  }

  #active(): LiveFault[] {
    return this.#faults.filter((fault) => fault.active);
  }

  async #slowClose(): Promise<void> {
    for (const fault of this.#active()) {
      if (fault.spec.kind === "slow-close") await sleep(fault.spec.ms);
    }
  }

  /** Before bytes move: a timeout stalls; latency waits. */
  async #before(way: "up" | "down"): Promise<void> {
    for (const fault of this.#active()) {
      const spec = fault.spec;
      if (spec.kind === "timeout" && fault.fires()) await stall(this.#closed.signal, spec.ms);
      if (this.#reset) throw new Deno.errors.ConnectionReset("fault: reset-after");
      if (way === "down" && spec.kind === "latency" && goesDown(spec.direction) && fault.fires()) {
        await sleep(spec.ms + Math.random() * spec.jitterMs);
      }
    }
  }

  /** After bytes moved: latency on the way up, bandwidth, reset-after. */
  async #after(way: "up" | "down", count: number): Promise<void> {
    this.#bytes[way] += count;
    for (const fault of this.#active()) {
      const spec = fault.spec;
      if (way === "up" && spec.kind === "latency" && goesUp(spec.direction) && fault.fires()) {
        await sleep(spec.ms + Math.random() * spec.jitterMs);
      } else if (spec.kind === "bandwidth" && (way === "up" ? goesUp : goesDown)(spec.direction)) {
        const now = performance.now();
        const start = Math.max(now, this.#busyUntil[way]);
        this.#busyUntil[way] = start + count / spec.bytesPerSecond * 1000;
        const wait = this.#busyUntil[way] - now;
        if (wait > 1) await sleep(wait);
      } else if (spec.kind === "reset-after" && !this.#reset) {
        const seen = (goesUp(spec.direction) ? this.#bytes.up : 0) +
          (goesDown(spec.direction) ? this.#bytes.down : 0);
        if (seen >= spec.bytes && fault.fires()) this.#resetNow();
      }
    }
  }

  #resetNow(): void {
    this.#reset = true;
    const conn = this.#conn;
    if (!conn.localAddr || !conn.remoteAddr || !resetConnection(conn as Required<Conn>)) {
      // No RST possible here: at least end the connection.
      this.#closed.abort();
    }
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}
