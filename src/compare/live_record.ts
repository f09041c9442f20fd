/**
 * A live command's response in the recording's own form (a `RecordedCommand` with column sets),
 * made by the recorder's assembler from the client's decoded packets, so recorded and live
 * responses compare field by field, whatever capabilities each connection negotiated.
 *
 * @module
 */

import { ConnectionRecorder, type Redactor } from "../record/assemble.ts";
import { ColumnRegistry } from "../record/columns.ts";
import type { ColumnJson, CommandEvent } from "../record/events.ts";
import { CommandMerger, type RecordedCommand } from "../record/merge.ts";
import type { CodecContext } from "../protocol/context.ts";
import type { CommandResult } from "../client/result.ts";

/**
 * Column sets of live responses, shared by the connections of one run (ids as in a recording).
 *
 * @example
 * ```ts
 * import { LiveColumns } from "./live_record.ts";
 * const columns = new LiveColumns();
 * console.assert(columns.sets.size === 0);
 * ```
 */
export class LiveColumns {
  /** Column sets by id. */
  readonly sets: Map<number, ColumnJson[]> = new Map();
  /** The registry that numbers them. */
  readonly registry: ColumnRegistry = new ColumnRegistry((event) =>
    this.sets.set(event.id, event.columns)
  );
}

/**
 * Turns one live connection's command results into recorded commands.
 *
 * @example
 * ```ts ignore
 * const recorder = new LiveRecorder(1, columns, () => client.context);
 * const live = recorder.record(await client.query("SELECT 1"));
 * ```
 */
export class LiveRecorder {
  #recorder: ConnectionRecorder;
  #captured: CommandEvent | undefined;
  #merger = new CommandMerger();

  constructor(
    conn: number,
    columns: LiveColumns,
    context: () => Readonly<CodecContext>,
    redactor?: Redactor,
  ) {
    const started = performance.now();
    this.#recorder = new ConnectionRecorder({
      conn,
      now: () => Math.round((performance.now() - started) * 1000),
      context,
      columns: columns.registry,
      emit: (event) => {
        if (event.type === "command") this.#captured = event;
      },
      redactor,
      // Never split: the whole response is wanted in one piece.
      chunkBytes: Number.MAX_SAFE_INTEGER,
    });
  }

  /** The result in recording form, with the live timings; undefined if it made no command. */
  record(result: CommandResult): RecordedCommand | undefined {
    this.#captured = undefined;
    for (const packet of result.packets) this.#recorder.packet(packet);
    const event = this.#captured as CommandEvent | undefined;
    if (!event) return undefined;
    const command = this.#merger.command(event);
    if (!command) return undefined;
    if (result.noResponse) delete command.us;
    else command.us = [result.timing.firstByteUs, result.timing.totalUs];
    return command;
  }
}
