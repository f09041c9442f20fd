/**
 * The recording's central promise: every server packet of every real capture, recorded as JSON
 * text and read back, renders to the same bytes.
 */
import assert from "node:assert/strict";
import { createSessionTap } from "../../src/session/tap.ts";
import { ConnectionRecorder } from "../../src/record/assemble.ts";
import { ColumnRegistry } from "../../src/record/columns.ts";
import type { CommandEvent, RecordingEvent, ResponseElement } from "../../src/record/events.ts";
import { CommandMerger, type RecordedCommand } from "../../src/record/merge.ts";
import { frame, readCapture } from "../helpers/hex.ts";
import { checkRendering, type Responses, responseTap } from "../helpers/exactness.ts";

const CAPTURES = new URL("../fixtures/captures/", import.meta.url);

interface Recorded {
  lines: string[];
  /** Per connection: the server payloads of each command with a response, in completion order. */
  original: Responses;
}

function record(name: string, chunkBytes?: number): Recorded {
  const frames = readCapture(new URL(name, CAPTURES));
  const lines: string[] = [];
  const emit = (event: RecordingEvent) => lines.push(JSON.stringify(event));
  const columns = new ColumnRegistry(emit);
  const original: Responses = new Map();
  const watch = responseTap(original);
  const byConnection = Map.groupBy(frames, (f) => f.connection);
  let clock = 0;
  for (const [conn, list] of byConnection) {
    // deno-lint-ignore prefer-const
    let tap: ReturnType<typeof createSessionTap>;
    const recorder = new ConnectionRecorder({
      conn,
      now: () => clock += 7,
      context: () => tap.decoder.context,
      columns,
      emit,
      chunkBytes,
    });
    tap = createSessionTap({
      onPacket: (packet) => recorder.packet(packet),
      onOpaque: (reason) => recorder.opaque(reason),
    });
    const watcher = watch({ id: conn, client: "127.0.0.1:1", server: "", openedAt: new Date() });
    recorder.open("127.0.0.1:1");
    for (const f of list) {
      const bytes = frame(f.sequenceId, f.payload);
      if (f.direction === "client") {
        tap.client(bytes);
        watcher.client(bytes);
      } else {
        tap.server(bytes);
        watcher.server(bytes);
      }
    }
    recorder.close("closed", { client: 0, server: 0 });
  }
  return { lines, original };
}

function checkCapture(name: string, chunkBytes?: number): { commands: number; packets: number } {
  const { lines, original } = record(name, chunkBytes);
  return checkRendering(lines, original);
}

const names = [...Deno.readDirSync(CAPTURES)].map((e) => e.name).filter((n) => n.endsWith(".txt"))
  .sort();

for (const name of names) {
  Deno.test(`recording ${name} renders every server packet back byte for byte`, () => {
    checkCapture(name);
  });
}

Deno.test("a recording split into continuation lines renders the same bytes", () => {
  // A chunk size of 1 byte splits every result set after each row.
  let total = 0;
  for (const name of names) total += checkCapture(name, 1).packets;
  assert.ok(total > 100, `rendered ${total} packets`);
});

/** Places in a command's response where the compact form gave way to a whole packet. */
function fallbacks(elements: ResponseElement[]): string[] {
  const found: string[] = [];
  for (const element of elements) {
    const e = element as Record<string, unknown>;
    if ("packets" in e) found.push("packets");
    if ("countPacket" in e) found.push("countPacket");
    for (const slot of ["end", "columnsEnd"]) {
      if (e[slot] && typeof e[slot] === "object" && "packet" in (e[slot] as object)) {
        found.push(slot);
      }
    }
    if (Array.isArray(e.rows) && e.rows.some((row) => !Array.isArray(row))) found.push("row");
    const prepared = e.prepared as Record<string, unknown> | undefined;
    if (prepared && "packet" in prepared) found.push("prepared");
  }
  return found;
}

Deno.test("recordings of the capture corpus need no {packet} fallbacks for 4.1 traffic", () => {
  // The compact forms must cover what MariaDB and its clients really send; a fallback here means
  // the format lost readability for common traffic. (Pre-4.1 sessions are kept whole by design.)
  const found: string[] = [];
  for (const name of names.filter((n) => !n.includes("320"))) {
    const merger = new CommandMerger();
    for (const line of record(name).lines) {
      const event = JSON.parse(line) as RecordingEvent;
      let command: RecordedCommand | undefined;
      if (event.type === "command") command = merger.command(event as CommandEvent);
      else if (event.type === "rows") merger.rows(event);
      else if (event.type === "results") merger.results(event);
      else if (event.type === "end") command = merger.end(event);
      const places = command ? fallbacks(command.elements) : [];
      if (places.length > 0) found.push(`${name}: ${command!.event.cmd} ${places.join(",")}`);
    }
  }
  assert.deepEqual(found, []);
});

Deno.test("an execute-direct sent before its PREPARE_OK still carries the statement's SQL", () => {
  const lines = record("c-libmariadb-statements.txt").lines.map((l) => JSON.parse(l));
  const direct = lines.filter((e) =>
    e.type === "command" && e.cmd === "stmt-execute" && !("params" in e)
  );
  assert.ok(direct.length > 0, "the capture has an execute-direct");
  for (const event of direct) assert.equal(typeof event.sql, "string");
});
