import assert from "node:assert/strict";
import {
  type ClientCommand,
  OPAQUE_COMMANDS,
  parseCommand,
  serializeCommand,
  SIMPLE_COMMANDS,
  summarizeCommand,
} from "../../src/protocol/commands.ts";
import { Capability, ColumnType as T, Command } from "../../src/protocol/constants.ts";
import { type CodecContext, DEFAULT_CONTEXT } from "../../src/protocol/context.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import type { StatementInfo } from "../../src/protocol/statement.ts";
import { hex, readCapture, toHex } from "../helpers/hex.ts";

/** The command packets (sequence id 0) clients sent in a capture, in order. */
function commands(name: string): Uint8Array[] {
  return readCapture(new URL(`../fixtures/captures/${name}`, import.meta.url))
    .filter((f) => f.direction === "client" && f.sequenceId === 0)
    .map((f) => f.payload);
}

const QUERY_ATTRIBUTES: CodecContext = {
  capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_QUERY_ATTRIBUTES,
  mariadbCapabilities: 0,
};

/** Parses, checks the round trip byte for byte, and returns the command. */
function command(
  payload: Uint8Array,
  context: CodecContext = DEFAULT_CONTEXT,
  statements?: Map<number, StatementInfo>,
): ClientCommand {
  const parsed = parseCommand(payload, context, statements);
  assert.equal(toHex(serializeCommand(parsed, context)), toHex(payload));
  return parsed;
}

// c-libmariadb-commands.txt: a C program calling libmariadb's mysql_select_db,
// mysql_set_server_option, mysql_list_fields, mysql_stat, mysql_ping, mysql_refresh,
// mysql_dump_debug_info, mysql_kill, mysql_reset_connection, mysql_close.
const libmariadb = commands("c-libmariadb-commands.txt");
const statements = commands("c-libmariadb-statements.txt");

Deno.test("parseCommand() reads COM_INIT_DB from libmariadb and from the CLI's `use`", () => {
  assert.deepEqual(command(libmariadb[0]), { kind: "COM_INIT_DB", schema: "task_c" });
  assert.deepEqual(command(commands("c-cli-use-db.txt")[1]), {
    kind: "COM_INIT_DB",
    schema: "task_c",
  });
});

Deno.test("parseCommand() reads COM_SET_OPTION on and off", () => {
  assert.deepEqual(command(libmariadb[1]), { kind: "COM_SET_OPTION", option: 0 });
  assert.deepEqual(command(libmariadb[2]), { kind: "COM_QUERY", sql: "SELECT 1; SELECT 2" });
  assert.deepEqual(command(libmariadb[3]), { kind: "COM_SET_OPTION", option: 1 });
});

Deno.test("parseCommand() reads COM_FIELD_LIST with and without a wildcard", () => {
  assert.deepEqual(command(libmariadb[4]), {
    kind: "COM_FIELD_LIST",
    table: "alltypes",
    wildcard: "t%",
  });
  assert.deepEqual(command(libmariadb[5]), {
    kind: "COM_FIELD_LIST",
    table: "params",
    wildcard: "",
  });
  assert.equal(toHex(libmariadb[5]), "04706172616d7300");
  assert.throws(() => parseCommand(hex("04 7461626c65"), DEFAULT_CONTEXT), /NUL/);
});

Deno.test("parseCommand() reads the one-byte commands libmariadb and mariadb-admin send", () => {
  const admin = commands("c-admin-ping-status.txt");
  assert.deepEqual(command(admin[0]), { kind: "COM_PING" });
  assert.deepEqual(command(admin[1]), { kind: "COM_QUIT" });
  assert.deepEqual(command(admin[2]), { kind: "COM_STATISTICS" });
  assert.deepEqual(command(libmariadb[6]), { kind: "COM_STATISTICS" });
  assert.deepEqual(command(libmariadb[7]), { kind: "COM_PING" });
  assert.deepEqual(command(libmariadb[9]), { kind: "COM_DEBUG" });
  assert.deepEqual(command(libmariadb[11]), { kind: "COM_RESET_CONNECTION" });
  assert.deepEqual(command(libmariadb[12]), { kind: "COM_QUIT" });
});

Deno.test("parseCommand() reads COM_REFRESH's flags", () => {
  assert.deepEqual(command(libmariadb[8]), { kind: "COM_REFRESH", flags: 0x08 });
});

Deno.test("parseCommand() reads COM_QUERY; libmariadb's mysql_kill() sends KILL as a query", () => {
  assert.deepEqual(command(libmariadb[10]), { kind: "COM_QUERY", sql: "KILL 73" });
});

Deno.test("parseCommand() keeps the bytes of a COM_QUERY that is not UTF-8 (latin1 CLI)", () => {
  const latin1 = commands("c-cli-latin1-query.txt")[0];
  const query = command(latin1);
  assert.equal(query.kind, "COM_QUERY");
  if (query.kind !== "COM_QUERY") return;
  assert.equal(query.sql, "SELECT '\ufffdt\ufffd' AS word");
  assert.deepEqual(query.sqlBytes, hex("53454c4543542027 e9 74 e9 2720415320776f7264"));
});

Deno.test("parseCommand() keeps a UTF-8 query as a string only", () => {
  const query = command(hex("03 53454c45435420 27c3a927"));
  assert.deepEqual(query, { kind: "COM_QUERY", sql: "SELECT 'é'" });
  assert.deepEqual(command(hex("03")), { kind: "COM_QUERY", sql: "" });
});

Deno.test("parseCommand() reads the prepared-statement commands libmariadb sends", () => {
  assert.deepEqual(command(statements[0]), {
    kind: "COM_STMT_PREPARE",
    sql:
      "INSERT INTO params (ti, si, i, bi, f, d, s, bl, dt, dtm, tm, dec1) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
  });
  assert.deepEqual(command(statements[4]), {
    kind: "COM_STMT_SEND_LONG_DATA",
    statementId: 5,
    parameterId: 7,
    data: hex("00016c6f6e67"),
  });
  assert.deepEqual(command(statements[6]), {
    kind: "COM_STMT_SEND_LONG_DATA",
    statementId: 5,
    parameterId: 6,
    data: new TextEncoder().encode("text"),
  });
  assert.deepEqual(command(statements[8]), { kind: "COM_STMT_RESET", statementId: 5 });
  assert.deepEqual(command(statements[11]), { kind: "COM_STMT_CLOSE", statementId: 6 });
  assert.deepEqual(command(statements[14]), {
    kind: "COM_STMT_FETCH",
    statementId: 7,
    rowCount: 2,
  });
});

Deno.test("parseCommand() keeps MariaDB's COM_STMT_BULK_EXECUTE as an opaque body", () => {
  const bulk = command(statements[10]);
  assert.deepEqual(bulk, {
    kind: "COM_STMT_BULK_EXECUTE",
    // statement 6, flags 0x0080 (send types), types LONG and STRING, then per row and parameter an
    // indicator byte (0 = value follows, 1 = NULL) and the value
    body: hex("06000000 8000 0300 fe00 | 00 01000000 00 00 | 00 02000000 01 | 00 03000000 00 00"),
  });
});

Deno.test("parseCommand() decodes COM_STMT_EXECUTE with the session's statements", () => {
  const known = new Map<number, StatementInfo>([[5, { parameterCount: 12 }]]);
  const execute = command(statements[1], DEFAULT_CONTEXT, known);
  assert.equal(execute.kind, "COM_STMT_EXECUTE");
  if (execute.kind !== "COM_STMT_EXECUTE") return;
  assert.equal(execute.params.length, 12);
  assert.equal(summarizeCommand(execute), "COM_STMT_EXECUTE stmt 5 (12 params)");
  const unknown = command(statements[1]);
  assert.equal(
    unknown.kind === "COM_STMT_EXECUTE" && unknown.undecoded?.length,
    statements[1].length - 10,
  );
  assert.equal(summarizeCommand(unknown), "COM_STMT_EXECUTE stmt 5 (params not decoded)");
});

// c-mysql2-query-attributes.txt: mysql2 against a greeting that advertises
// CLIENT_QUERY_ATTRIBUTES, as MySQL 8 does.
const attributes = commands("c-mysql2-query-attributes.txt");

Deno.test("parseCommand() reads COM_QUERY's query attributes under CLIENT_QUERY_ATTRIBUTES", () => {
  assert.deepEqual(command(attributes[0], QUERY_ATTRIBUTES), {
    kind: "COM_QUERY",
    sql: "SELECT 1",
    attributes: { parameterSetCount: 1, params: [] },
  });
  const query = command(attributes[1], QUERY_ATTRIBUTES);
  assert.deepEqual(query, {
    kind: "COM_QUERY",
    sql: "SELECT 2",
    attributes: {
      parameterSetCount: 1,
      params: [
        {
          type: T.MYSQL_TYPE_VAR_STRING,
          unsigned: false,
          name: "trace",
          value: new TextEncoder().encode("abc"),
        },
        { type: T.MYSQL_TYPE_DOUBLE, unsigned: false, name: "n", value: 7 },
        { type: T.MYSQL_TYPE_NULL, unsigned: false, name: "z", value: null },
      ],
    },
  });
  assert.equal(summarizeCommand(query), "COM_QUERY SELECT 2 (3 attributes)");
});

Deno.test("parseCommand() reads COM_QUERY attribute bytes as SQL without CLIENT_QUERY_ATTRIBUTES", () => {
  const query = command(attributes[0]);
  assert.deepEqual(query, { kind: "COM_QUERY", sql: "\x00\x01SELECT 1" });
});

Deno.test("parseCommand() rejects malformed query attributes", () => {
  // new_params_bind_flag 0: the values cannot be delimited from the SQL.
  assert.throws(
    () => parseCommand(hex("03 01 01 00 00 3f"), QUERY_ATTRIBUTES),
    /query attributes without their types/,
  );
  assert.throws(() => parseCommand(hex("03 01"), QUERY_ATTRIBUTES), ProtocolError);
  assert.throws(() => parseCommand(hex("03 fc0100 01"), QUERY_ATTRIBUTES), /instead of 1/);
});

Deno.test("serializeCommand() writes empty query attributes when CLIENT_QUERY_ATTRIBUTES is on", () => {
  const payload = serializeCommand({ kind: "COM_QUERY", sql: "SELECT 1" }, QUERY_ATTRIBUTES);
  assert.equal(toHex(payload), toHex(attributes[0]));
  assert.throws(
    () =>
      serializeCommand({
        kind: "COM_QUERY",
        sql: "SELECT 1",
        attributes: {
          parameterSetCount: 1,
          params: [{ type: T.MYSQL_TYPE_NULL, unsigned: false, name: "a", value: null }],
        },
      }, DEFAULT_CONTEXT),
    /need CLIENT_QUERY_ATTRIBUTES/,
  );
});

// Commands no client here sends: hand-written from the MySQL and MariaDB protocol documentation.

Deno.test("parseCommand() reads COM_PROCESS_KILL's connection id", () => {
  assert.deepEqual(command(hex("0c 49000000")), { kind: "COM_PROCESS_KILL", connectionId: 73 });
  assert.deepEqual(command(hex("0c ffffffff")), {
    kind: "COM_PROCESS_KILL",
    connectionId: 0xffffffff,
  });
  assert.throws(() => parseCommand(hex("0c 4900"), DEFAULT_CONTEXT), ProtocolError);
});

Deno.test("parseCommand() reads COM_CREATE_DB and COM_DROP_DB, keeping non-UTF-8 names", () => {
  assert.deepEqual(command(hex("05 6462")), { kind: "COM_CREATE_DB", schema: "db" });
  assert.deepEqual(command(hex("06 6462")), { kind: "COM_DROP_DB", schema: "db" });
  assert.deepEqual(command(hex("02 e9")), {
    kind: "COM_INIT_DB",
    schema: "\ufffd",
    schemaBytes: hex("e9"),
  });
});

Deno.test("parseCommand() keeps whether COM_SHUTDOWN has its level byte", () => {
  assert.deepEqual(command(hex("08")), { kind: "COM_SHUTDOWN" });
  assert.deepEqual(command(hex("08 00")), { kind: "COM_SHUTDOWN", level: 0 });
  assert.deepEqual(command(hex("08 fe")), { kind: "COM_SHUTDOWN", level: 0xfe });
});

Deno.test("parseCommand() reads every one-byte command and keeps bytes after it", () => {
  for (const kind of SIMPLE_COMMANDS) {
    const code = Command[kind];
    assert.deepEqual(command(new Uint8Array([code])), { kind });
    assert.deepEqual(command(new Uint8Array([code, 0xaa])), { kind, trailing: hex("aa") });
  }
  assert.deepEqual(command(hex("19 01000000 00")), {
    kind: "COM_STMT_CLOSE",
    statementId: 1,
    trailing: hex("00"),
  });
});

Deno.test("parseCommand() keeps replication and other opaque commands as their body", () => {
  for (const kind of OPAQUE_COMMANDS) {
    const code = Command[kind];
    assert.deepEqual(command(new Uint8Array([code, 1, 2, 3])), { kind, body: hex("010203") });
    assert.deepEqual(command(new Uint8Array([code])), { kind, body: new Uint8Array(0) });
  }
  // COM_BINLOG_DUMP: binlog position 4, flags 0, server id 2, file name.
  const dump = command(hex("12 04000000 0000 02000000 6d7973716c2d62696e2e303030303031"));
  assert.equal(dump.kind, "COM_BINLOG_DUMP");
  assert.equal(summarizeCommand(dump), "COM_BINLOG_DUMP (26 bytes)");
});

Deno.test("parseCommand() returns unknown command bytes whole", () => {
  for (const code of [0x22, 0x42, 0xf0, 0xff]) {
    const payload = new Uint8Array([code, 9, 9]);
    const unknown = command(payload);
    assert.equal(unknown.kind, "unknown");
    if (unknown.kind !== "unknown") return;
    assert.deepEqual(unknown.bytes, payload);
    assert.match(unknown.reason ?? "", new RegExp(`0x${code.toString(16)}`));
  }
  assert.equal(summarizeCommand(command(hex("42"))), "unknown command COM_0x42 (1 byte)");
});

Deno.test("parseCommand() rejects an empty packet and commands cut short", () => {
  assert.throws(() => parseCommand(new Uint8Array(0), DEFAULT_CONTEXT), ProtocolError);
  for (
    const bytes of ["19 010000", "1a", "1c 01000000 0200", "18 01000000 00", "1b 00", "07"]
  ) {
    assert.throws(() => parseCommand(hex(bytes), DEFAULT_CONTEXT), ProtocolError, bytes);
  }
});

Deno.test("serializeCommand() writes hand-built commands as the protocol lays them out", () => {
  const cases: [ClientCommand, string][] = [
    [{ kind: "COM_QUIT" }, "01"],
    [{ kind: "COM_INIT_DB", schema: "é" }, "02c3a9"],
    [{ kind: "COM_FIELD_LIST", table: "t", wildcard: "" }, "047400"],
    [{ kind: "COM_STMT_FETCH", statementId: 1, rowCount: 0xffffffff }, "1c01000000ffffffff"],
    [
      { kind: "COM_STMT_SEND_LONG_DATA", statementId: 1, parameterId: 2, data: hex("ff") },
      "18010000000200ff",
    ],
    [{ kind: "COM_SET_OPTION", option: 1 }, "1b0100"],
    [{ kind: "COM_MULTI", body: hex("0101") }, "fe0101"],
    [{ kind: "unknown", bytes: hex("4201") }, "4201"],
  ];
  for (const [message, bytes] of cases) {
    assert.equal(toHex(serializeCommand(message, DEFAULT_CONTEXT)), bytes);
  }
});

Deno.test("summarizeCommand() names the command and its main field", () => {
  const cases: [ClientCommand, string][] = [
    [{ kind: "COM_PING" }, "COM_PING"],
    [{ kind: "COM_INIT_DB", schema: "task_c" }, "COM_INIT_DB task_c"],
    [{ kind: "COM_FIELD_LIST", table: "t", wildcard: "a%" }, "COM_FIELD_LIST t a%"],
    [{ kind: "COM_SET_OPTION", option: 0 }, "COM_SET_OPTION MULTI_STATEMENTS_ON"],
    [{ kind: "COM_PROCESS_KILL", connectionId: 7 }, "COM_PROCESS_KILL 7"],
    [{ kind: "COM_STMT_CLOSE", statementId: 3 }, "COM_STMT_CLOSE stmt 3"],
    [{ kind: "COM_STMT_FETCH", statementId: 3, rowCount: 1 }, "COM_STMT_FETCH stmt 3 (1 row)"],
    [
      { kind: "COM_STMT_SEND_LONG_DATA", statementId: 3, parameterId: 0, data: hex("0102") },
      "COM_STMT_SEND_LONG_DATA stmt 3 param 0 (2 bytes)",
    ],
    [{ kind: "COM_SHUTDOWN", level: 0 }, "COM_SHUTDOWN level 0"],
    [
      {
        kind: "COM_STMT_EXECUTE",
        statementId: 0xffffffff,
        flags: 0,
        iterationCount: 1,
        newParamsBound: true,
        params: [{ type: 3, unsigned: false, value: 1 }],
      },
      "COM_STMT_EXECUTE stmt -1 (last prepared) (1 param)",
    ],
    [{ kind: "COM_STMT_PREPARE", sql: "SELECT\n  ?" }, "COM_STMT_PREPARE SELECT ?"],
  ];
  for (const [message, summary] of cases) assert.equal(summarizeCommand(message), summary);
});

Deno.test("summarizeCommand() truncates long SQL to about 120 characters", () => {
  const sql = `SELECT ${"a, ".repeat(100)}b FROM t`;
  const summary = summarizeCommand({ kind: "COM_QUERY", sql });
  assert.equal(summary.length, 120);
  assert.ok(summary.startsWith("COM_QUERY SELECT a, a,"));
  assert.ok(summary.endsWith("…"));
});

Deno.test("summarizeCommand() masks passwords in SQL", () => {
  const cases: [string, string][] = [
    ["CREATE USER 'u'@'%' IDENTIFIED BY 'hunter2'", "CREATE USER 'u'@'%' IDENTIFIED BY '***'"],
    [
      "ALTER USER u IDENTIFIED WITH mysql_native_password BY 'it''s'",
      "ALTER USER u IDENTIFIED WITH mysql_native_password BY '***'",
    ],
    ['GRANT ALL ON *.* TO u IDENTIFIED BY "pw"', "GRANT ALL ON *.* TO u IDENTIFIED BY '***'"],
    ["SET PASSWORD FOR u = PASSWORD('pw')", "SET PASSWORD FOR u = PASSWORD('***')"],
    ["SET PASSWORD = 'pw'", "SET PASSWORD = '***'"],
    [
      "CREATE USER u IDENTIFIED VIA mysql_native_password USING '*0123'",
      "CREATE USER u IDENTIFIED VIA mysql_native_password USING '***'",
    ],
    ["CHANGE MASTER TO MASTER_PASSWORD='pw'", "CHANGE MASTER TO MASTER_PASSWORD='***'"],
  ];
  for (const [sql, masked] of cases) {
    assert.equal(summarizeCommand({ kind: "COM_QUERY", sql }), `COM_QUERY ${masked}`);
  }
});

Deno.test("every client command in the c-* captures round-trips", () => {
  const files = [
    "c-admin-ping-status.txt",
    "c-cli-latin1-query.txt",
    "c-cli-use-db.txt",
    "c-libmariadb-commands.txt",
    "c-libmariadb-statements.txt",
    "c-mysql2-execute-alltypes.txt",
    "c-mysql2-execute-params.txt",
    "c-sysbench-point-select.txt",
  ];
  let count = 0;
  for (const file of files) {
    for (const payload of commands(file)) {
      command(payload);
      count++;
    }
  }
  for (const payload of attributes) command(payload, QUERY_ATTRIBUTES);
  assert.ok(count > 60, `${count} commands`);
});
