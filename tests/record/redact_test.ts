import assert from "node:assert/strict";
import { createRedactor, parseRedactRule } from "../../src/record/redact.ts";
import { ColumnFlag, ColumnType } from "../../src/protocol/constants.ts";
import type { ColumnDefinition41 } from "../../src/protocol/resultset.ts";
import { serializeBinaryRow } from "../../src/protocol/binary.ts";
import { jsonToBinaryValue } from "../../src/record/values.ts";
import { ConnectionRecorder } from "../../src/record/assemble.ts";
import { ColumnRegistry } from "../../src/record/columns.ts";
import type { RecordingEvent } from "../../src/record/events.ts";
import { createSessionTap } from "../../src/session/tap.ts";
import { frame, readCapture } from "../helpers/hex.ts";

function column(name: string, type: number, flags = 0): ColumnDefinition41 {
  return {
    kind: "column-definition",
    catalog: "def",
    schema: "shop",
    table: "users",
    orgTable: "users",
    name,
    orgName: name,
    characterSet: 45,
    columnLength: 100,
    type,
    flags,
    decimals: 0,
  };
}

const PSEUDONYM = /^redacted:[0-9a-f]{12}$/;

Deno.test("parseRedactRule() accepts query: and column: and explains what is wrong otherwise", () => {
  assert.equal(parseRedactRule("query:secret").kind, "query");
  assert.equal(parseRedactRule("column:^email$").kind, "column");
  assert.throws(() => parseRedactRule("email"), /expected query:REGEX .* or column:REGEX/);
  assert.throws(() => parseRedactRule("table:x"), /expected query:REGEX/);
  assert.throws(() => parseRedactRule("column:"), /the regex is empty/);
  assert.throws(
    () => parseRedactRule("column:(unclosed"),
    /Cannot use redact rule "column:\(unclosed"/,
  );
  assert.throws(() => parseRedactRule("query:x*"), /matches the empty string/);
});

Deno.test("createRedactor() keeps default redaction and records the rules, never the key", () => {
  const plain = createRedactor();
  assert.equal(plain.sql("SET PASSWORD = PASSWORD('hunter2')"), "SET PASSWORD = PASSWORD('***')");
  assert.deepEqual(plain.info, { auth: true, sqlPasswords: true, rules: [] });
  const keyed = createRedactor({ rules: ["column:^email$"], key: "s3cret-key" });
  assert.deepEqual(keyed.info, {
    auth: true,
    sqlPasswords: true,
    rules: ["column:^email$"],
    key: "given",
  });
  assert.ok(!JSON.stringify(keyed.info).includes("s3cret-key"));
  assert.equal(createRedactor({ rules: ["query:x"] }).info.key, "random");
});

Deno.test("query rules replace matches consistently, quoted literals keep quotes, numbers stay numbers", () => {
  const redactor = createRedactor({
    rules: ["query:'[^']*@[^']*'", "query:\\b\\d{16}\\b"],
    key: "k",
  });
  const a = redactor.sql("SELECT * FROM u WHERE email = 'alice@example.com'");
  const b = redactor.sql(
    "DELETE FROM u WHERE email='alice@example.com' OR email='bob@example.com'",
  );
  const token = /'(redacted:[0-9a-f]{12})'/.exec(a)![1];
  assert.equal(a, `SELECT * FROM u WHERE email = '${token}'`);
  assert.ok(b.startsWith(`DELETE FROM u WHERE email='${token}' OR email='redacted:`));
  assert.ok(!b.includes("bob@example.com"));
  const card = redactor.sql("INSERT INTO cards VALUES (4111111111111111)");
  const number = /\((\d+)\)/.exec(card)![1];
  assert.equal(number.length, 16);
  assert.notEqual(number, "4111111111111111");
  // Parameters are matched as the literal they stand for, with the same pseudonym.
  assert.equal(redactor.parameter!("alice@example.com"), token);
  // Error messages echo values.
  assert.equal(
    redactor.text!("Duplicate entry 'alice@example.com' for key 'email'"),
    `Duplicate entry '${token}' for key 'email'`,
  );
});

Deno.test("query rules with capture groups replace only the groups", () => {
  const redactor = createRedactor({ rules: ["query:token\\s*=\\s*'([^']*)'"], key: "k" });
  const sql = redactor.sql("UPDATE s SET token = 'abc123' WHERE id = 1");
  assert.match(sql, /^UPDATE s SET token = 'redacted:[0-9a-f]{12}' WHERE id = 1$/);
});

Deno.test("column rules match name, org name or table.name, ignoring case", () => {
  const redactor = createRedactor({
    rules: ["column:^email$", "column:^users\\.phone$"],
    key: "k",
  });
  const text = ColumnType.MYSQL_TYPE_VAR_STRING;
  assert.ok(redactor.column!(column("EMAIL", text), false));
  assert.ok(redactor.column!({ ...column("e", text), orgName: "email" }, false));
  assert.ok(redactor.column!(column("phone", text), false));
  assert.equal(redactor.column!(column("name", text), false), undefined);
  assert.equal(
    redactor.column!({ ...column("phone", text), table: "t", orgTable: "t" }, false),
    undefined,
  );
});

Deno.test("column pseudonyms keep the type: strings, integers in range, decimals, dates, times, NULL", () => {
  const redactor = createRedactor({ rules: ["column:."], key: "k" });
  const replace = (c: ColumnDefinition41, value: string | number | null, binary = false) =>
    value === null ? null : redactor.column!(c, binary)!(value);
  const email = column("email", ColumnType.MYSQL_TYPE_VAR_STRING);
  assert.match(String(replace(email, "alice@example.com")), PSEUDONYM);
  assert.equal(replace(email, "alice@example.com"), replace(email, "alice@example.com"));
  assert.notEqual(replace(email, "alice@example.com"), replace(email, "bob@example.com"));
  assert.equal(replace(email, null), null);

  const tiny = column("age", ColumnType.MYSQL_TYPE_TINY);
  for (let v = -128; v <= 127; v += 17) {
    const out = replace(tiny, v, true) as number;
    assert.equal(typeof out, "number");
    assert.ok(out >= -128 && out <= 127, `${v} -> ${out} fits a signed TINY`);
  }
  const unsigned = column("n", ColumnType.MYSQL_TYPE_LONG, ColumnFlag.UNSIGNED_FLAG);
  const text = replace(unsigned, "4000000000") as string;
  assert.match(text, /^\d+$/);
  assert.ok(Number(text) <= 0xffffffff);
  // The same number in a text row and a binary row gets the same pseudonym.
  const id = column("id", ColumnType.MYSQL_TYPE_LONG);
  assert.equal(String(replace(id, 42, true)), replace(id, "42"));
  const year = replace(column("y", ColumnType.MYSQL_TYPE_YEAR), "1999") as string;
  assert.ok(Number(year) >= 1901 && Number(year) <= 2155);

  const price = replace(column("price", ColumnType.MYSQL_TYPE_NEWDECIMAL), "-1234.50") as string;
  assert.match(price, /^-[1-9]\d{3}\.\d{2}$/);

  const date = replace(column("d", ColumnType.MYSQL_TYPE_DATETIME), "1987-06-05 04:03:02.123456");
  assert.match(String(date), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
  const [y, m, d, h, mi, s] = String(date).split(/[- :.]/).map(Number);
  assert.ok(y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= 28 && h < 24 && mi < 60 && s < 60);
  assert.equal(replace(column("d", ColumnType.MYSQL_TYPE_DATE), "0000-00-00"), "0000-00-00");
  assert.match(
    String(replace(column("t", ColumnType.MYSQL_TYPE_TIME), "-12:34:56")),
    /^-\d{2}:\d{2}:\d{2}$/,
  );

  // Binary rows still encode with the replacements.
  const columns = [tiny, id, column("d", ColumnType.MYSQL_TYPE_DATETIME), email];
  const values = [replace(tiny, 100, true), replace(id, 7, true), date, replace(email, "x")];
  assert.doesNotThrow(() =>
    serializeBinaryRow({
      kind: "binary-row",
      values: values.map((v, i) => jsonToBinaryValue(v, columns[i].type, `value ${i}`)),
    }, columns)
  );
});

Deno.test("pseudonyms are the same across redactors with the same key, different with another", () => {
  const email = column("email", ColumnType.MYSQL_TYPE_VAR_STRING);
  const value = (key?: string) =>
    createRedactor({ rules: ["column:email"], key }).column!(email, false)!("alice@example.com");
  assert.equal(value("key-1"), value("key-1"));
  assert.notEqual(value("key-1"), value("key-2"));
  assert.notEqual(value(), value(), "without a key, each recording gets its own random key");
});

Deno.test("recordings of every captured login hold no auth data, not even the clear-text password", () => {
  const dir = new URL("../fixtures/captures/", import.meta.url);
  let logins = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".txt")) continue;
    const lines: string[] = [];
    const emit = (event: RecordingEvent) => lines.push(JSON.stringify(event));
    const columns = new ColumnRegistry(emit);
    const frames = readCapture(new URL(entry.name, dir));
    for (const [conn, list] of Map.groupBy(frames, (f) => f.connection)) {
      // deno-lint-ignore prefer-const
      let tap: ReturnType<typeof createSessionTap>;
      const recorder = new ConnectionRecorder({
        conn,
        now: () => 0,
        context: () => tap.decoder.context,
        columns,
        emit,
        redactor: createRedactor(),
      });
      tap = createSessionTap({ onPacket: (p) => recorder.packet(p) });
      for (const f of list) {
        const bytes = frame(f.sequenceId, f.payload);
        if (f.direction === "client") tap.client(bytes);
        else tap.server(bytes);
      }
      recorder.close("closed", { client: 0, server: 0 });
    }
    for (const line of lines) {
      const event = JSON.parse(line);
      const packets = [
        event.packet,
        ...(event.auth ?? []).map((a: { packet: unknown }) => a.packet),
      ];
      for (const packet of packets.filter(Boolean)) {
        for (const field of ["authResponse", "data"]) {
          if (field in packet && packet.kind !== "auth-more-data") {
            if (
              packet.kind?.startsWith("handshake-response") ||
              packet.kind === "auth-switch-response"
            ) {
              logins++;
              assert.deepEqual(
                packet[field],
                { redacted: true },
                `${entry.name}: ${line.slice(0, 120)}`,
              );
            }
          }
        }
        assert.ok(!("authResponseLengthPrefix" in packet));
      }
      if (event.cmd === "change-user") assert.ok(!("authResponse" in event));
    }
    if (entry.name.includes("clear-password")) {
      // The capture's password is "bpw", sent in clear after the switch.
      const text = lines.join("\n");
      assert.ok(
        !text.includes(btoa("bpw\0")) && !text.includes(btoa("bpw")),
        "no clear-text password",
      );
    }
  }
  assert.ok(logins >= 10, `${logins} logins checked`);
});
