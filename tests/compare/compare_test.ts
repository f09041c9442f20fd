/**
 * compareCommands(), the noise rules and the report, on hand-made responses in recording form.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compareCommands, type Side } from "../../src/compare/compare.ts";
import { loadNoiseFile, Noise, NoiseRuleError, parseNoiseRule } from "../../src/compare/noise.ts";
import { ReportBuilder } from "../../src/compare/report.ts";
import { formatReport } from "../../src/compare/format.ts";
import type { ColumnJson, ResponseElement } from "../../src/record/events.ts";
import type { RecordedCommand } from "../../src/record/merge.ts";

const column = (name: string, type = "VAR_STRING", flags = 0): ColumnJson => ({
  name,
  table: "t",
  type,
  length: 40,
  charset: 45,
  flags,
});

const SETS: Record<number, ColumnJson[]> = {
  1: [column("id", "LONG", 0x1003), column("name"), column("updated_at", "DATETIME")],
  2: [column("id", "LONG", 0x1003), column("name")],
  3: [column("id", "LONGLONG", 0x1003), column("name"), column("updated_at", "DATETIME")],
  4: [column("id", "LONG", 0x0003), column("name"), column("updated_at", "DATETIME")],
};

function side(
  sql: string,
  elements: ResponseElement[],
  us: [number, number] = [100, 200],
  connectionId?: number,
): Side {
  const command: RecordedCommand = {
    event: { type: "command", conn: 1, t: 0, cmd: "query", sql },
    elements,
    us,
    incomplete: false,
  };
  return { command, columns: (id) => SETS[id], connectionId };
}

const ROWS = [
  ["1", "one", "2024-01-01 10:00:00"],
  ["2", "two", "2024-01-02 10:00:00"],
  ["3", "three", "2024-01-03 10:00:00"],
];
const result = (
  rows: (string | null)[][] = ROWS,
  columns = 1,
  end = {},
): ResponseElement[] => [{ columns, rows, end }];
const none = new Noise();
const SELECT = "SELECT id, name, updated_at FROM t";

Deno.test("compareCommands() finds nothing in identical responses", () => {
  assert.deepEqual(
    compareCommands(side(SELECT, result()), side(SELECT, result()), { noise: none }),
    [],
  );
});

Deno.test("compareCommands(): a changed value is row-values, naming the column and both values", () => {
  const live = ROWS.map((r) => [...r]);
  live[1][1] = "TWO";
  const [difference, ...rest] = compareCommands(
    side(SELECT, result()),
    side(SELECT, result(live)),
    { noise: none },
  );
  assert.deepEqual(rest, []);
  assert.equal(difference.category, "row-values");
  assert.match(difference.message, /1 of 3 rows differ: name two -> TWO/);
  assert.deepEqual(difference.rows?.changed[0], {
    recorded: ["2", "two", "2024-01-02 10:00:00"],
    live: ["2", "TWO", "2024-01-02 10:00:00"],
    differing: [1],
  });
});

Deno.test("compareCommands(): rows without ORDER BY compare as a multiset; with ORDER BY in order", () => {
  const reordered = [ROWS[2], ROWS[0], ROWS[1]];
  assert.deepEqual(
    compareCommands(side(SELECT, result()), side(SELECT, result(reordered)), { noise: none }),
    [],
  );
  const ordered = `${SELECT} ORDER BY name`;
  const found = compareCommands(side(ordered, result()), side(ordered, result(reordered)), {
    noise: none,
  });
  assert.deepEqual(found.map((d) => d.category), ["row-values"]);
  assert.equal(found[0].rows?.ordered, true);
  const forced = compareCommands(side(SELECT, result()), side(SELECT, result(reordered)), {
    noise: none,
    ordered: true,
  });
  assert.deepEqual(forced.map((d) => d.category), ["row-values"]);
});

Deno.test("compareCommands(): a missing row is row-count; duplicates count in the multiset", () => {
  const found = compareCommands(side(SELECT, result()), side(SELECT, result(ROWS.slice(0, 2))), {
    noise: none,
  });
  assert.deepEqual(found.map((d) => d.category), ["row-count"]);
  assert.match(found[0].message, /recorded 3 rows, live 2/);
  assert.deepEqual(found[0].rows?.changed[0], {
    recorded: ["3", "three", "2024-01-03 10:00:00"],
    live: null,
    differing: [],
  });
  const twice = compareCommands(
    side(SELECT, result([ROWS[0], ROWS[0]])),
    side(SELECT, result([ROWS[0], ROWS[1]])),
    { noise: none },
  );
  assert.deepEqual(twice.map((d) => d.category), ["row-values"]);
});

Deno.test("compareCommands(): a dropped column is column-metadata; common columns still compare", () => {
  const live = ROWS.map((r) => r.slice(0, 2));
  const found = compareCommands(side(SELECT, result()), side(SELECT, result(live, 2)), {
    noise: none,
  });
  assert.deepEqual(found.map((d) => d.category), ["column-metadata"]);
  assert.match(found[0].message, /dropped updated_at/);
  live[0][1] = "uno";
  const both = compareCommands(side(SELECT, result()), side(SELECT, result(live, 2)), {
    noise: none,
  });
  assert.deepEqual(both.map((d) => d.category), ["column-metadata", "row-values"]);
  // The same column sets under other noise rules: planned again, not taken from the first rules.
  const ignored = compareCommands(side(SELECT, result()), side(SELECT, result(live, 2)), {
    noise: new Noise([parseNoiseRule("column:updated_at")]),
  });
  assert.deepEqual(ignored.map((d) => d.category), ["row-values"]);
});

Deno.test("compareCommands(): a changed type or flags is column-metadata", () => {
  const type = compareCommands(side(SELECT, result()), side(SELECT, result(ROWS, 3)), {
    noise: none,
  });
  assert.deepEqual(type.map((d) => d.message), ["id: type LONG -> LONGLONG"]);
  const flags = compareCommands(side(SELECT, result()), side(SELECT, result(ROWS, 4)), {
    noise: none,
  });
  assert.deepEqual(flags.map((d) => d.message), [
    "id: flags NOT_NULL|PRI_KEY|NO_DEFAULT_VALUE -> NOT_NULL|PRI_KEY",
  ]);
});

Deno.test("compareCommands(): errors: result vs error both ways, and a different code", () => {
  const error = (
    code: number,
  ): ResponseElement[] => [{
    error: { code, sqlState: "42S02", message: "Table 't' doesn't exist" },
  }];
  const gone = compareCommands(side(SELECT, error(1146)), side(SELECT, result()), { noise: none });
  assert.deepEqual(gone.map((d) => d.category), ["result-vs-error"]);
  assert.match(gone[0].message, /recorded error 1146 .*, live a result \(3 rows\)/);
  const appeared = compareCommands(side(SELECT, result()), side(SELECT, error(1146)), {
    noise: none,
  });
  assert.match(appeared[0].message, /recorded a result \(3 rows\), live error 1146/);
  const code = compareCommands(side(SELECT, error(1146)), side(SELECT, error(1054)), {
    noise: none,
  });
  assert.deepEqual(code.map((d) => d.category), ["error-code"]);
});

Deno.test("compareCommands(): affected rows, insert id, info and warnings", () => {
  const ok = (
    affected: number,
    insertId: number,
    warnings = 0,
  ): ResponseElement[] => [{ ok: { affected, insertId, warnings } }];
  const found = compareCommands(
    side("INSERT INTO t VALUES (1)", ok(1, 5)),
    side("INSERT INTO t VALUES (1)", ok(1, 9, 1)),
    { noise: none },
  );
  assert.deepEqual(found.map((d) => [d.category, d.message]), [
    ["affected-rows", "insert id 5 -> 9"],
    ["warnings", "recorded 0 warnings, live 1"],
  ]);
  const quiet = new Noise([parseNoiseRule("field:insertId"), parseNoiseRule("field:warnings")]);
  assert.deepEqual(
    compareCommands(side("INSERT", ok(1, 5)), side("INSERT", ok(1, 9, 1)), { noise: quiet }),
    [],
  );
  const warned = compareCommands(
    side(SELECT, result()),
    side(SELECT, result(ROWS, 1, { warnings: 2 })),
    { noise: none },
  );
  assert.deepEqual(warned.map((d) => d.category), ["warnings"]);
});

Deno.test("compareCommands(): time only when 10x slower and at least 50 ms slower", () => {
  const slow = (us: number) => side(SELECT, result(), [us, us]);
  assert.deepEqual(
    compareCommands(slow(200), slow(30_000), { noise: none }),
    [],
    "under the floor",
  );
  assert.deepEqual(compareCommands(slow(10_000), slow(90_000), { noise: none }), [], "only 9x");
  const found = compareCommands(slow(10_000), slow(120_000), { noise: none });
  assert.deepEqual(found.map((d) => d.category), ["time"]);
  assert.match(found[0].message, /live took 120.0 ms, recorded 10.0 ms \(12x slower\)/);
  const floored = compareCommands(slow(50), slow(600), { noise: none, timeFloorUs: 500 });
  assert.deepEqual(floored.map((d) => d.category), ["time"], "a lower floor set by the user");
  assert.deepEqual(
    compareCommands(slow(10_000), slow(120_000), {
      noise: new Noise([parseNoiseRule("field:time")]),
    }),
    [],
  );
});

Deno.test("noise rules silence exactly what they name", () => {
  const live = ROWS.map((r) => [r[0], r[1], "2030-01-01 00:00:00"]);
  const byName = new Noise([parseNoiseRule("column:updated_at")]);
  assert.deepEqual(
    compareCommands(side(SELECT, result()), side(SELECT, result(live)), { noise: byName }),
    [],
  );
  live[0][1] = "changed";
  assert.deepEqual(
    compareCommands(side(SELECT, result()), side(SELECT, result(live)), { noise: byName }).map((
      d,
    ) => d.message),
    ["1 of 3 rows differ: name one -> changed"],
    "the column rule leaves the other columns compared",
  );
  live[0][1] = "one";
  const byRegex = new Noise([parseNoiseRule("column:/^updated_/")]);
  assert.deepEqual(
    compareCommands(side(SELECT, result()), side(SELECT, result(live)), { noise: byRegex }),
    [],
  );
  const byValue = new Noise([parseNoiseRule("value:/^\\d{4}-\\d\\d-\\d\\d /")]);
  assert.deepEqual(
    compareCommands(side(SELECT, result()), side(SELECT, result(live)), { noise: byValue }),
    [],
  );
  const nulled = live.map((r) => [r[0], r[1], null]);
  assert.equal(
    compareCommands(side(SELECT, result()), side(SELECT, result(nulled)), { noise: byValue })
      .length,
    1,
    "a value matching on one side only still differs",
  );
  const shape = new Noise([parseNoiseRule('fingerprint:"select id, name, updated_at from t"')]);
  assert.ok(shape.ignoresStatement("SELECT  id, name, updated_at FROM t"));
  assert.ok(!shape.ignoresStatement("SELECT id FROM t"));
});

Deno.test("field:connectionId equates each side's own connection id", () => {
  const ids = (id: string) => [{ columns: 2, rows: [[id, "x"]] }] as ResponseElement[];
  const sql = "SELECT CONNECTION_ID(), 'x'";
  const noise = new Noise([parseNoiseRule("field:connectionId")]);
  assert.deepEqual(
    compareCommands(side(sql, ids("12"), undefined, 12), side(sql, ids("40"), undefined, 40), {
      noise,
    }),
    [],
  );
  assert.equal(
    compareCommands(side(sql, ids("12"), undefined, 12), side(sql, ids("41"), undefined, 40), {
      noise,
    }).length,
    1,
  );
  assert.equal(
    compareCommands(side(sql, ids("12"), undefined, 12), side(sql, ids("40"), undefined, 40), {
      noise: none,
    }).length,
    1,
  );
});

Deno.test("parseNoiseRule() and loadNoiseFile() reject what they cannot use, naming it", async () => {
  for (
    const bad of ["bogus", "column:", "value:nope", "value:/(/", "field:colour", "fingerprint:"]
  ) {
    assert.throws(() => parseNoiseRule(bad), NoiseRuleError, bad);
  }
  assert.throws(() => parseNoiseRule("field:colour"), /use one of insertId, affectedRows/);
  const dir = await Deno.makeTempDir();
  try {
    const good = join(dir, "noise.json");
    await Deno.writeTextFile(
      good,
      JSON.stringify({ ignore: ["column:updated_at", "field:insert_id"] }),
    );
    assert.deepEqual((await loadNoiseFile(good)).map((r) => r.kind), ["column", "field"]);
    const bad = join(dir, "bad.json");
    await Deno.writeTextFile(bad, JSON.stringify(["column:a", "nope"]));
    await assert.rejects(loadNoiseFile(bad), /bad.json, rule 2: Noise rule "nope"/);
    await assert.rejects(loadNoiseFile(join(dir, "missing.json")), /Cannot read noise file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ReportBuilder groups differences by fingerprint, keeps 3 examples, and formatReport() shows old and new values", () => {
  const builder = new ReportBuilder({
    mode: "verify",
    recording: "a.jsonl",
    against: "db:3306",
    noise: [],
    ordered: false,
  });
  for (let i = 0; i < 5; i++) {
    const sql = `SELECT id, name, updated_at FROM t WHERE id = ${i}`;
    const live = ROWS.map((r) => [...r]);
    live[0][1] = `new${i}`;
    const differences = compareCommands(side(sql, result()), side(sql, result(live)), {
      noise: none,
    });
    builder.compared({ conn: 1, index: i }, side(sql, result()).command, differences);
  }
  builder.compared({ conn: 1, index: 9 }, side(SELECT, result()).command, []);
  const report = builder.finish();
  assert.equal(report.exitCode, 4);
  assert.equal(report.groups.length, 1);
  assert.equal(report.groups[0].count, 5);
  assert.equal(report.groups[0].examples.length, 3);
  assert.equal(report.tally.identical, 1);
  const text = formatReport(report);
  assert.match(
    text,
    /\[row-values\] select id, name, updated_at from t where id = \? {2}\(5 commands\)/,
  );
  assert.match(text, /connection 1, command 1: SELECT id, name, updated_at FROM t WHERE id = 0/);
  assert.match(text, /\* name +one +new0/);
  assert.match(text, /\.\.\. and 2 more commands of this shape/);
  assert.match(text, /Both sides must hold the same data/);
});
