/**
 * Live recording tests: run a client scenario straight against MariaDB and again through
 * `record()`, assert the client saw the same both times, that the recording is valid, and that
 * every recorded response renders back to the bytes the server sent (an independent tap keeps
 * them; see exactness.ts). The test body then looks into the file.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { record, type RecordingStats, type RecordOptions } from "../../src/record/recorder.ts";
import { loadRecording, type Recording } from "../../src/record/reader.ts";
import { inspectRecording } from "../../src/record/inspect.ts";
import type { RecordedCommand } from "../../src/record/merge.ts";
import { checkRendering, type Responses, responseTap } from "./exactness.ts";
import type { MariaDB } from "./mariadb.ts";

/** Where a scenario's client connects. */
export interface Target {
  host: string;
  port: number;
}

/** What the test body gets after a recorded run. */
export interface RecordedRun<T> {
  /** What the client saw (the same as straight against the server). */
  seen: T;
  path: string;
  /** The file's text. */
  text: string;
  recording: Recording;
  stats: RecordingStats;
  /** Commands whose responses rendered back byte for byte. */
  rendered: number;
}

/** Options of {@link directAndRecorded}. */
export interface DirectAndRecordedOptions {
  /** More `record()` options (redact rules, chunk size). */
  record?: Partial<RecordOptions>;
  /** Skip the byte-for-byte rendering check (for redacted recordings, which differ on purpose). */
  skipRendering?: boolean;
}

/**
 * Runs `scenario` against the server, then through `record()`, compares, checks the recording,
 * and hands it to `body`. The recording's directory is deleted afterwards.
 *
 * @example
 * ```ts ignore
 * await directAndRecorded(db, async (target) => query(target, "SELECT 1"), async (run) => {
 *   assert.ok(run.text.includes("SELECT 1"));
 * });
 * ```
 */
export async function directAndRecorded<T>(
  db: MariaDB,
  scenario: (target: Target) => Promise<T>,
  body: (run: RecordedRun<T>) => void | Promise<void>,
  options: DirectAndRecordedOptions = {},
): Promise<void> {
  const direct = await scenario({ host: db.hostname, port: db.port });
  const dir = await Deno.makeTempDir({ prefix: "record-test-" });
  try {
    const path = join(dir, "session.jsonl");
    const responses: Responses = new Map();
    const recording = await record({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      out: path,
      tap: responseTap(responses),
      ...options.record,
    });
    let seen: T;
    try {
      seen = await scenario({ host: recording.hostname, port: recording.port });
      await settle(recording);
    } finally {
      await recording.close();
    }
    assert.deepStrictEqual(seen, direct, "the client saw something else through the recorder");
    const text = await Deno.readTextFile(path);
    const report = await inspectRecording(path);
    assert.deepEqual(report.warnings, [], "inspect finds nothing to warn about");
    let rendered = 0;
    if (!options.skipRendering) {
      rendered = checkRendering(text.split("\n"), responses).commands;
      assert.ok(rendered > 0, "some commands were rendered and compared");
    }
    await body({
      seen,
      path,
      text,
      recording: await loadRecording(path),
      stats: recording.stats(),
      rendered,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Waits (up to 10 s) until every client connection through `recording` has ended.
 *
 * @example
 * ```ts ignore
 * await settle(recording);
 * await recording.close();
 * ```
 */
export async function settle(recording: { activeConnections: number }): Promise<void> {
  for (let i = 0; i < 500 && recording.activeConnections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The recorded commands whose SQL matches, in order (over all connections).
 *
 * @example
 * ```ts ignore
 * const [select] = commands(run.recording, /^SELECT \* FROM t/);
 * ```
 */
export function commands(recording: Recording, sql: RegExp, cmd?: string): RecordedCommand[] {
  return [...recording.connections.values()].flatMap((c) => c.commands).filter((c) =>
    (cmd === undefined || c.event.cmd === cmd) && typeof c.event.sql === "string" &&
    sql.test(c.event.sql)
  );
}

/**
 * The rows of the result sets of a recorded command, concatenated.
 *
 * @example
 * ```ts ignore
 * assert.deepEqual(rows(select), [["1", "alice"]]);
 * ```
 */
export function rows(command: RecordedCommand): unknown[][] {
  return command.elements.flatMap((e) =>
    "rows" in e && Array.isArray(e.rows) ? e.rows as unknown[][] : []
  );
}
