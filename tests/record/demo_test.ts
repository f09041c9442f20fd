/**
 * The committed demo recording (recordings/demo.jsonl, made by `deno task recordings` against a
 * real MariaDB) is valid, holds what the README says, and a value edited in it is what the
 * renderer serves. No server needed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRecording, type RecordedConnection, type Recording } from "../../src/record/reader.ts";
import { inspectRecording } from "../../src/record/inspect.ts";
import { jsonToColumn } from "../../src/record/columns.ts";
import { jsonToMessage } from "../../src/record/values.ts";
import type { RecordedCommand } from "../../src/record/merge.ts";
import { renderResponse } from "../../src/replay/render.ts";
import {
  type HandshakeResponse,
  type HandshakeV10,
  negotiatedContext,
} from "../../src/protocol/handshake.ts";
import { parseTextRow } from "../../src/protocol/resultset.ts";
import { parseBinaryRow } from "../../src/protocol/binary.ts";
import { utf8Decode } from "../../src/protocol/text.ts";
import type { ColumnDefinition41 } from "../../src/protocol/resultset.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;

function commandsOf(recording: Recording): RecordedCommand[] {
  return [...recording.connections.values()].flatMap((c) => c.commands);
}

function find(recording: Recording, cmd: string, sql: RegExp): RecordedCommand {
  const found = commandsOf(recording).find((c) =>
    c.event.cmd === cmd && sql.test(String(c.event.sql))
  );
  assert.ok(found, `a ${cmd} matching ${sql}`);
  return found;
}

/** Renders a recorded command with its connection's capabilities; rows come back decoded. */
function render(recording: Recording, command: RecordedCommand): {
  packets: Uint8Array[];
  columns: ColumnDefinition41[];
} {
  const connection = recording.connections.get(command.event.conn) as RecordedConnection;
  const context = negotiatedContext(
    jsonToMessage(connection.greeting) as HandshakeV10,
    jsonToMessage(connection.auth[0].packet) as HandshakeResponse,
  );
  const columnSet = (id: number) =>
    recording.columnSets.get(id)!.map((c, i) => jsonToColumn(c, false, `column ${i}`));
  let columns: ColumnDefinition41[] = [];
  for (const element of command.elements) {
    if ("rows" in element && element.columns !== undefined) columns = columnSet(element.columns);
  }
  return { packets: renderResponse(command, { context, columnSet }), columns };
}

Deno.test("the demo recording is valid and summarizes as made", async () => {
  const report = await inspectRecording(DEMO);
  assert.deepEqual(report.warnings, []);
  assert.match(report.header.server.version ?? "", /MariaDB/);
  assert.equal(report.connections.length, 3);
  assert.deepEqual(report.connections.map((c) => c.user), ["app", "app", "app"]);
  assert.ok(report.commands.byType["query"] >= 6);
  assert.ok(report.commands.byType["stmt-execute"] >= 3);
  assert.deepEqual(report.errors.byCode.map((e) => e.code), [1054]);
  assert.ok(
    report.digests.some((d) =>
      d.fingerprint === "select name, price, stock, added from products where id = ?" &&
      d.count === 2
    ),
  );
});

Deno.test("the demo recording holds decoded queries and rows, and no email address", async () => {
  const text = await Deno.readTextFile(DEMO);
  assert.doesNotMatch(text, /[\w.]+@example\.com/, "emails are redacted");
  assert.doesNotMatch(text, /app-demo-password/, "the password never reaches the file");
  const recording = await loadRecording(DEMO);
  assert.deepEqual(recording.header.redaction.rules, ["column:^email$", "query:'[^'@]+@[^']+'"]);
  const list = find(recording, "query", /^SELECT id, name, price FROM products ORDER BY id$/);
  assert.deepEqual((list.elements[0] as { rows: unknown[] }).rows, [
    ["1", "Espresso cup", "7.50"],
    ["2", "Pour-over kettle", "39.90"],
    ["3", "Burr grinder", "129.00"],
    ["4", "Paper filters (100)", "4.20"],
  ]);
  const execute = find(recording, "stmt-execute", /FROM products WHERE id = \?/);
  assert.deepEqual(execute.event.params, [1]);
  assert.deepEqual((execute.elements[0] as { rows: unknown[] }).rows, [[
    "Espresso cup",
    "7.50",
    120,
    "2026-01-15",
  ]]);
  const orders = find(recording, "stmt-execute", /FROM orders/);
  const emails = (orders.elements[0] as { rows: unknown[][] }).rows.map((r) => r[2]);
  assert.match(String(emails[0]), /^redacted:[0-9a-f]{12}$/);
  assert.equal(emails[0], emails[1], "the same customer has the same pseudonym");
  const error = find(recording, "query", /^SELECT nope/);
  assert.deepEqual(error.elements, [{
    error: { code: 1054, sqlState: "42S22", message: "Unknown column 'nope' in 'SELECT'" },
  }]);
});

Deno.test("a value edited in the demo recording is what the renderer serves", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const edited = (await Deno.readTextFile(DEMO))
      .replace('["1","Espresso cup","7.50"]', '["1","Edited cup","8.00"]')
      .replace(
        '["Espresso cup","7.50",120,"2026-01-15"]',
        '["Espresso cup","7.50",121,"2026-01-16"]',
      );
    const path = join(dir, "edited.jsonl");
    await Deno.writeTextFile(path, edited);
    const recording = await loadRecording(path);

    const text = find(recording, "query", /^SELECT id, name, price FROM products ORDER BY id$/);
    const { packets } = render(recording, text);
    // Column count, 3 definitions, EOF, then the rows.
    const row = parseTextRow(packets[5], 3);
    assert.deepEqual(row.values.map((v) => v && utf8Decode(v)), ["1", "Edited cup", "8.00"]);

    const binary = find(recording, "stmt-execute", /FROM products WHERE id = \?/);
    const rendered = render(recording, binary);
    const rowPacket = rendered.packets.find((p) => p[0] === 0x00 && p.length > 7)!;
    const values = parseBinaryRow(rowPacket, rendered.columns).values;
    assert.deepEqual(values.map((v) => v instanceof Uint8Array ? utf8Decode(v) : v), [
      "Espresso cup",
      "7.50",
      121,
      "2026-01-16",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
