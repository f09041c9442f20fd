/**
 * The human-readable comparison report: differences grouped by statement with up to three
 * examples, each showing the query and the rows that differ side by side with the changed values
 * marked, then a tally.
 *
 * @module
 */

import { CATEGORIES } from "./compare.ts";
import type { Difference } from "./compare.ts";
import type { CompareReport, Example } from "./report.ts";
import { displayValue, type RowDiff } from "./rows.ts";

const MAX_SQL = 300;
const ROWS_SHOWN = 3;
const COLUMNS_SHOWN = 12;
const VALUE_WIDTH = 40;

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/** A changed row as a table: column, recorded, live; `*` marks values that differ. */
function rowTable(diff: RowDiff, indent: string): string[] {
  const lines: string[] = [];
  for (const change of diff.changed.slice(0, ROWS_SHOWN)) {
    const where = change.position === undefined ? "" : ` ${change.position + 1}`;
    if (!change.recorded || !change.live) {
      const values = (change.recorded ?? change.live)!;
      const shown = diff.columns.slice(0, COLUMNS_SHOWN).map((c, i) =>
        `${c}=${clip(values[i], VALUE_WIDTH)}`
      );
      const more = diff.columns.length > COLUMNS_SHOWN ? ", ..." : "";
      lines.push(
        `${indent}${change.recorded ? "- recorded only" : "+ live only"}${
          where ? ` (row${where})` : ""
        }: ${shown.join(", ")}${more}`,
      );
      continue;
    }
    const differing = new Set(change.differing);
    // Wide rows: the first column (usually the key) and the ones that changed.
    const columns = diff.columns.length <= COLUMNS_SHOWN
      ? diff.columns.map((_, i) => i)
      : [...new Set([0, ...change.differing])].slice(0, COLUMNS_SHOWN);
    const nameWidth = Math.max(6, ...columns.map((i) => diff.columns[i].length)) + 2;
    const valueWidth = Math.max(
      8,
      ...columns.map((i) => clip(change.recorded![i], VALUE_WIDTH).length),
    ) + 2;
    lines.push(`${indent}row${where}:`);
    lines.push(`${indent}    ${pad("column", nameWidth)}${pad("recorded", valueWidth)}live`);
    for (const i of columns) {
      const mark = differing.has(i) ? "  * " : "    ";
      lines.push(
        `${indent}${mark}${pad(diff.columns[i], nameWidth)}${
          pad(clip(change.recorded[i], VALUE_WIDTH), valueWidth)
        }${clip(change.live[i], VALUE_WIDTH)}`,
      );
    }
  }
  const shownChanges = Math.min(diff.changed.length, ROWS_SHOWN);
  const total = Math.max(diff.onlyRecorded, diff.onlyLive);
  if (total > shownChanges) {
    lines.push(`${indent}... ${plural(total - shownChanges, "more row")} differ`);
  }
  return lines;
}

function differenceLines(difference: Difference, indent: string): string[] {
  const lines = [`${indent}${difference.category}: ${difference.message}`];
  if (difference.rows) lines.push(...rowTable(difference.rows, `${indent}  `));
  return lines;
}

function exampleLines(example: Example): string[] {
  const what = example.sql === undefined ? example.cmd : clip(example.sql, MAX_SQL);
  const params = example.params && example.params.length > 0
    ? ` with (${example.params.map((p) => clip(displayValue(p), 40)).join(", ")})`
    : "";
  const lines = [
    `  connection ${example.conn}, command ${example.index + 1}: ${what}${params}`,
  ];
  for (const difference of example.differences) lines.push(...differenceLines(difference, "    "));
  return lines;
}

/**
 * The report as text for a terminal.
 *
 * @example
 * ```ts
 * import { formatReport } from "./format.ts";
 * import { ReportBuilder } from "./report.ts";
 * const report = new ReportBuilder({ mode: "verify", recording: "a.jsonl", against: "db:3306", noise: [], ordered: false }).finish();
 * console.assert(formatReport(report).includes("No differences"));
 * ```
 */
export function formatReport(report: CompareReport): string {
  const { tally } = report;
  const lines: string[] = [];
  const verb = report.mode === "diff"
    ? "Compared"
    : report.mode === "verify"
    ? "Verified"
    : "Checked";
  const headline = tally.different > 0
    ? `${plural(tally.different, "command")} of ${tally.compared} compared differ`
    : report.errors.length > 0
    ? `no differences in the ${tally.compared} commands compared, but ${
      plural(report.errors.length, "connection error")
    }`
    : `No differences in ${plural(tally.compared, "command")} compared`;
  lines.push(`${verb} ${report.recording} against ${report.against}: ${headline}`);
  lines.push(report.notice);
  for (const warning of report.warnings) lines.push(`Warning: ${warning}`);
  for (const group of report.groups) {
    const categories = CATEGORIES.filter((c) => group.categories[c]).join(", ");
    lines.push("");
    lines.push(
      `[${categories}] ${clip(group.fingerprint, MAX_SQL)}  (${plural(group.count, "command")})`,
    );
    for (const example of group.examples) lines.push(...exampleLines(example));
    if (group.count > group.examples.length) {
      lines.push(
        `  ... and ${plural(group.count - group.examples.length, "more command")} of this shape`,
      );
    }
  }
  if (report.errors.length > 0) {
    lines.push("");
    lines.push("Errors:");
    for (const error of report.errors) {
      lines.push(
        `  ${error.conn === undefined ? "" : `connection ${error.conn}: `}${error.message}`,
      );
    }
  }
  if (report.skipped.length > 0) {
    lines.push("");
    lines.push("Not compared:");
    for (const skip of report.skipped.slice(0, 10)) {
      const what = skip.sql === undefined ? skip.cmd : clip(skip.sql, 80);
      lines.push(`  connection ${skip.conn}, command ${skip.index + 1}: ${what}: ${skip.reason}`);
    }
    if (tally.skipped > 10) lines.push(`  ... and ${tally.skipped - 10} more`);
  }
  lines.push("");
  const counts = [
    `${tally.identical} identical`,
    `${tally.different} different`,
    tally.ignored ? `${tally.ignored} ignored by noise rules` : "",
    tally.skipped ? `${tally.skipped} not compared` : "",
    tally.notRun ? `${tally.notRun} not run (connection errors)` : "",
    tally.noResponse ? `${tally.noResponse} without a response` : "",
  ].filter((s) => s !== "");
  lines.push(`Tally: ${plural(tally.commands, "command")}: ${counts.join(", ")}`);
  const categories = CATEGORIES.filter((c) => tally.categories[c] > 0)
    .map((c) => `${c} ${tally.categories[c]}`);
  if (categories.length > 0) lines.push(`  differences: ${categories.join(", ")}`);
  const c = tally.connections;
  if (c.total > 0) {
    lines.push(
      `  connections: ${c.opened} opened${c.failed ? `, ${c.failed} failed` : ""}${
        c.lost ? `, ${c.lost} lost midway` : ""
      }; ${(report.durationMs / 1000).toFixed(1)} s`,
    );
  }
  return lines.join("\n");
}

/**
 * The one-line progress of a long run: commands so far, how many differ, errors, elapsed time.
 *
 * @example
 * ```ts
 * import { progressLine } from "./format.ts";
 * console.assert(progressLine({ commands: 10, different: 1, errors: 0, seconds: 2 }).startsWith("10 commands"));
 * ```
 */
export function progressLine(
  state: { commands: number; different: number; errors: number; seconds: number },
): string {
  return `${plural(state.commands, "command")}, ${state.different} differ` +
    (state.errors ? `, ${plural(state.errors, "error")}` : "") +
    `, ${state.seconds.toFixed(1)} s`;
}
