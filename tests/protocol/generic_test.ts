import assert from "node:assert/strict";
import { Capability, MariaDbCapability, ServerStatus } from "../../src/protocol/constants.ts";
import type { CodecContext } from "../../src/protocol/context.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import {
  type GenericResponse,
  isEofPacket,
  isProgressReport,
  lenencIntSize,
  parseEof,
  parseErr,
  parseGenericResponse,
  parseOk,
  parseProgressReport,
  serializeEof,
  serializeErr,
  serializeGenericResponse,
  serializeOk,
  serializeProgressReport,
  summarizeResponse,
} from "../../src/protocol/generic.ts";
import { type CapturedFrame, hex, readCapture, toHex } from "../helpers/hex.ts";

// ---------------------------------------------------------------------------------------------
// Helpers over the real captures in tests/fixtures/captures/d-*.txt

function capture(name: string): CapturedFrame[] {
  return readCapture(new URL(`../fixtures/captures/${name}`, import.meta.url));
}

/**
 * The negotiated context of a captured connection, read straight from the greeting and the
 * HandshakeResponse bytes (independently of the handshake codec).
 */
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
    // A 4.0-style response: 2 bytes of flags, no MariaDB extension.
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

/** The server payloads answering the first client command whose bytes contain `text`. */
function responseTo(frames: CapturedFrame[], text: string): Uint8Array[] {
  const needle = toHex(new TextEncoder().encode(text));
  const commands = frames.filter((f) => f.direction === "client" && f.sequenceId === 0);
  // An exact statement wins over one that merely contains the text ("USE d" vs "USE d_other").
  const command = commands.find((f) => toHex(f.payload.subarray(1)) === needle) ??
    commands.find((f) => toHex(f.payload).includes(needle));
  const start = command === undefined ? -1 : frames.indexOf(command);
  assert.ok(start >= 0, `no command containing ${JSON.stringify(text)}`);
  const out: Uint8Array[] = [];
  for (const frame of frames.slice(start + 1)) {
    if (frame.direction === "client") break;
    out.push(frame.payload);
  }
  return out;
}

function assertRoundTrip(
  payload: Uint8Array,
  message: GenericResponse,
  context?: CodecContext,
): void {
  assert.equal(toHex(serializeGenericResponse(message, context)), toHex(payload));
}

const cli = capture("d-cli-queries.txt");
const cliContext = contextOf(cli);
const mysql2 = capture("d-mysql2-session-track.txt");
const mysql2Context = contextOf(mysql2);
const connector = capture("d-mariadb-connector-deprecate-eof.txt");
const connectorContext = contextOf(connector);
const infile = capture("d-cli-local-infile.txt");
const infileContext = contextOf(infile);
const old = capture("d-raw-320-queries.txt");
const oldContext = contextOf(old);

Deno.test("captured contexts negotiate what the tests rely on", () => {
  const has = (c: CodecContext, flag: number) => (c.capabilities & flag) !== 0;
  assert.ok(has(cliContext, Capability.CLIENT_SESSION_TRACK));
  assert.ok(!has(cliContext, Capability.CLIENT_DEPRECATE_EOF));
  assert.ok((cliContext.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_PROGRESS) !== 0);
  assert.ok(has(mysql2Context, Capability.CLIENT_SESSION_TRACK));
  assert.ok(!has(mysql2Context, Capability.CLIENT_DEPRECATE_EOF));
  assert.equal(mysql2Context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_PROGRESS, 0);
  assert.ok(has(connectorContext, Capability.CLIENT_DEPRECATE_EOF));
  assert.ok(!has(oldContext, Capability.CLIENT_PROTOCOL_41));
  assert.ok(has(oldContext, Capability.CLIENT_TRANSACTIONS));
  assert.ok(!has(oldContext, Capability.CLIENT_SESSION_TRACK));
});

// ---------------------------------------------------------------------------------------------
// OK

Deno.test("parseOk() reads an INSERT's affected rows and insert id, info omitted (real CLI)", () => {
  const [payload] = responseTo(cli, "VALUES ('dave')");
  assert.equal(toHex(payload), "00010702000000");
  const ok = parseOk(payload, cliContext);
  assert.deepEqual(ok, {
    kind: "ok",
    header: 0,
    affectedRows: 1,
    lastInsertId: 7,
    statusFlags: ServerStatus.SERVER_STATUS_AUTOCOMMIT,
    warnings: 0,
  });
  assertRoundTrip(payload, ok, cliContext);
});

Deno.test("parseOk() reads the info of an UPDATE (real CLI)", () => {
  const [payload] = responseTo(cli, "UPDATE t SET note='y'");
  const ok = parseOk(payload, cliContext);
  assert.equal(ok.affectedRows, 0);
  assert.equal(ok.info, "Rows matched: 2  Changed: 0  Warnings: 0");
  assert.equal(ok.infoEof, undefined);
  assert.equal(ok.sessionStateChanges, undefined);
  assertRoundTrip(payload, ok, cliContext);
});

Deno.test("parseOk() reads the warning count of an INSERT that truncated a value (real CLI)", () => {
  const [payload] = responseTo(cli, "REPEAT('z', 30)");
  const ok = parseOk(payload, cliContext);
  assert.equal(ok.warnings, 1);
  assert.equal(ok.info, undefined);
  assertRoundTrip(payload, ok, cliContext);
});

Deno.test("parseOk() reads a multi-row INSERT's info (real mysql2)", () => {
  const [payload] = responseTo(mysql2, "('eve'), ('frank')");
  const ok = parseOk(payload, mysql2Context);
  assert.equal(ok.affectedRows, 2);
  assert.equal(ok.lastInsertId, 5);
  assert.equal(ok.info, "Records: 2  Duplicates: 0  Warnings: 0");
  assertRoundTrip(payload, ok, mysql2Context);
});

Deno.test("parseOk() reads session state changes when SERVER_SESSION_STATE_CHANGED is set (real mysql2)", () => {
  const cases: [string, number, unknown[]][] = [
    ["SET SESSION session_track_state_change", 0x4002, [
      { kind: "state-change", changed: true },
      { kind: "transaction-state", state: "________" },
      { kind: "transaction-characteristics", characteristics: "" },
    ]],
    ["USE task_d_other", 0x4002, [
      { kind: "schema", schema: "task_d_other" },
      { kind: "state-change", changed: true },
    ]],
    ["SET SESSION autocommit=0", 0x4000, [
      { kind: "system-variable", name: "autocommit", value: "OFF" },
      { kind: "state-change", changed: true },
    ]],
    ["SET @@session.time_zone", 0x4000, [
      { kind: "system-variable", name: "time_zone", value: "+01:00" },
      { kind: "state-change", changed: true },
    ]],
    ["SET TRANSACTION ISOLATION LEVEL", 0x4000, [
      {
        kind: "transaction-characteristics",
        characteristics: "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;",
      },
    ]],
    ["START TRANSACTION READ ONLY", 0x6001, [
      { kind: "transaction-state", state: "T_______" },
      {
        kind: "transaction-characteristics",
        characteristics:
          "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION READ ONLY;",
      },
    ]],
    ["COMMIT", 0x4000, [
      { kind: "transaction-state", state: "________" },
      { kind: "transaction-characteristics", characteristics: "" },
    ]],
    ["USE task_d", 0x4002, [
      { kind: "schema", schema: "task_d" },
      { kind: "state-change", changed: true },
    ]],
  ];
  for (const [sql, status, changes] of cases) {
    const [payload] = responseTo(mysql2, sql);
    const ok = parseOk(payload, mysql2Context);
    assert.equal(ok.statusFlags, status, sql);
    // MariaDB sends an empty info (0x00) whenever state changed.
    assert.equal(ok.info, "", sql);
    assert.deepEqual(ok.sessionStateChanges, changes, sql);
    assertRoundTrip(payload, ok, mysql2Context);
  }
});

Deno.test("parseOk() reads character set variables set by SET NAMES (real mariadb connector)", () => {
  const [payload] = responseTo(connector, "SET NAMES utf8mb4");
  const ok = parseOk(payload, connectorContext);
  assert.deepEqual(ok.sessionStateChanges, [
    { kind: "system-variable", name: "character_set_client", value: "utf8mb4" },
    { kind: "system-variable", name: "character_set_results", value: "utf8mb4" },
    { kind: "system-variable", name: "character_set_connection", value: "utf8mb4" },
  ]);
  assertRoundTrip(payload, ok, connectorContext);
});

Deno.test("parseOk() keeps header 0xfe of the OK that ends a result set with CLIENT_DEPRECATE_EOF (real mariadb connector)", () => {
  const response = responseTo(connector, "WHERE id <= 2 ORDER BY id");
  const payload = response[response.length - 1];
  assert.equal(toHex(payload), "fe000002000000");
  const ok = parseOk(payload, connectorContext);
  assert.deepEqual(ok, {
    kind: "ok",
    header: 0xfe,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: 2,
    warnings: 0,
  });
  assertRoundTrip(payload, ok, connectorContext);
  // The classic length rule alone would call it an EOF: the negotiated flags decide.
  assert.ok(isEofPacket(payload));
  assert.equal(parseGenericResponse(payload, connectorContext).kind, "ok");
});

Deno.test("parseOk() reads SERVER_MORE_RESULTS_EXISTS on the OK(0xfe) between result sets (real mariadb connector)", () => {
  const response = responseTo(connector, "SELECT 1 AS a; SELECT 2 AS b");
  const first = parseOk(response[3], connectorContext);
  assert.equal(first.header, 0xfe);
  assert.equal(first.statusFlags, ServerStatus.SERVER_MORE_RESULTS_EXISTS | 2);
  const last = parseOk(response[response.length - 1], connectorContext);
  assert.equal(last.statusFlags! & ServerStatus.SERVER_MORE_RESULTS_EXISTS, 0);
});

Deno.test("parseOk() reads the trailing OK after a CALL's result sets (real mysql2)", () => {
  const response = responseTo(mysql2, "CALL two()");
  const payload = response[response.length - 1];
  const ok = parseOk(payload, mysql2Context);
  assert.equal(ok.statusFlags, 2);
  assertRoundTrip(payload, ok, mysql2Context);
});

Deno.test("parseOk() reads a pre-4.1 OK: status flags with CLIENT_TRANSACTIONS, no warnings, info as a length-encoded string (real raw client)", () => {
  const [payload] = responseTo(old, "UPDATE t SET note='z'");
  assert.equal(toHex(payload.subarray(0, 6)), "000100020028");
  const ok = parseOk(payload, oldContext);
  assert.equal(ok.statusFlags, 2);
  assert.equal(ok.warnings, undefined);
  assert.equal(ok.info, "Rows matched: 1  Changed: 1  Warnings: 0");
  assert.equal(ok.infoEof, undefined);
  assertRoundTrip(payload, ok, oldContext);
  const login = old[2].payload;
  assert.deepEqual(parseOk(login, oldContext), {
    kind: "ok",
    header: 0,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: 2,
  });
});

Deno.test("parseOk() reads no status flags without CLIENT_PROTOCOL_41 and CLIENT_TRANSACTIONS", () => {
  const context = { capabilities: 0, mariadbCapabilities: 0 };
  const payload = hex("00 01 02");
  const ok = parseOk(payload, context);
  assert.deepEqual(ok, { kind: "ok", header: 0, affectedRows: 1, lastInsertId: 2 });
  assertRoundTrip(payload, ok, context);
});

Deno.test("parseOk() accepts info as string<EOF> without CLIENT_SESSION_TRACK, and says so", () => {
  const context = { capabilities: Capability.CLIENT_PROTOCOL_41, mariadbCapabilities: 0 };
  const payload = hex("00 02 00 02 00 00 00" + toHex(new TextEncoder().encode("Records: 2")));
  const ok = parseOk(payload, context);
  assert.equal(ok.info, "Records: 2");
  assert.equal(ok.infoEof, true);
  assertRoundTrip(payload, ok, context);
});

Deno.test("parseOk() reads length-encoded affected rows and insert ids at every boundary", () => {
  const cases: [number | bigint, string][] = [
    [250, "fa"],
    [251, "fc fb 00"],
    [0xffff, "fc ff ff"],
    [0x10000, "fd 00 00 01"],
    [0xffffff, "fd ff ff ff"],
    [0x1000000, "fe 00 00 00 01 00 00 00 00"],
    [2n ** 53n, "fe 00 00 00 00 00 00 20 00"],
    [2n ** 64n - 1n, "fe ff ff ff ff ff ff ff ff"],
  ];
  for (const [value, encoded] of cases) {
    const payload = hex(`00 ${encoded} ${encoded} 02 00 00 00`);
    const ok = parseOk(payload);
    assert.equal(ok.affectedRows, value);
    assert.equal(ok.lastInsertId, value);
    assert.equal(lenencIntSize(value), hex(encoded).length);
    assertRoundTrip(payload, ok);
  }
});

Deno.test("parseOk() rejects a non-minimal length-encoded integer, which re-encoding would change", () => {
  assert.throws(() => parseOk(hex("00 fc 01 00 00 02 00 00 00")), ProtocolError);
});

Deno.test("parseOk() throws ProtocolError on a truncated packet", () => {
  assert.throws(() => parseOk(hex("00 01 04 02")), (e) => {
    assert.ok(e instanceof ProtocolError);
    assert.match(e.message, /^Cannot parse OK packet: /);
    return true;
  });
  assert.throws(() => parseOk(hex("01 00 00 02 00 00 00")), /expected header 0x00 or 0xfe/);
});

Deno.test("parseOk() decodes GTIDs and keeps unknown or odd session state entries as bytes", () => {
  const track = {
    capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SESSION_TRACK,
    mariadbCapabilities: 0,
  };
  const gtid = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5";
  const gtidHex = toHex(new TextEncoder().encode(gtid));
  const payload = hex(`
    00 00 00 00 40 00 00   # OK, status SERVER_SESSION_STATE_CHANGED
    00                     # info ""
    3b                     # 59 bytes of state changes
    03 2a 00 28 ${gtidHex} # SESSION_TRACK_GTIDS: encoding 0, 40-character GTID set
    07 02 ab cd            # an unknown type 7
    02 01 32               # SESSION_TRACK_STATE_CHANGE "2": neither "1" nor "0"
    01 03 01 78 79         # SESSION_TRACK_SCHEMA "x" then a stray byte
    05 01 00               # SESSION_TRACK_TRANSACTION_STATE ""
  `);
  const ok = parseOk(payload, track);
  assert.deepEqual(ok.sessionStateChanges, [
    { kind: "gtids", encoding: 0, gtids: gtid },
    { kind: "raw", type: 7, data: hex("ab cd") },
    { kind: "raw", type: 2, data: hex("32") },
    { kind: "raw", type: 1, data: hex("01 78 79") },
    { kind: "transaction-state", state: "" },
  ]);
  assertRoundTrip(payload, ok, track);
});

Deno.test("parseOk() keeps info that is not UTF-8 as bytes and bytes after the state changes", () => {
  const track = {
    capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SESSION_TRACK,
    mariadbCapabilities: 0,
  };
  const payload = hex("00 00 00 02 00 00 00 02 e9 74 99");
  const ok = parseOk(payload, track);
  assert.deepEqual(ok.infoBytes, hex("e9 74"));
  assert.equal(ok.info, "\ufffdt");
  assert.deepEqual(ok.trailing, hex("99"));
  assertRoundTrip(payload, ok, track);
});

Deno.test("serializeOk() writes an empty info before session state changes", () => {
  const track = {
    capabilities: Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SESSION_TRACK,
    mariadbCapabilities: 0,
  };
  const bytes = serializeOk({
    kind: "ok",
    header: 0,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: 0x4000,
    warnings: 0,
    sessionStateChanges: [{ kind: "schema", schema: "d" }],
  }, track);
  assert.equal(toHex(bytes), toHex(hex("00 00 00 00 40 00 00 00 04 01 02 01 64")));
});

// ---------------------------------------------------------------------------------------------
// ERR and progress reports

Deno.test("parseErr() reads code, SQLSTATE and message (real CLI)", () => {
  const [payload] = responseTo(cli, "SELECT nosuch");
  const err = parseErr(payload, cliContext);
  assert.deepEqual(err, {
    kind: "err",
    code: 1054,
    sqlState: "42S22",
    message: "Unknown column 'nosuch' in 'SELECT'",
  });
  assertRoundTrip(payload, err, cliContext);
  assert.equal(summarizeResponse(err), "ERR 1054 (42S22) Unknown column 'nosuch' in 'SELECT'");
});

Deno.test("parseErr() reads an ERR without '#' marker for a pre-4.1 client (real raw client)", () => {
  const [payload] = responseTo(old, "SELECT nosuch");
  const err = parseErr(payload, oldContext);
  assert.deepEqual(err, {
    kind: "err",
    code: 1054,
    message: "Unknown column 'nosuch' in 'SELECT'",
  });
  assertRoundTrip(payload, err, oldContext);
});

Deno.test("parseErr() reads an ERR sent before the handshake, which has no SQLSTATE", () => {
  // MariaDB's "Too many connections" before any greeting: code 1040, message only.
  const payload = hex("ff 10 04" + toHex(new TextEncoder().encode("Too many connections")));
  const err = parseErr(payload);
  assert.deepEqual(err, { kind: "err", code: 1040, message: "Too many connections" });
  assertRoundTrip(payload, err);
  assert.equal(summarizeResponse(err), "ERR 1040 Too many connections");
});

Deno.test("parseErr() keeps a leading '#' in the message without CLIENT_PROTOCOL_41", () => {
  const context = { capabilities: 0, mariadbCapabilities: 0 };
  const payload = hex("ff 01 00 23 34 32 30 30 30 78");
  const err = parseErr(payload, context);
  assert.equal(err.sqlState, undefined);
  assert.equal(err.message, "#42000x");
  assertRoundTrip(payload, err, context);
});

Deno.test("parseErr() reads a '#' with fewer than 5 bytes after it as message", () => {
  const payload = hex("ff 01 00 23 34 32");
  const err = parseErr(payload);
  assert.equal(err.sqlState, undefined);
  assert.equal(err.message, "#42");
  assertRoundTrip(payload, err);
});

Deno.test("parseErr() keeps a message that is not UTF-8 (a latin1 identifier) as bytes", () => {
  const payload = hex("ff 1e 04 23 34 32 53 32 32 27 e9 27");
  const err = parseErr(payload);
  assert.deepEqual(err.messageBytes, hex("27 e9 27"));
  assertRoundTrip(payload, err);
});

Deno.test("parseErr() throws ProtocolError on a packet without a code", () => {
  assert.throws(() => parseErr(hex("ff 1e")), ProtocolError);
  assert.throws(() => parseErr(hex("fe 1e 04")), /expected header 0xff/);
});

Deno.test("parseProgressReport() reads a MariaDB progress report during LOAD DATA LOCAL INFILE (real CLI)", () => {
  const response = responseTo(infile, "d-infile.tsv");
  // The request for the file; the client then sends the file, then the server reports progress.
  const after = infile.findIndex((f) => f.direction === "server" && f.sequenceId === 4);
  const payload = infile[after].payload;
  assert.equal(response.length, 1);
  assert.ok(isProgressReport(payload, infileContext));
  const report = parseProgressReport(payload);
  assert.deepEqual(report, {
    kind: "progress",
    stringCount: 1,
    stage: 2,
    maxStage: 2,
    progress: 0,
    state: "End bulk insert",
  });
  assertRoundTrip(payload, report);
  assert.equal(parseGenericResponse(payload, infileContext).kind, "progress");
  assert.equal(summarizeResponse(report), "PROGRESS stage 2/2 0.000% End bulk insert");
});

Deno.test("isProgressReport() requires MARIADB_CLIENT_PROGRESS when given a context", () => {
  const payload = hex("ff ff ff 01 01 03 a0 86 01 04 63 6f 70 79");
  assert.ok(isProgressReport(payload));
  assert.ok(!isProgressReport(payload, mysql2Context));
  assert.ok(!isProgressReport(hex("ff 1e 04")));
  assert.ok(!isProgressReport(hex("ff ff")));
  const asErr = parseGenericResponse(payload, mysql2Context);
  assert.equal(asErr.kind, "err");
  const report = parseProgressReport(payload);
  assert.equal(report.progress, 100000);
  assert.equal(report.maxStage, 3);
  assertRoundTrip(payload, report);
  assert.equal(toHex(serializeProgressReport(report)), toHex(payload));
});

Deno.test("parseProgressReport() rejects an ERR with another code", () => {
  assert.throws(() => parseProgressReport(hex("ff 1e 04 01 01 01 00 00 00 00")), ProtocolError);
});

// ---------------------------------------------------------------------------------------------
// EOF

Deno.test("parseEof() reads status flags and warnings of 4.1 EOF packets (real CLI)", () => {
  const response = responseTo(cli, "SELECT 1/0");
  const payload = response[response.length - 1];
  assert.equal(toHex(payload), "fe01000200");
  const eof = parseEof(payload, cliContext);
  assert.deepEqual(eof, { kind: "eof", warnings: 1, statusFlags: 2 });
  assertRoundTrip(payload, eof, cliContext);
  assert.equal(summarizeResponse(eof), "EOF status=0x0002 warnings=1");
});

Deno.test("parseEof() reads SERVER_MORE_RESULTS_EXISTS between multi-statement result sets (real mysql2)", () => {
  const response = responseTo(mysql2, "SELECT 1; SELECT 2");
  const eofs = response.filter(isEofPacket).map((p) => parseEof(p, mysql2Context));
  assert.deepEqual(eofs.map((e) => e.statusFlags), [0x0a, 0x0a, 0x02, 0x02]);
});

Deno.test("parseEof() reads the 1-byte EOF of pre-4.1 (real raw client)", () => {
  const response = responseTo(old, "SELECT id, name, note");
  const payload = response[4];
  assert.equal(toHex(payload), "fe");
  const eof = parseEof(payload, oldContext);
  assert.deepEqual(eof, { kind: "eof" });
  assertRoundTrip(payload, eof, oldContext);
  assert.equal(parseGenericResponse(payload, oldContext).kind, "eof");
  assert.equal(summarizeResponse(eof), "EOF");
});

Deno.test("parseEof() throws ProtocolError on a short 4.1 EOF and keeps extra bytes", () => {
  assert.throws(() => parseEof(hex("fe 00 00")), ProtocolError);
  const payload = hex("fe 00 00 02 00 00 00");
  const eof = parseEof(payload);
  assert.deepEqual(eof.trailing, hex("00 00"));
  assert.equal(toHex(serializeEof(eof)), toHex(payload));
});

Deno.test("isEofPacket() applies the classic rule: 0xfe and shorter than 9 bytes", () => {
  assert.ok(isEofPacket(hex("fe")));
  assert.ok(isEofPacket(hex("fe 00 00 02 00 00 00 00")));
  assert.ok(!isEofPacket(hex("fe 00 00 00 01 00 00 00 00")));
  assert.ok(!isEofPacket(hex("00 00 00 02 00")));
  assert.ok(!isEofPacket(new Uint8Array(0)));
});

// ---------------------------------------------------------------------------------------------
// Dispatch, summaries and a sweep over every captured generic response

Deno.test("parseGenericResponse() returns unknown packets for headers that are not OK, ERR or EOF", () => {
  const unknown = parseGenericResponse(hex("01 31"));
  assert.equal(unknown.kind, "unknown");
  assert.equal(parseGenericResponse(new Uint8Array(0)).kind, "unknown");
  assert.equal(parseGenericResponse(hex("fe 00 00 00 01 00 00 00 00 00")).kind, "unknown");
  assert.match(summarizeResponse(unknown), /^UNKNOWN 2B \(header 0x01/);
});

Deno.test("summarizeResponse() prints OK fields and session state changes", () => {
  const [payload] = responseTo(mysql2, "SET SESSION autocommit=0");
  assert.equal(
    summarizeResponse(parseOk(payload, mysql2Context)),
    "OK affected=0 insert_id=0 status=0x4000 warnings=0 state=[autocommit=OFF, state_changed=1]",
  );
  const [insert] = responseTo(cli, "VALUES ('dave')");
  assert.equal(
    summarizeResponse(parseOk(insert, cliContext)),
    "OK affected=1 insert_id=7 status=0x0002 warnings=0",
  );
});

Deno.test("serializeErr() writes SQLSTATE only when present", () => {
  assert.equal(
    toHex(serializeErr({ kind: "err", code: 1064, sqlState: "42000", message: "x" })),
    toHex(hex("ff 28 04 23 34 32 30 30 30 78")),
  );
});

Deno.test("every OK, ERR and EOF in the d-* captures round-trips", () => {
  const files = [
    "d-cli-queries.txt",
    "d-cli-extended-metadata.txt",
    "d-cli-field-list.txt",
    "d-cli-local-infile.txt",
    "d-admin-statistics.txt",
    "d-mysql2-session-track.txt",
    "d-mariadb-connector-deprecate-eof.txt",
    "d-raw-320-queries.txt",
  ];
  let count = 0;
  for (const file of files) {
    const frames = capture(file);
    const context = contextOf(frames);
    for (const frame of frames.slice(2)) {
      const p = frame.payload;
      if (frame.direction !== "server") continue;
      const generic = p[0] === 0xff ||
        (p[0] === 0xfe && p.length < 9) ||
        (p[0] === 0x00 && frame.sequenceId === 1 && p.length !== 12);
      if (!generic) continue;
      const message = parseGenericResponse(p, context);
      assert.notEqual(message.kind, "unknown", `${file}: ${toHex(p)}`);
      assert.equal(
        toHex(serializeGenericResponse(message as GenericResponse, context)),
        toHex(p),
        file,
      );
      count++;
    }
  }
  assert.ok(count > 60, `only ${count} responses`);
});
