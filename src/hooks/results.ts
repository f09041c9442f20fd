/**
 * Responses as scripts see them: the client library's result collection, with text values as
 * strings.
 *
 * @module
 */

import { collectResult } from "../client/result.ts";
import type { ClientCommand } from "../protocol/commands.ts";
import { textRowStrings } from "../protocol/resultset.ts";
import type { DecodedPacket } from "../session/decoder.ts";
import type { QueryResult, ResultSetView } from "./types.ts";

/**
 * The {@link QueryResult} of one exchange's decoded packets (server packets; payloads must stay
 * valid, so decode copies).
 *
 * @example
 * ```ts
 * import { queryResult } from "./results.ts";
 * const result = queryResult({ kind: "COM_PING" }, [{
 *   direction: "server", sequenceId: 1, length: 7,
 *   message: { kind: "ok", header: 0, affectedRows: 0, lastInsertId: 0, statusFlags: 2, warnings: 0 },
 * }], 1.5);
 * console.assert(result.ok?.affectedRows === 0 && result.elapsedMs === 1.5);
 * ```
 */
export function queryResult(
  command: ClientCommand,
  packets: DecodedPacket[],
  elapsedMs: number,
): QueryResult {
  const collected = collectResult(command, packets, [], {
    sentAt: 0,
    firstByteUs: 0,
    totalUs: Math.round(elapsedMs * 1000),
  });
  const resultSets: ResultSetView[] = collected.resultSets.map((set) => ({
    columns: set.columns.map((column) => column.name),
    rows: set.binary
      ? (set.rows as ResultSetView["rows"])
      : (set.rows as (Uint8Array | null)[][]).map((values) =>
        textRowStrings({ kind: "text-row", values }, set.columns)
      ),
  }));
  const result: QueryResult = { resultSets, elapsedMs };
  if (collected.ok) {
    result.ok = {
      affectedRows: collected.ok.affectedRows,
      insertId: collected.ok.lastInsertId,
      warnings: collected.ok.warnings ?? 0,
    };
    if (collected.ok.info) result.ok.info = collected.ok.info;
  }
  if (collected.error) {
    result.error = { code: collected.error.code, message: collected.error.message };
    if (collected.error.sqlState) result.error.sqlState = collected.error.sqlState;
  }
  return result;
}
