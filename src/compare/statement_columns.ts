/**
 * The columns of result sets that came without their definitions (MariaDB's metadata cache: an
 * execute reuses the statement's columns from its prepare or an earlier execute), found by
 * following a connection's commands in order.
 *
 * @module
 */

import type { ColumnJson, ResultSetJson } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";

/**
 * Follows one connection's commands, in order, and answers for result sets without columns.
 *
 * @example
 * ```ts
 * import { StatementColumns } from "./statement_columns.ts";
 * const columns = new StatementColumns((id) => id === 1 ? [{ name: "a", type: "LONG", length: 11, charset: 63, flags: 0 }] : undefined);
 * columns.follow({ event: { type: "command", conn: 1, t: 0, cmd: "stmt-prepare", sql: "S" }, elements: [{ prepared: { id: 1, columns: 1 } }], incomplete: false });
 * const set = { rows: [] };
 * columns.follow({ event: { type: "command", conn: 1, t: 1, cmd: "stmt-execute", sql: "S" }, elements: [set], incomplete: false });
 * console.assert(columns.of(set)?.[0].name === "a");
 * ```
 */
export class StatementColumns {
  #bySql = new Map<string, number>();
  #skipped = new WeakMap<ResultSetJson, number>();
  #sets: (id: number) => ColumnJson[] | undefined;

  constructor(sets: (id: number) => ColumnJson[] | undefined) {
    this.#sets = sets;
  }

  /** The next command of the connection. */
  follow(command: RecordedCommand): void {
    const sql = command.event.sql;
    if (typeof sql !== "string") return;
    for (const element of command.elements) {
      if ("prepared" in element && element.prepared.columns !== undefined) {
        this.#bySql.set(sql, element.prepared.columns);
      } else if ("rows" in element && Array.isArray(element.rows)) {
        const set = element as ResultSetJson;
        if (typeof set.columns === "number") this.#bySql.set(sql, set.columns);
        else {
          const known = this.#bySql.get(sql);
          if (known !== undefined) this.#skipped.set(set, known);
        }
      }
    }
  }

  /** The columns of a result set that did not send them, when known. */
  of(set: ResultSetJson): ColumnJson[] | undefined {
    const id = this.#skipped.get(set);
    return id === undefined ? undefined : this.#sets(id);
  }
}
