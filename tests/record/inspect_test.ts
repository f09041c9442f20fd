import assert from "node:assert/strict";
import { join } from "node:path";
import { inspectRecording } from "../../src/record/inspect.ts";
import { RecordingError } from "../../src/record/reader.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
const MOD = new URL("../../mod.ts", import.meta.url).pathname;

const HEADER = JSON.stringify({
  type: "header",
  format: "mysql-proxy-recording",
  version: 1,
  created: "2026-11-21T10:00:00.000Z",
  tool: "mysql-proxy test",
  server: { address: "127.0.0.1:3306", version: "10.11" },
  redaction: { auth: true, sqlPasswords: true, rules: [] },
});
const COLUMNS =
  '{"type":"columns","id":1,"columns":[{"name":"id","type":"LONG","length":11,"charset":63,"flags":0},{"name":"c","type":"VAR_STRING","length":40,"charset":45,"flags":0}]}';

async function inspect(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "inspect", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

async function withRecording<T>(
  lines: string[],
  fn: (path: string) => Promise<T>,
  end = "\n",
): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "r.jsonl");
    await Deno.writeTextFile(path, lines.join("\n") + end);
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function invalidAt(lines: string[], line: number, message: RegExp): Promise<void> {
  await withRecording(lines, async (path) => {
    await assert.rejects(() => inspectRecording(path), (error: unknown) => {
      assert.ok(error instanceof RecordingError, String(error));
      assert.equal(error.line, line, error.message);
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("inspect prints the summary of a recording: server, connections, commands, errors, fingerprints", async () => {
  const { code, stdout, stderr } = await inspect([DEMO]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /^.*demo\.jsonl: valid, \d+ lines$/m);
  assert.match(stdout, /^ {2}server +127\.0\.0\.1:\d+, 5\.5\.5-10\.11\.\d+-MariaDB/m);
  assert.match(stdout, /^ {2}redaction +auth data, SQL passwords; rules column:\^email\$/m);
  assert.match(stdout, /^Connections: 3$/m);
  assert.match(stdout, /^ {2}#3 +127\.0\.0\.1:\d+ +user app +db shop +\d+ commands/m);
  assert.match(stdout, /^Commands: \d+$/m);
  assert.match(stdout, /^ {2}stmt-execute +3$/m);
  assert.match(stdout, /^ {2}1054 +42S22 +1x +Unknown column 'nope' in 'SELECT'$/m);
  assert.match(
    stdout,
    /query fingerprints by count:\n +count +total ms +mean ms +max ms +rows +errors +fingerprint\n +2 +[\d.]+ +[\d.]+ +[\d.]+ +2 +0 +select name, price, stock, added from products where id = \?$/m,
  );
  assert.match(stdout, /^Top \d+ by total time:$/m);
});

Deno.test("inspect --json gives the whole report to machines", async () => {
  const { code, stdout } = await inspect([DEMO, "--json", "--top", "1"]);
  assert.equal(code, 0);
  const report = JSON.parse(stdout);
  assert.equal(report.header.format, "mysql-proxy-recording");
  assert.equal(report.connections.length, 3);
  assert.equal(report.errors.total, 1);
  assert.ok(report.digests.length >= 8, "--json lists every fingerprint");
  assert.ok(
    report.digests.every((d: { count: number; totalUs: number }) => d.count > 0 && d.totalUs >= 0),
  );
});

Deno.test("inspect exits 1 naming the line of an invalid recording, 2 on usage errors", async () => {
  await withRecording(
    [HEADER, '{"type":"open","conn":1,"t":1,"client":"x"}', "{oops"],
    async (path) => {
      // Not the last line: a cut-short last line is only a warning.
      await Deno.writeTextFile(path, '{"type":"open","conn":2,"t":2,"client":"y"}\n', {
        append: true,
      });
      const { code, stderr } = await inspect([path]);
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`inspect: Invalid recording at ${path}:3: not valid JSON`));
    },
  );
  const missing = await inspect(["/no/such/recording.jsonl"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such file/);
  assert.equal((await inspect([])).code, 2);
  assert.equal((await inspect([DEMO, "--top", "zero"])).code, 2);
});

Deno.test("inspect warns about a cut-short last line and unclosed connections, and still summarizes", async () => {
  const lines = [
    HEADER,
    '{"type":"open","conn":1,"t":1,"client":"127.0.0.1:5"}',
    '{"conn":1,"t":3,"cmd":"pi',
  ];
  await withRecording(lines, async (path) => {
    const { code, stdout, stderr } = await inspect([path]);
    assert.equal(code, 0);
    assert.match(stderr, /warning: .*:3: the last line is cut short/);
    assert.match(stderr, /warning: .*1 connection\(s\) have no "close" line/);
    assert.match(stdout, /^Connections: 1$/m);
  }, "");
});

Deno.test("inspectRecording() checks rows against their columns and names line, row and column", async () => {
  const command = (rows: string) =>
    `{"conn":1,"t":5,"us":[1,2],"cmd":"stmt-execute","sql":"SELECT id, c FROM t","params":[],"columns":1,"rows":${rows}}`;
  const open = '{"type":"open","conn":1,"t":1,"client":"x"}';
  await invalidAt(
    [HEADER, open, COLUMNS, command('[[1,"a"],[2]]')],
    4,
    /row 2 has 1 values for 2 columns/,
  );
  await invalidAt(
    [HEADER, open, COLUMNS, command('[[1,"a"],["two","b"]]')],
    4,
    /row 2, column 1 \(id\): expected an integer for LONG/,
  );
  await invalidAt(
    [HEADER, open, command('[[1,"a"]]')],
    3,
    /column set 1 is used before a "columns" line defines it/,
  );
  await invalidAt(
    [HEADER, open, COLUMNS, COLUMNS.replace('"c"', '"d"')],
    4,
    /column set 1 is defined twice, differently/,
  );
  await invalidAt(
    [HEADER, open, '{"type":"end","conn":1,"n":3,"us":[1,2]}'],
    3,
    /"end" continues command 3 of connection 1, which was not started/,
  );
});

Deno.test("inspectRecording() follows commands split across lines and skipped metadata", async () => {
  const lines = [
    HEADER,
    '{"type":"open","conn":1,"t":1,"client":"127.0.0.1:5"}',
    COLUMNS,
    '{"conn":1,"t":2,"us":[1,2],"cmd":"stmt-prepare","sql":"SELECT id, c FROM t WHERE id > ?","prepared":{"id":1,"columns":1}}',
    '{"conn":1,"n":1,"t":5,"cmd":"stmt-execute","sql":"SELECT id, c FROM t WHERE id > ?","params":[0],"rows":[[1,"a"]],"more":true}',
    '{"type":"rows","conn":1,"n":1,"rows":[[2,"b"],[3,"c"]]}',
    '{"type":"end","conn":1,"n":1,"us":[10,2000]}',
    '{"conn":1,"t":9000,"us":[5,1000],"cmd":"query","sql":"SELECT 1","error":{"code":1064,"sqlState":"42000","message":"x"}}',
    '{"type":"close","conn":1,"t":9999,"reason":"closed","bytes":{"client":100,"server":900}}',
  ];
  const report = await withRecording(lines, (path) => inspectRecording(path));
  assert.deepEqual(report.warnings, []);
  assert.equal(report.durationUs, 9999);
  assert.deepEqual(report.wire, { client: 100, server: 900 });
  const [execute, query] = report.digests;
  assert.deepEqual(
    { ...execute, example: undefined },
    {
      fingerprint: "select id, c from t where id > ?",
      example: undefined,
      count: 1,
      totalUs: 2000,
      maxUs: 2000,
      rows: 3,
      errors: 0,
    },
  );
  assert.equal(query.errors, 1);
  assert.deepEqual(report.errors.byCode, [{
    code: 1064,
    sqlState: "42000",
    count: 1,
    message: "x",
  }]);
  // A binary row of the skipped-metadata execute with a bad value is caught too.
  lines[5] = '{"type":"rows","conn":1,"n":1,"rows":[[2,"b"],["x","c"]]}';
  await invalidAt(lines, 6, /row 2, column 1 \(id\)/);
});
