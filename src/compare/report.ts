/**
 * The comparison report (`verify`, `diff`, `proxy --compare`): differences grouped by statement
 * fingerprint with a few examples each, a tally, connection errors. The same object is the
 * library's result, the `--report` JSON and the source of the human summary (format.ts);
 * docs/compare.md documents its shape.
 *
 * @module
 */

import { fingerprint } from "../record/fingerprint.ts";
import type { RecordedCommand } from "../record/merge.ts";
import type { JsonValue } from "../record/values.ts";
import { CATEGORIES, type Category, type Difference } from "./compare.ts";

/** Said in every report: pt-upgrade's lesson. */
export const SAME_DATA_NOTICE =
  "Both sides must hold the same data: a row that differs because the data differs is reported " +
  "like a regression. Restore the data the recording was made with before verifying.";

/** Examples kept per fingerprint. */
export const EXAMPLES_PER_GROUP = 3;
const LIST_LIMIT = 50;

/** One command that differs. */
export interface Example {
  /** The recorded connection. */
  conn: number;
  /** The command's position on its connection, from 0. */
  index: number;
  /** When it was recorded (microseconds since the recording started). */
  t: number;
  /** The command name (`query`, `stmt-execute`, ...). */
  cmd: string;
  /** The statement, when it has one. */
  sql?: string;
  /** An execute's parameters. */
  params?: JsonValue[];
  /** What differs. */
  differences: Difference[];
}

/** The differences of one statement shape. */
export interface DifferenceGroup {
  /** The statement's fingerprint (literals as `?`), or the command name. */
  fingerprint: string;
  /** The first differing statement as sent. */
  query: string;
  /** Commands of this shape that differ. */
  count: number;
  /** Differences by category, over all of them. */
  categories: Partial<Record<Category, number>>;
  /** The first few. */
  examples: Example[];
}

/** A command that was not compared, and why. */
export interface NotCompared {
  /** The recorded connection. */
  conn: number;
  /** The command's position on its connection, from 0. */
  index: number;
  /** The command name. */
  cmd: string;
  /** The statement, when it has one. */
  sql?: string;
  /** Why it was not compared. */
  reason: string;
}

/** Counts. */
export interface Tally {
  /** Recorded commands considered. */
  commands: number;
  /** Compared with a counterpart. */
  compared: number;
  /** Compared and found identical. */
  identical: number;
  /** Commands with at least one difference. */
  different: number;
  /** Left alone by a `fingerprint:` noise rule. */
  ignored: number;
  /** Not sent or not compared (see `skipped`). */
  skipped: number;
  /** Never sent because their connection failed. */
  notRun: number;
  /** Commands without a response (COM_QUIT, COM_STMT_CLOSE, ...): nothing to compare. */
  noResponse: number;
  /** Differences by category. */
  categories: Record<Category, number>;
  /**
   * Connections: how many there were, opened, failed to open, lost midway, and (`proxy
   * --compare`) relayed without being compared from some point on (see `warnings`).
   */
  connections: { total: number; opened: number; failed: number; lost: number; uncompared: number };
}

/** A comparison report. */
export interface CompareReport {
  /** Always `mysql-proxy-compare-report`. */
  format: "mysql-proxy-compare-report";
  /** The report format version (1). */
  version: 1;
  /** Which command made it. */
  mode: "verify" | "diff" | "proxy-compare";
  /** The recording (for `diff`, the first one). */
  recording: string;
  /** What it was compared with: the server's address, or the second recording. */
  against: string;
  /** When the comparison started (ISO 8601). */
  started: string;
  /** How long the comparison took. */
  durationMs: number;
  /** What a reader must keep in mind (both sides must hold the same data). */
  notice: string;
  /** Other things worth knowing (redaction the comparison cannot see through, ...). */
  warnings: string[];
  /** The noise rules, as written. */
  noise: string[];
  /** Whether rows were compared in order even without ORDER BY. */
  ordered: boolean;
  /** Counts. */
  tally: Tally;
  /** The differences, grouped by statement shape. */
  groups: DifferenceGroup[];
  /** Connection failures. */
  errors: { conn?: number; message: string }[];
  /** Commands not compared (the first 50). */
  skipped: NotCompared[];
  /** No differences and no errors. */
  passed: boolean;
  /** 0 nothing differs, 1 an error (a connection failed), 4 differences found. */
  exitCode: 0 | 1 | 4;
}

function emptyCategories(): Record<Category, number> {
  return Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
}

/** What a report needs to know about a command. */
function describe(command: RecordedCommand) {
  const event = command.event;
  const sql = typeof event.sql === "string" ? event.sql : undefined;
  return {
    cmd: event.cmd,
    sql,
    shape: sql === undefined ? event.cmd : fingerprint(sql).fingerprint,
  };
}

/**
 * Collects comparisons into a {@link CompareReport}.
 *
 * @example
 * ```ts
 * import { ReportBuilder } from "./report.ts";
 * const builder = new ReportBuilder({ mode: "verify", recording: "a.jsonl", against: "db:3306", noise: [], ordered: false });
 * const report = builder.finish();
 * console.assert(report.passed && report.exitCode === 0);
 * ```
 */
export class ReportBuilder {
  #report: CompareReport;
  #groups = new Map<string, DifferenceGroup>();
  #startedAt = performance.now();
  #uncomparedReason: string | undefined;

  constructor(
    options: {
      mode: CompareReport["mode"];
      recording: string;
      against: string;
      noise: string[];
      ordered: boolean;
    },
  ) {
    this.#report = {
      format: "mysql-proxy-compare-report",
      version: 1,
      mode: options.mode,
      recording: options.recording,
      against: options.against,
      started: new Date().toISOString(),
      durationMs: 0,
      notice: SAME_DATA_NOTICE,
      warnings: [],
      noise: options.noise,
      ordered: options.ordered,
      tally: {
        commands: 0,
        compared: 0,
        identical: 0,
        different: 0,
        ignored: 0,
        skipped: 0,
        notRun: 0,
        noResponse: 0,
        categories: emptyCategories(),
        connections: { total: 0, opened: 0, failed: 0, lost: 0, uncompared: 0 },
      },
      groups: [],
      errors: [],
      skipped: [],
      passed: true,
      exitCode: 0,
    };
  }

  /** The counts so far (for progress lines). */
  get tally(): Readonly<Tally> {
    return this.#report.tally;
  }

  /** A note for the report's readers. */
  warn(message: string): void {
    if (!this.#report.warnings.includes(message)) this.#report.warnings.push(message);
  }

  /** A compared command; returns the example when it differs. */
  compared(
    where: { conn: number; index: number },
    command: RecordedCommand,
    differences: Difference[],
  ): Example | undefined {
    const tally = this.#report.tally;
    tally.commands++;
    tally.compared++;
    if (differences.length === 0) {
      tally.identical++;
      return undefined;
    }
    tally.different++;
    for (const d of differences) tally.categories[d.category]++;
    const { cmd, sql, shape } = describe(command);
    const example: Example = {
      conn: where.conn,
      index: where.index,
      t: command.event.t,
      cmd,
      differences,
    };
    if (sql !== undefined) example.sql = sql;
    if (Array.isArray(command.event.params)) example.params = command.event.params as JsonValue[];
    let group = this.#groups.get(shape);
    if (!group) {
      group = { fingerprint: shape, query: sql ?? cmd, count: 0, categories: {}, examples: [] };
      this.#groups.set(shape, group);
    }
    group.count++;
    for (const d of differences) {
      group.categories[d.category] = (group.categories[d.category] ?? 0) + 1;
    }
    if (group.examples.length < EXAMPLES_PER_GROUP) group.examples.push(example);
    return example;
  }

  /** A command a noise rule leaves alone. */
  ignored(): void {
    this.#report.tally.commands++;
    this.#report.tally.ignored++;
  }

  /** A command without a response: nothing to compare. */
  noResponse(): void {
    this.#report.tally.commands++;
    this.#report.tally.noResponse++;
  }

  /** A command not compared, and why. */
  skipped(where: { conn: number; index: number }, command: RecordedCommand, reason: string): void {
    const tally = this.#report.tally;
    tally.commands++;
    tally.skipped++;
    if (this.#report.skipped.length < LIST_LIMIT) {
      const { cmd, sql } = describe(command);
      const entry: NotCompared = { conn: where.conn, index: where.index, cmd, reason };
      if (sql !== undefined) entry.sql = sql;
      this.#report.skipped.push(entry);
    }
  }

  /** A connection goes on without being compared, for `reason` (said once in the warnings). */
  uncompared(reason: string): void {
    this.#report.tally.connections.uncompared++;
    this.#uncomparedReason ??= reason;
  }

  /** A connection opened. */
  opened(): void {
    this.#report.tally.connections.total++;
    this.#report.tally.connections.opened++;
  }

  /** A connection could not be made, or failed midway, leaving `notRun` commands unsent. */
  failed(conn: number | undefined, message: string, notRun: number, midway: boolean): void {
    const tally = this.#report.tally;
    if (midway) tally.connections.lost++;
    else {
      tally.connections.total++;
      tally.connections.failed++;
    }
    tally.notRun += notRun;
    tally.commands += notRun;
    this.#report.errors.push(conn === undefined ? { message } : { conn, message });
  }

  /** The report, with its duration and verdict. */
  finish(): CompareReport {
    const report = this.#report;
    report.durationMs = Math.round(performance.now() - this.#startedAt);
    const { uncompared } = report.tally.connections;
    if (this.#uncomparedReason !== undefined) {
      this.warn(
        `${uncompared === 1 ? "1 connection was" : `${uncompared} connections were`} relayed ` +
          `without being compared from some point on: ${this.#uncomparedReason}`,
      );
    }
    report.groups = [...this.#groups.values()].sort((a, b) => b.count - a.count);
    report.exitCode = report.errors.length > 0 ? 1 : report.tally.different > 0 ? 4 : 0;
    report.passed = report.exitCode === 0;
    return report;
  }
}
