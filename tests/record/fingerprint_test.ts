import assert from "node:assert/strict";
import { fingerprint, normalizeSql } from "../../src/record/fingerprint.ts";

Deno.test("normalizeSql() ignores whitespace, comments and the trailing semicolon", () => {
  const forms = [
    "SELECT c FROM sbtest1 WHERE id=5",
    "select c from sbtest1 where id = 5;",
    "  SELECT c\n\tFROM sbtest1 /* request 42 */ WHERE id =5 ;; ",
    "SELECT c FROM sbtest1 WHERE id = 5 -- trailing comment",
    "SELECT c FROM sbtest1 WHERE id = 5 # hash comment",
  ];
  const normalized = new Set(forms.map((s) => normalizeSql(s).toLowerCase()));
  assert.equal(normalized.size, 1, [...normalized].join(" | "));
});

Deno.test("normalizeSql() keeps literals, case and the SQL inside executable comments", () => {
  assert.equal(normalizeSql("SELECT 'A  b' FROM T"), "SELECT 'A  b' FROM T");
  assert.equal(normalizeSql("/*!40101 SET NAMES utf8mb4 */"), "SET NAMES utf8mb4");
  assert.notEqual(normalizeSql("SELECT 1"), normalizeSql("SELECT 2"));
});

Deno.test("normalizeSql() does not mistake quotes inside strings for comments", () => {
  assert.equal(
    normalizeSql("SELECT '-- not a comment', \"/* nor */\""),
    "SELECT '-- not a comment', \"/* nor */\"",
  );
  assert.equal(normalizeSql("SELECT 'it''s', 'a\\'b' # c"), "SELECT 'it''s', 'a\\'b'");
});

Deno.test("fingerprint() replaces every kind of literal and keeps their values in order", () => {
  const f = fingerprint("SELECT 1e5, .5, -7, 0x1F, X'0a', b'01', 'str', \"dq\", NULL FROM t");
  assert.equal(f.fingerprint, "select ?, ?, ?, ?, ?, ?, ?, ?, null from t");
  assert.deepEqual(f.literals, ["1e5", ".5", "-7", "0x1F", "X'0a'", "b'01'", "'str'", '"dq"']);
});

Deno.test("fingerprint() tells a negative literal from a subtraction", () => {
  assert.deepEqual(fingerprint("SELECT * FROM t WHERE id = -5").literals, ["-5"]);
  const minus = fingerprint("UPDATE t SET a = a - 1 WHERE id = 3");
  assert.equal(minus.fingerprint, "update t set a = a - ? where id = ?");
  assert.deepEqual(minus.literals, ["1", "3"]);
});

Deno.test("fingerprint() collapses IN lists and multi-row VALUES", () => {
  assert.equal(
    fingerprint("SELECT * FROM t WHERE a IN (1,2,3)").fingerprint,
    fingerprint("select * from t where a in (4)").fingerprint,
  );
  assert.equal(
    fingerprint("INSERT INTO t (a,b) VALUES (1,'x'),(2,'y')").fingerprint,
    fingerprint("insert into t (a, b) values (3, 'z')").fingerprint,
  );
});

Deno.test("fingerprint() keeps names, backquoted or not, and distinguishes different shapes", () => {
  assert.notEqual(
    fingerprint("SELECT a FROM t WHERE id = 1").fingerprint,
    fingerprint("SELECT b FROM t WHERE id = 1").fingerprint,
  );
  assert.equal(fingerprint("SELECT `a` FROM `t`").fingerprint, "select `a` from `t`");
  assert.equal(fingerprint("SELECT 1table FROM t2").fingerprint, "select 1table from t2");
});
