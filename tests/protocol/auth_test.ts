import assert from "node:assert/strict";
import {
  type AuthSwitchRequest,
  cachingSha2ServerSignal,
  describeAuthData,
  isPemPublicKey,
  parseAuthMoreData,
  parseAuthNextFactor,
  parseAuthSwitchRequest,
  parseAuthSwitchResponse,
  serializeAuthMoreData,
  serializeAuthNextFactor,
  serializeAuthSwitchRequest,
  serializeAuthSwitchResponse,
} from "../../src/protocol/auth.ts";
import { parseComChangeUser, serializeComChangeUser } from "../../src/protocol/change_user.ts";
import { Capability, Command } from "../../src/protocol/constants.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import {
  parseHandshakeResponse,
  parseHandshakeV10,
  serializeHandshakeResponse,
  serializeHandshakeV10,
} from "../../src/protocol/handshake.ts";
import { type CapturedFrame, hex, readCapture, toHex } from "../helpers/hex.ts";

const CAPTURES = new URL("../fixtures/captures/", import.meta.url);

function frames(name: string): CapturedFrame[] {
  return readCapture(new URL(name, CAPTURES));
}

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

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function greetingScramble(name: string): string {
  return toHex(parseHandshakeV10(payload(name, 0)).authPluginData);
}

Deno.test("parseAuthSwitchRequest() reads MariaDB's switch to client_ed25519: a 32-byte nonce without NUL", () => {
  const bytes = payload("b-cli-ed25519-switch.txt", 2);
  const request = parseAuthSwitchRequest(bytes);
  assert.deepEqual(request, {
    kind: "auth-switch-request",
    pluginName: "client_ed25519",
    pluginData: hex("ac8eca31df0a6a32f6938eb55e37894df8400c885a621e0f0e8776efddd205ef"),
  });
  assert.equal(toHex(serializeAuthSwitchRequest(request)), toHex(bytes));
  assert.equal(
    describeAuthData("client_ed25519", "server", (request as AuthSwitchRequest).pluginData),
    "nonce 32 bytes",
  );
  const signature = parseAuthSwitchResponse(payload("b-cli-ed25519-switch.txt", 3));
  assert.equal(
    describeAuthData("client_ed25519", "client", signature.data),
    "Ed25519 signature 64 bytes",
  );
});

Deno.test("parseAuthSwitchRequest() keeps the NUL MariaDB appends to the greeting's scramble", () => {
  // The mariadb CLI started with mysql_clear_password; the user has mysql_native_password.
  const name = "b-cli-clear-password-switch.txt";
  const bytes = payload(name, 2);
  const request = parseAuthSwitchRequest(bytes) as AuthSwitchRequest;
  assert.equal(request.pluginName, "mysql_native_password");
  assert.equal(toHex(request.pluginData), greetingScramble(name) + "00");
  assert.equal(toHex(serializeAuthSwitchRequest(request)), toHex(bytes));
  assert.equal(
    describeAuthData("mysql_native_password", "server", request.pluginData),
    "scramble 20 bytes + NUL",
  );
});

Deno.test("parseAuthSwitchRequest() reads MariaDB's switch after COM_CHANGE_USER, reusing the greeting's scramble", () => {
  const name = "b-mysql2-change-user.txt";
  const request = parseAuthSwitchRequest(payload(name, 4)) as AuthSwitchRequest;
  assert.equal(request.pluginName, "mysql_native_password");
  assert.equal(toHex(request.pluginData), greetingScramble(name) + "00");
});

Deno.test("parseAuthSwitchRequest() reads the full switch to mysql_old_password MariaDB sends a pre-4.1 client", () => {
  const name = "b-raw-320-db.txt";
  const bytes = payload(name, 2);
  const request = parseAuthSwitchRequest(bytes) as AuthSwitchRequest;
  assert.equal(request.kind, "auth-switch-request");
  assert.equal(request.pluginName, "mysql_old_password");
  assert.equal(toHex(request.pluginData), greetingScramble(name) + "00");
  assert.equal(toHex(serializeAuthSwitchRequest(request)), toHex(bytes));
  const answer = parseAuthSwitchResponse(payload(name, 3));
  assert.equal(
    describeAuthData("mysql_old_password", "client", answer.data),
    "scramble 8 bytes + NUL",
  );
});

Deno.test("parseAuthSwitchRequest() reads MariaDB's one-byte OldAuthSwitchRequest", () => {
  const bytes = payload("b-raw-old-switch.txt", 2);
  assert.equal(toHex(bytes), "fe");
  const request = parseAuthSwitchRequest(bytes);
  assert.deepEqual(request, { kind: "old-auth-switch-request" });
  assert.equal(toHex(serializeAuthSwitchRequest(request)), "fe");
});

Deno.test("parseAuthSwitchRequest() rejects other headers and a plugin name without NUL", () => {
  assertProtocolError(
    () => parseAuthSwitchRequest(hex("00 00 00 02 00")),
    /expected header 0xfe, got 0x00/,
  );
  assertProtocolError(() => parseAuthSwitchRequest(hex("fe 6d7973716c")), /no terminating NUL/);
  assertProtocolError(() => parseAuthSwitchRequest(hex("fe ff00")), /not valid UTF-8/);
  assertProtocolError(() => parseAuthSwitchRequest(hex("")), /^Cannot parse AuthSwitchRequest: /);
  assert.throws(
    () =>
      serializeAuthSwitchRequest({
        kind: "auth-switch-request",
        pluginName: "a\0b",
        pluginData: hex(""),
      }),
    RangeError,
  );
});

Deno.test("parseAuthSwitchResponse() takes any bytes, and serializeAuthSwitchResponse() returns a copy", () => {
  const bytes = payload("b-cli-clear-password-switch.txt", 3);
  const response = parseAuthSwitchResponse(bytes);
  assert.equal(response.kind, "auth-switch-response");
  assert.equal(response.data, bytes);
  const again = serializeAuthSwitchResponse(response);
  assert.equal(toHex(again), toHex(bytes));
  assert.notEqual(again.buffer, bytes.buffer);
  assert.equal(parseAuthSwitchResponse(hex("")).data.length, 0);
});

Deno.test("parseAuthMoreData() reads caching_sha2_password's signals as written in the protocol docs", () => {
  const fast = parseAuthMoreData(hex("01 03"));
  assert.deepEqual(fast, { kind: "auth-more-data", data: hex("03") });
  assert.equal(cachingSha2ServerSignal(fast.data), "fast-auth-success");
  assert.equal(describeAuthData("caching_sha2_password", "server", fast.data), "fast auth success");
  const full = parseAuthMoreData(hex("01 04"));
  assert.equal(cachingSha2ServerSignal(full.data), "perform-full-authentication");
  assert.equal(
    describeAuthData("caching_sha2_password", "server", full.data),
    "perform full authentication",
  );
  assert.equal(cachingSha2ServerSignal(hex("05")), undefined);
  assert.equal(cachingSha2ServerSignal(hex("0303")), undefined);
  for (const text of ["01 03", "01 04", "01"]) {
    assert.equal(toHex(serializeAuthMoreData(parseAuthMoreData(hex(text)))), toHex(hex(text)));
  }
});

Deno.test("parseAuthMoreData() reads a PEM public key, and the client's real key request and RSA-encrypted password", () => {
  // npm:mysql2 against a fake server: 0x01 0x04, the client asks for the key (0x02), gets it,
  // answers with the password XOR scramble, RSA-OAEP encrypted with a 2048-bit key.
  const name = "b-mysql2-sha2-full.txt";
  assert.equal(toHex(payload(name, 2)), "0104");
  const request = parseAuthSwitchResponse(payload(name, 3));
  assert.equal(toHex(request.data), "02");
  assert.equal(
    describeAuthData("caching_sha2_password", "client", request.data),
    "request public key",
  );
  const keyBytes = payload(name, 4);
  const key = parseAuthMoreData(keyBytes);
  assert.ok(isPemPublicKey(key.data));
  assert.match(
    new TextDecoder().decode(key.data),
    /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/,
  );
  assert.equal(cachingSha2ServerSignal(key.data), "public-key");
  assert.equal(
    describeAuthData("caching_sha2_password", "server", key.data),
    `PEM public key ${key.data.length} bytes`,
  );
  assert.equal(toHex(serializeAuthMoreData(key)), toHex(keyBytes));
  const encrypted = parseAuthSwitchResponse(payload(name, 5));
  assert.equal(encrypted.data.length, 256);
  assert.equal(
    describeAuthData("caching_sha2_password", "client", encrypted.data),
    "RSA-encrypted password 256 bytes",
  );
});

Deno.test("parseAuthMoreData() reads MariaDB's unprefixed plugin packets and refuses OK, ERR and switch headers", () => {
  // The dialog plugin's password question: 0x04 (PASSWORD_QUESTION) "Password: ", no 0x01 header.
  const bytes = hex("04 50617373776f72643a20");
  const question = parseAuthMoreData(bytes);
  assert.deepEqual(question, { kind: "auth-more-data", data: bytes, unprefixed: true });
  assert.equal(toHex(serializeAuthMoreData(question)), toHex(bytes));
  assert.equal(describeAuthData("dialog", "server", question.data), "dialog question 11 bytes");
  for (const header of ["00", "fe", "ff"]) {
    assertProtocolError(
      () => parseAuthMoreData(hex(`${header} 01`)),
      /starts an OK, ERR or AuthSwitchRequest/,
    );
  }
  assertProtocolError(() => parseAuthMoreData(hex("")), /^Cannot parse AuthMoreData: /);
  for (const data of ["", "01", "00", "fe", "ff"]) {
    assert.throws(
      () => serializeAuthMoreData({ kind: "auth-more-data", data: hex(data), unprefixed: true }),
      RangeError,
    );
  }
});

Deno.test("parseAuthNextFactor() reads the request for a second factor that npm:mysql2 answered", () => {
  const name = "b-mysql2-next-factor.txt";
  const bytes = payload(name, 3);
  const next = parseAuthNextFactor(bytes);
  assert.deepEqual(next, {
    kind: "auth-next-factor",
    pluginName: "mysql_clear_password",
    pluginData: hex(""),
  });
  assert.equal(toHex(serializeAuthNextFactor(next)), toHex(bytes));
  const answer = parseAuthSwitchResponse(payload(name, 4));
  assert.equal(
    describeAuthData(next.pluginName, "client", answer.data),
    "clear-text password (redacted)",
  );
  assertProtocolError(() => parseAuthNextFactor(hex("01 6100")), /expected header 0x02, got 0x01/);
  assertProtocolError(() => parseAuthNextFactor(hex("02 61")), /no terminating NUL/);
});

Deno.test("describeAuthData() describes every kind of auth data without showing secrets", () => {
  const password = ascii("s3cret-pw\0");
  const cases: [string, "client" | "server", Uint8Array, string][] = [
    ["mysql_native_password", "client", new Uint8Array(20).fill(0x5a), "scramble 20 bytes"],
    ["mysql_native_password", "client", hex(""), "empty (no password)"],
    ["mysql_native_password", "server", hex(""), "empty"],
    ["mysql_clear_password", "client", password, "clear-text password (redacted)"],
    ["caching_sha2_password", "client", password, "clear-text password (redacted)"],
    ["caching_sha2_password", "client", new Uint8Array(32).fill(0xa5), "scramble 32 bytes"],
    ["caching_sha2_password", "client", hex("02"), "request public key"],
    [
      "caching_sha2_password",
      "client",
      new Uint8Array(512).fill(0x9c),
      "RSA-encrypted password 512 bytes",
    ],
    [
      "caching_sha2_password",
      "server",
      new Uint8Array(21).fill(0x41).fill(0, 20),
      "scramble 20 bytes + NUL",
    ],
    ["sha256_password", "client", hex("01"), "request public key"],
    ["sha256_password", "client", password, "clear-text password (redacted)"],
    [
      "sha256_password",
      "client",
      new Uint8Array(256).fill(0x9c),
      "RSA-encrypted password 256 bytes",
    ],
    ["dialog", "client", password, "clear-text password (redacted)"],
    ["client_ed25519", "server", new Uint8Array(32), "nonce 32 bytes"],
    ["auth_gssapi_client", "client", new Uint8Array(7), "7 bytes"],
    ["auth_gssapi_client", "server", ascii("host/x@Y"), "8 bytes"],
  ];
  for (const [plugin, direction, data, expected] of cases) {
    const description = describeAuthData(plugin, direction, data);
    assert.equal(description, expected, `${plugin} ${direction}`);
    assert.doesNotMatch(description, /s3cret/);
  }
});

/**
 * A minimal connection-phase walker for the test: classifies each packet by state and first byte,
 * as the session state machine will.
 */
function walkConnectionPhase(name: string): { kinds: string[]; descriptions: string[] } {
  const kinds: string[] = [];
  const descriptions: string[] = [];
  let state: "greeting" | "response" | "auth" | "command" = "greeting";
  let serverCapabilities = 0;
  let capabilities = 0;
  let mariadbCapabilities = 0;
  let plugin = "";
  let mfa = false;
  const roundTrip = (bytes: Uint8Array, again: Uint8Array, what: string) =>
    assert.equal(toHex(again), toHex(bytes), `${name}: ${what}`);
  for (const { direction, payload: bytes } of frames(name)) {
    if (state === "greeting") {
      const greeting = parseHandshakeV10(bytes);
      roundTrip(bytes, serializeHandshakeV10(greeting), "greeting");
      serverCapabilities = greeting.capabilities;
      mariadbCapabilities = greeting.mariadbCapabilities;
      plugin = greeting.authPluginName ?? "mysql_native_password";
      mfa = (greeting.capabilities & Capability.MULTI_FACTOR_AUTHENTICATION) !== 0;
      kinds.push(greeting.kind);
      state = "response";
    } else if (state === "response") {
      const response = parseHandshakeResponse(bytes);
      roundTrip(bytes, serializeHandshakeResponse(response), response.kind);
      kinds.push(response.kind);
      if (response.kind === "ssl-request") break;
      capabilities = (response.capabilities & serverCapabilities) >>> 0;
      if (response.kind === "handshake-response-41") {
        mariadbCapabilities &= response.mariadbCapabilities;
        plugin = response.authPluginName ?? plugin;
      }
      descriptions.push(describeAuthData(plugin, "client", response.authResponse));
      state = "auth";
    } else if (state === "auth") {
      if (direction === "client") {
        const response = parseAuthSwitchResponse(bytes);
        roundTrip(bytes, serializeAuthSwitchResponse(response), response.kind);
        kinds.push(response.kind);
        descriptions.push(describeAuthData(plugin, "client", response.data));
      } else if (bytes[0] === 0x00 || bytes[0] === 0xff) {
        kinds.push(bytes[0] === 0 ? "ok" : "err");
        state = "command";
      } else if (bytes[0] === 0xfe) {
        const request = parseAuthSwitchRequest(bytes);
        roundTrip(bytes, serializeAuthSwitchRequest(request), request.kind);
        kinds.push(request.kind);
        if (request.kind === "auth-switch-request") {
          plugin = request.pluginName;
          descriptions.push(describeAuthData(plugin, "server", request.pluginData));
        } else {
          plugin = "mysql_old_password";
        }
      } else if (bytes[0] === 0x02 && mfa) {
        const next = parseAuthNextFactor(bytes);
        roundTrip(bytes, serializeAuthNextFactor(next), next.kind);
        kinds.push(next.kind);
        plugin = next.pluginName;
      } else {
        const more = parseAuthMoreData(bytes);
        roundTrip(bytes, serializeAuthMoreData(more), more.kind);
        kinds.push(more.kind);
        descriptions.push(describeAuthData(plugin, "server", more.data));
      }
    } else if (direction === "client" && bytes[0] === Command.COM_CHANGE_USER) {
      const context = { capabilities, mariadbCapabilities };
      const change = parseComChangeUser(bytes, context);
      roundTrip(bytes, serializeComChangeUser(change, context), change.kind);
      kinds.push(change.kind);
      plugin = change.authPluginName ?? plugin;
      state = "auth";
    }
  }
  return { kinds, descriptions };
}

Deno.test("every connection-phase packet of every b-* capture parses by state and round-trips", () => {
  const names = [...Deno.readDirSync(CAPTURES)].map((entry) => entry.name)
    .filter((name) => name.startsWith("b-")).sort();
  const seen = new Set<string>();
  for (const name of names) {
    const { kinds, descriptions } = walkConnectionPhase(name);
    for (const kind of kinds) seen.add(kind);
    for (const description of descriptions) {
      // The test passwords must never appear in trace descriptions.
      assert.doesNotMatch(description, /bpw|second/, name);
    }
  }
  assert.deepEqual([...seen].sort(), [
    "COM_CHANGE_USER",
    "auth-more-data",
    "auth-next-factor",
    "auth-switch-request",
    "auth-switch-response",
    "err",
    "handshake-response-320",
    "handshake-response-41",
    "handshake-v10",
    "ok",
    "old-auth-switch-request",
    "ssl-request",
  ]);
});

Deno.test("parseAuthMoreData() and parseAuthSwitchResponse() follow caching_sha2_password full authentication in order", () => {
  assert.deepEqual(walkConnectionPhase("b-mysql2-sha2-full.txt"), {
    kinds: [
      "handshake-v10",
      "handshake-response-41",
      "auth-more-data",
      "auth-switch-response",
      "auth-more-data",
      "auth-switch-response",
      "ok",
    ],
    descriptions: [
      "scramble 32 bytes",
      "perform full authentication",
      "request public key",
      `PEM public key ${payload("b-mysql2-sha2-full.txt", 4).length - 1} bytes`,
      "RSA-encrypted password 256 bytes",
    ],
  });
  assert.deepEqual(walkConnectionPhase("b-cli-clear-password-switch.txt").descriptions, [
    "clear-text password (redacted)",
    "scramble 20 bytes + NUL",
    "scramble 20 bytes",
  ]);
});
