import assert from "node:assert/strict";
import { Capability, MariaDbCapability } from "../../src/protocol/constants.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import {
  clearGreetingCapabilities,
  clearGreetingMariaDbCapabilities,
  type HandshakeResponse41,
  type HandshakeV10,
  isSslRequest,
  negotiatedContext,
  parseHandshakeResponse,
  parseHandshakeResponse320,
  parseHandshakeResponse41,
  parseHandshakeV10,
  parseSslRequest,
  readConnectAttributes,
  readGreetingCapabilities,
  serializeHandshakeResponse,
  serializeHandshakeResponse320,
  serializeHandshakeResponse41,
  serializeHandshakeV10,
  serializeSslRequest,
  writeConnectAttributes,
} from "../../src/protocol/handshake.ts";
import { PacketReader } from "../../src/protocol/reader.ts";
import { PacketWriter } from "../../src/protocol/writer.ts";
import { type CapturedFrame, hex, readCapture, toHex } from "../helpers/hex.ts";

const CAPTURES = new URL("../fixtures/captures/", import.meta.url);

function frames(name: string): CapturedFrame[] {
  return readCapture(new URL(name, CAPTURES));
}

/** The payload of the `index`-th frame of connection 1. */
function payload(name: string, index: number): Uint8Array {
  return frames(name).filter((frame) => frame.connection === 1)[index].payload;
}

function assertProtocolError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

const ALL_CAPTURES = [...Deno.readDirSync(CAPTURES)]
  .map((entry) => entry.name)
  .filter((name) => name.startsWith("b-") && name.endsWith(".txt"))
  .sort();

// The greeting of MariaDB 10.11.19 as captured (CLIENT_SSL cleared by the capture tool).
const MARIADB_GREETING = payload("b-cli-native-no-db.txt", 0);

Deno.test("parseHandshakeV10() reads MariaDB 10.11's greeting with its extended capabilities", () => {
  const greeting = parseHandshakeV10(MARIADB_GREETING);
  const expected: HandshakeV10 = {
    kind: "handshake-v10",
    protocolVersion: 10,
    serverVersion: "5.5.5-10.11.19-MariaDB-0+deb12u1",
    connectionId: 0x28,
    authPluginData: hex("392c6b595b3e6253 | 573f703c755b462e52344d64"),
    capabilities: 0x81fff7fe,
    characterSet: 8,
    statusFlags: 0x0002,
    authPluginDataLength: 21,
    mariadbCapabilities: MariaDbCapability.MARIADB_CLIENT_PROGRESS |
      MariaDbCapability.MARIADB_CLIENT_STMT_BULK_OPERATIONS |
      MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA |
      MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA,
    authPluginName: "mysql_native_password",
  };
  assert.deepEqual(greeting, expected);
  assert.equal(
    greeting.capabilities & Capability.CLIENT_LONG_PASSWORD,
    0,
    "MariaDB clears CLIENT_MYSQL",
  );
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(MARIADB_GREETING));
});

Deno.test("parseHandshakeV10() reads a MySQL 8.0 greeting: CLIENT_LONG_PASSWORD set, no MariaDB capabilities", () => {
  const bytes = hex(`
    0a | 382e302e333600          # protocol 10, "8.0.36"
    2a000000 | 4162436445664768  # connection id 42, scramble part 1
    00 | fff7 | ff | 0200 | ffdf # filler, caps lower, utf8mb4_0900_ai_ci, autocommit, caps upper
    15 | 00000000000000000000    # auth_plugin_data_len 21, reserved
    496a4b6c4d6e4f7051725374 00  # scramble part 2 + NUL
    63616368696e675f736861325f70617373776f726400`);
  assert.equal(toHex(bytes), toHex(payload("b-mysql2-sha2-full.txt", 0)));
  const greeting = parseHandshakeV10(bytes);
  assert.equal(greeting.serverVersion, "8.0.36");
  assert.equal(greeting.capabilities, 0xdffff7ff);
  assert.equal(greeting.characterSet, 0xff);
  assert.equal(greeting.mariadbCapabilities, 0);
  assert.equal(greeting.reserved, undefined);
  assert.equal(new TextDecoder().decode(greeting.authPluginData), "AbCdEfGhIjKlMnOpQrSt");
  assert.equal(greeting.authPluginName, "caching_sha2_password");
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() keeps auth_plugin_data_len 0 and reads 13 bytes of part 2 without CLIENT_PLUGIN_AUTH", () => {
  // A MySQL 5.0-style greeting: CLIENT_SECURE_CONNECTION but no plugin auth, nothing after part 2.
  const bytes = hex(`
    0a 352e302e393600 01000000 3132333435363738 00
    2ca2 08 0200 0000 00 00000000000000000000
    616263646566676869707172 00`);
  const greeting = parseHandshakeV10(bytes);
  assert.equal(greeting.capabilities, 0xa22c);
  assert.equal(greeting.authPluginDataLength, 0);
  assert.equal(new TextDecoder().decode(greeting.authPluginData), "12345678abcdefghipqr");
  assert.equal(greeting.authPluginName, undefined);
  assert.equal(greeting.trailing, undefined);
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() reads max(13, len - 8) bytes of part 2 when auth_plugin_data_len is above 21", () => {
  const part2 = "0102030405060708090a0b0c0d0e0f10111213141500"; // 22 bytes: 21 + NUL
  const bytes = hex(`0a 3500 01000000 1112131415161718 00 00a2 08 0200 0800 1e 00000000000000000000
    ${part2} 7800`);
  const greeting = parseHandshakeV10(bytes);
  assert.equal(greeting.authPluginDataLength, 30);
  assert.equal(greeting.authPluginData.length, 29);
  assert.equal(greeting.authPluginName, "x");
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() keeps a part 2 that does not end with NUL", () => {
  const bytes = hex(`0a 3500 01000000 1112131415161718 00 00a2 08 0200 0800 15 00000000000000000000
    0102030405060708090a0b0c0d 7800`);
  const greeting = parseHandshakeV10(bytes);
  assert.equal(greeting.authPluginDataUnterminated, true);
  assert.equal(greeting.authPluginData.length, 21);
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() reads a plugin name that runs to the end without NUL (MySQL 5.5.7 to 5.5.9)", () => {
  const bytes = hex(`0a 3500 01000000 1112131415161718 00 00a2 08 0200 0800 15 00000000000000000000
    0102030405060708090a0b0c00 6d7973716c5f6e61746976655f70617373776f7264`);
  const greeting = parseHandshakeV10(bytes);
  assert.equal(greeting.authPluginName, "mysql_native_password");
  assert.equal(greeting.authPluginNameUnterminated, true);
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() keeps non-zero reserved bytes and ignores the last 4 when CLIENT_LONG_PASSWORD is set", () => {
  const mysql = hex(`0a 3500 01000000 1112131415161718 00 ffa2 08 0200 0800 15 00000000000001000000
    0102030405060708090a0b0c00 6100`);
  const greeting = parseHandshakeV10(mysql);
  assert.equal(greeting.mariadbCapabilities, 0);
  assert.equal(toHex(greeting.reserved!), "00000000000001000000");
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(mysql));

  const mariadb = hex(
    `0a 3500 01000000 1112131415161718 00 fea2 08 0200 0800 15 0000000000ff1d000000
    0102030405060708090a0b0c00 6100`,
  );
  const other = parseHandshakeV10(mariadb);
  assert.equal(other.mariadbCapabilities, 0x1d);
  assert.equal(toHex(other.reserved!), "0000000000ff1d000000");
  assert.equal(toHex(serializeHandshakeV10(other)), toHex(mariadb));
  // mariadbCapabilities wins over the kept reserved bytes when it is meaningful.
  const changed = serializeHandshakeV10({ ...other, mariadbCapabilities: 0x08 });
  assert.equal(toHex(changed.subarray(24, 34)), "0000000000ff08000000");
});

Deno.test("parseHandshakeV10() reads a pre-4.0 greeting that ends after the lower capability bits", () => {
  const bytes = hex("0a 332e32332e353800 07000000 4142434445464748 00 2c00");
  const greeting = parseHandshakeV10(bytes);
  assert.equal(greeting.endsAfterCapabilities, true);
  assert.equal(greeting.capabilities, 0x002c);
  assert.equal(greeting.authPluginData.length, 8);
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() keeps a non-UTF-8 server version, a non-zero filler and trailing bytes", () => {
  const bytes = hex(
    `0a 35ff00 01000000 1112131415161718 07 00a2 08 0200 0800 15 00000000000000000000
    0102030405060708090a0b0c00 6100 beef`,
  );
  const greeting = parseHandshakeV10(bytes);
  assert.equal(toHex(greeting.serverVersionBytes!), "35ff");
  assert.equal(greeting.filler, 7);
  assert.equal(toHex(greeting.trailing!), "beef");
  assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(bytes));
});

Deno.test("parseHandshakeV10() rejects protocol 9, an ERR packet and truncated greetings", () => {
  assertProtocolError(
    () => parseHandshakeV10(hex("09 3300 01000000 4142434445464748 00")),
    /protocol version 10, got 9/,
  );
  assertProtocolError(
    () => parseHandshakeV10(payload("b-mysql2-wrong-password.txt", 2)),
    /protocol version 10/,
  );
  for (const end of [1, 20, 30, 44, 50]) {
    assertProtocolError(
      () => parseHandshakeV10(MARIADB_GREETING.subarray(0, end)),
      /^Cannot parse HandshakeV10: /,
    );
  }
});

Deno.test("serializeHandshakeV10() rejects a scramble that contradicts auth_plugin_data_len", () => {
  const greeting = parseHandshakeV10(MARIADB_GREETING);
  assert.throws(
    () =>
      serializeHandshakeV10({
        ...greeting,
        authPluginData: greeting.authPluginData.subarray(0, 19),
      }),
    RangeError,
  );
  assert.throws(
    () =>
      serializeHandshakeV10({
        ...greeting,
        capabilities: greeting.capabilities & ~Capability.CLIENT_PLUGIN_AUTH,
      }),
    /authPluginName needs CLIENT_PLUGIN_AUTH/,
  );
});

Deno.test("parseHandshakeV10() round-trips every captured greeting", () => {
  let count = 0;
  for (const name of ALL_CAPTURES) {
    for (const frame of frames(name)) {
      if (frame.direction !== "server" || frame.sequenceId !== 0 || frame.payload[0] !== 10) {
        continue;
      }
      const greeting = parseHandshakeV10(frame.payload);
      assert.equal(toHex(serializeHandshakeV10(greeting)), toHex(frame.payload), name);
      assert.equal(readGreetingCapabilities(frame.payload), greeting.capabilities, name);
      count++;
    }
  }
  assert.ok(count >= ALL_CAPTURES.length, `only ${count} greetings`);
});

Deno.test("clearGreetingCapabilities() clears CLIENT_SSL and CLIENT_COMPRESS in place without changing the length", () => {
  // The fake server's greeting: MariaDB's with CLIENT_SSL set again.
  const original = payload("b-mysql2-ssl-request.txt", 0);
  assert.ok(readGreetingCapabilities(original)! & Capability.CLIENT_SSL);
  const patched = original.slice();
  assert.ok(clearGreetingCapabilities(patched, Capability.CLIENT_SSL | Capability.CLIENT_COMPRESS));
  assert.equal(patched.length, original.length);
  const before = parseHandshakeV10(original);
  const after = parseHandshakeV10(patched);
  assert.equal(
    after.capabilities,
    (before.capabilities & ~(Capability.CLIENT_SSL | Capability.CLIENT_COMPRESS)) >>> 0,
  );
  assert.deepEqual({ ...after, capabilities: 0 }, { ...before, capabilities: 0 });
  const changed = [...patched.keys()].filter((i) => patched[i] !== original[i]);
  assert.deepEqual(changed, [original.indexOf(0, 1) + 14, original.indexOf(0, 1) + 15]);
});

Deno.test("clearGreetingCapabilities() clears upper bits too, and refuses what is not a HandshakeV10", () => {
  const greeting = MARIADB_GREETING.slice();
  assert.ok(
    clearGreetingCapabilities(
      greeting,
      Capability.CLIENT_DEPRECATE_EOF | Capability.CLIENT_REMEMBER_OPTIONS,
    ),
  );
  assert.equal(readGreetingCapabilities(greeting), 0x81fff7fe & ~0x81000000);
  const err = payload("b-mysql2-wrong-password.txt", 2);
  for (
    const bytes of [
      err,
      hex(""),
      hex("0a 3500"),
      hex("0a 35"),
      hex("09 3500 01000000 4142434445464748 00 2c00"),
    ]
  ) {
    const copy = bytes.slice();
    assert.equal(clearGreetingCapabilities(copy, 0xffffffff), false);
    assert.equal(readGreetingCapabilities(copy), undefined);
    assert.equal(toHex(copy), toHex(bytes));
  }
  // A pre-4.0 greeting has only the lower 16 bits.
  const old = hex("0a 3500 07000000 4142434445464748 00 2c08");
  assert.ok(clearGreetingCapabilities(old, Capability.CLIENT_SSL));
  assert.equal(readGreetingCapabilities(old), 0x002c);
});

Deno.test("clearGreetingMariaDbCapabilities() clears MariaDB bits in place, and leaves MySQL's reserved bytes alone", () => {
  const greeting = MARIADB_GREETING.slice();
  assert.ok(
    clearGreetingMariaDbCapabilities(greeting, MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA),
  );
  assert.equal(parseHandshakeV10(greeting).mariadbCapabilities, 0x0d);
  const mysql = payload("b-mysql2-sha2-full.txt", 0);
  const copy = mysql.slice();
  assert.ok(clearGreetingMariaDbCapabilities(copy, 0xffffffff));
  assert.equal(toHex(copy), toHex(mysql));
  assert.equal(
    clearGreetingMariaDbCapabilities(hex("0a 3500 07000000 4142434445464748 00 2c00"), 1),
    false,
  );
});

// Client side.

Deno.test("parseHandshakeResponse() reads npm:mysql2's real SSLRequest", () => {
  const bytes = payload("b-mysql2-ssl-request.txt", 1);
  assert.ok(isSslRequest(bytes));
  const request = parseHandshakeResponse(bytes);
  assert.deepEqual(request, {
    kind: "ssl-request",
    capabilities: 0x08bafbce,
    maxPacketSize: 0,
    characterSet: 224,
    mariadbCapabilities: MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA,
  });
  assert.equal(toHex(serializeHandshakeResponse(request)), toHex(bytes));
});

Deno.test("parseSslRequest() reads the mariadb CLI's real SSLRequest", () => {
  const bytes = payload("b-cli-ssl-request.txt", 1);
  const request = parseSslRequest(bytes);
  assert.deepEqual(request, {
    kind: "ssl-request",
    capabilities: 0x00bfaa84,
    maxPacketSize: 0x100000,
    characterSet: 33,
    mariadbCapabilities: 0x1d,
  });
  assert.equal(toHex(serializeSslRequest(request)), toHex(bytes));
});

Deno.test("isSslRequest() needs exactly 32 bytes with CLIENT_PROTOCOL_41 and CLIENT_SSL", () => {
  const request = payload("b-cli-ssl-request.txt", 1);
  assert.equal(isSslRequest(request), true);
  assert.equal(isSslRequest(request.subarray(0, 31)), false);
  assert.equal(isSslRequest(hex(toHex(request) + "00")), false);
  const noSsl = request.slice();
  noSsl[1] &= ~0x08;
  assert.equal(isSslRequest(noSsl), false);
  const no41 = request.slice();
  no41[1] &= ~0x02;
  assert.equal(isSslRequest(no41), false);
  assert.equal(isSslRequest(payload("b-cli-native-no-db.txt", 1)), false);
  assertProtocolError(() => parseSslRequest(noSsl), /CLIENT_SSL is not set/);
  assertProtocolError(() => parseSslRequest(request.subarray(0, 31)), /expected 32 bytes, got 31/);
});

const CLI_ATTRIBUTES = (pid: string): [string, string][] => [
  ["_os", "Linux"],
  ["_client_name", "libmariadb"],
  ["_pid", pid],
  ["_client_version", "3.3.20"],
  ["_platform", "x86_64"],
  ["program_name", "mysql"],
  ["_server_host", "127.0.0.1"],
];

Deno.test("parseHandshakeResponse41() reads the mariadb CLI's login without a database: CLIENT_CONNECT_WITH_DB clear", () => {
  const bytes = payload("b-cli-native-no-db.txt", 1);
  const response = parseHandshakeResponse(bytes);
  const expected: HandshakeResponse41 = {
    kind: "handshake-response-41",
    capabilities: 0x00bfa284,
    maxPacketSize: 0x100000,
    characterSet: 33,
    mariadbCapabilities: 0x1d,
    username: "b_native",
    authResponse: hex("bfac9cccbf2a6bb445af67b24493dabb9515e009"),
    authPluginName: "mysql_native_password",
    connectAttributes: CLI_ATTRIBUTES("7133"),
  };
  assert.deepEqual(response, expected);
  assert.equal(response.capabilities & Capability.CLIENT_DEPRECATE_EOF, 0);
  assert.equal(toHex(serializeHandshakeResponse41(expected)), toHex(bytes));
});

Deno.test("parseHandshakeResponse41() reads the mariadb CLI's login with a default database", () => {
  const bytes = payload("b-cli-native-with-db.txt", 1);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(response.capabilities, 0x00bfa28c);
  assert.equal(response.database, "task_b");
  assert.equal(response.authPluginName, "mysql_native_password");
  assert.deepEqual(response.connectAttributes, CLI_ATTRIBUTES("7140"));
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse41() reads npm:mysql2's login: maxPacketSize 0, MariaDB extended metadata, no DEPRECATE_EOF", () => {
  const bytes = payload("b-mysql2-login.txt", 1);
  const response = parseHandshakeResponse41(bytes);
  assert.deepEqual(response, {
    kind: "handshake-response-41",
    capabilities: 0x08baf3ce,
    maxPacketSize: 0,
    characterSet: 224,
    mariadbCapabilities: MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA,
    username: "b_native",
    authResponse: hex("9feee450805823f7b9056e0cc06a981b381b8c1c"),
    database: "task_b",
    authPluginName: "mysql_native_password",
    connectAttributes: [["_client_name", "Node-MySQL-2"], ["_client_version", "3.24.5"]],
  });
  assert.equal(response.capabilities & Capability.CLIENT_LONG_PASSWORD, 0);
  assert.equal(response.capabilities & Capability.CLIENT_DEPRECATE_EOF, 0);
  assert.ok(response.capabilities & Capability.CLIENT_QUERY_ATTRIBUTES);
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

Deno.test('parseHandshakeResponse41() reads mysql2\'s empty database: CLIENT_CONNECT_WITH_DB set, database present as ""', () => {
  const bytes = payload("b-mysql2-change-user.txt", 1);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(response.database, "");
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse41() reads mysql2's caching_sha2_password token against a MySQL 8 greeting", () => {
  const bytes = payload("b-mysql2-sha2-full.txt", 1);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(response.capabilities, 0x18baf3cf);
  assert.ok(response.capabilities & Capability.MULTI_FACTOR_AUTHENTICATION);
  assert.equal(response.mariadbCapabilities, 0);
  assert.equal(response.reserved, undefined);
  assert.equal(response.authResponse.length, 32);
  assert.equal(response.authPluginName, "caching_sha2_password");
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse41() reads a 1-byte auth response length without CLIENT_PLUGIN_AUTH", () => {
  const bytes = payload("b-raw-old-switch.txt", 1);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(response.capabilities, 0xa205);
  assert.equal(response.maxPacketSize, 0x1000000);
  assert.equal(response.username, "b_old");
  assert.equal(response.authResponse.length, 20);
  assert.equal(response.authPluginName, undefined);
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

const HEADER_41 = (caps: string) => `${caps} 00000001 21 ${"00".repeat(23)}`;

Deno.test("parseHandshakeResponse41() reads a NUL-terminated auth response without CLIENT_SECURE_CONNECTION", () => {
  // CLIENT_PROTOCOL_41 | CLIENT_CONNECT_WITH_DB, old 8-byte scramble
  const bytes = hex(`${HEADER_41("08020000")} 7500 4142434445464748 00 6400`);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(toHex(response.authResponse), "4142434445464748");
  assert.equal(response.database, "d");
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
  const unterminated = hex(`${HEADER_41("00020000")} 7500 41424344`);
  const open = parseHandshakeResponse41(unterminated);
  assert.equal(open.authResponseUnterminated, true);
  assert.equal(toHex(serializeHandshakeResponse41(open)), toHex(unterminated));
});

Deno.test("parseHandshakeResponse41() reads a 0xfc length-encoded auth response and keeps a non-minimal length", () => {
  // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
  const long = "ab".repeat(300);
  const bytes = hex(`${HEADER_41("00822000")} 7500 fc2c01 ${long}`);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(response.authResponse.length, 300);
  assert.equal(response.authResponseLengthPrefix, undefined);
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
  const nonMinimal = hex(`${HEADER_41("00822000")} 7500 fc0200 abcd`);
  const odd = parseHandshakeResponse41(nonMinimal);
  assert.equal(toHex(odd.authResponse), "abcd");
  assert.equal(toHex(odd.authResponseLengthPrefix!), "fc0200");
  assert.equal(toHex(serializeHandshakeResponse41(odd)), toHex(nonMinimal));
});

Deno.test("parseHandshakeResponse41() leaves out flagged fields missing at the end of the packet", () => {
  const full = payload("b-cli-native-with-db.txt", 1);
  // Cut after the auth response: CLIENT_CONNECT_WITH_DB, PLUGIN_AUTH and CONNECT_ATTRS are set.
  const cut = full.subarray(0, 32 + 9 + 1 + 20);
  const response = parseHandshakeResponse41(cut);
  assert.equal("database" in response, false);
  assert.equal("authPluginName" in response, false);
  assert.equal("connectAttributes" in response, false);
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(cut));
  // Cut after the database.
  const cut2 = full.subarray(0, 32 + 9 + 1 + 20 + 7);
  const response2 = parseHandshakeResponse41(cut2);
  assert.equal(response2.database, "task_b");
  assert.equal("authPluginName" in response2, false);
  assert.equal(toHex(serializeHandshakeResponse41(response2)), toHex(cut2));
});

Deno.test("parseHandshakeResponse41() reads the zstd compression level and keeps trailing bytes", () => {
  // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_ZSTD_COMPRESSION_ALGORITHM
  const bytes = hex(`${HEADER_41("00820004")} 7500 00 03 ffff`);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(response.zstdCompressionLevel, 3);
  assert.equal(toHex(response.trailing!), "ffff");
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse41() keeps non-zero filler bytes and non-UTF-8 user and database names", () => {
  const bytes = hex(`08820000 00000001 08 ${"00".repeat(18)}01 00000000 e9746500 00 e900`);
  const response = parseHandshakeResponse41(bytes);
  assert.equal(toHex(response.reserved!), `${"00".repeat(18)}0100000000`);
  assert.equal(toHex(response.usernameBytes!), "e97465");
  assert.equal(response.username, "\ufffdte");
  assert.equal(toHex(response.databaseBytes!), "e9");
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse41() keeps connection attributes that would not re-encode the same", () => {
  // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_ATTRS: a repeated key, then a
  // value that is not UTF-8.
  const bytes = hex(`${HEADER_41("00821000")} 7500 00 0c 0161 0162 0161 0163 016b 01ff`);
  const response = parseHandshakeResponse41(bytes);
  assert.deepEqual(response.connectAttributes, [["a", "b"], ["a", "c"], ["k", "\ufffd"]]);
  assert.equal(toHex(response.connectAttributesBytes!), "0c0161016201610163016b01ff");
  assert.equal(toHex(serializeHandshakeResponse41(response)), toHex(bytes));
  const empty = hex(`${HEADER_41("00821000")} 7500 00 00`);
  const none = parseHandshakeResponse41(empty);
  assert.deepEqual(none.connectAttributes, []);
  assert.equal(toHex(serializeHandshakeResponse41(none)), toHex(empty));
});

Deno.test("parseHandshakeResponse41() rejects malformed packets with ProtocolError", () => {
  const bytes = payload("b-cli-native-no-db.txt", 1);
  assertProtocolError(() => parseHandshakeResponse41(bytes.subarray(0, 35)), /no terminating NUL/);
  assertProtocolError(
    () => parseHandshakeResponse41(bytes.subarray(0, 50)),
    /^Cannot parse HandshakeResponse41: /,
  );
  assertProtocolError(
    () => parseHandshakeResponse41(bytes.subarray(0, bytes.length - 3)),
    /connection attributes|needs/,
  );
  assertProtocolError(
    () => parseHandshakeResponse41(payload("b-raw-320-db.txt", 1)),
    /CLIENT_PROTOCOL_41 is not set/,
  );
  assertProtocolError(() => parseHandshakeResponse(hex("00")), /at least 2 bytes/);
});

Deno.test("serializeHandshakeResponse41() refuses fields without their flag or after a missing one", () => {
  const response = parseHandshakeResponse41(payload("b-cli-native-no-db.txt", 1));
  assert.throws(
    () => serializeHandshakeResponse41({ ...response, database: "x" }),
    /database needs CLIENT_CONNECT_WITH_DB/,
  );
  assert.throws(
    () =>
      serializeHandshakeResponse41({
        ...response,
        capabilities: response.capabilities | Capability.CLIENT_CONNECT_WITH_DB,
      }),
    /authPluginName is present but database before it is not/,
  );
  assert.throws(
    () => serializeHandshakeResponse41({ ...response, zstdCompressionLevel: 3 }),
    /CLIENT_ZSTD_COMPRESSION_ALGORITHM/,
  );
});

Deno.test("parseHandshakeResponse320() reads a pre-4.1 client's user, old scramble and database", () => {
  const bytes = payload("b-raw-320-db.txt", 1);
  const response = parseHandshakeResponse(bytes);
  assert.deepEqual(response, {
    kind: "handshake-response-320",
    capabilities: 0x200d,
    maxPacketSize: 0xffffff,
    username: "b_old",
    authResponse: bytes.subarray(11, 19),
    database: "task_b",
  });
  assert.equal(toHex(serializeHandshakeResponse(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse320() reads a NUL-terminated scramble without CLIENT_CONNECT_WITH_DB", () => {
  const bytes = payload("b-raw-320-nodb.txt", 1);
  const response = parseHandshakeResponse320(bytes);
  assert.equal(response.capabilities, 0x2005);
  assert.equal(response.authResponse.length, 8);
  assert.equal(response.authResponseUnterminated, undefined);
  assert.equal(response.database, undefined);
  assert.equal(toHex(serializeHandshakeResponse320(response)), toHex(bytes));
});

Deno.test("parseHandshakeResponse320() reads strings that end the packet without NUL (the 4.0 protocol)", () => {
  const noNul = hex("0520 ffffff 7500 41424344");
  const response = parseHandshakeResponse320(noNul);
  assert.equal(response.authResponseUnterminated, true);
  assert.equal(toHex(serializeHandshakeResponse320(response)), toHex(noNul));
  const dbNoNul = hex("0d20 ffffff 7500 4142434400 6462");
  const withDb = parseHandshakeResponse320(dbNoNul);
  assert.equal(withDb.database, "db");
  assert.equal(withDb.databaseUnterminated, true);
  assert.equal(toHex(serializeHandshakeResponse320(withDb)), toHex(dbNoNul));
});

Deno.test("readConnectAttributes() and writeConnectAttributes() keep order, repeats and odd encodings", () => {
  const canonical = hex("0b 0161 0162 0161 0163 016b 00");
  const { attributes, bytes } = readConnectAttributes(new PacketReader(canonical));
  assert.deepEqual(attributes, [["a", "b"], ["a", "c"], ["k", ""]]);
  assert.equal(bytes, undefined);
  const writer = new PacketWriter();
  writeConnectAttributes(writer, attributes);
  assert.equal(toHex(writer.finish()), toHex(canonical));

  for (const odd of ["04 01ff 0162", "fc0400 0161 0162", "05 fc0100 61 00"]) {
    const raw = hex(odd);
    const read = readConnectAttributes(new PacketReader(raw));
    assert.equal(toHex(read.bytes!), toHex(raw), odd);
    const again = new PacketWriter();
    writeConnectAttributes(again, read.attributes, read.bytes);
    assert.equal(toHex(again.finish()), toHex(raw), odd);
  }
  assert.throws(() => readConnectAttributes(new PacketReader(hex("05 0161 0162"))), ProtocolError);
  assert.throws(() => readConnectAttributes(new PacketReader(hex("03 0161 01"))), ProtocolError);
});

Deno.test("parseHandshakeResponse() round-trips every captured first client packet", () => {
  let count = 0;
  for (const name of ALL_CAPTURES) {
    for (const frame of frames(name)) {
      if (frame.direction !== "client" || frame.sequenceId !== 1) continue;
      const response = parseHandshakeResponse(frame.payload);
      assert.equal(toHex(serializeHandshakeResponse(response)), toHex(frame.payload), name);
      count++;
    }
  }
  assert.ok(count >= ALL_CAPTURES.length, `only ${count} responses`);
});

Deno.test("negotiatedContext() ANDs both sides' capabilities, MariaDB's only when both clear CLIENT_LONG_PASSWORD", () => {
  const mariadb = parseHandshakeV10(MARIADB_GREETING);
  const mysql2 = parseHandshakeResponse(payload("b-mysql2-login.txt", 1));
  assert.deepEqual(negotiatedContext(mariadb, mysql2), {
    capabilities: (0x81fff7fe & 0x08baf3ce) >>> 0,
    mariadbCapabilities: MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA,
  });
  const cli = parseHandshakeResponse(payload("b-cli-native-no-db.txt", 1));
  assert.deepEqual(negotiatedContext(mariadb, cli), {
    capabilities: 0x81fff7fe & 0x00bfa284,
    mariadbCapabilities: 0x1d,
  });
  // The raw client sets CLIENT_LONG_PASSWORD: no MariaDB capabilities.
  const old = parseHandshakeResponse(payload("b-raw-old-switch.txt", 1));
  assert.equal(negotiatedContext(mariadb, old).mariadbCapabilities, 0);
  const pre41 = parseHandshakeResponse(payload("b-raw-320-db.txt", 1));
  const context = negotiatedContext(mariadb, pre41);
  assert.equal(context.capabilities & Capability.CLIENT_PROTOCOL_41, 0);
  assert.equal(context.mariadbCapabilities, 0);
});

Deno.test("serializeHandshakeResponse41() refuses fields after an unterminated auth response", () => {
  const response = parseHandshakeResponse41(
    hex(`${HEADER_41("08020000")} 7500 4142434445464748 00 6400`),
  );
  assert.throws(
    () => serializeHandshakeResponse41({ ...response, authResponseUnterminated: true }),
    /an unterminated authResponse ends the packet/,
  );
});
