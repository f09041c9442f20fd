/**
 * Puts a command written in pieces (`command` with `more`, then `rows`, `results`, `end` lines)
 * back together.
 *
 * @module
 */

import {
  type CommandEvent,
  type EndEvent,
  RESPONSE_KEYS,
  type ResponseElement,
  type ResultSetJson,
  type ResultsEvent,
  type RowsEvent,
} from "./events.ts";

/** A command with its whole response. */
export interface RecordedCommand {
  /** The command line (for split commands, the first piece). */
  event: CommandEvent;
  /** The response, element by element, in wire order. */
  elements: ResponseElement[];
  /** Microseconds to the first response byte and to the last (absent without a response). */
  us?: [number, number];
  /** The connection ended before the response did. */
  incomplete: boolean;
}

/** The response elements of a command line: its `results`, or its flattened keys as one element. */
export function commandElements(event: CommandEvent): ResponseElement[] {
  if (Array.isArray(event.results)) return event.results as ResponseElement[];
  const element: Record<string, unknown> = {};
  for (const key of RESPONSE_KEYS) {
    if (key in event) element[key] = event[key];
  }
  return Object.keys(element).length === 0 ? [] : [element as ResponseElement];
}

function isResultSet(element: ResponseElement | undefined): element is ResultSetJson {
  return element !== undefined && "rows" in element && Array.isArray(element.rows);
}

interface Pending {
  command: RecordedCommand;
}

/**
 * Collects the pieces of split commands; whole commands pass straight through.
 *
 * @example
 * ```ts
 * import { CommandMerger } from "./merge.ts";
 * const merger = new CommandMerger();
 * const done = merger.command({ type: "command", conn: 1, t: 0, us: [1, 2], cmd: "ping", ok: {} });
 * console.assert(done?.elements.length === 1);
 * ```
 */
export class CommandMerger {
  #pending = new Map<string, Pending>();

  /** Split commands still waiting for their `end` line. */
  get open(): number {
    return this.#pending.size;
  }

  /** A `command` line: returns it whole, or undefined when more pieces follow. */
  command(event: CommandEvent): RecordedCommand | undefined {
    const command: RecordedCommand = {
      event,
      elements: commandElements(event).map(copyElement),
      incomplete: event.incomplete === true,
    };
    if (event.us) command.us = event.us;
    if (event.more !== true) return command;
    if (typeof event.n !== "number") throw new TypeError(`a command with "more" needs "n"`);
    this.#pending.set(key(event.conn, event.n), { command });
    return undefined;
  }

  /** A `rows` line: more rows for the open result set. */
  rows(event: RowsEvent): void {
    const command = this.#get(event.conn, event.n, "rows").command;
    const last = command.elements.at(-1);
    if (!isResultSet(last)) {
      throw new TypeError(`"rows" continues command ${event.n}, which has no open result set`);
    }
    for (const row of event.rows) last.rows.push(row);
  }

  /** A `results` line: the open result set ended, more elements followed. */
  results(event: ResultsEvent): void {
    this.#append(this.#get(event.conn, event.n, "results").command, event);
  }

  /** An `end` line: returns the completed command. */
  end(event: EndEvent): RecordedCommand {
    const pending = this.#get(event.conn, event.n, "end");
    this.#append(pending.command, event);
    pending.command.us = event.us;
    if (event.incomplete) pending.command.incomplete = true;
    this.#pending.delete(key(event.conn, event.n));
    return pending.command;
  }

  /** Split commands never finished (the recording was cut short), as far as they got. */
  drain(): RecordedCommand[] {
    const left = [...this.#pending.values()].map((p) => ({ ...p.command, incomplete: true }));
    this.#pending.clear();
    return left;
  }

  #append(command: RecordedCommand, event: ResultsEvent | EndEvent): void {
    const last = command.elements.at(-1);
    if ("end" in event && event.end !== undefined) {
      if (!isResultSet(last)) {
        throw new TypeError(`"end" given for command ${event.n} without a result set`);
      }
      last.end = event.end;
    }
    for (const element of event.results ?? []) command.elements.push(copyElement(element));
  }

  #get(conn: number, n: number, what: string): Pending {
    const pending = this.#pending.get(key(conn, n));
    if (!pending) {
      throw new TypeError(
        `"${what}" for command ${n} of connection ${conn}, which was not started`,
      );
    }
    return pending;
  }
}

function key(conn: number, n: number): string {
  return `${conn}:${n}`;
}

function copyElement(element: ResponseElement): ResponseElement {
  if (!isResultSet(element)) return element;
  // Rows are appended to result sets: never to the arrays of the parsed line itself.
  const copy = { ...element, rows: [...element.rows] };
  // A result set without `columns` is one whose definitions the server skipped (MariaDB's
  // metadata cache): its columns are the statement's. Older writers said so with `metadata`.
  if (copy.columns === undefined && copy.metadata === undefined) copy.metadata = false;
  return copy;
}
