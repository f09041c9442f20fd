import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRecording, readRecording, RecordingError } from "../../src/record/reader.ts";

const HEADER = JSON.stringify({
  type: "header",
  format: "mysql-proxy-recording",
  version: 1,
  created: "2026-11-21T10:00:00.000Z",
  tool: "mysql-proxy test",
  server: { address: "127.0.0.1:3306" },
  redaction: { auth: true, sqlPasswords: true, rules: [] },
});
const OPEN = '{"type":"open","conn":1,"t":5,"client":"127.0.0.1:5000"}';
const COMMAND = '{"conn":1,"t":9,"us":[1,2],"cmd":"query","sql":"SELECT 1","ok":{}}';

async function withFile(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "r.jsonl");
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function readAll(path: string, warnings: string[] = []) {
  const out = [];
  for await (const line of readRecording(path, { onWarning: (w) => warnings.push(w) })) {
    out.push(line);
  }
  return out;
}

/** Asserts that reading fails with a RecordingError at `line` whose message matches. */
async function rejectsAt(text: string, line: number, message: RegExp): Promise<void> {
  await withFile(text, async (path) => {
    await assert.rejects(() => readAll(path), (error: unknown) => {
      assert.ok(error instanceof RecordingError, String(error));
      assert.equal(error.line, line);
      assert.match(error.message, new RegExp(`^Invalid recording at ${path}:${line}: `));
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("readRecording() names the line of invalid JSON", async () => {
  await rejectsAt(`${HEADER}\n${OPEN}\n{"type":"open",,}\n${COMMAND}\n`, 3, /not valid JSON/);
});

Deno.test("readRecording() rejects another format and an unknown version on line 1", async () => {
  await rejectsAt(
    HEADER.replace("mysql-proxy-recording", "har") + "\n",
    1,
    /not a mysql-proxy-recording file \(format "har"\)/,
  );
  await rejectsAt(
    HEADER.replace('"version":1', '"version":2') + "\n",
    1,
    /format version 2 is not supported \(this tool reads version 1\)/,
  );
});

Deno.test("readRecording() needs the header first, and a file that is not empty", async () => {
  await rejectsAt(`${OPEN}\n${HEADER}\n`, 1, /the first line must be the header/);
  await rejectsAt("", 1, /the file is empty: no header/);
  await rejectsAt(`${HEADER}\n${OPEN}\n${HEADER}\n`, 3, /a second header/);
});

Deno.test("readRecording() rejects unknown event types and missing fields, naming them", async () => {
  await rejectsAt(
    `${HEADER}\n${OPEN}\n{"type":"teleport","conn":1}\n`,
    3,
    /unknown event type "teleport"/,
  );
  await rejectsAt(
    `${HEADER}\n{"type":"open","conn":1,"t":5}\n`,
    2,
    /"open" event needs a valid "client"/,
  );
  await rejectsAt(
    `${HEADER}\n{"conn":1,"t":"soon","cmd":"ping"}\n`,
    2,
    /"command" event needs a valid "t"/,
  );
  await rejectsAt(`${HEADER}\n[1,2]\n`, 2, /a line must be a JSON object/);
});

Deno.test("readRecording() drops a cut-short last line with a warning and keeps the rest", async () => {
  const text = `${HEADER}\n${OPEN}\n${COMMAND}\n${COMMAND.slice(0, 30)}`;
  await withFile(text, async (path) => {
    const warnings: string[] = [];
    const lines = await readAll(path, warnings);
    assert.deepEqual(lines.map((l) => [l.line, l.event.type]), [
      [1, "header"],
      [2, "open"],
      [3, "command"],
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], new RegExp(`${path}:4: the last line is cut short`));
  });
});

Deno.test("readRecording() reads a command line without type, and with it", async () => {
  const typed = COMMAND.replace("{", '{"type":"command",');
  await withFile(`${HEADER}\n${OPEN}\n${COMMAND}\n${typed}\n`, async (path) => {
    const lines = await readAll(path);
    assert.deepEqual(lines.map((l) => l.event.type), ["header", "open", "command", "command"]);
  });
});

Deno.test("loadRecording() names the line of a continuation for a command never started", async () => {
  await withFile(
    `${HEADER}\n${OPEN}\n{"type":"rows","conn":1,"n":7,"rows":[["1"]]}\n`,
    async (path) => {
      await assert.rejects(
        () => loadRecording(path),
        (error: unknown) =>
          error instanceof RecordingError && error.line === 3 &&
          /"rows" for command 7 of connection 1, which was not started/.test(error.message),
      );
    },
  );
});

Deno.test("loadRecording() puts split commands together and treats a result without columns as metadata-skipped", async () => {
  const lines = [
    HEADER,
    OPEN,
    '{"type":"columns","id":1,"columns":[{"name":"a","type":"LONG","length":11,"charset":63,"flags":0}]}',
    '{"conn":1,"n":1,"t":9,"cmd":"query","sql":"SELECT a FROM t","columns":1,"rows":[["1"]],"more":true}',
    '{"type":"rows","conn":1,"n":1,"rows":[["2"],["3"]]}',
    '{"type":"end","conn":1,"n":1,"us":[3,4],"end":{"status":34}}',
    '{"conn":1,"t":20,"us":[1,2],"cmd":"stmt-execute","sql":"SELECT a FROM t","params":[],"rows":[[4]]}',
  ];
  await withFile(lines.join("\n") + "\n", async (path) => {
    const recording = await loadRecording(path);
    const [query, execute] = recording.connections.get(1)!.commands;
    assert.deepEqual(query.elements, [{
      columns: 1,
      rows: [["1"], ["2"], ["3"]],
      end: { status: 34 },
    }]);
    assert.deepEqual(query.us, [3, 4]);
    assert.deepEqual(execute.elements, [{ rows: [[4]], metadata: false }]);
  });
});

Deno.test("readRecording() reads lines longer than a read chunk, and many lines per chunk", async () => {
  const long = `{"conn":1,"t":9,"us":[1,2],"cmd":"query","sql":"SELECT '${
    "x".repeat(3_000_000)
  }'","ok":{}}`;
  const many = Array.from({ length: 5000 }, (_, i) => COMMAND.replace('"t":9', `"t":${i}`));
  await withFile([HEADER, OPEN, long, ...many, long].join("\n") + "\n", async (path) => {
    const lines = await readAll(path);
    assert.equal(lines.length, 5004);
    assert.equal((lines[2].event as unknown as { sql: string }).sql.length, 3_000_009);
    assert.equal(lines[5003].line, 5004);
    assert.equal((lines[5002].event as { t: number }).t, 4999);
  });
});
