import assert from "node:assert/strict";
import { Capability, ColumnType as T, CursorType } from "../../src/protocol/constants.ts";
import { type CodecContext, DEFAULT_CONTEXT } from "../../src/protocol/context.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import {
  type BinaryParameter,
  boundParameterTypes,
  type ComStmtExecute,
  parseStmtExecute,
  serializeStmtExecute,
  type StatementInfo,
} from "../../src/protocol/statement.ts";
import { hex, readCapture, toHex } from "../helpers/hex.ts";

/** The command packets (sequence id 0) a client sent in a capture, in order. */
function commands(name: string): Uint8Array[] {
  return readCapture(new URL(`../fixtures/captures/${name}`, import.meta.url))
    .filter((f) => f.direction === "client" && f.sequenceId === 0)
    .map((f) => f.payload);
}

const QUERY_ATTRIBUTES: CodecContext = {
  capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_QUERY_ATTRIBUTES,
  mariadbCapabilities: 0,
};

/** Parses, checks the round trip byte for byte, and returns the message. */
function execute(
  payload: Uint8Array,
  statement?: StatementInfo,
  context: CodecContext = DEFAULT_CONTEXT,
): ComStmtExecute {
  const message = parseStmtExecute(payload, context, statement);
  assert.equal(toHex(serializeStmtExecute(message, context)), toHex(payload));
  return message;
}

function values(params: BinaryParameter[]): unknown[] {
  return params.map((p) => ("value" in p ? p.value : "long data"));
}

const text = (s: string) => new TextEncoder().encode(s);

// c-libmariadb-statements.txt: a C program on libmariadb 3.3 (the MariaDB Connector/C) binding
// 12 parameters of different types to an INSERT and executing it four times.
const libmariadb = commands("c-libmariadb-statements.txt");
const insert: StatementInfo = { parameterCount: 12 };
const firstInsert = execute(libmariadb[1], insert);

Deno.test("parseStmtExecute() reads libmariadb's types and values of 12 parameters", () => {
  assert.equal(firstInsert.statementId, 5);
  assert.equal(firstInsert.flags, 0);
  assert.equal(firstInsert.iterationCount, 1);
  assert.equal(firstInsert.newParamsBound, true);
  assert.equal(firstInsert.parameterCount, undefined);
  assert.equal(firstInsert.nullBitmap, undefined);
  assert.deepEqual(
    firstInsert.params.map((p) => [p.type, p.unsigned]),
    [
      [T.MYSQL_TYPE_TINY, false],
      [T.MYSQL_TYPE_SHORT, true],
      [T.MYSQL_TYPE_LONG, false],
      [T.MYSQL_TYPE_LONGLONG, true],
      [T.MYSQL_TYPE_FLOAT, false],
      [T.MYSQL_TYPE_DOUBLE, false],
      [T.MYSQL_TYPE_STRING, false],
      [T.MYSQL_TYPE_BLOB, false],
      [T.MYSQL_TYPE_DATE, false],
      [T.MYSQL_TYPE_DATETIME, false],
      [T.MYSQL_TYPE_TIME, false],
      [T.MYSQL_TYPE_NEWDECIMAL, false],
    ],
  );
  assert.deepEqual(values(firstInsert.params), [
    -128,
    65535,
    -2147483648,
    18446744073709551615n,
    1.5,
    -2.25,
    text("héllo"),
    hex("000102ff"),
    "2024-01-02",
    "2024-01-02 03:04:05.000123",
    // -838:59:59 bound as MYSQL_TIME: libmariadb keeps only the low byte of the hours.
    "-0 70:59:59",
    "-1234.567",
  ]);
});

Deno.test("parseStmtExecute() decodes an execute without types using the previous ones", () => {
  const previousTypes = boundParameterTypes(firstInsert);
  const second = execute(libmariadb[2], { parameterCount: 12, previousTypes });
  assert.equal(second.newParamsBound, false);
  assert.deepEqual(second.params.map((p) => p.type), previousTypes?.map((p) => p.type));
  assert.deepEqual(values(second.params), [
    127,
    0,
    2147483647,
    0,
    0,
    1e300,
    new Uint8Array(0),
    new Uint8Array(0),
    "2024-01-02",
    "2024-01-02", // a DATETIME at midnight is sent in 4 bytes
    "34:00:00.500000",
    null, // NULL bit 11 set
  ]);
  const third = execute(libmariadb[3], { parameterCount: 12, previousTypes });
  assert.deepEqual(values(third.params).slice(8), ["", "2024-01-02", "", "-1234.567"]);
});

Deno.test("parseStmtExecute() skips the values of parameters sent by COM_STMT_SEND_LONG_DATA", () => {
  const previousTypes = boundParameterTypes(firstInsert);
  const statement = { parameterCount: 12, previousTypes, longDataParameters: new Set([6, 7]) };
  const withLongData = execute(libmariadb[7], statement);
  assert.deepEqual(values(withLongData.params), [
    127,
    0,
    2147483647,
    0,
    0,
    1e300,
    "long data",
    "long data",
    "",
    "2024-01-02",
    "",
    "-1234.567",
  ]);
  assert.equal(withLongData.nullBitmap, undefined, "the long-data bits are clear");
  // Without knowing about the long data, the values are misaligned and decoding fails.
  assert.throws(
    () => parseStmtExecute(libmariadb[7], DEFAULT_CONTEXT, { parameterCount: 12, previousTypes }),
    ProtocolError,
  );
});

Deno.test("parseStmtExecute() keeps the cursor flag and MariaDB's statement id -1", () => {
  const cursor = execute(libmariadb[13], { parameterCount: 1 });
  assert.equal(cursor.flags, CursorType.CURSOR_TYPE_READ_ONLY);
  assert.deepEqual(values(cursor.params), [0]);
  // mariadb_stmt_execute_direct(): PREPARE and EXECUTE sent together, the execute naming
  // "the statement prepared last".
  const direct = execute(libmariadb[20], { parameterCount: 1 });
  assert.equal(direct.statementId, 0xffffffff);
  assert.deepEqual(values(direct.params), [41]);
  assert.equal(direct.params[0].type, T.MYSQL_TYPE_LONGLONG);
});

// c-mysql2-execute-params.txt: mysql2 execute() with JS values of many kinds.
const mysql2 = commands("c-mysql2-execute-params.txt");

Deno.test("parseStmtExecute() reads mysql2's parameters: numbers, strings, Date, Buffer, null", () => {
  const first = execute(mysql2[1], { parameterCount: 9 });
  assert.deepEqual(
    first.params.map((p) => p.type),
    [
      T.MYSQL_TYPE_DOUBLE, // 42
      T.MYSQL_TYPE_VAR_STRING, // "18446744073709551615"
      T.MYSQL_TYPE_DATETIME, // Date
      T.MYSQL_TYPE_BLOB, // Buffer
      T.MYSQL_TYPE_NULL, // null
      T.MYSQL_TYPE_TINY, // true
      T.MYSQL_TYPE_DOUBLE, // -1.5
      T.MYSQL_TYPE_VAR_STRING, // 9007199254740993n
      T.MYSQL_TYPE_VAR_STRING, // "héllo"
    ],
  );
  assert.deepEqual(values(first.params), [
    42,
    text("18446744073709551615"),
    "2024-01-02 03:04:05.123000",
    hex("dead00"),
    null,
    1,
    -1.5,
    text("9007199254740993"),
    text("héllo"),
  ]);
  assert.equal(first.nullBitmap, undefined, "mysql2 sets the NULL bit of its NULL-type value");
  // mysql2 resends the types on every execute, and sends a Date at midnight in 11 bytes.
  const second = execute(mysql2[2], { parameterCount: 9, previousTypes: [] });
  assert.equal(second.newParamsBound, true);
  assert.deepEqual(values(second.params).slice(2, 4), [
    "2024-01-02 00:00:00.000000",
    new Uint8Array(0),
  ]);
  assert.deepEqual(values(second.params).slice(7), [
    text("-9223372036854775808"),
    new Uint8Array(0),
  ]);
});

Deno.test("parseStmtExecute() reads an execute of a statement without parameters", () => {
  const payload = commands("c-mysql2-execute-alltypes.txt")[3];
  const none = execute(payload, { parameterCount: 0 });
  assert.deepEqual(none.params, []);
  assert.equal(none.newParamsBound, undefined);
  assert.equal(toHex(payload), "17020000000001000000");
});

// c-sysbench-point-select.txt: sysbench (libmariadb) re-executes without resending the types.
const sysbench = commands("c-sysbench-point-select.txt");

Deno.test("parseStmtExecute() reads sysbench's executes with new_params_bound_flag 0", () => {
  const first = execute(sysbench[1], { parameterCount: 1 });
  assert.equal(first.newParamsBound, true);
  const previousTypes = boundParameterTypes(first);
  assert.deepEqual(previousTypes, [{ type: T.MYSQL_TYPE_LONGLONG, unsigned: false }]);
  for (const payload of sysbench.slice(2, 6)) {
    const later = execute(payload, { parameterCount: 1, previousTypes });
    assert.equal(later.newParamsBound, false);
    assert.equal(typeof ("value" in later.params[0] && later.params[0].value), "number");
    assert.equal(boundParameterTypes(later), undefined);
  }
});

Deno.test("parseStmtExecute() keeps the values undecoded when their types are unknown", () => {
  const later = execute(sysbench[2], { parameterCount: 1 });
  assert.equal(later.newParamsBound, false);
  assert.deepEqual(later.params, []);
  assert.deepEqual(later.nullBitmap, hex("00"));
  assert.equal(toHex(later.undecoded!), "3100000000000000");
  assert.equal(boundParameterTypes(later), undefined);
});

Deno.test("parseStmtExecute() keeps everything after the header when the statement is unknown", () => {
  const unknown = execute(sysbench[1]);
  assert.equal(unknown.statementId, 0x12);
  assert.equal(unknown.newParamsBound, undefined);
  assert.deepEqual(unknown.params, []);
  assert.equal(toHex(unknown.undecoded!), "000108003300000000000000");
  const bare = execute(hex("17 01000000 00 01000000"));
  assert.equal(bare.undecoded, undefined);
});

// c-mysql2-query-attributes.txt: mysql2 against a greeting that advertises
// CLIENT_QUERY_ATTRIBUTES, as MySQL 8 does.
const attributes = commands("c-mysql2-query-attributes.txt");

Deno.test("parseStmtExecute() reads MySQL 8's parameter_count and names with CLIENT_QUERY_ATTRIBUTES", () => {
  const named = execute(attributes[3], { parameterCount: 1 }, QUERY_ATTRIBUTES);
  assert.equal(named.flags, CursorType.PARAMETER_COUNT_AVAILABLE);
  assert.equal(named.parameterCount, 2, "the statement's parameter plus one query attribute");
  assert.deepEqual(
    named.params.map((p) => [p.name, p.type, "value" in p ? p.value : undefined]),
    [["", T.MYSQL_TYPE_DOUBLE, 5], ["trace", T.MYSQL_TYPE_VAR_STRING, text("t1")]],
  );
  // The count comes from the packet, so no statement information is needed.
  assert.deepEqual(execute(attributes[3], undefined, QUERY_ATTRIBUTES), named);
  const empty = execute(attributes[5], { parameterCount: 0 }, QUERY_ATTRIBUTES);
  assert.equal(empty.parameterCount, 0);
  assert.equal(empty.newParamsBound, undefined);
});

Deno.test("parseStmtExecute() reads no parameter_count without PARAMETER_COUNT_AVAILABLE", () => {
  // CLIENT_QUERY_ATTRIBUTES negotiated, flag clear: the count is the statement's; names follow types.
  const payload = hex("17 01000000 00 01000000 | 00 01 | 0300 00 | 07000000");
  const message = execute(payload, { parameterCount: 1 }, QUERY_ATTRIBUTES);
  assert.equal(message.parameterCount, undefined);
  assert.deepEqual(message.params, [{
    type: T.MYSQL_TYPE_LONG,
    unsigned: false,
    name: "",
    value: 7,
  }]);
});

Deno.test("parseStmtExecute() keeps a NULL bitmap that the values do not imply", () => {
  // A NULL-type parameter whose bit is clear, and a padding bit set.
  const payload = hex("17 01000000 00 01000000 | 80 01 | 0600 0100 | 05");
  const message = execute(payload, { parameterCount: 2 });
  assert.deepEqual(values(message.params), [null, 5]);
  assert.deepEqual(message.nullBitmap, hex("80"));
  // A long-data parameter whose NULL bit is set: the long data wins, as in the server.
  const longData = execute(hex("17 01000000 00 01000000 | 01 01 | fc00"), {
    parameterCount: 1,
    longDataParameters: new Set([0]),
  });
  assert.deepEqual(values(longData.params), ["long data"]);
  assert.deepEqual(longData.nullBitmap, hex("01"));
});

Deno.test("parseStmtExecute() keeps extra flag bits of a parameter type and trailing bytes", () => {
  const payload = hex("17 01000000 00 01000000 | 00 01 | 08c0 | ffffffffffffffff | 99");
  const message = execute(payload, { parameterCount: 1 });
  assert.deepEqual(message.params, [{
    type: T.MYSQL_TYPE_LONGLONG,
    unsigned: true,
    flags: 0xc0,
    value: 18446744073709551615n,
  }]);
  assert.deepEqual(message.trailing, hex("99"));
  assert.deepEqual(boundParameterTypes(message), [
    { type: T.MYSQL_TYPE_LONGLONG, unsigned: true, flags: 0xc0 },
  ]);
});

Deno.test("parseStmtExecute() reads 9 parameters with a 2-byte NULL bitmap", () => {
  // Eight TINY values, then a NULL LONG: bit 8 is bit 0 of the second byte.
  const payload = hex(
    "17 01000000 00 01000000 | 00 01 | 01 | " + "0100".repeat(8) + "0300 | 0102030405060708",
  );
  const message = execute(payload, { parameterCount: 9 });
  assert.deepEqual(values(message.params), [1, 2, 3, 4, 5, 6, 7, 8, null]);
  assert.equal(message.nullBitmap, undefined);
});

Deno.test("parseStmtExecute() rejects malformed executes", () => {
  const one = { parameterCount: 1 };
  assert.throws(() => parseStmtExecute(hex("17 01000000 00 0100"), DEFAULT_CONTEXT), ProtocolError);
  assert.throws(() => parseStmtExecute(hex("16 01000000 00 01000000"), DEFAULT_CONTEXT), /0x17/);
  assert.throws(
    () =>
      parseStmtExecute(hex("17 01000000 00 01000000 00 02 0300 01000000"), DEFAULT_CONTEXT, one),
    /new_params_bound_flag is 2/,
  );
  assert.throws(
    () => parseStmtExecute(hex("17 01000000 00 01000000 00 01 0300 0100"), DEFAULT_CONTEXT, one),
    ProtocolError,
  );
  assert.throws(
    () =>
      parseStmtExecute(
        hex("17 01000000 08 01000000 fc0100 00 01 0300 00 01000000"),
        QUERY_ATTRIBUTES,
      ),
    /3 bytes instead of 1/,
  );
});

Deno.test("serializeStmtExecute() writes a hand-built execute as the protocol lays it out", () => {
  const message: ComStmtExecute = {
    kind: "COM_STMT_EXECUTE",
    statementId: 3,
    flags: 0,
    iterationCount: 1,
    newParamsBound: true,
    params: [
      { type: T.MYSQL_TYPE_LONGLONG, unsigned: true, value: 2n ** 64n - 1n },
      { type: T.MYSQL_TYPE_VAR_STRING, unsigned: false, value: null },
      { type: T.MYSQL_TYPE_TIME, unsigned: false, value: "-838:59:59" },
    ],
  };
  assert.equal(
    toHex(serializeStmtExecute(message, DEFAULT_CONTEXT)),
    toHex(hex(
      "17 03000000 00 01000000 | 02 01 | 0880 fd00 0b00 | ffffffffffffffff | 08 01 22000000 16 3b 3b",
    )),
  );
  assert.equal(
    toHex(serializeStmtExecute({ ...message, newParamsBound: false }, DEFAULT_CONTEXT)),
    toHex(hex("17 03000000 00 01000000 | 02 00 | ffffffffffffffff | 08 01 22000000 16 3b 3b")),
  );
});

Deno.test("parseStmtExecute() accepts a string parameter whose length prefix is longer than needed", () => {
  // mysql2 writes some lengths in a wider form than needed (65535 as fd ff ff 00); servers accept
  // it, so must we, and re-encoding must give the same bytes.
  const payload = hex(`
    17 01000000 00 01000000   # COM_STMT_EXECUTE stmt 1, no cursor, 1 iteration
    00 01 fd00                # NULL bitmap, types sent: VAR_STRING
    fd 05 00 00 68656c6c6f    # "hello" with a 3-byte length instead of 1
  `);
  const execute = parseStmtExecute(payload, DEFAULT_CONTEXT, { parameterCount: 1 });
  const parameter = execute.params[0];
  assert.ok("value" in parameter);
  assert.deepEqual(parameter.value, hex("68656c6c6f"));
  assert.equal(toHex(serializeStmtExecute(execute, DEFAULT_CONTEXT)), toHex(payload));
});
