import assert from "node:assert/strict";
import {
  type ComChangeUser,
  parseComChangeUser,
  serializeComChangeUser,
} from "../../src/protocol/change_user.ts";
import { Capability } from "../../src/protocol/constants.ts";
import type { CodecContext } from "../../src/protocol/context.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { parseHandshakeResponse41, parseHandshakeV10 } from "../../src/protocol/handshake.ts";
import { hex, readCapture, toHex } from "../helpers/hex.ts";

const CAPTURE = new URL("../fixtures/captures/b-mysql2-change-user.txt", import.meta.url);
const FRAMES = readCapture(CAPTURE);

const { CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH, CLIENT_CONNECT_ATTRS } =
  Capability;

function context(capabilities: number): CodecContext {
  return { capabilities, mariadbCapabilities: 0 };
}

const MODERN = context(
  CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS,
);

function assertRoundTrip(bytes: Uint8Array, codec: CodecContext): ComChangeUser {
  const message = parseComChangeUser(bytes, codec);
  assert.equal(toHex(serializeComChangeUser(message, codec)), toHex(bytes));
  return message;
}

Deno.test("parseComChangeUser() reads npm:mysql2's real COM_CHANGE_USER with an empty attribute block", () => {
  const greeting = parseHandshakeV10(FRAMES[0].payload);
  const response = parseHandshakeResponse41(FRAMES[1].payload);
  const negotiated: CodecContext = {
    capabilities: (greeting.capabilities & response.capabilities) >>> 0,
    mariadbCapabilities: greeting.mariadbCapabilities & response.mariadbCapabilities,
  };
  const bytes = FRAMES[3].payload;
  const expected: ComChangeUser = {
    kind: "COM_CHANGE_USER",
    username: "u",
    authResponse: hex("6eb2fde7121191761f7b59c913de5f8b0c91c004"),
    schema: "",
    characterSet: 224,
    authPluginName: "mysql_native_password",
    connectAttributes: [],
  };
  assert.deepEqual(parseComChangeUser(bytes, negotiated), expected);
  assert.equal(toHex(serializeComChangeUser(expected, negotiated)), toHex(bytes));
  // mysql2 hashed the password with the greeting's scramble, and answers MariaDB's
  // AuthSwitchRequest (same plugin, same scramble) with the same bytes.
  assert.equal(toHex(FRAMES[5].payload), toHex(expected.authResponse));
});

Deno.test("parseComChangeUser() reads a NUL-terminated old scramble without CLIENT_SECURE_CONNECTION", () => {
  const bytes = hex("11 7500 4142434445464748 00 6400 2100");
  const message = assertRoundTrip(bytes, context(CLIENT_PROTOCOL_41));
  assert.equal(toHex(message.authResponse), "4142434445464748");
  assert.equal(message.schema, "d");
  assert.equal(message.characterSet, 33);
});

Deno.test("parseComChangeUser() leaves out fields missing at the end of the packet", () => {
  const cases: [string, Partial<ComChangeUser>][] = [
    ["11 7500 00", {}], // ends after the auth response: no schema
    ["11 7500 00 00", { schema: "" }], // no character set (a pre-4.1 server)
    ["11 7500 00 00 2100", { schema: "", characterSet: 33 }], // no plugin name
    ["11 7500 00 00 2100 6100", { schema: "", characterSet: 33, authPluginName: "a" }], // no attributes
  ];
  for (const [text, fields] of cases) {
    const message = assertRoundTrip(hex(text), MODERN);
    assert.deepEqual(message, {
      kind: "COM_CHANGE_USER",
      username: "u",
      authResponse: hex(""),
      ...fields,
    }, text);
  }
});

Deno.test("parseComChangeUser() keeps a lone byte after the schema and bytes the flags do not explain", () => {
  const lone = assertRoundTrip(hex("11 7500 00 00 21"), MODERN);
  assert.equal(lone.characterSet, undefined);
  assert.equal(toHex(lone.trailing!), "21");
  const noFlags = assertRoundTrip(
    hex("11 7500 00 00 2100 6100"),
    context(CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION),
  );
  assert.equal(noFlags.authPluginName, undefined);
  assert.equal(toHex(noFlags.trailing!), "6100");
  const attributes = assertRoundTrip(hex("11 7500 00 00 2100 6100 04 0161 0162 ffff"), MODERN);
  assert.deepEqual(attributes.connectAttributes, [["a", "b"]]);
  assert.equal(toHex(attributes.trailing!), "ffff");
});

Deno.test("parseComChangeUser() keeps user and schema names that are not UTF-8", () => {
  const message = assertRoundTrip(hex("11 e900 01aa e900 0800"), MODERN);
  assert.equal(toHex(message.usernameBytes!), "e9");
  assert.equal(toHex(message.schemaBytes!), "e9");
  assert.equal(message.schema, "\ufffd");
});

Deno.test("parseComChangeUser() rejects malformed packets with ProtocolError", () => {
  const fails = (text: string, pattern: RegExp) =>
    assert.throws(() => parseComChangeUser(hex(text), MODERN), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.match(error.message, pattern);
      return true;
    });
  fails("03 7500 00", /expected command 0x11, got 0x03/);
  fails("11 75", /no terminating NUL/);
  fails("11 7500 05 4142", /^Cannot parse COM_CHANGE_USER: string<5> needs 5 bytes/);
  fails("11 7500 00 6462", /no terminating NUL/);
  fails("11 7500 00 00 2100 6100 05 0161", /needs 5 bytes/);
});

Deno.test("serializeComChangeUser() refuses fields without their flag or after a missing one", () => {
  const base: ComChangeUser = { kind: "COM_CHANGE_USER", username: "u", authResponse: hex("") };
  const refuses = (message: ComChangeUser, codec: CodecContext, pattern: RegExp) =>
    assert.throws(() => serializeComChangeUser(message, codec), pattern);
  refuses(
    { ...base, schema: "", characterSet: 8, authPluginName: "a" },
    context(CLIENT_SECURE_CONNECTION),
    /CLIENT_PLUGIN_AUTH/,
  );
  refuses({ ...base, characterSet: 8 }, MODERN, /characterSet is present but schema is not/);
  refuses({ ...base, schema: "", connectAttributes: [] }, MODERN, /characterSet is not/);
  refuses(
    { ...base, schema: "", characterSet: 8, connectAttributes: [] },
    MODERN,
    /authPluginName is not/,
  );
  refuses({ ...base, authResponse: new Uint8Array(256) }, MODERN, /longer than 255 bytes/);
  refuses({ ...base, authResponse: hex("00") }, context(CLIENT_PROTOCOL_41), /NUL byte/);
});
