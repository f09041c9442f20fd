/**
 * Comparing commands that arrive on their own (a second recording in `diff`, live application
 * traffic in `proxy --compare`) with a recording: each is matched to a recorded exchange by
 * replay's own rules (src/replay/matcher.ts, docs/matching.md), then the two responses are
 * compared.
 *
 * @module
 */

import { type Catalog, loadCatalog, type RecordedConnection } from "../replay/catalog.ts";
import { type LiveConnection, Matcher } from "../replay/matcher.ts";
import { recordedRequest } from "../replay/keys.ts";
import type { ColumnJson } from "../record/events.ts";
import { readRecording } from "../record/reader.ts";
import type { RecordedCommand } from "../record/merge.ts";
import { compareCommands, type CompareOptions } from "./compare.ts";
import type { Example, ReportBuilder } from "./report.ts";
import { StatementColumns } from "./statement_columns.ts";

/** The recorded side: a recording loaded for matching. */
export interface MatchTarget {
  catalog: Catalog;
  matcher: Matcher;
  /** Per recorded connection: the columns of its result sets that skipped them. */
  statementColumns: Map<RecordedConnection, StatementColumns>;
  /** Recorded connection number -> the server's id for it (from its greeting). */
  connectionIds: Map<number, number>;
}

/**
 * Loads a recording as the side commands are matched against (replay's catalog and matcher,
 * repeats allowed, no approximate answers: a response to other values says nothing).
 *
 * @example
 * ```ts ignore
 * const target = await loadMatchTarget("recordings/demo.jsonl");
 * ```
 */
export async function loadMatchTarget(
  path: string,
  options: { onWarning?: (warning: string) => void } = {},
): Promise<MatchTarget> {
  const catalog = await loadCatalog([path], { onWarning: options.onWarning });
  const statementColumns = new Map<RecordedConnection, StatementColumns>();
  for (const exchange of catalog.exchanges) {
    let tracker = statementColumns.get(exchange.connection);
    if (!tracker) {
      const sets = exchange.connection.source.columnSets;
      tracker = new StatementColumns((id) => sets.get(id));
      statementColumns.set(exchange.connection, tracker);
    }
    tracker.follow(exchange.command);
  }
  // The catalog keeps no greetings: their connection ids, for `field:connectionId`, in one pass.
  const connectionIds = new Map<number, number>();
  for await (const { event } of readRecording(path, { lenient: true })) {
    if (event.type === "greeting" && typeof event.packet.connectionId === "number") {
      connectionIds.set(event.conn, event.packet.connectionId);
    }
  }
  return {
    catalog,
    matcher: new Matcher(catalog, { approximate: false }),
    statementColumns,
    connectionIds,
  };
}

/** One incoming connection compared against the target. */
export class MatchedConnection {
  #target: MatchTarget;
  #live: LiveConnection;
  #columns: StatementColumns;
  #sets: (id: number) => ColumnJson[] | undefined;
  #builder: ReportBuilder;
  #options: CompareOptions;
  #connectionId?: number;

  constructor(
    target: MatchTarget,
    live: { id: number; user?: string; connectionId?: number },
    sets: (id: number) => ColumnJson[] | undefined,
    builder: ReportBuilder,
    options: CompareOptions,
  ) {
    this.#target = target;
    this.#live = { id: live.id, user: live.user };
    this.#connectionId = live.connectionId;
    this.#sets = sets;
    this.#columns = new StatementColumns(sets);
    this.#builder = builder;
    this.#options = options;
  }

  /** The user the connection logged in as (binds it to recordings of the same user). */
  set user(user: string | undefined) {
    this.#live.user = user;
  }

  /** The server's id for this connection (for `field:connectionId`). */
  set connectionId(id: number | undefined) {
    this.#connectionId = id;
  }

  /** Compares one command; returns the example when it differs. */
  compare(command: RecordedCommand, index: number): Example | undefined {
    this.#columns.follow(command);
    const where = { conn: this.#live.id, index };
    const { noise } = this.#options;
    const sql = typeof command.event.sql === "string" ? command.event.sql : undefined;
    if (sql !== undefined && noise.ignoresStatement(sql)) {
      this.#builder.ignored();
      return undefined;
    }
    const request = recordedRequest(command.event, this.#target.catalog.sql);
    if (!request || command.us === undefined) {
      // No response, or a command replay answers by itself (ping, statement close/reset).
      this.#builder.noResponse();
      return undefined;
    }
    if (command.incomplete) {
      this.#builder.skipped(where, command, "the response was cut short");
      return undefined;
    }
    const match = this.#target.matcher.match(this.#live, request);
    if (match.kind === "miss") {
      const closest = match.closest ? `; closest: ${match.closest.exchange.request.text}` : "";
      this.#builder.skipped(
        where,
        command,
        `not in ${this.#target.catalog.sources[0]?.path}${closest}`,
      );
      return undefined;
    }
    const exchange = match.exchange;
    const sets = exchange.connection.source.columnSets;
    const tracker = this.#target.statementColumns.get(exchange.connection);
    const recordedId = this.#target.connectionIds.get(exchange.connection.conn);
    const differences = compareCommands(
      {
        command: exchange.command,
        columns: (id) => sets.get(id),
        skippedColumns: (set) => tracker?.of(set),
        connectionId: recordedId,
      },
      {
        command,
        columns: this.#sets,
        skippedColumns: (set) => this.#columns.of(set),
        connectionId: this.#connectionId,
      },
      this.#options,
    );
    return this.#builder.compared(where, exchange.command, differences);
  }

  /** The connection ended: its recorded connection is free for another. */
  close(): void {
    this.#target.matcher.release(this.#live);
  }
}
