/**
 * What a cassette says when it closes: the commands that had no recorded answer (with the closest
 * recorded one) and, in strict mode, the recorded exchanges nothing asked for, as one readable
 * error for the test runner.
 *
 * @module
 */

import type { Miss, UnusedExchange } from "../replay/server.ts";
import { MODE_VARIABLE } from "./config.ts";

/** How many misses and unused exchanges the message lists (all are on the error's fields). */
const LISTED = 10;

/**
 * What closing a cassette throws when a command missed, or (strict mode) a recorded exchange was
 * never used. `misses` and `unused` hold all of them; the message lists the first ten of each.
 *
 * @example
 * ```ts ignore
 * import { cassette, CassetteError } from "./cassette.ts";
 * const db = await cassette("cassettes/shop.jsonl", { mode: "replay" });
 * try {
 *   await db.close();
 * } catch (error) {
 *   if (error instanceof CassetteError) console.log(error.misses.map((m) => m.request));
 * }
 * ```
 */
export class CassetteError extends Error {
  /** The cassette file. */
  readonly path: string;
  /** Commands the cassette had no answer for (each got an ERR 1105). */
  readonly misses: readonly Miss[];
  /** Recorded exchanges never used (empty unless strict). */
  readonly unused: readonly UnusedExchange[];

  /** An error with the report of a cassette that failed; `notForwarded` lists why `new` mode sent some commands nowhere. */
  constructor(
    path: string,
    mode: string,
    misses: readonly Miss[],
    unused: readonly UnusedExchange[],
    notForwarded: readonly string[] = [],
  ) {
    super(cassetteReport(path, mode, misses, unused, notForwarded));
    this.name = "CassetteError";
    this.path = path;
    this.misses = misses;
    this.unused = unused;
  }
}

/**
 * The message of a {@link CassetteError}.
 *
 * @example
 * ```ts
 * import { cassetteReport } from "./report.ts";
 * const text = cassetteReport("c.jsonl", "replay", [], [
 *   { recording: "c.jsonl#1", cmd: "query", request: 'query "SELECT 1 FROM t"', t: 1500 },
 * ]);
 * console.assert(text.includes('never used: query "SELECT 1 FROM t"'));
 * ```
 */
export function cassetteReport(
  path: string,
  mode: string,
  misses: readonly Miss[],
  unused: readonly UnusedExchange[],
  notForwarded: readonly string[] = [],
): string {
  const counts = [
    misses.length > 0
      ? plural(misses.length, "command", "commands") + " had no recorded answer"
      : "",
    unused.length > 0
      ? plural(unused.length, "recorded exchange was", "recorded exchanges were") + " never used"
      : "",
  ].filter((part) => part !== "");
  const lines = [`Cassette ${path} (mode ${mode}): ${counts.join(", ")}`];
  for (const miss of misses.slice(0, LISTED)) {
    lines.push(`  missed on connection ${miss.connection}: ${miss.request}`);
    lines.push(
      miss.closest
        ? `    closest recorded: ${miss.closest.request} (${
          shortName(miss.closest.recording)
        }: ${miss.closest.how})`
        : "    the cassette has nothing like it",
    );
  }
  if (misses.length > LISTED) lines.push(`  ... and ${misses.length - LISTED} more misses`);
  for (const exchange of unused.slice(0, LISTED)) {
    lines.push(
      `  never used: ${exchange.request} (${shortName(exchange.recording)}, recorded at ${
        (exchange.t / 1e6).toFixed(3)
      } s)`,
    );
  }
  if (unused.length > LISTED) {
    lines.push(`  ... and ${unused.length - LISTED} more unused exchanges`);
  }
  for (const why of notForwarded.slice(0, LISTED)) lines.push(`  not forwarded: ${why}`);
  lines.push(
    "  The code under test sent other traffic than the cassette holds. If the change is intended,",
    `  re-record it: ${MODE_VARIABLE}=record (or =new to add only the missing commands), with the`,
    "  server in MYSQL_CASSETTE_SERVER." +
      (unused.length > 0 ? " Unused exchanges fail strict cassettes only (strict: false)." : ""),
  );
  return lines.join("\n");
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** `dir/shop.jsonl#2` -> `shop.jsonl#2`: the directory is in the message's first line. */
function shortName(recording: string): string {
  const slash = recording.lastIndexOf("/");
  return slash < 0 ? recording : recording.slice(slash + 1);
}
