/**
 * `diffRecordings()`: two recordings of the same traffic (before and after an upgrade, against
 * two servers) compared exchange by exchange: each command of the first is matched in the second
 * by replay's rules, and their responses compared with the same categories as `verify`.
 *
 * @module
 */

import { DEFAULT_TIME_FLOOR_MS } from "./compare.ts";
import { loadRecording } from "../record/reader.ts";
import { loadMatchTarget, MatchedConnection } from "./matched.ts";
import type { NoiseRule } from "./noise.ts";
import { type CompareReport, type Example, ReportBuilder } from "./report.ts";
import { noiseOf } from "./verify.ts";

/** Options of {@link diffRecordings}. */
export interface DiffOptions {
  /** Noise rules (`column:updated_at`, `field:insertId`, ...), strings or parsed. */
  ignore?: (string | NoiseRule)[];
  /** Compare rows in order even for statements without ORDER BY. */
  ordered?: boolean;
  /** How many times slower (the second recording than the first) is a difference; default 10. */
  timeFactor?: number;
  /** Slowdowns below this many milliseconds are never reported; default 50. */
  timeFloorMs?: number;
  /** Called for each command that differs. */
  onDifference?: (example: Example) => void;
  /** Warnings about the recordings (a truncated last line). */
  onWarning?: (warning: string) => void;
}

/**
 * Compares recording `b` with recording `a`: `a` plays the recorded side, `b`'s commands are
 * matched to `a`'s exchanges and their answers compared. Resolves to the report (exit code 4
 * when anything differs).
 *
 * @example
 * ```ts ignore
 * const report = await diffRecordings("before.jsonl", "after.jsonl", { ignore: ["field:insertId"] });
 * console.log(report.tally.different);
 * ```
 */
export async function diffRecordings(
  a: string,
  b: string,
  options: DiffOptions = {},
): Promise<CompareReport> {
  const noise = noiseOf(options.ignore);
  const target = await loadMatchTarget(a, { onWarning: options.onWarning });
  const second = await loadRecording(b, { onWarning: options.onWarning });
  const builder = new ReportBuilder({
    mode: "diff",
    recording: a,
    against: b,
    noise: noise.rules.map((r) => r.source),
    ordered: options.ordered ?? false,
  });
  const compareOptions = {
    noise,
    ordered: options.ordered,
    timeFactor: options.timeFactor,
    timeFloorUs: (options.timeFloorMs ?? DEFAULT_TIME_FLOOR_MS) * 1000,
  };
  const connections = [...second.connections.values()].sort((x, y) => x.conn - y.conn);
  for (const connection of connections) {
    const login = connection.auth.find((entry) =>
      entry.from === "client" && String(entry.packet.kind).startsWith("handshake-response")
    )?.packet;
    const greetingId = connection.greeting?.connectionId;
    const matched = new MatchedConnection(
      target,
      {
        id: connection.conn,
        user: typeof login?.username === "string" ? login.username : undefined,
        connectionId: typeof greetingId === "number" ? greetingId : undefined,
      },
      (id) => second.columnSets.get(id),
      builder,
      compareOptions,
    );
    builder.opened();
    for (const [index, command] of connection.commands.entries()) {
      const example = matched.compare(command, index);
      if (example) options.onDifference?.(example);
    }
    matched.close();
  }
  const report = builder.finish();
  return report;
}
