import assert from "node:assert/strict";
import {
  canonicalValue,
  recordedRequest,
  sessionClass,
  SqlCache,
  sqlRequest,
  useRequest,
} from "../../src/replay/keys.ts";
import { fingerprint } from "../../src/record/fingerprint.ts";

const cache = new SqlCache();

Deno.test("sqlRequest() ignores whitespace, comments and the trailing semicolon in the exact key", () => {
  const forms = [
    "SELECT * FROM t WHERE id = 5",
    "SELECT *\n  FROM t   WHERE id = 5 ;",
    "SELECT * /* trace-id: 42 */ FROM t WHERE id = 5 -- why",
  ];
  const keys = new Set(forms.map((sql) => sqlRequest("query", sql, cache).key));
  assert.equal(keys.size, 1);
});

Deno.test("sqlRequest() keys: case and literals decide the exact key, literals the equal-value key", () => {
  const upper = sqlRequest("query", "SELECT * FROM t WHERE id = 5", cache);
  const lower = sqlRequest("query", "select * from t where id = 5", cache);
  const other = sqlRequest("query", "SELECT * FROM t WHERE id = 6", cache);
  assert.notEqual(upper.key, lower.key);
  assert.equal(upper.literalKey, lower.literalKey);
  assert.notEqual(upper.literalKey, other.literalKey);
  assert.equal(upper.shapeKey, other.shapeKey);
  assert.deepEqual(other.values, ["6"]);
});

Deno.test("sqlRequest() keeps commands apart: a query and a prepare of the same SQL differ", () => {
  const query = sqlRequest("query", "SELECT 1", cache);
  const prepare = sqlRequest("stmt-prepare", "SELECT 1", cache);
  assert.notEqual(query.key, prepare.key);
  assert.notEqual(query.shapeKey, prepare.shapeKey);
  assert.equal(prepare.session, "prepare");
});

Deno.test("sqlRequest() puts execute parameters in the exact and equal-value keys, not the shape", () => {
  const a = sqlRequest("stmt-execute", "SELECT c FROM t WHERE id=?", cache, ["5"]);
  const b = sqlRequest("stmt-execute", "SELECT c FROM t WHERE id=?", cache, ["6"]);
  assert.notEqual(a.key, b.key);
  assert.notEqual(a.literalKey, b.literalKey);
  assert.equal(a.shapeKey, b.shapeKey);
  assert.equal(a.text, 'stmt-execute "SELECT c FROM t WHERE id=?" with ["5"]');
});

Deno.test("canonicalValue() compares numbers and strings by their text, NULL only with NULL", () => {
  assert.equal(canonicalValue(5), canonicalValue("5"));
  assert.equal(canonicalValue(2.5), canonicalValue("2.5"));
  assert.notEqual(canonicalValue(null), canonicalValue("NULL"));
  assert.notEqual(canonicalValue(null), canonicalValue(""));
  assert.notEqual(canonicalValue({ base64: "AA==" }), canonicalValue("AA=="));
});

Deno.test("sessionClass() knows what drivers send on connect", () => {
  const cases: [string, string | undefined][] = [
    ["SET NAMES utf8mb4", "set"],
    ["SET autocommit=1", "set"],
    ["SET SESSION sql_mode='STRICT_TRANS_TABLES'", "set"],
    ["SET @x = 5", "set"],
    ["SET PASSWORD = PASSWORD('***')", undefined],
    ["select @@version_comment limit 1", "select-session"],
    ["SELECT @@max_allowed_packet, @@session.tx_isolation AS iso", "select-session"],
    ["SELECT 1", "select-session"],
    ["SELECT DATABASE()", "select-session"],
    ["SELECT CONNECTION_ID()", "select-session"],
    ["SHOW VARIABLES LIKE 'max_allowed_packet'", "show-settings"],
    ["SHOW SESSION VARIABLES", "show-settings"],
    ["SHOW COLLATION", "show-settings"],
    ["BEGIN", "transaction"],
    ["START TRANSACTION READ ONLY", "transaction"],
    ["COMMIT", "transaction"],
    ["ROLLBACK", "transaction"],
    ["SELECT NOW()", undefined],
    ["SELECT @@version FROM dual", undefined],
    ["SELECT * FROM t", undefined],
    ["SELECT 1 + id FROM t", undefined],
    ["SHOW TABLES", undefined],
    ["INSERT INTO t VALUES (1)", undefined],
  ];
  for (const [sql, expected] of cases) {
    assert.equal(sessionClass(fingerprint(sql).fingerprint), expected, sql);
  }
});

Deno.test("useRequest(): USE db and COM_INIT_DB db are one request", () => {
  assert.equal(sqlRequest("query", "USE shop", cache).key, useRequest("shop").key);
  assert.equal(sqlRequest("query", "use `shop`;", cache).key, useRequest("shop").key);
  assert.notEqual(useRequest("shop").key, useRequest("shop2").key);
  assert.equal(useRequest("shop").session, "use");
});

Deno.test("recordedRequest() leaves out what replay synthesizes and reads execute parameters", () => {
  for (const cmd of ["ping", "quit", "stmt-close", "stmt-reset", "stmt-send-long-data"]) {
    assert.equal(recordedRequest({ cmd }, cache), undefined, cmd);
  }
  const execute = recordedRequest(
    { cmd: "stmt-execute", sql: "INSERT INTO t VALUES (?, ?)", params: [1, null], longData: [1] },
    cache,
  )!;
  const live = sqlRequest("stmt-execute", "INSERT INTO t VALUES (?, ?)", cache, [
    "1",
    execute.values[1],
  ]);
  assert.equal(execute.key, live.key);
  assert.equal(execute.text, 'stmt-execute "INSERT INTO t VALUES (?, ?)" with ["1", <long data>]');
  const fields = recordedRequest(
    { cmd: "field-list", table: "t", t: 5, us: [1, 2], fields: 3 },
    cache,
  )!;
  assert.equal(fields.text, 'field-list {"table":"t"}');
});
