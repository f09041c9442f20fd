/**
 * `verify()`: drives a recording against a live server and compares every answer with the
 * recorded one; `assertNoRegressions()` turns the report into a test failure.
 *
 * @module
 */

import { formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { loadRecording, type Recording } from "../record/reader.ts";
import { createRedactor } from "../record/redact.ts";
import type { Redactor } from "../record/assemble.ts";
import { compareCommands, DEFAULT_TIME_FLOOR_MS, type Difference } from "./compare.ts";
import { type DriveOptions, driveRecording } from "./drive.ts";
import { formatReport } from "./format.ts";
import { Noise, type NoiseRule, parseNoiseRule } from "./noise.ts";
import { type CompareReport, type Example, ReportBuilder } from "./report.ts";
import { StatementColumns } from "./statement_columns.ts";

/** Options of {@link verify}. */
export interface VerifyOptions extends Omit<DriveOptions, "redactor"> {
  /** Noise rules (`column:updated_at`, `field:insertId`, ...), strings or parsed. */
  ignore?: (string | NoiseRule)[];
  /** Compare rows in order even for statements without ORDER BY. */
  ordered?: boolean;
  /** How many times slower counts as a difference; default 10. */
  timeFactor?: number;
  /** Slowdowns below this many milliseconds are never reported; default 50. */
  timeFloorMs?: number;
  /**
   * The key the recording's `--redact` rules used (`record --redact-key`): live values then get
   * the same pseudonyms and compare. Without it, columns those rules hid are not compared.
   */
  redactKey?: string;
  /** Called as the run goes (at most every command). */
  onProgress?: (report: { commands: number; different: number; errors: number }) => void;
  /** Called for each command that differs, as soon as it does. */
  onDifference?: (example: Example) => void;
}

/** The comparison options `verify`, `diff` and `proxy --compare` share, checked. */
export function noiseOf(rules: readonly (string | NoiseRule)[] = []): Noise {
  return new Noise(rules.map((r) => typeof r === "string" ? parseNoiseRule(r) : r));
}

/**
 * What the recording's redaction means for a comparison: the redactor that gives live values the
 * recording's pseudonyms (with the key), or noise rules for the columns it hid (without it), and
 * warnings for what cannot be seen through.
 */
export function redactionPlan(
  recording: Recording,
  redactKey: string | undefined,
): { redactor?: Redactor; rules: NoiseRule[]; warnings: string[] } {
  const rules = recording.header.redaction?.rules ?? [];
  if (rules.length === 0) return { rules: [], warnings: [] };
  if (redactKey !== undefined) {
    return { redactor: createRedactor({ rules, key: redactKey }), rules: [], warnings: [] };
  }
  const warnings = [
    `The recording was made with --redact rules (${rules.join(", ")}) and no --redact-key was ` +
    `given: columns they hid are not compared` +
    (rules.some((r) => r.startsWith("query:"))
      ? `, and statements whose literals they replaced ran with the pseudonyms`
      : ""),
  ];
  const noise = rules.filter((r) => r.startsWith("column:")).map((r) =>
    parseNoiseRule(`column:/${r.slice("column:".length)}/i`)
  );
  return { rules: noise, warnings };
}

/**
 * Drives the recording at `path` against a live server (`options.server`, logged in as
 * `options.user`) and compares each answer with the recorded one. Resolves to the report; never
 * throws for differences or connection failures (they are in the report), only for a recording
 * that cannot be read or options that are wrong.
 *
 * @example
 * ```ts ignore
 * import { assertNoRegressions, verify } from "./verify.ts";
 * const report = await verify("recordings/session.jsonl", {
 *   server: "127.0.0.1:3306", user: "app", password: Deno.env.get("MYSQL_PWD"),
 *   ignore: ["column:updated_at"],
 * });
 * assertNoRegressions(report);
 * ```
 */
export async function verify(path: string, options: VerifyOptions): Promise<CompareReport> {
  const recording = await loadRecording(path, { onWarning: options.onWarning });
  const redaction = redactionPlan(recording, options.redactKey);
  const noise = noiseOf([...(options.ignore ?? []), ...redaction.rules]);
  const endpoint = typeof options.server === "string"
    ? parseEndpoint(options.server)
    : options.server;
  const builder = new ReportBuilder({
    mode: "verify",
    recording: path,
    against: formatEndpoint(endpoint),
    noise: noise.rules.map((r) => r.source),
    ordered: options.ordered ?? false,
  });
  for (const warning of redaction.warnings) builder.warn(warning);
  const trackers = new Map<number, StatementColumns>();
  const liveIds = new Map<number, number>();
  const compareOptions = {
    noise,
    ordered: options.ordered,
    timeFactor: options.timeFactor,
    timeFloorUs: (options.timeFloorMs ?? DEFAULT_TIME_FLOOR_MS) * 1000,
  };
  const progress = () =>
    options.onProgress?.({
      commands: builder.tally.commands,
      different: builder.tally.different,
      errors: builder.tally.connections.failed + builder.tally.connections.lost,
    });
  for await (
    const event of driveRecording(recording, { ...options, redactor: redaction.redactor })
  ) {
    if (event.kind === "connection") {
      if (event.event === "opened") {
        builder.opened();
        if (event.connectionId !== undefined) liveIds.set(event.conn, event.connectionId);
      } else if (event.event === "not-driven") {
        if (event.reason?.startsWith("it was not decoded")) {
          builder.warn(`Connection ${event.conn} was not verified: ${event.reason}`);
        }
      } else if (event.event === "failed" || event.event === "lost") {
        builder.failed(
          event.conn,
          event.error?.message ?? "connection failed",
          event.notRun ?? 0,
          event.event === "lost",
        );
      }
      progress();
      continue;
    }
    const where = { conn: event.conn, index: event.index };
    const recorded = event.recorded;
    let tracker = trackers.get(event.conn);
    if (!tracker) {
      tracker = new StatementColumns((id) => recording.columnSets.get(id));
      trackers.set(event.conn, tracker);
    }
    tracker.follow(recorded);
    const sql = typeof recorded.event.sql === "string" ? recorded.event.sql : undefined;
    if (event.skipped) builder.skipped(where, recorded, `not sent: ${event.skipped}`);
    else if (sql !== undefined && noise.ignoresStatement(sql)) builder.ignored();
    else if (recorded.us === undefined && event.live?.us === undefined) builder.noResponse();
    else if (recorded.incomplete) {
      builder.skipped(where, recorded, "the recorded response was cut short");
    } else if (!event.live) builder.skipped(where, recorded, "no live response");
    else {
      const differences: Difference[] = compareCommands(
        {
          command: recorded,
          columns: (id) => recording.columnSets.get(id),
          skippedColumns: (set) => tracker!.of(set),
          connectionId: greetingId(recording, event.conn),
        },
        {
          command: event.live,
          columns: (id) => event.liveColumns.get(id),
          connectionId: liveIds.get(event.conn),
        },
        compareOptions,
      );
      const example = builder.compared(where, recorded, differences);
      if (example) options.onDifference?.(example);
    }
    progress();
  }
  return builder.finish();
}

function greetingId(recording: Recording, conn: number): number | undefined {
  const id = recording.connections.get(conn)?.greeting?.connectionId;
  return typeof id === "number" ? id : undefined;
}

/**
 * A report with differences or errors, as an exception for a test runner.
 *
 * @example
 * ```ts
 * import { RegressionError } from "./verify.ts";
 * console.assert(new RegressionError("x").name === "RegressionError");
 * ```
 */
export class RegressionError extends Error {
  /** The report, when made from one. */
  readonly report?: CompareReport;

  /** An error whose message is the human-readable report. */
  constructor(message: string, report?: CompareReport) {
    super(message);
    this.name = "RegressionError";
    if (report) this.report = report;
  }
}

/**
 * Throws a {@link RegressionError} carrying the human-readable summary when the report has
 * differences or errors; does nothing when it passed.
 *
 * @example
 * ```ts ignore
 * Deno.test("the app's queries answer as recorded", async () => {
 *   assertNoRegressions(await verify("recordings/app.jsonl", { server, user, password }));
 * });
 * ```
 */
export function assertNoRegressions(report: CompareReport): void {
  if (report.passed) return;
  throw new RegressionError(formatReport(report), report);
}
