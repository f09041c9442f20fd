/**
 * The `--fault` grammar: `NAME[=VALUE][,KEY=VALUE]...`, e.g. `latency=200ms,jitter=50ms,direction=down`,
 * `error=1213,match=/^UPDATE/i,every=10`. Every fault also takes `p=` (probability of each
 * occurrence) and `connections=` (the fraction of connections it targets).
 *
 * @module
 */

/** Which way bytes travel: `up` from the client, `down` to it. */
export type Direction = "up" | "down" | "both";

/** A parsed fault. */
export type FaultSpec =
  & { p: number; connections: number; text: string }
  & (
    | { kind: "latency"; ms: number; jitterMs: number; direction: Direction }
    | { kind: "bandwidth"; bytesPerSecond: number; direction: Direction }
    | { kind: "slow-close"; ms: number }
    | { kind: "timeout"; ms: number }
    | { kind: "reset-after"; bytes: number; direction: Direction }
    | { kind: "slice"; bytes: number; direction: Direction }
    | { kind: "refuse" }
    | {
      kind: "error";
      code: number;
      message: string;
      sqlState: string;
      match: RegExp | undefined;
      every: number;
    }
    | { kind: "drop-after-query"; match: RegExp }
  );

/** A fault spec that does not parse; the message names the part that is wrong. */
export class FaultSpecError extends SyntaxError {
  /** An error with the message saying what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "FaultSpecError";
  }
}

const KEYS: Record<string, readonly string[]> = {
  latency: ["jitter", "direction"],
  bandwidth: ["direction"],
  "slow-close": [],
  timeout: [],
  "reset-after": ["direction"],
  slice: ["direction"],
  refuse: [],
  error: ["match", "every", "message", "sqlstate"],
  "drop-after-query": [],
};

/** What MariaDB says for the errors tests inject most. */
const KNOWN_ERRORS: Record<number, [string, string]> = {
  1040: ["08004", "Too many connections"],
  1205: ["HY000", "Lock wait timeout exceeded; try restarting transaction"],
  1213: ["40001", "Deadlock found when trying to get lock; try restarting transaction"],
  1290: [
    "HY000",
    "The MariaDB server is running with the --read-only option so it cannot execute this statement",
  ],
  1927: ["70100", "Connection was killed"],
};

/**
 * Parses one `--fault` spec.
 *
 * @example
 * ```ts
 * import { parseFault } from "./spec.ts";
 * const fault = parseFault("latency=200ms,jitter=50ms,direction=down");
 * console.assert(fault.kind === "latency" && fault.ms === 200 && fault.jitterMs === 50);
 * ```
 */
export function parseFault(text: string): FaultSpec {
  const parts = splitSpec(text.trim());
  if (parts.length === 0 || parts[0][0] === "") {
    throw new FaultSpecError(`Cannot parse fault "${text}": it is empty`);
  }
  const [name, value] = parts[0];
  const allowed = KEYS[name];
  if (!allowed) {
    throw new FaultSpecError(
      `Cannot parse fault "${text}": unknown fault "${name}" (known: ${
        Object.keys(KEYS).join(", ")
      })`,
    );
  }
  const options = new Map<string, string>();
  for (const [key, option] of parts.slice(1)) {
    if (key !== "p" && key !== "connections" && !allowed.includes(key)) {
      throw new FaultSpecError(
        `Cannot parse fault "${text}": ${name} takes no "${key}" (it takes ${
          ["p", "connections", ...allowed].join(", ")
        })`,
      );
    }
    if (option === undefined) {
      throw new FaultSpecError(`Cannot parse fault "${text}": ${key} needs a value`);
    }
    options.set(key, option);
  }
  const where = `fault "${text}"`;
  const common = {
    text,
    p: fraction(options.get("p") ?? "1", `${where}: p`),
    connections: fraction(options.get("connections") ?? "1", `${where}: connections`),
  };
  const need = (what: string) => {
    if (value === undefined) {
      throw new FaultSpecError(`Cannot parse ${where}: ${name} needs ${what}`);
    }
    return value;
  };
  const direction = (fallback: Direction) => {
    const given = options.get("direction") ?? fallback;
    if (given !== "up" && given !== "down" && given !== "both") {
      throw new FaultSpecError(
        `Cannot parse ${where}: direction is up, down or both, not "${given}"`,
      );
    }
    return given;
  };
  switch (name) {
    case "latency":
      return {
        ...common,
        kind: "latency",
        ms: duration(need("a duration (200ms)"), where),
        jitterMs: duration(options.get("jitter") ?? "0", where),
        direction: direction("down"),
      };
    case "bandwidth": {
      const rate = need("a rate (64kb/s)");
      if (!/\/s$/.test(rate)) throw new FaultSpecError(`Cannot parse ${where}: a rate ends in /s`);
      const bytesPerSecond = size(rate.slice(0, -2), where);
      if (bytesPerSecond < 1) throw new FaultSpecError(`Cannot parse ${where}: the rate is 0`);
      return { ...common, kind: "bandwidth", bytesPerSecond, direction: direction("down") };
    }
    case "slow-close":
      return { ...common, kind: "slow-close", ms: duration(need("a duration (1s)"), where) };
    case "timeout":
      return { ...common, kind: "timeout", ms: value === undefined ? 0 : duration(value, where) };
    case "reset-after":
      return {
        ...common,
        kind: "reset-after",
        bytes: size(need("a size (10kb)"), where),
        direction: direction("both"),
      };
    case "slice": {
      const bytes = size(need("a size (64b)"), where);
      if (bytes < 1) throw new FaultSpecError(`Cannot parse ${where}: slices are at least 1 byte`);
      return { ...common, kind: "slice", bytes, direction: direction("down") };
    }
    case "refuse":
      if (value !== undefined) {
        throw new FaultSpecError(`Cannot parse ${where}: refuse takes no value`);
      }
      return { ...common, kind: "refuse" };
    case "error": {
      const code = Number(need("an error code (1213)"));
      if (!Number.isInteger(code) || code < 1 || code > 0xffff) {
        throw new FaultSpecError(`Cannot parse ${where}: "${value}" is not an error code`);
      }
      const known = KNOWN_ERRORS[code] ?? ["HY000", `Error ${code} injected by the proxy`];
      const every = Number(options.get("every") ?? "1");
      if (!Number.isInteger(every) || every < 1) {
        throw new FaultSpecError(`Cannot parse ${where}: every is a whole number from 1`);
      }
      const sqlState = options.get("sqlstate") ?? known[0];
      if (!/^[0-9A-Z]{5}$/.test(sqlState)) {
        throw new FaultSpecError(`Cannot parse ${where}: sqlstate is 5 characters`);
      }
      const match = options.get("match");
      return {
        ...common,
        kind: "error",
        code,
        message: options.get("message") ?? known[1],
        sqlState,
        match: match === undefined ? undefined : regex(match, where),
        every,
      };
    }
    default:
      return { ...common, kind: "drop-after-query", match: regex(need("a /pattern/"), where) };
  }
}

/** `[key, value]` pairs; a value that starts with `/` runs to its closing `/` and flags. */
function splitSpec(text: string): [string, string | undefined][] {
  const parts: [string, string | undefined][] = [];
  let at = 0;
  while (at <= text.length) {
    const equals = text.indexOf("=", at);
    const comma = text.indexOf(",", at);
    if (equals < 0 || (comma >= 0 && comma < equals)) {
      const end = comma < 0 ? text.length : comma;
      parts.push([text.slice(at, end).trim(), undefined]);
      at = end + 1;
      continue;
    }
    const key = text.slice(at, equals).trim();
    let end: number;
    if (text[equals + 1] === "/") {
      let i = equals + 2;
      while (i < text.length && text[i] !== "/") i += text[i] === "\\" ? 2 : 1;
      end = text.indexOf(",", i);
    } else {
      end = text.indexOf(",", equals);
    }
    if (end < 0) end = text.length;
    parts.push([key, text.slice(equals + 1, end).trim()]);
    at = end + 1;
  }
  return parts;
}

function regex(text: string, where: string): RegExp {
  const match = /^\/(.*)\/([a-z]*)$/s.exec(text);
  if (!match) throw new FaultSpecError(`Cannot parse ${where}: "${text}" is not a /pattern/`);
  try {
    // g and y make test() remember where it stopped: every other statement would not match.
    return new RegExp(match[1], match[2].replace(/[gy]/g, ""));
  } catch (error) {
    throw new FaultSpecError(`Cannot parse ${where}: ${(error as Error).message}`);
  }
}

function fraction(text: string, where: string): number {
  const value = Number(text);
  if (text === "" || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new FaultSpecError(`Cannot parse ${where}: "${text}" is not a number from 0 to 1`);
  }
  return value;
}

/** `200ms`, `1s`, `1.5s`, `2m`; a bare number is milliseconds. */
export function duration(text: string, where: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) {
    throw new FaultSpecError(`Cannot parse ${where}: "${text}" is not a duration (200ms, 1s)`);
  }
  const scale = match[2] === "s" ? 1000 : match[2] === "m" ? 60_000 : 1;
  return Number(match[1]) * scale;
}

/** `64b`, `10kb`, `1mb` (binary multiples); a bare number is bytes. */
export function size(text: string, where: string): number {
  const match = /^(\d+(?:\.\d+)?)(b|kb|k|mb|m|gb|g)?$/i.exec(text.trim());
  if (!match) {
    throw new FaultSpecError(`Cannot parse ${where}: "${text}" is not a size (64b, 10kb)`);
  }
  const unit = (match[2] ?? "b").toLowerCase()[0];
  const scale = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Math.round(Number(match[1]) * scale);
}
