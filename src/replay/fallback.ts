/**
 * A fallback for commands the recordings cannot answer: replay hands the command to it (the
 * `new` cassette mode forwards it to a real server and records the exchange), and serves what it
 * returns exactly as it serves a recorded exchange: rendered for the client's capabilities,
 * prepared statements registered under replay's own ids.
 *
 * @module
 */

import type { ClientCommand } from "../protocol/commands.ts";
import type { CodecContext } from "../protocol/context.ts";
import type { ColumnJson } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";
import type { Catalog, Exchange, RecordedConnection, Source } from "./catalog.ts";
import type { Request } from "./keys.ts";
import type { LiveStatement } from "./respond.ts";

/** A command replay has no recorded answer for. */
export interface FallbackRequest {
  /** The live connection (numbered from 1 in the order clients connected). */
  connection: number;
  /** The user the client logged in (or changed user) as. */
  user?: string;
  /** The live client's negotiated capabilities. */
  context: Readonly<CodecContext>;
  /** The live connection's current database, as replay follows it. */
  database?: string;
  /** The command as the client sent it; statement ids in it are replay's own. */
  command: ClientCommand;
  /** The request in short, as misses name it: `query "SELECT ..."`. */
  request: string;
  /**
   * For statement commands (execute, fetch, reset): the statement's SQL as the client prepared
   * it, when replay knows it (it does for statements prepared on this replay server).
   */
  statementSql?: string;
}

/** An exchange to serve: a command and its response in recording form. */
export interface FallbackAnswer {
  /** The command with its response. */
  command: RecordedCommand;
  /** The column sets `command` refers to, by id. */
  columnSets: ReadonlyMap<number, ColumnJson[]>;
}

/** Answers the commands the recordings cannot (see `ReplayOptions.fallback`). */
export interface ReplayFallback {
  /** An answer to serve, or undefined for replay's usual miss. Must not reject. */
  answer(request: FallbackRequest): Promise<FallbackAnswer | undefined>;
  /** The live connection closed. */
  closed?(connection: number): void;
}

const originals = new WeakMap<LiveStatement, string>();

/** Keeps the SQL a statement was prepared with, as the client sent it (before redaction). */
export function rememberStatementSql(statement: LiveStatement, sql: string): void {
  originals.set(statement, sql);
}

/** The SQL a live statement was prepared with, when known. */
export function statementSql(statement: LiveStatement | undefined): string | undefined {
  return statement === undefined ? undefined : originals.get(statement);
}

/**
 * The exchange replay serves for a fallback's answer: outside the catalog (so never matched
 * again, never reported unused), counted as used once.
 *
 * @example
 * ```ts ignore
 * const exchange = fallbackExchange(answer, request, catalog);
 * ```
 */
export function fallbackExchange(
  answer: FallbackAnswer,
  request: Request,
  catalog: Catalog,
): Exchange {
  const source: Source = {
    path: "(forwarded)",
    header: catalog.sources[0].header,
    columnSets: new Map(answer.columnSets),
    decoded: new Map(),
  };
  const connection: RecordedConnection = {
    name: "(forwarded)",
    order: -1,
    source,
    conn: answer.command.event.conn,
    login: {},
    exchanges: [],
    progress: 0,
  };
  const command = answer.command;
  const exchange: Exchange = {
    order: -1,
    connection,
    position: -1,
    request,
    command,
    uses: 1,
    infile: command.elements.some((element) => "infile" in element),
  };
  const status = lastStatus(command);
  if (status !== undefined) exchange.statusAfter = status;
  const resultSet = command.elements.find((e) => "rows" in e && e.columns !== undefined);
  if (resultSet && "columns" in resultSet && typeof resultSet.columns === "number") {
    exchange.resultColumns = resultSet.columns;
  }
  return exchange;
}

/** The status flags of the response's last OK, EOF or end of rows (2 when defaults). */
function lastStatus(command: RecordedCommand): number | undefined {
  const last = command.elements.at(-1) as Record<string, unknown> | undefined;
  if (!last) return undefined;
  for (const key of ["ok", "eof", "end"]) {
    const value = last[key] as { status?: number } | null | undefined;
    if (key in last && value !== null) return value?.status ?? 2;
  }
  return undefined;
}
