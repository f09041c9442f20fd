/**
 * Compares two responses to the same command, both in recording form: the recorded one and the
 * live one (or two recordings' in `diff`). Differences come in the categories pt-upgrade made
 * familiar, each with a one-line message and, for rows, the rows that differ.
 *
 * @module
 */

import type { ColumnJson, EndJson, ResponseElement, ResultSetJson } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";
import type { JsonValue } from "../record/values.ts";
import { fingerprint } from "../record/fingerprint.ts";
import { ColumnFlag } from "../protocol/constants.ts";
import { type Noise, NOISE_TOKEN } from "./noise.ts";
import { compareRows, displayValue, type RowDiff } from "./rows.ts";

/** What kind of difference. */
export type Category =
  /** One side answered with an error, the other without. */
  | "result-vs-error"
  /** Both answered with errors, with different codes. */
  | "error-code"
  /** Result sets with different numbers of rows. */
  | "row-count"
  /** Result sets with the same number of rows, different values. */
  | "row-values"
  /** Columns added, dropped, renamed, or of another type or flags. */
  | "column-metadata"
  /** An OK with other affected rows, insert id or info. */
  | "affected-rows"
  /** Another warning count. */
  | "warnings"
  /** The live answer took at least 10 times as long (and over the floor). */
  | "time"
  /** Responses of a different form (another number of result sets, an OK for a result set). */
  | "shape";

/** Every category, in report order. */
export const CATEGORIES: readonly Category[] = [
  "result-vs-error",
  "error-code",
  "row-count",
  "row-values",
  "column-metadata",
  "affected-rows",
  "warnings",
  "time",
  "shape",
];

/** One difference between two responses. */
export interface Difference {
  /** What kind of difference it is. */
  category: Category;
  /** One line saying what differs, with the old and new values. */
  message: string;
  /** For row differences: the rows. */
  rows?: RowDiff;
}

/** One side of a comparison. */
export interface Side {
  command: RecordedCommand;
  /** The column set with this id. */
  columns(id: number): ColumnJson[] | undefined;
  /** The columns of a result set that did not send them (MariaDB's metadata cache). */
  skippedColumns?(element: ResultSetJson): ColumnJson[] | undefined;
  /** This side's server connection id (for `field:connectionId`). */
  connectionId?: number;
}

/** How to compare. */
export interface CompareOptions {
  noise: Noise;
  /** Compare rows in order even without ORDER BY. */
  ordered?: boolean;
  /** How many times slower counts as a difference; default 10. */
  timeFactor?: number;
  /** Slowdowns smaller than this (microseconds) are never reported; default 50 ms. */
  timeFloorUs?: number;
}

/**
 * Slowdowns under this many milliseconds are never a difference: a query recorded at 0.2 ms
 * that takes 3 ms on a busy CI machine is scheduling noise, not a regression.
 */
export const DEFAULT_TIME_FLOOR_MS = 50;

const FLAG_NAMES = Object.entries(ColumnFlag).map(([name, bit]) =>
  [name.replace(/_FLAG$/, ""), bit] as const
);

function flagNames(flags: number): string {
  const names = FLAG_NAMES.filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name);
  return names.length === 0 ? "none" : names.join("|");
}

/** Answers of {@link hasOrderBy} by statement text: the same statements come again and again. */
const orderedStatements = new Map<string, boolean>();

/** Whether a statement's rows come in a defined order (a top-level-looking ORDER BY). */
export function hasOrderBy(sql: unknown): boolean {
  if (typeof sql !== "string") return false;
  let ordered = orderedStatements.get(sql);
  if (ordered === undefined) {
    ordered = /\border by\b/.test(fingerprint(sql).fingerprint);
    // Bounded: statements with their literals inline are as many as the commands.
    if (orderedStatements.size >= 10_000) orderedStatements.clear();
    orderedStatements.set(sql, ordered);
  }
  return ordered;
}

function isResultSet(element: ResponseElement): element is ResultSetJson {
  return "rows" in element && Array.isArray((element as ResultSetJson).rows);
}

function errorOf(elements: ResponseElement[]) {
  for (const element of elements) if ("error" in element) return element.error;
  return undefined;
}

function describeResponse(elements: ResponseElement[]): string {
  const sets = elements.filter(isResultSet);
  if (sets.length > 0) {
    const rows = sets.reduce((n, s) => n + s.rows.length, 0);
    return sets.length === 1
      ? `a result (${rows} row${rows === 1 ? "" : "s"})`
      : `${sets.length} results (${rows} rows)`;
  }
  const ok = elements.find((e) => "ok" in e) as { ok: EndJson } | undefined;
  if (ok) return `OK (${ok.ok.affected ?? 0} affected)`;
  return elements.length === 0 ? "nothing" : Object.keys(elements[0])[0];
}

function endOf(element: ResponseElement): EndJson | undefined {
  if ("ok" in element) return element.ok;
  if ("eof" in element) return element.eof;
  if (isResultSet(element)) {
    const end = element.end;
    return end && !("packet" in end) ? end : undefined;
  }
  if ("prepared" in element) return { warnings: element.prepared.warnings };
  return undefined;
}

function warningsOf(elements: ResponseElement[]): number {
  let most = 0;
  for (const element of elements) most = Math.max(most, endOf(element)?.warnings ?? 0);
  return most;
}

/**
 * The differences between a recorded and a live response to the same command (empty when they
 * agree, noise rules applied). A command whose statement a `fingerprint:` rule names is not
 * compared at all (check {@link Noise.ignoresStatement} first to count it).
 *
 * @example
 * ```ts
 * import { compareCommands } from "./compare.ts";
 * import { Noise } from "./noise.ts";
 * const side = (affected: number) => ({
 *   command: { event: { type: "command" as const, conn: 1, t: 0, cmd: "query", sql: "UPDATE t SET a = 1" }, elements: [{ ok: { affected } }], incomplete: false },
 *   columns: () => undefined,
 * });
 * const found = compareCommands(side(1), side(2), { noise: new Noise() });
 * console.assert(found[0].category === "affected-rows");
 * ```
 */
export function compareCommands(
  recorded: Side,
  live: Side,
  options: CompareOptions,
): Difference[] {
  const found: Difference[] = [];
  const { noise } = options;
  const r = recorded.command.elements.filter((e) => !("progress" in e));
  const l = live.command.elements.filter((e) => !("progress" in e));
  const rError = errorOf(r);
  const lError = errorOf(l);
  if ((rError === undefined) !== (lError === undefined)) {
    const message = rError
      ? `recorded error ${rError.code} (${displayValue(rError.message)}), live ${
        describeResponse(l)
      }`
      : `recorded ${describeResponse(r)}, live error ${lError!.code} (${
        displayValue(lError!.message)
      })`;
    found.push({ category: "result-vs-error", message });
    return found;
  }
  if (rError && lError && rError.code !== lError.code) {
    found.push({
      category: "error-code",
      message: `error ${rError.code} (${displayValue(rError.message)}) became ${lError.code} (${
        displayValue(lError.message)
      })`,
    });
  }
  const rSets = r.filter(isResultSet);
  const lSets = l.filter(isResultSet);
  if (rSets.length !== lSets.length) {
    found.push({
      category: "shape",
      message: `recorded ${describeResponse(r)}, live ${describeResponse(l)}`,
    });
  } else {
    const ordered = options.ordered || hasOrderBy(recorded.command.event.sql);
    rSets.forEach((set, i) =>
      compareResultSet(set, lSets[i], recorded, live, ordered, options, found)
    );
  }
  compareOks(r, l, noise, found);
  comparePrepared(r, l, recorded, live, noise, found);
  if (!noise.ignoresField("warnings")) {
    const rw = warningsOf(r);
    const lw = warningsOf(l);
    if (rw !== lw) {
      found.push({
        category: "warnings",
        message: `recorded ${rw} warning${rw === 1 ? "" : "s"}, live ${lw}`,
      });
    }
  }
  if (!noise.ignoresField("time")) {
    const rt = recorded.command.us?.[1];
    const lt = live.command.us?.[1];
    const factor = options.timeFactor ?? 10;
    const floor = options.timeFloorUs ?? DEFAULT_TIME_FLOOR_MS * 1000;
    if (
      rt !== undefined && lt !== undefined && lt >= factor * Math.max(rt, 1) && lt - rt >= floor
    ) {
      found.push({
        category: "time",
        message: `live took ${ms(lt)} ms, recorded ${ms(rt)} ms (${
          (lt / Math.max(rt, 1)).toFixed(0)
        }x slower)`,
      });
    }
  }
  return found;
}

function ms(us: number): string {
  return (us / 1000).toFixed(us < 10_000 ? 2 : 1);
}

function setColumns(side: Side, set: ResultSetJson): ColumnJson[] | undefined {
  if (typeof set.columns === "number") return side.columns(set.columns);
  return side.skippedColumns?.(set);
}

/** Which columns of two result sets are compared, and how their metadata differs. */
interface ColumnPlan {
  /** Column indexes compared, pairwise, on each side. */
  rIdx: number[];
  lIdx: number[];
  /** The compared columns' names. */
  names: string[];
  /** Column metadata differences (added, dropped, reordered, type, flags). */
  differences: Difference[];
}

/**
 * Plans per noise rules and pair of recorded column arrays: a prepared statement's columns are
 * the same array at every execution, so the plan (noise rules matched against each name) is made
 * once, not per command.
 */
const columnPlans = new WeakMap<Noise, WeakMap<ColumnJson[], WeakMap<ColumnJson[], ColumnPlan>>>();

function columnPlan(
  rc: ColumnJson[],
  lc: ColumnJson[],
  noise: Noise,
  known: boolean,
): ColumnPlan {
  if (!known) return makeColumnPlan(rc, lc, noise, false);
  let byRecorded = columnPlans.get(noise);
  if (!byRecorded) columnPlans.set(noise, byRecorded = new WeakMap());
  let byLive = byRecorded.get(rc);
  if (!byLive) byRecorded.set(rc, byLive = new WeakMap());
  let plan = byLive.get(lc);
  if (!plan) byLive.set(lc, plan = makeColumnPlan(rc, lc, noise, true));
  return plan;
}

function makeColumnPlan(
  rc: ColumnJson[],
  lc: ColumnJson[],
  noise: Noise,
  known: boolean,
): ColumnPlan {
  const differences: Difference[] = [];
  const kept = (columns: ColumnJson[]) =>
    columns.flatMap((c, i) => noise.ignoresColumn(c.name, c.table || c.orgTable) ? [] : [i]);
  const rKept = kept(rc);
  const lKept = kept(lc);
  const rNames = rKept.map((i) => rc[i].name);
  const lNames = lKept.map((i) => lc[i].name);
  let rIdx = rKept;
  let lIdx = lKept;
  if (rNames.join("\u0000") !== lNames.join("\u0000")) {
    const dropped = rNames.filter((n) => !lNames.includes(n));
    const added = lNames.filter((n) => !rNames.includes(n));
    const parts = [];
    if (dropped.length > 0) parts.push(`dropped ${dropped.join(", ")}`);
    if (added.length > 0) parts.push(`added ${added.join(", ")}`);
    if (parts.length === 0) parts.push("reordered");
    differences.push({
      category: "column-metadata",
      message: `columns ${parts.join("; ")}: recorded (${rNames.join(", ")}), live (${
        lNames.join(", ")
      })`,
    });
    // Compare the rows on the columns both sides have, by name.
    const common = rNames.filter((n) =>
      lNames.includes(n) && rNames.indexOf(n) === rNames.lastIndexOf(n)
    );
    rIdx = common.map((n) => rKept[rNames.indexOf(n)]);
    lIdx = common.map((n) => lKept[lNames.indexOf(n)]);
  }
  if (!noise.ignoresField("metadata") && known) {
    const changes: string[] = [];
    rIdx.forEach((ri, k) => {
      const a = rc[ri];
      const b = lc[lIdx[k]];
      if (a.type !== b.type) changes.push(`${a.name}: type ${a.type} -> ${b.type}`);
      if (a.flags !== b.flags) {
        changes.push(`${a.name}: flags ${flagNames(a.flags)} -> ${flagNames(b.flags)}`);
      }
    });
    if (changes.length > 0) {
      differences.push({ category: "column-metadata", message: changes.join("; ") });
    }
  }
  return { rIdx, lIdx, names: rIdx.map((i) => rc[i].name), differences };
}

function compareResultSet(
  rSet: ResultSetJson,
  lSet: ResultSetJson,
  recorded: Side,
  live: Side,
  ordered: boolean,
  options: CompareOptions,
  found: Difference[],
): void {
  const { noise } = options;
  const rColumns = setColumns(recorded, rSet);
  const lColumns = setColumns(live, lSet);
  const width = Math.max(
    rSet.rows[0] && Array.isArray(rSet.rows[0]) ? rSet.rows[0].length : 0,
    rColumns?.length ?? 0,
  );
  const named = (columns: ColumnJson[] | undefined, count: number) =>
    columns ??
      Array.from(
        { length: count },
        (_, i) => ({ name: `#${i + 1}`, type: "?", length: 0, charset: 0, flags: 0 }) as ColumnJson,
      );
  const rc = named(rColumns, width);
  const lc = named(
    lColumns,
    Math.max(
      lSet.rows[0] && Array.isArray(lSet.rows[0]) ? lSet.rows[0].length : 0,
      lColumns?.length ?? 0,
    ),
  );
  const plan = columnPlan(rc, lc, noise, rColumns !== undefined && lColumns !== undefined);
  for (const difference of plan.differences) found.push({ ...difference });
  const { rIdx, lIdx } = plan;
  const rows = (set: ResultSetJson) =>
    set.rows.filter((row): row is JsonValue[] => Array.isArray(row));
  const mask = (connectionId: number | undefined) => (value: JsonValue): unknown => {
    if (
      connectionId !== undefined && noise.ignoresField("connectionId") &&
      String(value) === String(connectionId)
    ) return NOISE_TOKEN;
    return noise.maskValue(value);
  };
  const diff = compareRows(rows(rSet), rows(lSet), {
    ordered,
    recordedColumns: rIdx,
    liveColumns: lIdx,
    columnNames: plan.names,
    maskRecorded: mask(recorded.connectionId),
    maskLive: mask(live.connectionId),
  });
  if (!diff) return;
  if (diff.recordedCount !== diff.liveCount) {
    found.push({
      category: "row-count",
      message: `recorded ${diff.recordedCount} row${
        diff.recordedCount === 1 ? "" : "s"
      }, live ${diff.liveCount}`,
      rows: diff,
    });
  } else {
    const first = diff.changed.find((c) => c.recorded && c.live && c.differing.length > 0);
    const detail = first
      ? `: ${
        first.differing.map((i) => `${diff.columns[i]} ${first.recorded![i]} -> ${first.live![i]}`)
          .join(", ")
      }`
      : "";
    found.push({
      category: "row-values",
      message: `${diff.onlyRecorded} of ${diff.recordedCount} row${
        diff.recordedCount === 1 ? "" : "s"
      } differ${detail}`,
      rows: diff,
    });
  }
}

function compareOks(
  r: ResponseElement[],
  l: ResponseElement[],
  noise: Noise,
  found: Difference[],
): void {
  const oks = (elements: ResponseElement[]) => elements.flatMap((e) => "ok" in e ? [e.ok] : []);
  const rOks = oks(r);
  const lOks = oks(l);
  if (rOks.length !== lOks.length) {
    if (!found.some((d) => d.category === "shape")) {
      found.push({
        category: "shape",
        message: `recorded ${describeResponse(r)}, live ${describeResponse(l)}`,
      });
    }
    return;
  }
  const changes: string[] = [];
  rOks.forEach((a, i) => {
    const b = lOks[i];
    const compare = (
      field: "affected" | "insertId" | "info",
      noiseField: "affectedRows" | "insertId" | "info",
      label: string,
    ) => {
      if (noise.ignoresField(noiseField)) return;
      const x = displayValue(a[field] ?? (field === "info" ? "" : 0));
      const y = displayValue(b[field] ?? (field === "info" ? "" : 0));
      if (x !== y) {
        changes.push(
          `${label} ${field === "info" ? JSON.stringify(x) : x} -> ${
            field === "info" ? JSON.stringify(y) : y
          }`,
        );
      }
    };
    compare("affected", "affectedRows", "affected rows");
    compare("insertId", "insertId", "insert id");
    compare("info", "info", "info");
  });
  if (changes.length > 0) found.push({ category: "affected-rows", message: changes.join("; ") });
}

function comparePrepared(
  r: ResponseElement[],
  l: ResponseElement[],
  recorded: Side,
  live: Side,
  noise: Noise,
  found: Difference[],
): void {
  const prepared = (elements: ResponseElement[]) =>
    elements.flatMap((e) => "prepared" in e ? [e.prepared] : []);
  const [a] = prepared(r);
  const [b] = prepared(l);
  if (!a || !b || noise.ignoresField("metadata")) return;
  const describe = (side: Side, id: number | undefined) =>
    id === undefined ? [] : (side.columns(id) ?? []).map((c) => `${c.name} ${c.type}`);
  const params = [describe(recorded, a.params).length, describe(live, b.params).length];
  if (params[0] !== params[1]) {
    found.push({
      category: "column-metadata",
      message: `parameters: recorded ${params[0]}, live ${params[1]}`,
    });
  }
  const rc = describe(recorded, a.columns).filter((c) => !noise.ignoresColumn(c.split(" ")[0]));
  const lc = describe(live, b.columns).filter((c) => !noise.ignoresColumn(c.split(" ")[0]));
  if (rc.join() !== lc.join()) {
    found.push({
      category: "column-metadata",
      message: `prepared columns: recorded (${rc.join(", ")}), live (${lc.join(", ")})`,
    });
  }
}
