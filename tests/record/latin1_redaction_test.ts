import assert from "node:assert/strict";
import { createSessionTap } from "../../src/session/tap.ts";
import { ConnectionRecorder } from "../../src/record/assemble.ts";
import { ColumnRegistry } from "../../src/record/columns.ts";
import type { RecordingEvent } from "../../src/record/events.ts";
import { frame, readCapture } from "../helpers/hex.ts";

Deno.test("a password in SQL that is not valid UTF-8 (a latin1 client) never reaches the file", () => {
  const frames = readCapture(
    new URL("../fixtures/captures/c-cli-latin1-query.txt", import.meta.url),
  )
    .filter((f) => f.connection === 1);
  const lines: string[] = [];
  const emit = (event: RecordingEvent) => lines.push(JSON.stringify(event));
  const tap = createSessionTap({ onPacket: (p) => recorder.packet(p) });
  const recorder = new ConnectionRecorder({
    conn: 1,
    now: () => 0,
    context: () => tap.decoder.context,
    columns: new ColumnRegistry(emit),
    emit,
  });
  for (const f of frames.slice(0, 3)) {
    const bytes = frame(f.sequenceId, f.payload);
    if (f.direction === "client") tap.client(bytes);
    else tap.server(bytes);
  }
  // COM_QUERY in latin1: "CREATE USER u IDENTIFIED BY 'sécret'", é as the single byte 0xe9.
  const sql = new TextEncoder().encode("\x03CREATE USER u IDENTIFIED BY 's\x00cret9'");
  sql[sql.indexOf(0)] = 0xe9;
  tap.client(frame(0, sql));
  tap.server(frame(1, new Uint8Array([0, 0, 0, 2, 0, 0, 0])));
  const file = lines.join("\n");
  assert.match(file, /IDENTIFIED BY '\*\*\*'/);
  assert.doesNotMatch(file, /cret9/);
  assert.ok(!file.includes(btoa("cret9").slice(0, 6)), "not even as base64");
});
