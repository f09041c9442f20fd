/**
 * The regression suite's replay check: a recording's client side, driven by `driveRecording`
 * against `replay()` of that same recording, must get byte for byte the server packets the
 * recording renders to for the driving client's capabilities. Only what is listed in
 * {@link REPLAY_NORMALIZATIONS} is normalized before comparing.
 *
 * @module
 */

import { MariaDbCapability } from "../../src/protocol/constants.ts";
import type { CodecContext } from "../../src/protocol/context.ts";
import type { ColumnDefinition41 } from "../../src/protocol/resultset.ts";
import { jsonToColumn } from "../../src/record/columns.ts";
import type { ColumnJson } from "../../src/record/events.ts";
import type { RecordedCommand } from "../../src/record/merge.ts";
import { loadRecording, type Recording } from "../../src/record/reader.ts";
import { renderResponse } from "../../src/replay/render.ts";
import { type DriveEvent, driveRecording } from "../../src/compare/drive.ts";
import { replay, type ReplayStats } from "../../mod.ts";
import { payloadKey } from "../helpers/exactness.ts";

/**
 * What the comparison normalizes, each with the reason: everything else must be identical.
 */
export const REPLAY_NORMALIZATIONS: readonly string[] = [
  "COM_STMT_PREPARE_OK's statement id: ids belong to the server that prepared the statement; " +
  "the expected packets are rendered with the id replay announced",
  "COM_CHANGE_USER's authentication exchange: replay authenticates the client itself (any " +
  "password, a scramble of its own) and the client keeps no payloads of it: its response is " +
  "compared decoded, in recording form",
  "Each recorded connection is driven as its recorded user, one user's connections after " +
  "another's (driveRecording logs every connection of a run in as one user)",
];

/** A difference between what replay sent and what the recording renders to. */
export interface ReplayDifference {
  conn: number;
  index: number;
  command: string;
  expected: string[];
  actual: string[];
}

/** What driving a recording against its replay gave. */
export interface ReplayCheck {
  /** Commands whose response was compared. */
  compared: number;
  /** Server packets compared. */
  packets: number;
  differences: ReplayDifference[];
  /** Commands not sent, connections that failed or were lost, with the reason. */
  notes: string[];
  /** Recorded connections with nothing to drive (a refused login), with the reason. */
  notDriven: string[];
  stats: ReplayStats;
}

function decoder(columnSets: ReadonlyMap<number, ColumnJson[]>, context: CodecContext) {
  const extended = (context.mariadbCapabilities &
    MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA) !== 0;
  const cache = new Map<number, ColumnDefinition41[]>();
  return (id: number): ColumnDefinition41[] => {
    let columns = cache.get(id);
    if (!columns) {
      const json = columnSets.get(id);
      if (!json) throw new Error(`column set ${id} is used but never defined`);
      columns = json.map((c, i) => jsonToColumn(c, extended, `column ${i} of set ${id}`));
      cache.set(id, columns);
    }
    return columns;
  };
}

/** The statement's result columns after a recorded command, by SQL (as replay follows them). */
function columnsAfter(command: RecordedCommand): number | undefined {
  for (const element of command.elements) {
    if ("prepared" in element && element.prepared.columns !== undefined) {
      return element.prepared.columns;
    }
    if ("rows" in element && element.columns !== undefined) return element.columns;
  }
  return undefined;
}

/** Every user a recording logged in or changed user as. */
export function recordedUsers(recording: Recording): Set<string> {
  const users = new Set<string>();
  for (const connection of recording.connections.values()) {
    for (const { from, packet } of connection.auth) {
      if (from === "client" && typeof packet.username === "string") users.add(packet.username);
    }
    for (const command of connection.commands) {
      if (command.event.cmd === "change-user" && typeof command.event.user === "string") {
        users.add(command.event.user);
      }
    }
  }
  return users;
}

/**
 * Serves `path` with `replay()`, drives its client side against it, and compares every response.
 *
 * @example
 * ```ts ignore
 * const check = await checkReplay("recordings/demo.jsonl", "app");
 * assert.deepEqual(check.differences, []);
 * ```
 */
export async function checkReplay(path: string, user: string): Promise<ReplayCheck> {
  await using server = await replay(path, { listen: "127.0.0.1:0" });
  const check: ReplayCheck = {
    compared: 0,
    packets: 0,
    differences: [],
    notes: [],
    notDriven: [],
    stats: server.stats(),
  };
  const statementColumns = new Map<string, number>();
  const events: DriveEvent[] = [];
  const recording = await loadRecording(path);
  // Each recorded connection logs in (and changes user) as its recorded user: replay answers
  // session commands (SELECT CURRENT_USER(), SET ...) from that user's recorded connections.
  const users = Object.fromEntries([...recordedUsers(recording)].map((u) => [u, "any password"]));
  for await (
    const event of driveRecording(recording, {
      server: `${server.hostname}:${server.port}`,
      user,
      password: "replay takes any password",
      users,
    })
  ) events.push(event);
  for (const event of events) {
    if (event.kind === "connection") {
      if (event.event === "not-driven") check.notDriven.push(`${event.conn}: ${event.reason}`);
      else if (event.event !== "opened") {
        check.notes.push(
          `connection ${event.conn} ${event.event}: ${event.error?.message ?? event.reason}`,
        );
      }
      continue;
    }
    const { recorded, result, context } = event;
    const label = `${recorded.event.cmd} ${String(recorded.event.sql ?? "").slice(0, 80)}`;
    if (!result || !context) {
      check.notes.push(`connection ${event.conn} #${event.index} ${label}: ${event.skipped}`);
      continue;
    }
    if (result.noResponse) continue;
    const sql = typeof recorded.event.sql === "string" ? recorded.event.sql : "";
    const columnSet = decoder(event.recordedColumns, context);
    const key = `${event.conn}\u0000${sql}`;
    const known = statementColumns.get(key);
    let expected = renderResponse(recorded, {
      context: { ...context },
      columnSet,
      statementId: result.prepared?.statementId,
      statementColumns: known === undefined ? undefined : columnSet(known),
      sendMetadata: true,
    }).map(payloadKey);
    let actual = result.payloads.map(payloadKey);
    if (recorded.event.cmd === "change-user") {
      // The client keeps no payloads of a change of user: compare its decoded end.
      expected = [JSON.stringify(recorded.elements)];
      actual = [JSON.stringify(event.live?.elements)];
    }
    const after = columnsAfter(recorded);
    if (after !== undefined) statementColumns.set(key, after);
    check.compared++;
    check.packets += actual.length;
    if (JSON.stringify(expected) !== JSON.stringify(actual)) {
      check.differences.push({
        conn: event.conn,
        index: event.index,
        command: label,
        expected,
        actual,
      });
    }
  }
  await server.drain();
  check.stats = server.stats();
  return check;
}
