/**
 * Comparing the rows of two result sets: in order (a statement with ORDER BY, or `--ordered`), or
 * as multisets (without ORDER BY a server may return rows in any order), on the columns both
 * sides have, with noisy values masked.
 *
 * @module
 */

import type { JsonValue } from "../record/values.ts";

/**
 * A value as a report shows it: NULL, text, numbers, `0x...` for bytes that are not text.
 *
 * @example
 * ```ts
 * import { displayValue } from "./rows.ts";
 * console.assert(displayValue(null) === "NULL" && displayValue({ base64: "AP8=" }) === "0x00ff");
 * ```
 */
export function displayValue(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (typeof value === "object" && "base64" in (value as object)) {
    const bytes = Uint8Array.from(
      atob((value as { base64: string }).base64),
      (c) => c.charCodeAt(0),
    );
    const hex = [...bytes.subarray(0, 32)].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `0x${hex}${bytes.length > 32 ? "..." : ""}`;
  }
  return JSON.stringify(value);
}

/** A pair of rows that differ (one side absent for a row the other side does not have). */
export interface ChangedRow {
  /** Position (from 0) in the recorded result, for ordered comparisons. */
  position?: number;
  /** The recorded row's values (displayed), or null when only the live side has this row. */
  recorded: string[] | null;
  /** The live row's values (displayed), or null when only the recorded side has it. */
  live: string[] | null;
  /** Indexes (into `columns`) of the values that differ. */
  differing: number[];
}

/** How two result sets' rows differ. */
export interface RowDiff {
  /** The columns compared (names), in order. */
  columns: string[];
  /** Whether rows were compared in order. */
  ordered: boolean;
  /** Rows in the recorded result. */
  recordedCount: number;
  /** Rows in the live result. */
  liveCount: number;
  /** Rows in the recorded result that the live one does not have (multiset), or that differ. */
  onlyRecorded: number;
  /** Rows in the live result that the recorded one does not have, or that differ. */
  onlyLive: number;
  /** The first differing rows (at most `limit`). */
  changed: ChangedRow[];
}

/** How rows are compared. */
export interface RowCompareOptions {
  ordered: boolean;
  /** Column indexes to compare on each side (same length, pairwise). */
  recordedColumns: number[];
  liveColumns: number[];
  columnNames: string[];
  /** Turns a value into its comparison key (masking noise); per side. */
  maskRecorded(value: JsonValue): unknown;
  maskLive(value: JsonValue): unknown;
  /** How many changed rows to keep. Default 10. */
  limit?: number;
}

type Row = JsonValue[];

function key(values: unknown[]): string {
  return JSON.stringify(values);
}

/** Equal as {@link key} sees them, without building strings for the common values. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return typeof a === "object" && typeof b === "object" && a !== null && b !== null &&
    key([a]) === key([b]);
}

/**
 * Whether the rows are equal pairwise, in order, on the compared columns: then they are equal as
 * multisets too. The common case (an unchanged answer), checked without projecting any row.
 */
function equalInOrder(
  recorded: readonly Row[],
  live: readonly Row[],
  options: RowCompareOptions,
): boolean {
  if (recorded.length !== live.length) return false;
  const { recordedColumns, liveColumns, maskRecorded, maskLive } = options;
  for (let row = 0; row < recorded.length; row++) {
    const r = recorded[row];
    const l = live[row];
    for (let i = 0; i < recordedColumns.length; i++) {
      const a = maskRecorded(r[recordedColumns[i]] ?? null);
      if (!sameValue(a, maskLive(l[liveColumns[i]] ?? null))) return false;
    }
  }
  return true;
}

/**
 * Compares rows; returns undefined when they are equal.
 *
 * @example
 * ```ts
 * import { compareRows } from "./rows.ts";
 * const same = (v: unknown) => v;
 * const diff = compareRows([["1", "a"], ["2", "b"]], [["2", "b"], ["1", "x"]], {
 *   ordered: false, recordedColumns: [0, 1], liveColumns: [0, 1], columnNames: ["id", "v"],
 *   maskRecorded: same, maskLive: same,
 * });
 * console.assert(diff?.changed[0].differing.join() === "1");
 * ```
 */
export function compareRows(
  recorded: readonly Row[],
  live: readonly Row[],
  options: RowCompareOptions,
): RowDiff | undefined {
  if (equalInOrder(recorded, live, options)) return undefined;
  const limit = options.limit ?? 10;
  const project = (row: Row, columns: number[], mask: (v: JsonValue) => unknown) =>
    columns.map((i) => mask(row[i] ?? null));
  const show = (row: Row, columns: number[]) => columns.map((i) => displayValue(row[i] ?? null));
  const diff: RowDiff = {
    columns: options.columnNames,
    ordered: options.ordered,
    recordedCount: recorded.length,
    liveCount: live.length,
    onlyRecorded: 0,
    onlyLive: 0,
    changed: [],
  };
  const differing = (a: unknown[], b: unknown[]) =>
    a.flatMap((value, i) => sameValue(value, b[i]) ? [] : [i]);
  if (options.ordered) {
    const n = Math.max(recorded.length, live.length);
    for (let i = 0; i < n; i++) {
      const r = recorded[i];
      const l = live[i];
      const rk = r && project(r, options.recordedColumns, options.maskRecorded);
      const lk = l && project(l, options.liveColumns, options.maskLive);
      if (rk && lk && key(rk) === key(lk)) continue;
      if (r) diff.onlyRecorded++;
      if (l) diff.onlyLive++;
      if (diff.changed.length < limit) {
        diff.changed.push({
          position: i,
          recorded: r ? show(r, options.recordedColumns) : null,
          live: l ? show(l, options.liveColumns) : null,
          differing: rk && lk ? differing(rk, lk) : [],
        });
      }
    }
  } else {
    // Multisets: count the live rows, take the recorded ones off, what is left differs.
    const counts = new Map<string, number>();
    const liveKeys = live.map((row) => key(project(row, options.liveColumns, options.maskLive)));
    for (const k of liveKeys) counts.set(k, (counts.get(k) ?? 0) + 1);
    const leftRecorded: { row: Row; projected: unknown[] }[] = [];
    for (const row of recorded) {
      const projected = project(row, options.recordedColumns, options.maskRecorded);
      const k = key(projected);
      const left = counts.get(k) ?? 0;
      if (left > 0) counts.set(k, left - 1);
      else leftRecorded.push({ row, projected });
    }
    const leftLive: { row: Row; projected: unknown[] }[] = [];
    for (const [i, row] of live.entries()) {
      const k = liveKeys[i];
      const left = counts.get(k) ?? 0;
      if (left > 0) {
        counts.set(k, left - 1);
        leftLive.push({ row, projected: project(row, options.liveColumns, options.maskLive) });
      }
    }
    diff.onlyRecorded = leftRecorded.length;
    diff.onlyLive = leftLive.length;
    // Pair what is left, closest first (most equal values), so a changed row shows as one.
    const used = new Set<number>();
    for (const left of leftRecorded) {
      if (diff.changed.length >= limit) break;
      let best = -1;
      let bestSame = -1;
      for (const [j, candidate] of leftLive.entries()) {
        if (used.has(j)) continue;
        const same = left.projected.length - differing(left.projected, candidate.projected).length;
        if (same > bestSame) {
          best = j;
          bestSame = same;
        }
      }
      if (best >= 0 && bestSame > 0) {
        used.add(best);
        diff.changed.push({
          recorded: show(left.row, options.recordedColumns),
          live: show(leftLive[best].row, options.liveColumns),
          differing: differing(left.projected, leftLive[best].projected),
        });
      } else {
        diff.changed.push({
          recorded: show(left.row, options.recordedColumns),
          live: null,
          differing: [],
        });
      }
    }
    for (const [j, candidate] of leftLive.entries()) {
      if (diff.changed.length >= limit) break;
      if (!used.has(j)) {
        diff.changed.push({
          recorded: null,
          live: show(candidate.row, options.liveColumns),
          differing: [],
        });
      }
    }
  }
  return diff.onlyRecorded === 0 && diff.onlyLive === 0 ? undefined : diff;
}
