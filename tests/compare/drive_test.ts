/**
 * driveRecording(): the pacer's cross-connection order, recorded commands rebuilt for a live
 * connection, and the committed recordings driven against the shared MariaDB.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Pacer } from "../../src/compare/pacer.ts";
import { LiveStatements, planCommand } from "../../src/compare/commands.ts";
import { type DriveEvent, driveRecording } from "../../src/compare/drive.ts";
import type { CommandEvent } from "../../src/record/events.ts";
import { liveTest } from "../helpers/mariadb.ts";
import { RECORDINGS, setupScript } from "../../scripts/recordings/specs.ts";

const RECORDINGS_DIR = new URL("../../recordings/", import.meta.url).pathname;

Deno.test("Pacer.turn() waits for other connections' commands that ended earlier, not overlapping ones", async () => {
  const pacer = new Pacer([
    { conn: 1, start: 0, end: 10 }, // 0
    { conn: 1, start: 50, end: 60 }, // 1
    { conn: 2, start: 5, end: 40 }, // 2: overlaps 0
    { conn: 2, start: 45, end: 48 }, // 3: after 0 and 2
  ]);
  pacer.admit(1);
  pacer.admit(2);
  const order: number[] = [];
  await pacer.turn(0);
  await pacer.turn(2); // overlapping: no wait for 0
  const third = pacer.turn(3).then(() => order.push(3));
  const second = pacer.turn(1).then(() => order.push(1));
  await Promise.resolve();
  assert.deepEqual(order, []);
  pacer.done(0);
  await third; // its own connection's earlier command (2) is its connection's business
  await Promise.resolve();
  assert.deepEqual(order, [3], "1 waits for 2 and 3, which ended before it started");
  pacer.done(2);
  await Promise.resolve();
  assert.deepEqual(order, [3]);
  pacer.done(3);
  await second;
  assert.deepEqual(order, [3, 1]);
});

Deno.test("Pacer: a retired or not admitted connection is not waited for; stop() releases everyone", async () => {
  const pacer = new Pacer([{ conn: 1, start: 0, end: 10 }, { conn: 2, start: 20, end: 30 }]);
  pacer.admit(2);
  await pacer.turn(1); // conn 1 not admitted: not waited for
  const blocked = new Pacer([{ conn: 1, start: 0, end: 10 }, { conn: 2, start: 20, end: 30 }]);
  blocked.admit(1);
  blocked.admit(2);
  const waiting = blocked.turn(1);
  blocked.retire(1);
  await waiting;
  const stopped = new Pacer([{ conn: 1, start: 0, end: 10 }, { conn: 2, start: 20, end: 30 }]);
  stopped.admit(1);
  stopped.admit(2);
  const released = stopped.turn(1);
  stopped.stop();
  await released;
});

const command = (fields: Record<string, unknown>): CommandEvent =>
  ({ type: "command", conn: 1, t: 0, ...fields }) as CommandEvent;

Deno.test("planCommand() maps statements by SQL to live ids and binds recorded types", () => {
  const statements = new LiveStatements();
  const context = { statements, liveConnectionId: () => undefined };
  statements.prepared("SELECT ?, ?", 17, 3);
  const plan = planCommand(
    command({
      cmd: "stmt-execute",
      sql: "SELECT ?, ?",
      params: ["5", null],
      types: ["LONGLONG!u", "VAR_STRING"],
    }),
    context,
  );
  assert.equal(plan.kind, "send");
  if (plan.kind !== "send" || plan.command.kind !== "COM_STMT_EXECUTE") {
    throw new Error("not an execute");
  }
  assert.equal(plan.command.statementId, 17);
  assert.deepEqual(plan.command.params, [
    { type: 0x08, unsigned: true, value: 5 },
    { type: 0xfd, unsigned: false, value: null },
  ]);
  // A later execute without types reuses them.
  const again = planCommand(
    command({ cmd: "stmt-execute", sql: "SELECT ?, ?", params: [6, "x"] }),
    context,
  );
  if (again.kind !== "send" || again.command.kind !== "COM_STMT_EXECUTE") {
    throw new Error("not an execute");
  }
  assert.equal(again.command.params[0].type, 0x08);
  assert.equal(again.command.newParamsBound, true);
  const closed = planCommand(command({ cmd: "stmt-close", sql: "SELECT ?, ?" }), context);
  assert.ok(
    closed.kind === "send" && closed.command.kind === "COM_STMT_CLOSE" &&
      closed.command.statementId === 17,
  );
  const gone = planCommand(
    command({ cmd: "stmt-execute", sql: "SELECT ?, ?", params: [1, "y"] }),
    context,
  );
  assert.ok(
    gone.kind === "send" && gone.command.kind === "COM_STMT_EXECUTE" &&
      gone.command.statementId === 0,
  );
});

Deno.test("planCommand() never sends COM_SHUTDOWN, nor a kill of an unknown connection", () => {
  const context = {
    statements: new LiveStatements(),
    liveConnectionId: (id: number) => id === 9 ? 99 : undefined,
  };
  assert.equal(planCommand(command({ cmd: "shutdown" }), context).kind, "skip");
  assert.equal(planCommand(command({ cmd: "process-kill", id: 5 }), context).kind, "skip");
  const kill = planCommand(command({ cmd: "process-kill", id: 9 }), context);
  assert.ok(
    kill.kind === "send" && kill.command.kind === "COM_PROCESS_KILL" &&
      kill.command.connectionId === 99,
  );
  const broken = planCommand(
    command({ cmd: "stmt-send-long-data", sql: "x", param: 0, data: 5 }),
    context,
  );
  assert.equal(broken.kind, "skip");
});

async function drive(name: string, db: Parameters<Parameters<typeof liveTest>[1]>[0]) {
  const spec = RECORDINGS.find((r) => r.name === name)!;
  await db.sql(setupScript(spec));
  const events: DriveEvent[] = [];
  for await (
    const event of driveRecording(`${RECORDINGS_DIR}${name}.jsonl`, {
      server: `127.0.0.1:${db.port}`,
      user: spec.login.user,
      password: spec.login.password,
    })
  ) events.push(event);
  return events;
}

const rowsOf = (elements: unknown) =>
  JSON.stringify(elements, (key, value) => key === "columns" || key === "id" ? undefined : value);

liveTest(
  "driveRecording(): the demo recording gets the recorded answers from a server with its data",
  async (db) => {
    const events = await drive("demo", db);
    const failures = events.filter((e) => e.kind === "connection" && e.event !== "opened");
    assert.deepEqual(failures, []);
    const commands = events.filter((e) => e.kind === "command");
    assert.equal(commands.length, 15);
    for (const event of commands) {
      if (event.kind !== "command") continue;
      assert.equal(event.skipped, undefined);
      const recorded = rowsOf(event.recorded.elements);
      // The recording hid e-mail addresses (column:^email$): those rows differ, nothing else.
      if (recorded.includes("redacted:")) continue;
      assert.equal(rowsOf(event.live?.elements), recorded, `${event.recorded.event.sql}`);
    }
  },
);

liveTest(
  "driveRecording(): cursors, long data, metadata cache, bulk execute and LOCAL INFILE are replayed",
  async (db) => {
    for (const name of ["libmariadb-capi", "mariadb-connector", "cli-local-infile"]) {
      const events = await drive(name, db);
      assert.deepEqual(
        events.filter((e) => e.kind === "connection" && e.event !== "opened"),
        [],
        name,
      );
      for (const event of events) {
        if (event.kind !== "command") continue;
        assert.equal(event.skipped, undefined, `${name}: ${event.recorded.event.cmd}`);
        if (event.recorded.us === undefined) continue; // no response
        const recordedError = event.recorded.elements.some((e) => "error" in e);
        const liveError = event.live?.elements.some((e) => "error" in e);
        assert.equal(
          liveError,
          recordedError,
          `${name}: ${event.recorded.event.cmd} ${event.recorded.event.sql}: ${
            JSON.stringify(event.live?.elements)
          }`,
        );
        assert.equal(
          rowsOf(event.live?.elements.map(dropMeta)),
          rowsOf(event.recorded.elements.map(dropMeta)),
          `${name}: ${event.recorded.event.sql}`,
        );
      }
    }
  },
);

/** Server-assigned and per-run fields, and the metadata-cache marker, are not compared here. */
function dropMeta(element: unknown): unknown {
  const copy = { ...(element as Record<string, unknown>) };
  delete copy.metadata;
  if ("ok" in copy) copy.ok = { ...(copy.ok as Record<string, unknown>), state: undefined };
  if ("statistics" in copy) copy.statistics = "(varies)";
  return copy;
}
