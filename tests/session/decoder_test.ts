/**
 * SessionDecoder edge cases: each starts from a real login captured from MariaDB 10.11, then
 * feeds hand-written packets (expected bytes from the protocol documentation, not our serializer).
 */
import assert from "node:assert/strict";
import { createSessionTap } from "../../src/session/tap.ts";
import type { DecodedPacket } from "../../src/session/decoder.ts";
import { frame, hex, readCapture } from "../helpers/hex.ts";
import { CAPTURES, CLASSIC, loginFrames, withCompression } from "../helpers/login.ts";

interface Harness {
  tap: ReturnType<typeof createSessionTap>;
  packets: DecodedPacket[];
  opaque: string[];
  client(seq: number, payload: string | Uint8Array): DecodedPacket[];
  server(seq: number, payload: string | Uint8Array): DecodedPacket[];
}

/**
 * A tap that has seen the greeting, login and OK of connection 1 of a capture. `patch` may edit
 * those frames first (e.g. to set a capability bit on both sides).
 */
function loggedIn(
  capture: string,
  patch?: (greeting: Uint8Array, response: Uint8Array) => void,
): Harness {
  const login = loginFrames(capture, patch);
  const packets: DecodedPacket[] = [];
  const opaque: string[] = [];
  const tap = createSessionTap({
    // Copy what the test inspects later: payload views die with the chunk.
    onPacket: (p) => packets.push(structuredClone(p)),
    onOpaque: (reason) => opaque.push(reason),
  });
  tap.server(login.greeting);
  tap.client(login.response);
  tap.server(login.ok);
  assert.equal(packets.at(-1)?.message.kind, "ok", "the capture's login succeeded");
  const feed = (direction: "client" | "server") => (seq: number, payload: string | Uint8Array) => {
    const before = packets.length;
    const bytes = frame(seq, typeof payload === "string" ? hex(payload) : payload);
    if (direction === "client") tap.client(bytes);
    else tap.server(bytes);
    return packets.slice(before);
  };
  return { tap, packets, opaque, client: feed("client"), server: feed("server") };
}

const kinds = (packets: DecodedPacket[]) => packets.map((p) => p.message.kind);

// A login with CLIENT_DEPRECATE_EOF (MariaDB Connector/Node); CLASSIC has none (mariadb CLI).
const DEPRECATE_EOF = "d-mariadb-connector-deprecate-eof.txt";

const QUERY_SELECT_1 = "03 53454c4543542031"; // COM_QUERY "SELECT 1"
// The CLI negotiated MARIADB_CLIENT_CACHE_METADATA: a metadata-follows byte comes after the count.
const COLUMN_COUNT_1 = "01 01";
const COLUMN_DEF = "03646566 00 00 00 0131 00 0c 3f00 01000000 08 8100 00 0000"; // `1` LONGLONG
const EOF = "fe 0000 0200";

Deno.test("SessionDecoder ends rows at a 0xFE OK of 9+ bytes when CLIENT_DEPRECATE_EOF is on", () => {
  const h = loggedIn(DEPRECATE_EOF);
  h.client(0, QUERY_SELECT_1);
  // The metadata-follows byte is there: this client negotiated MariaDB's metadata cache.
  const deprecate = h.tap.decoder.context;
  assert.ok((deprecate.capabilities & 0x01000000) !== 0, "capture negotiated DEPRECATE_EOF");
  h.server(1, "01 01");
  h.server(2, COLUMN_DEF);
  h.server(3, "01 31"); // row "1"
  // OK with header 0xFE, info "done" and session state: 11 bytes, longer than any EOF.
  const end = h.server(4, "fe 00 00 0200 0000 04 646f6e65");
  assert.deepEqual(kinds(end), ["ok"]);
  assert.equal(end[0].ends, "response");
  assert.equal(h.tap.decoder.pending.length, 0);
  // The next command decodes as a command, not as another row.
  assert.deepEqual(kinds(h.client(0, "0e")), ["COM_PING"]);
  assert.deepEqual(kinds(h.server(1, "00 00 00 0200 0000")), ["ok"]);
});

Deno.test("SessionDecoder reads a text row that starts with 0xFE (an 8-byte length) as a row", () => {
  const h = loggedIn(CLASSIC);
  h.client(0, QUERY_SELECT_1);
  h.server(1, COLUMN_COUNT_1);
  h.server(2, COLUMN_DEF);
  h.server(3, EOF);
  // One value of 2^24 bytes: its length prefix is 0xFE + 8 bytes, so the row starts with 0xFE.
  const value = new Uint8Array(9 + 0x1000000).fill(0x61);
  value.set(hex("fe 00 00 00 01 00 00 00 00"));
  const framed = new Uint8Array(4 + 0xffffff + 4 + (value.length - 0xffffff));
  framed.set(frame(4, value.subarray(0, 0xffffff)).subarray(0, 4));
  framed.set(value.subarray(0, 0xffffff), 4);
  framed.set(frame(5, value.subarray(0xffffff)), 4 + 0xffffff);
  const packets: DecodedPacket[] = [];
  const before = h.packets.length;
  h.tap.server(framed);
  packets.push(...h.packets.slice(before));
  assert.deepEqual(kinds(packets), ["text-row"]);
  assert.equal(packets[0].length, value.length);
  const end = h.server(6, EOF);
  assert.equal(end[0].ends, "response");
  assert.equal(end[0].exchange?.rows, 1);
});

Deno.test("SessionDecoder follows SERVER_MORE_RESULTS_EXISTS through several result sets", () => {
  const h = loggedIn(CLASSIC);
  h.client(0, "03 43414c4c20702829"); // CALL p()
  const first = [
    ...h.server(1, COLUMN_COUNT_1),
    ...h.server(2, COLUMN_DEF),
    ...h.server(3, "fe 0000 0a00"), // EOF, status AUTOCOMMIT | MORE_RESULTS
    ...h.server(4, "01 31"),
    ...h.server(5, "fe 0000 0a00"),
  ];
  assert.equal(first.at(-1)?.ends, "result-set");
  const second = [
    ...h.server(6, COLUMN_COUNT_1),
    ...h.server(7, COLUMN_DEF),
    ...h.server(8, "fe 0000 0a00"),
    ...h.server(9, "fe 0000 0a00"), // empty result set, more follows
  ];
  assert.equal(second.at(-1)?.ends, "result-set");
  const last = h.server(10, "00 00 00 0200 0000"); // the CALL's own OK
  assert.deepEqual(kinds(last), ["ok"]);
  assert.equal(last[0].ends, "response");
  assert.equal(last[0].exchange?.results, 3);
});

Deno.test("SessionDecoder pairs pipelined commands with their responses in order", () => {
  const h = loggedIn(CLASSIC);
  h.client(0, QUERY_SELECT_1);
  h.client(0, "02 74"); // COM_INIT_DB "t", sent before the first answer
  assert.equal(h.tap.decoder.pending.length, 2);
  const answers = [
    ...h.server(1, COLUMN_COUNT_1),
    ...h.server(2, COLUMN_DEF),
    ...h.server(3, EOF),
    ...h.server(4, "01 31"),
    ...h.server(5, EOF),
    ...h.server(1, "00 00 00 0200 0000"),
  ];
  assert.deepEqual(answers.map((p) => p.exchange?.command.kind), [
    ...Array(5).fill("COM_QUERY"),
    "COM_INIT_DB",
  ]);
  assert.equal(h.tap.decoder.pending.length, 0);
});

Deno.test("SessionDecoder treats a MariaDB progress report as not ending the command", () => {
  const h = loggedIn(CLASSIC); // the mariadb CLI negotiates MARIADB_CLIENT_PROGRESS
  h.client(0, QUERY_SELECT_1);
  const progress = h.server(1, "ff ffff 01 01 02 e80300 04 636f7079");
  assert.deepEqual(kinds(progress), ["progress"]);
  assert.equal(progress[0].ends, undefined);
  assert.deepEqual(kinds(h.server(2, "00 00 00 0200 0000")), ["ok"]);
});

Deno.test("SessionDecoder classifies 0xFB as LOCAL INFILE only as the first packet of a response", () => {
  const h = loggedIn(CLASSIC);
  h.client(0, "03 4c4f4144"); // "LOAD"
  assert.deepEqual(kinds(h.server(1, "fb 2f746d702f78")), ["local-infile-request"]);
  assert.deepEqual(kinds(h.client(2, "6869")), ["local-infile-data"]);
  assert.deepEqual(kinds(h.client(3, "")), ["local-infile-data"]);
  assert.deepEqual(kinds(h.server(4, "00 01 00 0200 0000")), ["ok"]);
  // In a result set the same byte is a NULL value.
  h.client(0, QUERY_SELECT_1);
  h.server(1, COLUMN_COUNT_1);
  h.server(2, COLUMN_DEF);
  h.server(3, EOF);
  const row = h.server(4, "fb");
  assert.deepEqual(kinds(row), ["text-row"]);
  assert.deepEqual((row[0].message as { values: unknown[] }).values, [null]);
});

Deno.test("SessionDecoder goes on after an SSLRequest: it is fed the plaintext where TLS ends", () => {
  const frames = readCapture(new URL("b-cli-ssl-request.txt", CAPTURES));
  const login = readCapture(new URL(CLASSIC, CAPTURES)).filter((f) => f.connection === 1);
  const packets: string[] = [];
  const opaque: string[] = [];
  const tap = createSessionTap({
    onPacket: (p) => packets.push(p.message.kind),
    onOpaque: (r) => opaque.push(r),
  });
  for (const f of frames.slice(0, 2)) {
    const bytes = frame(f.sequenceId, f.payload);
    if (f.direction === "client") tap.client(bytes);
    else tap.server(bytes);
  }
  assert.deepEqual(packets, ["handshake-v10", "ssl-request"]);
  assert.equal(tap.decoder.phase, "login");
  assert.equal(tap.decoder.tls, true);
  // What the proxy's TLS session delivers: the HandshakeResponse, then the server's OK.
  tap.client(frame(2, login[1].payload));
  tap.server(frame(3, login[2].payload));
  tap.client(frame(0, hex("03 53454c4543542031")));
  assert.deepEqual(packets, [
    "handshake-v10",
    "ssl-request",
    "handshake-response-41",
    "ok",
    "COM_QUERY",
  ]);
  assert.equal(tap.decoder.framed, true);
  assert.deepEqual(opaque, []);
});

Deno.test("SessionDecoder goes on decoding compressed frames after authentication when both sides negotiated compression", () => {
  const h = loggedIn(CLASSIC, withCompression);
  assert.equal(h.tap.decoder.compressed, true);
  assert.equal(h.tap.decoder.framed, true);
  assert.deepEqual(h.opaque, []);
  const before = h.packets.length;
  // COM_PING in a stored-raw compressed frame (7-byte header, uncompressed length 0), its OK too.
  h.tap.client(hex("050000 00 000000 | 01000000 0e"));
  h.tap.server(hex("0b0000 01 000000 | 07000001 00000002000000"));
  assert.deepEqual(kinds(h.packets.slice(before)), ["COM_PING", "ok"]);
});

Deno.test("SessionDecoder decodes an ERR sent instead of the greeting", () => {
  const packets: DecodedPacket[] = [];
  const tap = createSessionTap({ onPacket: (p) => packets.push(structuredClone(p)) });
  // MariaDB refusing a connection: no SQLSTATE marker before the handshake.
  tap.server(frame(0, hex("ff 1004 546f6f206d616e7920636f6e6e656374696f6e73")));
  assert.deepEqual(kinds(packets), ["err"]);
  assert.equal((packets[0].message as { code: number }).code, 1040);
  assert.equal(tap.decoder.phase, "closed");
});

Deno.test("SessionDecoder picks the thread up again at the next command after losing track", () => {
  const h = loggedIn(CLASSIC);
  h.client(0, QUERY_SELECT_1);
  // A column count that cannot be one (0xFF is not a length): the track is lost.
  const lost = h.server(1, "fc 01");
  assert.deepEqual(kinds(lost), ["unknown"]);
  assert.equal(h.tap.decoder.phase, "opaque");
  assert.deepEqual(kinds(h.server(2, "01 31")), ["unknown"]);
  // The client's next command starts at sequence id 0: decoding resumes there.
  assert.deepEqual(kinds(h.client(0, "0e")), ["COM_PING"]);
  assert.deepEqual(kinds(h.server(1, "00 00 00 0200 0000")), ["ok"]);
  assert.equal(h.tap.decoder.phase, "command");
});

Deno.test("SessionDecoder expects no response to COM_STMT_CLOSE, SEND_LONG_DATA and QUIT", () => {
  const h = loggedIn(CLASSIC);
  h.client(0, "19 01000000"); // COM_STMT_CLOSE 1
  h.client(0, "18 01000000 0000 6162"); // COM_STMT_SEND_LONG_DATA
  assert.equal(h.tap.decoder.pending.length, 0);
  h.client(0, "0e");
  assert.deepEqual(kinds(h.server(1, "00 00 00 0200 0000")), ["ok"]);
  h.client(0, "01");
  assert.equal(h.tap.decoder.phase, "closed");
});

Deno.test("SessionDecoder re-authenticates on COM_CHANGE_USER and forgets prepared statements", () => {
  const frames = readCapture(new URL("b-mysql2-change-user.txt", CAPTURES));
  const seen: DecodedPacket[] = [];
  const tap = createSessionTap({ onPacket: (p) => seen.push(structuredClone(p)) });
  let statementsBefore = -1;
  for (const f of frames) {
    const bytes = frame(f.sequenceId, f.payload);
    if (f.direction === "client" && f.payload[0] === 0x11 && f.sequenceId === 0) {
      statementsBefore = tap.decoder.statements.size;
    }
    if (f.direction === "client") tap.client(bytes);
    else tap.server(bytes);
  }
  const change = seen.findIndex((p) => p.message.kind === "COM_CHANGE_USER");
  assert.ok(change > 0, "the capture has a COM_CHANGE_USER");
  const after = kinds(seen.slice(change + 1, change + 4));
  assert.deepEqual(after, ["auth-switch-request", "auth-switch-response", "ok"]);
  assert.equal(seen[change + 3].ends, "response");
  assert.equal(tap.decoder.phase === "command" || tap.decoder.phase === "closed", true);
  assert.ok(statementsBefore >= 0);
  assert.ok(!seen.some((p) => p.message.kind === "unknown"));
});

Deno.test("SessionDecoder decodes an ERR the server sends unprompted before closing", () => {
  const h = loggedIn(CLASSIC);
  const err = h.server(0, "ff 8610 2330384530314c6f73742063");
  assert.deepEqual(kinds(err), ["err"]);
});

Deno.test("SessionDecoder.track() tells a truncated 16 MiB row from the OK that ends the rows", () => {
  // With CLIENT_DEPRECATE_EOF a 0xFE packet under 16 MiB ends the rows; a row starting with 0xFE
  // (an 8-byte length) is at least 16 MiB. Truncated payloads must not change that verdict.
  const frames = readCapture(new URL(DEPRECATE_EOF, CAPTURES)).filter((f) => f.connection === 1);
  const tap = createSessionTap(); // no listener: track mode, truncating framer
  for (const f of frames.slice(0, 3)) {
    const bytes = frame(f.sequenceId, f.payload);
    if (f.direction === "client") tap.client(bytes);
    else tap.server(bytes);
  }
  tap.client(frame(0, hex(QUERY_SELECT_1)));
  tap.server(frame(1, hex("01 01")));
  tap.server(frame(2, hex(COLUMN_DEF)));
  const value = new Uint8Array(9 + 0x1000000).fill(0x61);
  value.set(hex("fe 00 00 00 01 00 00 00 00"));
  tap.server(frame(3, value.subarray(0, 0xffffff)).subarray(0, 4));
  tap.server(value.subarray(0, 0xffffff));
  tap.server(frame(4, value.subarray(0xffffff)));
  assert.equal(tap.decoder.pending.length, 1, "the big row did not end the response");
  assert.equal(tap.decoder.pending[0].rows, 1);
  tap.server(frame(5, hex("fe 00 00 0200 0000")));
  assert.equal(tap.decoder.pending.length, 0);
});
