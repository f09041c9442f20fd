/**
 * The faults in force on a proxy: added and removed at run time (library, control API), drawn
 * per connection (`connections=`), and applied as a byte-stream wrapper (latency, bandwidth,
 * slow-close, timeout, reset-after, slice), a refusal (refuse) or built-in hooks in the mediated
 * loop (error, drop-after-query).
 *
 * @module
 */

import type { ByteStream } from "../net/relay.ts";
import type { ErrorAnswer, Hooks } from "../hooks/types.ts";
import type { DropDecision } from "../hooks/mediate.ts";
import { type FaultSpec, parseFault } from "./spec.ts";
import { faultStream, type LiveFault } from "./streams.ts";

/** A fault as listed: its id, its spec text, and counters. */
export interface FaultInfo {
  /** Id to remove it by (`f1`, `f2`, ...). */
  id: string;
  /** The spec as given. */
  spec: string;
  /** The fault's name (`latency`, `error`, ...). */
  kind: FaultSpec["kind"];
  /** Connections it was applied to. */
  connections: number;
  /** Times it acted (delays, errors, resets...). */
  fired: number;
}

/**
 * Faults of a running proxy (`proxy.faults`).
 *
 * @example
 * ```ts ignore
 * await using proxy = await startProxy({ listen: "127.0.0.1:0", server: "127.0.0.1:3306" });
 * const fault = proxy.faults.add("latency=200ms,direction=both");
 * // ... connections opened now are slowed down ...
 * proxy.faults.remove(fault.id);
 * ```
 */
export interface FaultControl {
  /** Adds a fault from its spec (`latency=200ms`); throws a FaultSpecError when it does not parse. */
  add(spec: string): FaultInfo;
  /** Removes a fault by id; false when there is none. */
  remove(id: string): boolean;
  /** Removes every fault. */
  clear(): void;
  /** The faults in force. */
  list(): FaultInfo[];
}

const BYTE_FAULTS = new Set<FaultSpec["kind"]>([
  "latency",
  "bandwidth",
  "slow-close",
  "timeout",
  "reset-after",
  "slice",
]);

class Fault implements LiveFault {
  readonly id: string;
  readonly spec: FaultSpec;
  active = true;
  connections = 0;
  fired = 0;
  /** Matching queries seen, for `every`. */
  matched = 0;

  constructor(id: string, spec: FaultSpec) {
    this.id = id;
    this.spec = spec;
  }

  fires(): boolean {
    if (!this.active) return false;
    if (this.spec.p < 1 && Math.random() >= this.spec.p) return false;
    this.fired++;
    return true;
  }

  info(): FaultInfo {
    return {
      id: this.id,
      spec: this.spec.text,
      kind: this.spec.kind,
      connections: this.connections,
      fired: this.fired,
    };
  }
}

/** What the faults do to one connection, drawn when it opens. */
export interface ConnectionFaults {
  /** Answer with ERR 1040 instead of serving it. */
  refuse: boolean;
  /** Wraps the client's connection (present only when a byte-level fault targets it). */
  wrap?: (conn: ByteStream) => ByteStream;
  /** Built-in hooks for decoded-level faults (present only when one targets it). */
  hooks?: Hooks;
}

/**
 * The fault set of one proxy.
 *
 * @example
 * ```ts
 * import { FaultSet } from "./set.ts";
 * const faults = new FaultSet(["latency=200ms"]);
 * const added = faults.add("error=1213,match=/^UPDATE/,every=10");
 * console.assert(faults.list().length === 2 && faults.remove(added.id));
 * ```
 */
export class FaultSet implements FaultControl {
  #faults: Fault[] = [];
  #next = 1;

  constructor(specs: readonly string[] = []) {
    for (const spec of specs) this.add(spec);
  }

  /** Whether any fault is in force (the proxy then draws faults for each new connection). */
  get size(): number {
    return this.#faults.length;
  }

  add(text: string): FaultInfo {
    const fault = new Fault(`f${this.#next++}`, parseFault(text));
    this.#faults.push(fault);
    return fault.info();
  }

  remove(id: string): boolean {
    const index = this.#faults.findIndex((fault) => fault.id === id);
    if (index < 0) return false;
    this.#faults[index].active = false;
    this.#faults.splice(index, 1);
    return true;
  }

  clear(): void {
    for (const fault of this.#faults) fault.active = false;
    this.#faults = [];
  }

  list(): FaultInfo[] {
    return this.#faults.map((fault) => fault.info());
  }

  /** Draws the faults of a new connection. */
  forConnection(): ConnectionFaults {
    const drawn = this.#faults.filter((fault) =>
      fault.spec.connections >= 1 || Math.random() < fault.spec.connections
    );
    for (const fault of drawn) fault.connections++;
    const result: ConnectionFaults = {
      refuse: drawn.some((fault) => fault.spec.kind === "refuse" && fault.fires()),
    };
    const bytes = drawn.filter((fault) => BYTE_FAULTS.has(fault.spec.kind));
    if (bytes.length > 0) result.wrap = (conn) => faultStream(conn, bytes);
    const decoded = drawn.filter((f) =>
      f.spec.kind === "error" || f.spec.kind === "drop-after-query"
    );
    if (decoded.length > 0) result.hooks = decodedHooks(decoded);
    return result;
  }
}

function decodedHooks(faults: Fault[]): Hooks {
  return {
    readQuery({ sql }): ErrorAnswer | DropDecision | undefined {
      if (sql === undefined) return undefined;
      for (const fault of faults) {
        if (!fault.active) continue;
        const spec = fault.spec;
        if (spec.kind === "error") {
          if (spec.match && !spec.match.test(sql)) continue;
          fault.matched++;
          if (fault.matched % spec.every !== 0 || !fault.fires()) continue;
          return { kind: "error", code: spec.code, message: spec.message, sqlState: spec.sqlState };
        }
        if (spec.kind === "drop-after-query" && spec.match.test(sql) && fault.fires()) {
          return { kind: "drop-mid-result" };
        }
      }
      return undefined;
    },
  } as Hooks;
}
