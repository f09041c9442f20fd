/**
 * Appending recorded events to an existing recording: column set ids are unique within a file,
 * so the appended part's ids move past the file's own.
 *
 * @module
 */

/** Moves the column set references of one response element. */
function shiftElement(element: Record<string, unknown>, offset: number): void {
  if (typeof element.columns === "number") element.columns += offset;
  if (typeof element.fields === "number") element.fields += offset;
  const prepared = element.prepared as Record<string, unknown> | undefined;
  if (prepared && typeof prepared === "object") {
    if (typeof prepared.params === "number") prepared.params += offset;
    if (typeof prepared.columns === "number") prepared.columns += offset;
  }
}

/**
 * Adds `offset` to every column set id an event refers to (a command line's flattened response or
 * its `results`, the `results` of `results` and `end` lines), in place; returns the event.
 *
 * @example
 * ```ts
 * import { shiftColumnIds } from "./append.ts";
 * const line = shiftColumnIds({ cmd: "query", columns: 1, rows: [] }, 10);
 * console.assert(line.columns === 11);
 * ```
 */
export function shiftColumnIds(
  event: Record<string, unknown>,
  offset: number,
): Record<string, unknown> {
  if (offset === 0) return event;
  if (Array.isArray(event.results)) {
    for (const element of event.results) shiftElement(element as Record<string, unknown>, offset);
  }
  if ("cmd" in event) shiftElement(event, offset);
  return event;
}
