import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createRecordingWriter,
  type HeaderFields,
  RecordingWriter,
} from "../../src/record/writer.ts";
import { readRecording } from "../../src/record/reader.ts";
import type { RecordingEvent } from "../../src/record/events.ts";
import { createLogger } from "../../src/log.ts";

const HEADER: HeaderFields = {
  created: new Date("2026-11-21T10:00:00.000Z"),
  tool: "mysql-proxy test",
  serverAddress: "127.0.0.1:3306",
  redaction: { auth: true, sqlPasswords: true, rules: [] },
};

const open = (conn: number, t = 0): RecordingEvent => ({
  type: "open",
  conn,
  t,
  client: "127.0.0.1:5000",
});

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

const MIB = 1024 * 1024;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("createRecordingWriter() creates the file with mode 0600, also when overwriting", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    const writer = await createRecordingWriter(path, { header: HEADER });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await writer.close();
    await Deno.chmod(path, 0o644);
    const again = await createRecordingWriter(path, { header: HEADER, overwrite: true });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createRecordingWriter() refuses an existing file and a missing directory, naming them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    await Deno.writeTextFile(path, "keep me\n");
    await assert.rejects(
      () => createRecordingWriter(path, { header: HEADER }),
      (error: Error) => error instanceof Deno.errors.AlreadyExists && error.message.includes(path),
    );
    assert.equal(await Deno.readTextFile(path), "keep me\n", "the existing file is untouched");
    const missing = join(dir, "no", "such", "dir", "b.jsonl");
    await assert.rejects(
      () => createRecordingWriter(missing, { header: HEADER }),
      (error: Error) =>
        error instanceof Deno.errors.NotFound &&
        error.message.includes(`directory ${join(dir, "no", "such", "dir")} does not exist`),
    );
    const writer = await createRecordingWriter(missing, { header: HEADER, createDirectory: true });
    await writer.close();
    assert.equal((await lines(missing))[0].type, "header");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingWriter holds events until the greeting gives the header, then writes it first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    const writer = await createRecordingWriter(path, { header: HEADER, flushIntervalMs: 1 });
    writer.armHeader();
    writer.emit(open(1));
    await delay(30);
    assert.equal(await Deno.readTextFile(path), "", "nothing is written before the header");
    writer.header({
      version: "10.11.19-MariaDB",
      capabilities: 0x81fff7de,
      mariadbCapabilities: 29,
      characterSet: 45,
      statusFlags: 2,
      authPlugin: "mysql_native_password",
    });
    writer.header({ version: "ignored: the header is written once" });
    writer.emit(open(2));
    await writer.close();
    const written = await lines(path);
    assert.deepEqual(written.map((l) => l.type), ["header", "open", "open"]);
    const header = written[0] as { server: Record<string, unknown>; created: string };
    assert.equal(header.server.version, "10.11.19-MariaDB");
    assert.equal(header.server.address, "127.0.0.1:3306");
    assert.equal(header.created, "2026-11-21T10:00:00.000Z");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingWriter writes the header with null server fields when no greeting comes in time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    const writer = await createRecordingWriter(path, {
      header: HEADER,
      headerTimeoutMs: 20,
      flushIntervalMs: 1,
    });
    writer.armHeader();
    writer.emit(open(1));
    await delay(80);
    const written = await lines(path);
    assert.deepEqual(written.map((l) => l.type), ["header", "open"]);
    assert.deepEqual(written[0].server, {
      address: "127.0.0.1:3306",
      version: null,
      capabilities: null,
      mariadbCapabilities: null,
      characterSet: null,
      statusFlags: null,
      authPlugin: null,
    });
    await writer.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingWriter batches lines behind a timer, or at once past flushBytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    const writer = await createRecordingWriter(path, {
      header: HEADER,
      flushIntervalMs: 60_000,
      flushBytes: 4096,
    });
    writer.header();
    for (let i = 1; i <= 10; i++) writer.emit(open(i));
    await delay(20);
    assert.equal(writer.stats().lines, 0, "small batches wait for the timer");
    for (let i = 11; i <= 100; i++) writer.emit(open(i));
    await delay(20);
    const stats = writer.stats();
    assert.ok(
      stats.lines >= 60,
      `past flushBytes the queue is written without waiting: ${stats.lines}`,
    );
    const content = await Deno.readTextFile(path);
    assert.ok(content.endsWith("\n"), "only whole lines are written");
    await writer.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingWriter writes at the next event when its timer is late (a thread too busy for timers)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    const writer = await createRecordingWriter(path, {
      header: HEADER,
      flushIntervalMs: 20,
      flushBytes: 1024 * MIB,
    });
    writer.header();
    // One synchronous run of events, 60 ms long: the timer cannot fire in it.
    const until = performance.now() + 60;
    let conn = 0;
    while (performance.now() < until) writer.emit(open(++conn));
    const written = writer.stats().lines;
    assert.ok(written > 1, `written while the thread was busy: ${written} lines`);
    // Not at every event: only when a look at the clock (every 64 events) finds the timer
    // overdue. The loop may stop right on such a look, so three more events: at most one of
    // them is one, and after the others some lines are still waiting.
    const waiting: number[] = [];
    for (let i = 0; i < 3; i++) {
      writer.emit(open(++conn));
      waiting.push(conn + 1 - writer.stats().lines);
    }
    assert.ok(waiting.filter((n) => n > 0).length >= 2, `lines waiting: ${waiting}`);
    const content = await Deno.readTextFile(path);
    assert.ok(content.endsWith("\n"), "only whole lines are written");
    await writer.close();
    assert.equal((await lines(path)).length, conn + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingWriter.emit() serializes at once, and close() writes everything with stats", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.jsonl");
    const writer = await createRecordingWriter(path, { header: HEADER, flushIntervalMs: 60_000 });
    const rows = [["1", "alice"]];
    const command = {
      type: "command",
      conn: 1,
      t: 5,
      us: [1, 2],
      cmd: "query",
      sql: "SELECT 1",
      columns: 1,
      rows,
    } as RecordingEvent;
    writer.emit(open(1));
    writer.emit(command);
    rows[0][1] = "changed after emit"; // the assembler reuses its arrays right after emitting
    rows.push(["2", "bob"]);
    writer.emit({
      type: "close",
      conn: 1,
      t: 9,
      reason: "closed",
      bytes: { client: 1, server: 2 },
    });
    const stats = await writer.close();
    const written = await lines(path);
    assert.deepEqual(written.map((l) => l.type ?? `(${l.cmd})`), [
      "header",
      "open",
      "(query)",
      "close",
    ]);
    assert.deepEqual(written[2].rows, [["1", "alice"]]);
    assert.equal(written[2].type, undefined, "command lines go without their type");
    assert.equal(stats.lines, 4);
    assert.equal(stats.connections, 1);
    assert.equal(stats.commands, 1);
    assert.equal(stats.bytesWritten, (await Deno.stat(path)).size);
    assert.equal(stats.queuedLines, 0);
    // The reader takes the line without type for a command.
    const events = [];
    for await (const { event } of readRecording(path)) events.push(event.type);
    assert.deepEqual(events, ["header", "open", "command", "close"]);
    assert.deepEqual(await writer.close(), stats, "close() again gives the same result");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingWriter warns once, loudly, when the disk holds the relay back", async () => {
  const warnings: string[] = [];
  const logger = createLogger({ write: (line) => warnings.push(line), level: "warn" });
  const slowDisk = {
    writeSync(bytes: Uint8Array) {
      const end = Date.now() + 30;
      while (Date.now() < end) { /* a disk that takes 30 ms per write */ }
      return bytes.length;
    },
    sync: () => Promise.resolve(),
    close() {},
  } as unknown as Deno.FsFile;
  const writer = new RecordingWriter("/slow/disk.jsonl", slowDisk, {
    header: HEADER,
    logger,
    slowWriteMs: 10,
    flushBytes: 100,
  });
  writer.header();
  for (let i = 0; i < 5; i++) writer.emit(open(i));
  assert.ok(
    writer.stats().lines >= 4,
    "past flushBytes, the queue is written before emit() returns",
  );
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /recording \/slow\/disk.jsonl is slow .* relaying slows to its pace/);
  await writer.close();
});

Deno.test("a recording killed with SIGKILL mid-write holds only whole lines, and the reader reads it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "killed.jsonl");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./writer_child.ts", import.meta.url).pathname, path],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // Wait until the child has written a few MiB, then kill it without warning.
    for (let i = 0; i < 200; i++) {
      const size = await Deno.stat(path).then((s) => s.size, () => 0);
      if (size > 4 * 1024 * 1024) break;
      await delay(50);
    }
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    await child.stdout.cancel();
    const text = await Deno.readTextFile(path);
    assert.ok(text.length > 4 * 1024 * 1024, `the child wrote ${text.length} bytes`);
    const parts = text.split("\n");
    const cut = parts.pop()!; // "" when the file ends with a whole line
    for (const [i, line] of parts.entries()) {
      assert.doesNotThrow(() => JSON.parse(line), `line ${i + 1} is whole`);
    }
    const warnings: string[] = [];
    let read = 0;
    for await (const _ of readRecording(path, { onWarning: (w) => warnings.push(w) })) read++;
    assert.equal(read, parts.length);
    assert.equal(warnings.length, cut === "" ? 0 : 1, warnings.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
