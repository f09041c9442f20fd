import assert from "node:assert/strict";
import {
  Capability,
  ColumnType,
  MariaDbCapability,
  ServerStatus,
} from "../../src/protocol/constants.ts";
import type { CodecContext } from "../../src/protocol/context.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { isEofPacket, parseEof, parseGenericResponse } from "../../src/protocol/generic.ts";
import {
  type ColumnDefinition41,
  isBinaryColumn,
  parseColumnCount,
  parseColumnDefinition320,
  parseColumnDefinition41,
  parseLocalInfileData,
  parseLocalInfileRequest,
  parseStatistics,
  parseStmtPrepareOk,
  parseTextRow,
  type ResultsetPacket,
  serializeColumnCount,
  serializeColumnDefinition41,
  serializeResultsetPacket,
  serializeTextRow,
  summarizeResultsetPacket,
  textRowStrings,
} from "../../src/protocol/resultset.ts";
import { type CapturedFrame, hex, readCapture, toHex } from "../helpers/hex.ts";

// ---------------------------------------------------------------------------------------------
// Helpers over the real captures in tests/fixtures/captures/d-*.txt

function capture(name: string): CapturedFrame[] {
  return readCapture(new URL(`../fixtures/captures/${name}`, import.meta.url));
}

/** The negotiated context, read straight from the captured greeting and HandshakeResponse. */
function contextOf(frames: CapturedFrame[]): CodecContext {
  const greeting = frames[0].payload;
  let at = greeting.indexOf(0, 1) + 1 + 4 + 8 + 1;
  const serverLow = greeting[at] | (greeting[at + 1] << 8);
  at += 2 + 1 + 2;
  const serverHigh = greeting[at] | (greeting[at + 1] << 8);
  at += 2 + 1 + 6;
  const serverMariaDb = new DataView(greeting.buffer, greeting.byteOffset).getUint32(at, true);
  const server = (serverLow | (serverHigh << 16)) >>> 0;
  const response = frames[1].payload;
  const view = new DataView(response.buffer, response.byteOffset);
  const clientLow = view.getUint16(0, true);
  if ((clientLow & Capability.CLIENT_PROTOCOL_41) === 0) {
    return { capabilities: server & clientLow, mariadbCapabilities: 0 };
  }
  const client = view.getUint32(0, true);
  const clientMariaDb = (client & Capability.CLIENT_LONG_PASSWORD) === 0
    ? view.getUint32(28, true)
    : 0;
  return {
    capabilities: (server & client) >>> 0,
    mariadbCapabilities: (serverMariaDb & clientMariaDb) >>> 0,
  };
}

/** The server payloads answering the client command equal to (or else containing) `text`. */
function responseTo(frames: CapturedFrame[], text: string): Uint8Array[] {
  const needle = toHex(new TextEncoder().encode(text));
  const commands = frames.filter((f) => f.direction === "client" && f.sequenceId === 0);
  const command = commands.find((f) => toHex(f.payload.subarray(1)) === needle) ??
    commands.find((f) => toHex(f.payload).includes(needle));
  assert.ok(command, `no command containing ${JSON.stringify(text)}`);
  const out: Uint8Array[] = [];
  for (const frame of frames.slice(frames.indexOf(command) + 1)) {
    if (frame.direction === "client") break;
    out.push(frame.payload);
  }
  return out;
}

function assertRoundTrip(payload: Uint8Array, message: ResultsetPacket, context?: CodecContext) {
  assert.equal(toHex(serializeResultsetPacket(message, context)), toHex(payload));
}

const ascii = (text: string) => toHex(new TextEncoder().encode(text));

const cli = capture("d-cli-queries.txt");
const cliContext = contextOf(cli);
const ext = capture("d-cli-extended-metadata.txt");
const extContext = contextOf(ext);
const fieldList = capture("d-cli-field-list.txt");
const fieldListContext = contextOf(fieldList);
const mysql2 = capture("d-mysql2-session-track.txt");
const mysql2Context = contextOf(mysql2);
const connector = capture("d-mariadb-connector-deprecate-eof.txt");
const connectorContext = contextOf(connector);
const old = capture("d-raw-320-queries.txt");

Deno.test("captured contexts negotiate what the tests rely on", () => {
  const mariadb = (c: CodecContext, flag: number) => (c.mariadbCapabilities & flag) !== 0;
  for (
    const context of [cliContext, extContext, fieldListContext, mysql2Context, connectorContext]
  ) {
    assert.ok(mariadb(context, MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA));
  }
  assert.ok(mariadb(cliContext, MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA));
  assert.ok(mariadb(connectorContext, MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA));
  assert.ok(!mariadb(mysql2Context, MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA));
});

// ---------------------------------------------------------------------------------------------
// Column count

Deno.test("parseColumnCount() reads MariaDB's metadata-follows byte with MARIADB_CLIENT_CACHE_METADATA (real CLI)", () => {
  const [payload] = responseTo(cli, "SELECT id, name, note, b FROM t WHERE id <= 3 ORDER BY id");
  assert.equal(toHex(payload), "0401");
  const count = parseColumnCount(payload, cliContext);
  assert.deepEqual(count, { kind: "column-count", count: 4, metadataFollows: 1 });
  assertRoundTrip(payload, count, cliContext);
});

Deno.test("parseColumnCount() reads metadata_follows=0 when a prepared statement's metadata is cached (real mariadb connector)", () => {
  const execute = connector.findIndex((f) => f.direction === "client" && f.payload[0] === 0x17);
  const payload = connector[execute + 1].payload;
  assert.equal(toHex(payload), "0200");
  const count = parseColumnCount(payload, connectorContext);
  assert.deepEqual(count, { kind: "column-count", count: 2, metadataFollows: 0 });
  assertRoundTrip(payload, count, connectorContext);
  // No column definitions follow: the next packet is already a (binary) row.
  assert.equal(connector[execute + 2].payload[0], 0x00);
});

Deno.test("parseColumnCount() reads a bare count without metadata capabilities (real mysql2)", () => {
  const [payload] = responseTo(mysql2, "CALL two()");
  const count = parseColumnCount(payload, mysql2Context);
  assert.deepEqual(count, { kind: "column-count", count: 1 });
  assertRoundTrip(payload, count, mysql2Context);
});

Deno.test("parseColumnCount() reads MySQL's metadata_follows after the count with CLIENT_OPTIONAL_RESULTSET_METADATA", () => {
  const context = {
    capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_OPTIONAL_RESULTSET_METADATA,
    mariadbCapabilities: 0,
  };
  const payload = hex("fc fb 00 00"); // 251 columns, RESULTSET_METADATA_NONE
  const count = parseColumnCount(payload, context);
  assert.deepEqual(count, { kind: "column-count", count: 251, metadataFollows: 0 });
  assert.equal(toHex(serializeColumnCount(count, context)), toHex(payload));
});

Deno.test("parseColumnCount() rejects 0, a missing metadata byte and a non-minimal count", () => {
  assert.throws(() => parseColumnCount(hex("00")), ProtocolError);
  assert.throws(() => parseColumnCount(hex("04"), cliContext), ProtocolError);
  assert.throws(() => parseColumnCount(hex("fc 04 00")), ProtocolError);
  assert.deepEqual(parseColumnCount(hex("04 01")).trailing, hex("01"));
});

// ---------------------------------------------------------------------------------------------
// ColumnDefinition41

Deno.test("parseColumnDefinition41() reads every field of a table column with an empty extended metadata block (real CLI)", () => {
  const response = responseTo(cli, "SELECT id, name, note, b FROM t WHERE id <= 3 ORDER BY id");
  const columns = response.slice(1, 5).map((p) => parseColumnDefinition41(p, cliContext));
  assert.deepEqual(columns[0], {
    kind: "column-definition",
    catalog: "def",
    schema: "task_d",
    table: "t",
    orgTable: "t",
    name: "id",
    orgName: "id",
    extendedMetadata: {},
    characterSet: 63,
    columnLength: 11,
    type: ColumnType.MYSQL_TYPE_LONG,
    flags: 0x4203,
    decimals: 0,
  });
  assert.deepEqual(
    columns.map((c) => [c.name, c.type, c.characterSet, c.columnLength]),
    [
      ["id", ColumnType.MYSQL_TYPE_LONG, 63, 11],
      ["name", ColumnType.MYSQL_TYPE_VAR_STRING, 33, 60],
      ["note", ColumnType.MYSQL_TYPE_BLOB, 33, 196605],
      ["b", ColumnType.MYSQL_TYPE_VAR_STRING, 63, 8],
    ],
  );
  columns.forEach((c, i) => assertRoundTrip(response[i + 1], c, cliContext));
});

Deno.test("parseColumnDefinition41() reads expression columns with empty schema and table (real mysql2)", () => {
  const response = responseTo(mysql2, "CALL two()");
  const column = parseColumnDefinition41(response[6], mysql2Context);
  assert.equal(column.name, "b");
  assert.equal(column.schema, "");
  assert.equal(column.orgName, "");
  assert.equal(column.decimals, 0x27);
  assertRoundTrip(response[6], column, mysql2Context);
});

Deno.test("parseColumnDefinition41() decodes MariaDB extended metadata: json format, uuid/inet6/point type names (real CLI)", () => {
  const response = responseTo(ext, "SELECT j, u, i6, p FROM ext");
  const columns = response.slice(1, 5).map((p) => parseColumnDefinition41(p, extContext));
  assert.deepEqual(columns.map((c) => [c.name, c.extendedMetadata]), [
    ["j", { formatName: "json" }],
    ["u", { dataTypeName: "uuid" }],
    ["i6", { dataTypeName: "inet6" }],
    ["p", { dataTypeName: "point" }],
  ]);
  assert.equal(columns[0].type, ColumnType.MYSQL_TYPE_BLOB);
  assert.equal(columns[3].type, ColumnType.MYSQL_TYPE_GEOMETRY);
  columns.forEach((c, i) => assertRoundTrip(response[i + 1], c, extContext));
  assert.equal(
    summarizeResultsetPacket(columns[1]),
    "COLUMN task_d.ext.u MYSQL_TYPE_STRING(108) uuid charset=33 flags=0x00a0",
  );
});

Deno.test("parseColumnDefinition41() keeps an extended metadata block it cannot re-encode as raw bytes", () => {
  const cases = [
    "05 02 03 61 62 63", // an unknown attribute 2
    "09 01 04 6a 73 6f 6e 00 01 78", // format before type name
    "06 00 01 78 00 01 79", // the type name twice
    "03 00 01 e9", // not UTF-8
    "02 00 05", // cut short
  ];
  for (const block of cases) {
    const payload = hex(
      `03 64 65 66 00 00 00 01 61 00 ${block} 0c 21 00 04 00 00 00 fd 00 00 00 00 00`,
    );
    const column = parseColumnDefinition41(payload, extContext);
    assert.deepEqual(column.extendedMetadata, { raw: hex(block).subarray(1) }, block);
    assertRoundTrip(payload, column, extContext);
  }
});

Deno.test("parseColumnDefinition41() reads the layout without extended metadata", () => {
  // The real t.id column above, minus its extended metadata byte.
  const payload = hex("03646566 067461736b5f64 0174 0174 026964 026964 0c3f000b000000030342000000");
  const column = parseColumnDefinition41(payload);
  assert.equal(column.extendedMetadata, undefined);
  assert.equal(column.name, "id");
  assertRoundTrip(payload, column);
  // With the capability, an absent block is written empty.
  assert.equal(
    toHex(serializeColumnDefinition41(column, extContext)).includes("69640069640c"),
    false,
  );
  assert.ok(toHex(serializeColumnDefinition41(column, extContext)).includes("026964000c"));
});

Deno.test("parseColumnDefinition41() reads COM_FIELD_LIST default values: NULL, '0', '7', 'hi' (real CLI)", () => {
  const defaults = (table: string) =>
    responseTo(fieldList, `\x04${table}\x00`)
      .filter((p) => !isEofPacket(p))
      .map((p) => {
        const column = parseColumnDefinition41(p, fieldListContext);
        assertRoundTrip(p, column, fieldListContext);
        return [
          column.name,
          column.defaultValue === null ? null : new TextDecoder().decode(column.defaultValue),
        ];
      });
  assert.deepEqual(defaults("t"), [["id", "0"], ["name", null], ["note", null], ["b", null]]);
  assert.deepEqual(defaults("small"), [["k", "7"], ["v", "hi"]]);
  assert.deepEqual(defaults("ext").map(([name]) => name), ["j", "u", "i6", "p"]);
});

Deno.test("parseColumnDefinition41() keeps names that are not UTF-8, a non-standard fixed length, a non-zero filler and extra bytes", () => {
  const payload = hex(`
    03 64 65 66  01 64  01 74  01 74  02 e9 61  01 61   # name is latin1 "éa"
    0d 08 00 0a 00 00 00 fd 00 00 00                    # fixed length 0x0d, latin1
    01 02                                              # filler 01 02
    fc fb 00 ${"78".repeat(251)}                        # a 251-byte default value
    99                                                 # an extra byte
  `);
  const column = parseColumnDefinition41(payload);
  assert.deepEqual(column.rawNames, { name: hex("e9 61") });
  assert.equal(column.name, "\ufffda");
  assert.equal(column.fixedLength, 0x0d);
  assert.deepEqual(column.filler, hex("01 02"));
  assert.equal(column.defaultValue?.length, 251);
  assert.deepEqual(column.trailing, hex("99"));
  assertRoundTrip(payload, column);
});

Deno.test("parseColumnDefinition41() throws ProtocolError on a truncated definition", () => {
  assert.throws(
    () => parseColumnDefinition41(hex("03 64 65 66 00 00 00 01 61 00 0c 3f 00")),
    (e) => {
      assert.ok(e instanceof ProtocolError);
      assert.match(e.message, /^Cannot parse column definition: /);
      return true;
    },
  );
});

// ---------------------------------------------------------------------------------------------
// ColumnDefinition320

Deno.test("parseColumnDefinition320() reads the columns sent to a pre-4.1 client (real raw client)", () => {
  const response = responseTo(old, "SELECT id, name, note");
  const columns = response.slice(1, 4).map(parseColumnDefinition320);
  assert.deepEqual(columns[0], {
    kind: "column-definition-320",
    table: "t",
    name: "id",
    columnLength: 11,
    type: ColumnType.MYSQL_TYPE_LONG,
    flags: 0x4203,
    decimals: 0,
  });
  assert.deepEqual(
    columns.map((c) => [c.name, c.type, c.columnLength, c.flags]),
    [["id", 3, 11, 0x4203], ["name", 0xfd, 20, 0], ["note", 0xfc, 65535, 0x10]],
  );
  columns.forEach((c, i) => assertRoundTrip(response[i + 1], c));
  assert.equal(
    summarizeResultsetPacket(columns[0]),
    "COLUMN t.id MYSQL_TYPE_LONG(11) flags=0x4203",
  );
});

Deno.test("parseColumnDefinition320() reads COM_FIELD_LIST default values (real raw client)", () => {
  const response = responseTo(old, "\x04small\x00");
  const columns = response.slice(0, 2).map(parseColumnDefinition320);
  assert.deepEqual(columns.map((c) => toHex(c.defaultValue ?? new Uint8Array())), [
    ascii("7"),
    ascii("hi"),
  ]);
  columns.forEach((c, i) => assertRoundTrip(response[i], c));
});

Deno.test("parseColumnDefinition320() reads 1-byte flags without CLIENT_LONG_FLAG, and NULL defaults", () => {
  const payload = hex("01 74 01 63 03 05 00 00 01 fe 02 01 00 fb");
  const column = parseColumnDefinition320(payload);
  assert.equal(column.shortFlags, true);
  assert.equal(column.flags, 1);
  assert.equal(column.defaultValue, null);
  assertRoundTrip(payload, column);
  assert.throws(
    () => parseColumnDefinition320(hex("01 74 01 63 04 05 00 00 00 01 fe 02 01 00")),
    /column length has length 4/,
  );
});

// ---------------------------------------------------------------------------------------------
// Text rows

Deno.test("parseTextRow() reads values and binary bytes (real CLI)", () => {
  const response = responseTo(cli, "SELECT id, name, note, b FROM t WHERE id <= 3 ORDER BY id");
  const payload = response[6];
  const row = parseTextRow(payload, 4);
  assert.deepEqual(row.values, [
    hex(ascii("1")),
    hex(ascii("alice")),
    hex(ascii("y")),
    hex("00 ff"),
  ]);
  assertRoundTrip(payload, row);
  const columns = response.slice(1, 5).map((p) => parseColumnDefinition41(p, cliContext));
  assert.deepEqual(textRowStrings(row, columns), ["1", "alice", "y", hex("00 ff")]);
  assert.equal(summarizeResultsetPacket(row), 'ROW "1" "alice" "y" 0x00ff');
});

Deno.test("parseTextRow() reads 0xfb as NULL (real CLI)", () => {
  const response = responseTo(cli, "SELECT id, name, note, b FROM t WHERE id <= 3 ORDER BY id");
  const row = parseTextRow(response[7], 4);
  assert.deepEqual(row.values, [hex(ascii("2")), hex(ascii("bob")), hex(ascii("y")), null]);
  assertRoundTrip(response[7], row);
  // A one-column row holding NULL is the single byte 0xfb, like a LOCAL INFILE request's header.
  const [, , , nullRow] = responseTo(cli, "SELECT 1/0");
  assert.equal(toHex(nullRow), "fb");
  assert.deepEqual(parseTextRow(nullRow, 1).values, [null]);
});

Deno.test("parseTextRow() reads a 300-byte value behind a 0xfc prefix, an empty string and NULL (real CLI)", () => {
  const response = responseTo(cli, "SELECT REPEAT('x', 300) AS big, '' AS empty, NULL AS n");
  const payload = response[5];
  assert.equal(toHex(payload.subarray(0, 3)), "fc2c01");
  const row = parseTextRow(payload, 3);
  assert.equal(row.values[0]?.length, 300);
  assert.deepEqual(row.values.slice(1), [new Uint8Array(0), null]);
  assertRoundTrip(payload, row);
  assert.match(summarizeResultsetPacket(row), /^ROW "x{40}"…\(300B\) "" NULL$/);
});

Deno.test("parseTextRow() returns views into the payload, not copies", () => {
  const payload = hex("03 61 62 63 fb 01 7a");
  const row = parseTextRow(payload, 3);
  assert.equal(row.values[0]?.buffer, payload.buffer);
  assert.equal(row.values[0]?.byteOffset, 1);
  assert.equal(row.values[2]?.byteOffset, 6);
});

Deno.test("parseTextRow() reads length prefixes at every boundary", () => {
  const cases: [number, string][] = [
    [0, "00"],
    [250, "fa"],
    [251, "fc fb 00"],
    [0xffff, "fc ff ff"],
    [0x10000, "fd 00 00 01"],
    [0xffffff, "fd ff ff ff"],
    [0x1000000, "fe 00 00 00 01 00 00 00 00"],
  ];
  for (const [length, prefix] of cases) {
    const head = hex(prefix);
    const payload = new Uint8Array(1 + head.length + length);
    payload[0] = 0xfb; // a NULL first, so the long value does not start the row
    payload.set(head, 1);
    payload.fill(0x61, 1 + head.length);
    const row = parseTextRow(payload, 2);
    assert.equal(row.values[0], null);
    assert.equal(row.values[1]?.length, length, prefix);
    assert.equal(toHex(serializeTextRow(row).subarray(0, 1 + head.length)), "fb" + toHex(head));
    assert.equal(serializeTextRow(row).length, payload.length);
  }
});

Deno.test("parseTextRow() throws ProtocolError on a wrong column count, 0xff, a cut value or a non-minimal prefix", () => {
  const bad: [string, number, RegExp][] = [
    ["01 31", 2, /value 2 of 2 is missing/],
    ["01 31 01 32", 1, /2 bytes after 1 values/],
    ["ff", 1, /0xff is not a valid length/],
    ["05 61 62", 1, /value 1 needs 5 bytes, 2 left/],
    ["fc 05 00 61 62 63 64 65", 1, /non-minimal length 5/],
    ["fd ff ff 00", 1, /non-minimal length 65535/],
    ["fe ff ff ff 00 00 00 00 00", 1, /non-minimal length/],
    ["fe 00 00 00 01 00 00 00 00", 1, /needs 16777216 bytes/],
    ["fc 01", 1, /cut short/],
  ];
  for (const [bytes, columns, message] of bad) {
    assert.throws(() => parseTextRow(hex(bytes), columns), (e) => {
      assert.ok(e instanceof ProtocolError, bytes);
      assert.match(e.message, /^Cannot parse text row: /);
      assert.match(e.message, message, bytes);
      return true;
    });
  }
});

Deno.test("textRowStrings() leaves binary string, blob and geometry values as bytes and decodes numbers and JSON (real CLI)", () => {
  const response = responseTo(ext, "SELECT j, u, i6, p FROM ext");
  const columns = response.slice(1, 5).map((p) => parseColumnDefinition41(p, extContext));
  const row = parseTextRow(response[6], 4);
  assertRoundTrip(response[6], row);
  const strings = textRowStrings(row, columns);
  assert.deepEqual(strings.slice(0, 3), ['{"a":1}', "123e4567-e89b-12d3-a456-426655440000", "::1"]);
  assert.ok(strings[3] instanceof Uint8Array);
  assert.equal((strings[3] as Uint8Array).length, 25);
});

Deno.test("isBinaryColumn() uses the charset for 4.1 columns and BINARY_FLAG for 3.20 columns", () => {
  assert.ok(isBinaryColumn({ type: ColumnType.MYSQL_TYPE_BLOB, flags: 0x90, characterSet: 63 }));
  assert.ok(!isBinaryColumn({ type: ColumnType.MYSQL_TYPE_BLOB, flags: 0x10, characterSet: 33 }));
  assert.ok(
    !isBinaryColumn({ type: ColumnType.MYSQL_TYPE_LONGLONG, flags: 0x80, characterSet: 63 }),
  );
  assert.ok(isBinaryColumn({ type: ColumnType.MYSQL_TYPE_STRING, flags: 0x80 }));
  assert.ok(!isBinaryColumn({ type: ColumnType.MYSQL_TYPE_STRING, flags: 0 }));
});

// ---------------------------------------------------------------------------------------------
// COM_STMT_PREPARE_OK

Deno.test("parseStmtPrepareOk() reads id, columns, params and warnings (real mysql2 and mariadb connector)", () => {
  for (
    const [frames, context, id] of [[mysql2, mysql2Context, 3], [
      connector,
      connectorContext,
      10,
    ]] as const
  ) {
    const prepare = frames.findIndex((f) => f.direction === "client" && f.payload[0] === 0x16);
    const payload = frames[prepare + 1].payload;
    const ok = parseStmtPrepareOk(payload, context);
    assert.deepEqual(ok, {
      kind: "stmt-prepare-ok",
      statementId: id,
      numColumns: 2,
      numParams: 1,
      warnings: 0,
    });
    assertRoundTrip(payload, ok, context);
    assert.equal(summarizeResultsetPacket(ok), `PREPARE_OK id=${id} columns=2 params=1 warnings=0`);
  }
});

Deno.test("parseStmtPrepareOk() reads a packet without warning count, MySQL 8's metadata_follows, and keeps a non-zero reserved byte", () => {
  const short = hex("00 01 00 00 00 00 00 02 00");
  assert.deepEqual(parseStmtPrepareOk(short), {
    kind: "stmt-prepare-ok",
    statementId: 1,
    numColumns: 0,
    numParams: 2,
  });
  assertRoundTrip(short, parseStmtPrepareOk(short));
  const mysql8 = {
    capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_OPTIONAL_RESULTSET_METADATA,
    mariadbCapabilities: 0,
  };
  const withFlag = hex("00 01 00 00 00 01 00 00 00 00 00 00 01");
  const ok = parseStmtPrepareOk(withFlag, mysql8);
  assert.equal(ok.metadataFollows, 1);
  assertRoundTrip(withFlag, ok);
  assert.deepEqual(parseStmtPrepareOk(withFlag).trailing, hex("01"));
  const reserved = hex("00 01 00 00 00 01 00 00 00 07 00 00");
  assert.equal(parseStmtPrepareOk(reserved).reserved, 7);
  assertRoundTrip(reserved, parseStmtPrepareOk(reserved));
  const cut = hex("00 01 00 00 00 01 00 00 00 00");
  assert.deepEqual(parseStmtPrepareOk(cut).trailing, hex("00"));
  assertRoundTrip(cut, parseStmtPrepareOk(cut));
  assert.throws(() => parseStmtPrepareOk(hex("00 01 00 00")), ProtocolError);
  assert.throws(
    () => parseStmtPrepareOk(hex("ff 01 00 00 00 01 00 00 00")),
    /expected header 0x00/,
  );
});

// ---------------------------------------------------------------------------------------------
// LOCAL INFILE and COM_STATISTICS

Deno.test("parseLocalInfileRequest() and parseLocalInfileData() read LOAD DATA LOCAL INFILE (real CLI)", () => {
  const frames = capture("d-cli-local-infile.txt");
  const [request] = responseTo(
    frames,
    "LOAD DATA LOCAL INFILE '/tmp/d-infile.tsv' INTO TABLE loaded",
  );
  const parsed = parseLocalInfileRequest(request);
  assert.deepEqual(parsed, { kind: "local-infile-request", filename: "/tmp/d-infile.tsv" });
  assertRoundTrip(request, parsed);
  assert.equal(summarizeResultsetPacket(parsed), 'LOCAL INFILE "/tmp/d-infile.tsv"');
  const at = frames.findIndex((f) => toHex(f.payload) === toHex(request));
  const data = [frames[at + 1], frames[at + 2]].map((f) => {
    assert.equal(f.direction, "client");
    const message = parseLocalInfileData(f.payload);
    assertRoundTrip(f.payload, message);
    return message;
  });
  assert.equal(new TextDecoder().decode(data[0].data), "1\tone\n2\ttwo\n");
  assert.equal(data[1].data.length, 0);
  assert.equal(summarizeResultsetPacket(data[0]), "LOCAL INFILE DATA 12B");
  assert.equal(summarizeResultsetPacket(data[1]), "LOCAL INFILE DATA end");
});

Deno.test("parseLocalInfileRequest() keeps a file name that is not UTF-8 and rejects other headers", () => {
  const payload = hex("fb 2f e9");
  const request = parseLocalInfileRequest(payload);
  assert.deepEqual(request.filenameBytes, hex("2f e9"));
  assertRoundTrip(payload, request);
  assert.throws(() => parseLocalInfileRequest(hex("00 2f")), ProtocolError);
});

Deno.test("parseStatistics() reads the COM_STATISTICS string (real mariadb-admin)", () => {
  const frames = capture("d-admin-statistics.txt");
  const payload = responseTo(frames, "\x09")[0];
  const statistics = parseStatistics(payload);
  assert.match(statistics.text, /^Uptime: \d+ {2}Threads: \d+ {2}Questions: \d+ {2}Slow queries: /);
  assert.equal(statistics.textBytes, undefined);
  assertRoundTrip(payload, statistics);
  assert.deepEqual(parseStatistics(hex("e9")).textBytes, hex("e9"));
});

// ---------------------------------------------------------------------------------------------
// A sweep: every text result set in the captures, walked as a session would, round-trips

interface Walked {
  columnCounts: number;
  columns: number;
  rows: number;
}

/** Walks the responses to COM_QUERY and COM_FIELD_LIST by protocol state, not by first byte. */
function walkTextResults(frames: CapturedFrame[], context: CodecContext, v41: boolean): Walked {
  const seen: Walked = { columnCounts: 0, columns: 0, rows: 0 };
  const deprecateEof = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  const check = (payload: Uint8Array, message: ResultsetPacket) =>
    assert.equal(toHex(serializeResultsetPacket(message, context)), toHex(payload));
  for (let i = 2; i < frames.length; i++) {
    const command = frames[i];
    if (command.direction !== "client" || command.sequenceId !== 0) continue;
    const kind = command.payload[0];
    if (kind !== 0x03 && kind !== 0x04) continue;
    let at = i + 1;
    const next = () => frames[at++].payload;
    const readColumns = (count: number) => {
      for (let c = 0; c < count; c++) {
        const payload = next();
        check(
          payload,
          v41 ? parseColumnDefinition41(payload, context) : parseColumnDefinition320(payload),
        );
        seen.columns++;
      }
    };
    if (kind === 0x04) {
      while (!isEofPacket(frames[at].payload)) readColumns(1);
      continue;
    }
    for (;;) {
      const first = frames[at].payload;
      if (first[0] === 0x00 || first[0] === 0xff || first[0] === 0xfb) break; // OK, ERR, LOCAL INFILE
      const countPayload = next();
      const count = parseColumnCount(countPayload, context);
      check(countPayload, count);
      seen.columnCounts++;
      if (count.metadataFollows !== 0) readColumns(count.count);
      if (!deprecateEof) parseEof(next(), context);
      let end;
      for (;;) {
        const payload = next();
        const terminal = deprecateEof
          ? payload[0] === 0xfe && payload.length < 0xffffff
          : isEofPacket(payload);
        if (terminal || payload[0] === 0xff) {
          end = parseGenericResponse(payload, context);
          break;
        }
        check(payload, parseTextRow(payload, count.count));
        seen.rows++;
      }
      const status = end.kind === "ok" || end.kind === "eof" ? end.statusFlags ?? 0 : 0;
      if ((status & ServerStatus.SERVER_MORE_RESULTS_EXISTS) === 0) break;
    }
  }
  return seen;
}

Deno.test("every text result set in the d-* captures parses and round-trips when walked by protocol state", () => {
  const cases: [string, boolean, Walked][] = [
    ["d-cli-queries.txt", true, { columnCounts: 5, columns: 15, rows: 6 }],
    ["d-cli-extended-metadata.txt", true, { columnCounts: 1, columns: 4, rows: 1 }],
    // 3 queries, then COM_FIELD_LIST for 4 tables (12 columns)
    ["d-cli-field-list.txt", true, { columnCounts: 3, columns: 15, rows: 13 }],
    ["d-mysql2-session-track.txt", true, { columnCounts: 4, columns: 5, rows: 4 }],
    ["d-mariadb-connector-deprecate-eof.txt", true, { columnCounts: 7, columns: 13, rows: 8 }],
    ["d-raw-320-queries.txt", false, { columnCounts: 1, columns: 5, rows: 2 }],
  ];
  for (const [file, v41, expected] of cases) {
    const frames = capture(file);
    assert.deepEqual(walkTextResults(frames, contextOf(frames), v41), expected, file);
  }
});

Deno.test("summarizeResultsetPacket() describes column counts, columns, statistics and prepare results", () => {
  assert.equal(
    summarizeResultsetPacket(parseColumnCount(hex("04 01"), cliContext)),
    "COLUMNS 4 metadata_follows=1",
  );
  const [, column] = responseTo(cli, "SELECT id, name, note, b FROM t WHERE id <= 3 ORDER BY id");
  assert.equal(
    summarizeResultsetPacket(parseColumnDefinition41(column, cliContext)),
    "COLUMN task_d.t.id MYSQL_TYPE_LONG(11) charset=63 flags=0x4203",
  );
  const listed: ColumnDefinition41 = parseColumnDefinition41(
    responseTo(fieldList, "\x04small\x00")[1],
    fieldListContext,
  );
  assert.equal(
    summarizeResultsetPacket(listed),
    'COLUMN task_d.small.v MYSQL_TYPE_VAR_STRING(15) charset=33 flags=0x0000 default="hi"',
  );
  assert.equal(
    summarizeResultsetPacket(parseStatistics(hex(ascii("Uptime: 1")))),
    "STATISTICS Uptime: 1",
  );
});
