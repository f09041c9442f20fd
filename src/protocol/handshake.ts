/**
 * Connection-phase packets: the server's greeting (HandshakeV10), the client's SSLRequest and
 * HandshakeResponse (4.1 and pre-4.1 forms), connection attributes, and in-place edits of a
 * greeting's capability flags for the proxy's hot path.
 *
 * Parsed messages may share memory with the payload they came from (byte fields are
 * `subarray` views), except `HandshakeV10.authPluginData`, which joins two parts into a new array.
 *
 * @module
 */

import { Capability } from "./constants.ts";
import type { CodecContext } from "./context.ts";
import { PacketReader } from "./reader.ts";
import { utf8Decode, utf8Encode, utf8Exact } from "./text.ts";
import { PacketWriter } from "./writer.ts";

/**
 * The server's greeting, protocol version 10.
 *
 * Secrets: none (the scramble is public).
 */
export interface HandshakeV10 {
  /** Which packet this is. */
  kind: "handshake-v10";
  /** Always 10. */
  protocolVersion: 10;
  /** e.g. `5.5.5-10.11.19-MariaDB-0+deb12u1` (MariaDB prefixes `5.5.5-` for old clients). */
  serverVersion: string;
  /** The raw version when it is not valid UTF-8 (then `serverVersion` is for display only). */
  serverVersionBytes?: Uint8Array;
  /** The server's id for this connection (`CONNECTION_ID()`). */
  connectionId: number;
  /**
   * The scramble: part 1 (8 bytes) and part 2 joined, without part 2's terminating NUL;
   * 20 bytes from MySQL and MariaDB. Only part 1 when CLIENT_SECURE_CONNECTION is clear.
   */
  authPluginData: Uint8Array;
  /** Part 2 did not end with a NUL (it always does in practice): keep its last byte. */
  authPluginDataUnterminated?: true;
  /** The filler byte after part 1, when it is not 0. */
  filler?: number;
  /** All 32 capability bits, unsigned. */
  capabilities: number;
  /** Character set and collation id (45 is utf8mb4_general_ci, 33 utf8mb3_general_ci). */
  characterSet: number;
  /** Server status flags ({@link ServerStatus}). */
  statusFlags: number;
  /** The auth_plugin_data_len byte as sent (0 from servers without CLIENT_PLUGIN_AUTH). */
  authPluginDataLength: number;
  /** MariaDB's extended capabilities; 0 when CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") is set. */
  mariadbCapabilities: number;
  /**
   * The 10 reserved bytes, kept only when re-encoding would not give them back: the first 6 are
   * not zero, or the last 4 are not zero while CLIENT_LONG_PASSWORD is set.
   */
  reserved?: Uint8Array;
  /** Present when CLIENT_PLUGIN_AUTH is set and the packet has bytes left for it. */
  authPluginName?: string;
  /** The name runs to the end of the packet without a NUL (MySQL 5.5.7 to 5.5.9). */
  authPluginNameUnterminated?: true;
  /** A pre-4.0 greeting that ends after the lower 16 capability bits (nothing after is sent). */
  endsAfterCapabilities?: true;
  /** Bytes after the last field this codec knows. */
  trailing?: Uint8Array;
}

/** The fields SSLRequest and HandshakeResponse41 share (the first 32 bytes). */
export interface HandshakeResponseHeader {
  /** The client's 32 capability bits, unsigned; they decide the rest of the layout. */
  capabilities: number;
  /** 0 from npm:mysql2. */
  maxPacketSize: number;
  /** Character set and collation id (45 is utf8mb4_general_ci, 33 utf8mb3_general_ci). */
  characterSet: number;
  /** MariaDB's extended capabilities; 0 when CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") is set. */
  mariadbCapabilities: number;
  /**
   * The 23 filler bytes, kept only when re-encoding would not give them back: the first 19 are
   * not zero, or the last 4 are not zero while CLIENT_LONG_PASSWORD is set.
   */
  reserved?: Uint8Array;
}

/** The 32-byte truncated HandshakeResponse41 a client sends before starting TLS. */
export interface SslRequest extends HandshakeResponseHeader {
  /** Which packet this is. */
  kind: "ssl-request";
}

/** Ordered connection attributes: `[key, value]` pairs as sent (keys may repeat). */
export type ConnectAttributes = [string, string][];

/**
 * The client's answer to the greeting (CLIENT_PROTOCOL_41). Its own capability flags decide its
 * layout; a flagged field may still be missing at the end of the packet, and is then absent here.
 *
 * Secrets: `authResponse` (a password hash, or the password itself with mysql_clear_password).
 */
export interface HandshakeResponse41 extends HandshakeResponseHeader {
  /** Which packet this is. */
  kind: "handshake-response-41";
  /** The user to log in as. */
  username: string;
  /** The raw user name when it is not valid UTF-8 (it is sent in the client's character set). */
  usernameBytes?: Uint8Array;
  /** SECRET. The auth plugin's first answer. */
  authResponse: Uint8Array;
  /** The raw length prefix when CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA's length is not minimal. */
  authResponseLengthPrefix?: Uint8Array;
  /** Without CLIENT_SECURE_CONNECTION the response is NUL-terminated; this one ran to the end. */
  authResponseUnterminated?: true;
  /** CLIENT_CONNECT_WITH_DB: the default schema. */
  database?: string;
  /** The bytes of `database` when they are not valid UTF-8. */
  databaseBytes?: Uint8Array;
  /** CLIENT_PLUGIN_AUTH: the plugin that produced `authResponse`. */
  authPluginName?: string;
  /** `authPluginName` ran to the end of the packet without its NUL terminator. */
  authPluginNameUnterminated?: true;
  /** CLIENT_CONNECT_ATTRS. */
  connectAttributes?: ConnectAttributes;
  /** The raw attribute block (with its length) when re-encoding the pairs would differ. */
  connectAttributesBytes?: Uint8Array;
  /** CLIENT_ZSTD_COMPRESSION_ALGORITHM (MySQL 8.0.18+). */
  zstdCompressionLevel?: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/**
 * The pre-4.1 HandshakeResponse (CLIENT_PROTOCOL_41 clear): 16 capability bits, a 24-bit
 * maximum packet size, user, old-password scramble, schema.
 *
 * Secrets: `authResponse`.
 */
export interface HandshakeResponse320 {
  /** Which packet this is. */
  kind: "handshake-response-320";
  /** 16 bits. */
  capabilities: number;
  /** 24 bits. */
  maxPacketSize: number;
  /** The user to log in as. */
  username: string;
  /** The bytes of `username` when they are not valid UTF-8. */
  usernameBytes?: Uint8Array;
  /** SECRET. The scramble, without its NUL terminator. */
  authResponse: Uint8Array;
  /** No NUL followed the response: it ran to the end of the packet. */
  authResponseUnterminated?: true;
  /** CLIENT_CONNECT_WITH_DB and present. */
  database?: string;
  /** The bytes of `database` when they are not valid UTF-8. */
  databaseBytes?: Uint8Array;
  /** The schema ran to the end of the packet without a NUL (the 4.0 protocol allows it). */
  databaseUnterminated?: true;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** What a client can send as its first packet. */
export type HandshakeResponse = SslRequest | HandshakeResponse41 | HandshakeResponse320;

const {
  CLIENT_LONG_PASSWORD,
  CLIENT_CONNECT_WITH_DB,
  CLIENT_PROTOCOL_41,
  CLIENT_SSL,
  CLIENT_SECURE_CONNECTION,
  CLIENT_PLUGIN_AUTH,
  CLIENT_CONNECT_ATTRS,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM,
} = Capability;

/** Length of an SSLRequest payload. */
export const SSL_REQUEST_LENGTH = 32;

/**
 * Decodes bytes as a name: the text, plus the bytes when they are not valid UTF-8.
 * Internal to the connection-phase codecs.
 */
function decodeName(bytes: Uint8Array): [string, Uint8Array | undefined] {
  const text = utf8Exact(bytes);
  return text === undefined ? [utf8Decode(bytes), bytes] : [text, undefined];
}

/** Plugin names are ASCII identifiers: anything that would not round-trip is malformed. */
function decodePluginName(reader: PacketReader, bytes: Uint8Array): string {
  const name = utf8Exact(bytes);
  if (name === undefined) reader.fail(`auth plugin name is not valid UTF-8`);
  return name;
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function u32At(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** Splits reserved bytes whose last 4 may carry MariaDB's extended capabilities. */
function readReserved(
  reserved: Uint8Array,
  capabilities: number,
): { mariadbCapabilities: number; reserved?: Uint8Array } {
  const tail = reserved.length - 4;
  const mysql = (capabilities & CLIENT_LONG_PASSWORD) !== 0;
  const mariadbCapabilities = mysql ? 0 : u32At(reserved, tail);
  const keep = !allZero(reserved, 0, tail) || (mysql && !allZero(reserved, tail, reserved.length));
  return keep ? { mariadbCapabilities, reserved } : { mariadbCapabilities };
}

function writeReserved(
  writer: PacketWriter,
  length: number,
  capabilities: number,
  mariadbCapabilities: number,
  reserved: Uint8Array | undefined,
  what: string,
): void {
  if (reserved !== undefined && reserved.length !== length) {
    throw new RangeError(`Cannot serialize ${what}: reserved must be ${length} bytes`);
  }
  const tail = length - 4;
  if (reserved === undefined) writer.zeros(tail);
  else writer.bytes(reserved.subarray(0, tail));
  if ((capabilities & CLIENT_LONG_PASSWORD) === 0) writer.u32(mariadbCapabilities);
  else if (reserved === undefined) writer.zeros(4);
  else writer.bytes(reserved.subarray(tail));
}

/** Reads a string<NUL> that may instead run to the end of the packet. */
function nulOrRest(reader: PacketReader): [Uint8Array, boolean] {
  const end = reader.payload.indexOf(0, reader.offset);
  if (end >= 0) return [reader.nulBytes(), false];
  return [reader.restBytes(), true];
}

function joinBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

function assertNoNul(bytes: Uint8Array, field: string, what: string): void {
  if (bytes.includes(0)) {
    throw new RangeError(`Cannot serialize ${what}: ${field} contains a NUL byte`);
  }
}

/**
 * Parses the server's greeting, HandshakeV10.
 *
 * @example
 * ```ts
 * import { parseHandshakeV10 } from "./handshake.ts";
 * const hello = new Uint8Array([
 *   10, 0x35, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x00, 0x82, 8, 2, 0, 0, 0, 0,
 *   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0,
 * ]);
 * const greeting = parseHandshakeV10(hello);
 * console.assert(greeting.serverVersion === "5" && greeting.authPluginData.length === 20);
 * ```
 */
export function parseHandshakeV10(payload: Uint8Array): HandshakeV10 {
  const reader = new PacketReader(payload, "HandshakeV10");
  const protocolVersion = reader.u8();
  if (protocolVersion !== 10) {
    reader.fail(`expected protocol version 10, got ${protocolVersion}`);
  }
  const [serverVersion, serverVersionBytes] = decodeName(reader.nulBytes());
  const connectionId = reader.u32();
  const part1 = reader.bytes(8);
  const filler = reader.u8();
  const lower = reader.u16();
  const message: HandshakeV10 = {
    kind: "handshake-v10",
    protocolVersion: 10,
    serverVersion,
    connectionId,
    authPluginData: part1,
    capabilities: lower,
    characterSet: 0,
    statusFlags: 0,
    authPluginDataLength: 0,
    mariadbCapabilities: 0,
  };
  if (serverVersionBytes !== undefined) message.serverVersionBytes = serverVersionBytes;
  if (filler !== 0) message.filler = filler;
  if (reader.atEnd) {
    message.endsAfterCapabilities = true;
    return message;
  }
  message.characterSet = reader.u8();
  message.statusFlags = reader.u16();
  const capabilities = (lower | (reader.u16() << 16)) >>> 0;
  message.capabilities = capabilities;
  message.authPluginDataLength = reader.u8();
  const reserved = readReserved(reader.bytes(10), capabilities);
  message.mariadbCapabilities = reserved.mariadbCapabilities;
  if (reserved.reserved !== undefined) message.reserved = reserved.reserved;
  if (capabilities & CLIENT_SECURE_CONNECTION) {
    const part2 = reader.bytes(Math.max(13, message.authPluginDataLength - 8));
    if (part2[part2.length - 1] === 0) {
      message.authPluginData = joinBytes(part1, part2.subarray(0, part2.length - 1));
    } else {
      message.authPluginData = joinBytes(part1, part2);
      message.authPluginDataUnterminated = true;
    }
  }
  if ((capabilities & CLIENT_PLUGIN_AUTH) && !reader.atEnd) {
    const [name, unterminated] = nulOrRest(reader);
    message.authPluginName = decodePluginName(reader, name);
    if (unterminated) message.authPluginNameUnterminated = true;
  }
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

/**
 * Encodes a greeting. Throws a `RangeError` when the fields contradict each other (a scramble
 * whose length does not match `authPluginDataLength`, a plugin name without CLIENT_PLUGIN_AUTH).
 *
 * @example
 * ```ts
 * import { parseHandshakeV10, serializeHandshakeV10 } from "./handshake.ts";
 * const hello = new Uint8Array([
 *   10, 0x35, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x00, 0x82, 8, 2, 0, 0, 0, 0,
 *   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0,
 * ]);
 * console.assert(serializeHandshakeV10(parseHandshakeV10(hello)).join() === hello.join());
 * ```
 */
export function serializeHandshakeV10(message: HandshakeV10): Uint8Array {
  const what = "HandshakeV10";
  const capabilities = message.capabilities >>> 0;
  const data = message.authPluginData;
  if (data.length < 8) {
    throw new RangeError(`Cannot serialize ${what}: authPluginData needs at least 8 bytes`);
  }
  const version = message.serverVersionBytes ?? utf8Encode(message.serverVersion);
  assertNoNul(version, "serverVersion", what);
  const writer = new PacketWriter(64 + version.length + data.length);
  writer.u8(10).nulBytes(version).u32(message.connectionId).bytes(data.subarray(0, 8))
    .u8(message.filler ?? 0).u16(capabilities & 0xffff);
  if (message.endsAfterCapabilities) return writer.finish();
  writer.u8(message.characterSet).u16(message.statusFlags).u16(capabilities >>> 16)
    .u8(message.authPluginDataLength);
  writeReserved(writer, 10, capabilities, message.mariadbCapabilities, message.reserved, what);
  if (capabilities & CLIENT_SECURE_CONNECTION) {
    const part2 = data.length - 8 + (message.authPluginDataUnterminated ? 0 : 1);
    const expected = Math.max(13, message.authPluginDataLength - 8);
    if (part2 !== expected) {
      throw new RangeError(
        `Cannot serialize ${what}: auth-plugin-data part 2 is ${part2} bytes, ` +
          `authPluginDataLength ${message.authPluginDataLength} requires ${expected}`,
      );
    }
    writer.bytes(data.subarray(8));
    if (!message.authPluginDataUnterminated) writer.u8(0);
  } else if (data.length !== 8) {
    throw new RangeError(
      `Cannot serialize ${what}: without CLIENT_SECURE_CONNECTION authPluginData is 8 bytes`,
    );
  }
  if (message.authPluginName !== undefined) {
    if (!(capabilities & CLIENT_PLUGIN_AUTH)) {
      throw new RangeError(`Cannot serialize ${what}: authPluginName needs CLIENT_PLUGIN_AUTH`);
    }
    writer.string(message.authPluginName);
    if (!message.authPluginNameUnterminated) writer.u8(0);
  }
  if (message.trailing !== undefined) writer.bytes(message.trailing);
  return writer.finish();
}

/**
 * Cheap check for an SSLRequest: exactly 32 bytes with CLIENT_PROTOCOL_41 and CLIENT_SSL set.
 *
 * @example
 * ```ts
 * import { isSslRequest } from "./handshake.ts";
 * const request = new Uint8Array(32);
 * request[1] = 0x0a; // CLIENT_PROTOCOL_41 | CLIENT_SSL
 * console.assert(isSslRequest(request));
 * ```
 */
export function isSslRequest(payload: Uint8Array): boolean {
  return payload.length === SSL_REQUEST_LENGTH && (payload[1] & 0x0a) === 0x0a;
}

function readHeader(reader: PacketReader): HandshakeResponseHeader {
  const capabilities = reader.u32();
  if (!(capabilities & CLIENT_PROTOCOL_41)) reader.fail(`CLIENT_PROTOCOL_41 is not set`);
  const maxPacketSize = reader.u32();
  const characterSet = reader.u8();
  return {
    capabilities,
    maxPacketSize,
    characterSet,
    ...readReserved(reader.bytes(23), capabilities),
  };
}

function writeHeader(writer: PacketWriter, message: HandshakeResponseHeader, what: string): void {
  const capabilities = message.capabilities >>> 0;
  writer.u32(capabilities).u32(message.maxPacketSize).u8(message.characterSet);
  writeReserved(writer, 23, capabilities, message.mariadbCapabilities, message.reserved, what);
}

/**
 * Parses an SSLRequest (32 bytes, CLIENT_SSL set).
 *
 * @example
 * ```ts
 * import { parseSslRequest } from "./handshake.ts";
 * const request = new Uint8Array(32);
 * request[1] = 0x0a; // CLIENT_PROTOCOL_41 | CLIENT_SSL
 * console.assert(parseSslRequest(request).kind === "ssl-request");
 * ```
 */
export function parseSslRequest(payload: Uint8Array): SslRequest {
  const reader = new PacketReader(payload, "SSLRequest");
  if (payload.length !== SSL_REQUEST_LENGTH) {
    reader.fail(`expected ${SSL_REQUEST_LENGTH} bytes, got ${payload.length}`);
  }
  const header = readHeader(reader);
  if (!(header.capabilities & CLIENT_SSL)) reader.fail(`CLIENT_SSL is not set`);
  return { kind: "ssl-request", ...header };
}

/**
 * Encodes an SSLRequest.
 *
 * @example
 * ```ts
 * import { serializeSslRequest } from "./handshake.ts";
 * const bytes = serializeSslRequest({
 *   kind: "ssl-request", capabilities: 0xa00, maxPacketSize: 0, characterSet: 45,
 *   mariadbCapabilities: 0,
 * });
 * console.assert(bytes.length === 32);
 * ```
 */
export function serializeSslRequest(message: SslRequest): Uint8Array {
  const writer = new PacketWriter(SSL_REQUEST_LENGTH);
  writeHeader(writer, message, "SSLRequest");
  return writer.finish();
}

/**
 * Reads a connection attribute block (a length-encoded total, then key/value string<lenenc>
 * pairs). `bytes` is set when re-encoding the pairs would not give the same bytes back
 * (non-minimal lengths, keys or values that are not UTF-8).
 *
 * @example
 * ```ts
 * import { readConnectAttributes } from "./handshake.ts";
 * import { PacketReader } from "./reader.ts";
 * const block = new Uint8Array([4, 1, 0x61, 1, 0x62]);
 * const { attributes } = readConnectAttributes(new PacketReader(block));
 * console.assert(attributes[0][0] === "a" && attributes[0][1] === "b");
 * ```
 */
export function readConnectAttributes(
  reader: PacketReader,
): { attributes: ConnectAttributes; bytes?: Uint8Array } {
  const start = reader.offset;
  const length = reader.lenencLength();
  const block = new PacketReader(reader.bytes(length), "connection attributes");
  const pairs: [Uint8Array, Uint8Array][] = [];
  while (!block.atEnd) pairs.push([block.lenencBytes(), block.lenencBytes()]);
  let exact = true;
  const attributes: ConnectAttributes = pairs.map(([keyBytes, valueBytes]) => {
    const key = utf8Exact(keyBytes);
    const value = utf8Exact(valueBytes);
    if (key === undefined || value === undefined) exact = false;
    return [key ?? utf8Decode(keyBytes), value ?? utf8Decode(valueBytes)];
  });
  const raw = reader.payload.subarray(start, reader.offset);
  if (exact) {
    const canonical = new PacketWriter(raw.length);
    writeConnectAttributes(canonical, attributes);
    const bytes = canonical.finish();
    exact = bytes.length === raw.length && bytes.every((byte, i) => byte === raw[i]);
  }
  return exact ? { attributes } : { attributes, bytes: raw };
}

/**
 * Writes a connection attribute block in its shortest form, or `bytes` verbatim when given.
 *
 * @example
 * ```ts
 * import { writeConnectAttributes } from "./handshake.ts";
 * import { PacketWriter } from "./writer.ts";
 * const writer = new PacketWriter();
 * writeConnectAttributes(writer, [["a", "b"]]);
 * console.assert(writer.finish().join() === "4,1,97,1,98");
 * ```
 */
export function writeConnectAttributes(
  writer: PacketWriter,
  attributes: ConnectAttributes,
  bytes?: Uint8Array,
): void {
  if (bytes !== undefined) {
    writer.bytes(bytes);
    return;
  }
  const encoded = attributes.map(([key, value]) => [utf8Encode(key), utf8Encode(value)]);
  let total = 0;
  for (const [key, value] of encoded) total += lenencSize(key.length) + lenencSize(value.length);
  writer.lenencInt(total);
  for (const [key, value] of encoded) writer.lenencBytes(key).lenencBytes(value);
}

function lenencSize(length: number): number {
  if (length < 0xfb) return 1 + length;
  if (length <= 0xffff) return 3 + length;
  if (length <= 0xffffff) return 4 + length;
  return 9 + length;
}

/**
 * Parses a HandshakeResponse41. Its own capability flags decide the layout.
 *
 * @example
 * ```ts
 * import { parseHandshakeResponse41 } from "./handshake.ts";
 * const payload = new Uint8Array(36);
 * payload[1] = 0x82; // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION
 * payload.set([0x75, 0, 1, 0xaa], 32); // "u", one byte of auth response
 * const response = parseHandshakeResponse41(payload);
 * console.assert(response.username === "u" && response.authResponse[0] === 0xaa);
 * ```
 */
export function parseHandshakeResponse41(payload: Uint8Array): HandshakeResponse41 {
  const reader = new PacketReader(payload, "HandshakeResponse41");
  const header = readHeader(reader);
  const capabilities = header.capabilities;
  const [username, usernameBytes] = decodeName(reader.nulBytes());
  const message: HandshakeResponse41 = {
    kind: "handshake-response-41",
    ...header,
    username,
    authResponse: new Uint8Array(0),
  };
  if (usernameBytes !== undefined) message.usernameBytes = usernameBytes;
  if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    const start = reader.offset;
    const length = reader.lenencLength();
    if (reader.offset - start !== lenencSize(length) - length) {
      message.authResponseLengthPrefix = payload.subarray(start, reader.offset);
    }
    message.authResponse = reader.bytes(length);
  } else if (capabilities & CLIENT_SECURE_CONNECTION) {
    message.authResponse = reader.bytes(reader.u8());
  } else {
    const [response, unterminated] = nulOrRest(reader);
    message.authResponse = response;
    if (unterminated) message.authResponseUnterminated = true;
  }
  if ((capabilities & CLIENT_CONNECT_WITH_DB) && !reader.atEnd) {
    const [database, databaseBytes] = decodeName(reader.nulBytes());
    message.database = database;
    if (databaseBytes !== undefined) message.databaseBytes = databaseBytes;
  }
  if ((capabilities & CLIENT_PLUGIN_AUTH) && !reader.atEnd) {
    const [name, unterminated] = nulOrRest(reader);
    message.authPluginName = decodePluginName(reader, name);
    if (unterminated) message.authPluginNameUnterminated = true;
  }
  if ((capabilities & CLIENT_CONNECT_ATTRS) && !reader.atEnd) {
    const { attributes, bytes } = readConnectAttributes(reader);
    message.connectAttributes = attributes;
    if (bytes !== undefined) message.connectAttributesBytes = bytes;
  }
  if ((capabilities & CLIENT_ZSTD_COMPRESSION_ALGORITHM) && !reader.atEnd) {
    message.zstdCompressionLevel = reader.u8();
  }
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

const capabilityNames = new Map<number, string>(
  Object.entries(Capability).map(([name, flag]) => [flag, name]),
);

/**
 * Checks that optional fields (given as `[name, value, flag]`, absent when `undefined`) follow
 * their flags, and that no flagged field is missing before a present one.
 */
function checkPresence(
  capabilities: number,
  what: string,
  fields: [name: string, value: unknown, flag: number][],
): void {
  let missing: string | undefined;
  for (const [name, value, flag] of fields) {
    const present = value !== undefined;
    if (present && !(capabilities & flag)) {
      throw new RangeError(`Cannot serialize ${what}: ${name} needs ${capabilityNames.get(flag)}`);
    }
    if (present && missing !== undefined) {
      throw new RangeError(
        `Cannot serialize ${what}: ${name} is present but ${missing} before it is not`,
      );
    }
    if (!present && (capabilities & flag)) missing ??= name;
  }
}

/**
 * Encodes a HandshakeResponse41. Throws a `RangeError` when a field is present without its flag,
 * or a flagged field is missing before a present one (it would be misread).
 *
 * @example
 * ```ts
 * import { parseHandshakeResponse41, serializeHandshakeResponse41 } from "./handshake.ts";
 * const payload = new Uint8Array(36);
 * payload[1] = 0x82;
 * payload.set([0x75, 0, 1, 0xaa], 32);
 * const again = serializeHandshakeResponse41(parseHandshakeResponse41(payload));
 * console.assert(again.join() === payload.join());
 * ```
 */
export function serializeHandshakeResponse41(message: HandshakeResponse41): Uint8Array {
  const what = "HandshakeResponse41";
  const capabilities = message.capabilities >>> 0;
  checkPresence(capabilities, what, [
    ["database", message.database, CLIENT_CONNECT_WITH_DB],
    ["authPluginName", message.authPluginName, CLIENT_PLUGIN_AUTH],
    [
      "connectAttributes",
      message.connectAttributes ?? message.connectAttributesBytes,
      CLIENT_CONNECT_ATTRS,
    ],
    ["zstdCompressionLevel", message.zstdCompressionLevel, CLIENT_ZSTD_COMPRESSION_ALGORITHM],
  ]);
  if (
    message.authResponseUnterminated &&
    (message.database ?? message.authPluginName ?? message.connectAttributes ??
        message.connectAttributesBytes ?? message.zstdCompressionLevel ?? message.trailing) !==
      undefined
  ) {
    throw new RangeError(`Cannot serialize ${what}: an unterminated authResponse ends the packet`);
  }
  const writer = new PacketWriter(128 + message.authResponse.length);
  writeHeader(writer, message, what);
  const username = message.usernameBytes ?? utf8Encode(message.username);
  assertNoNul(username, "username", what);
  writer.nulBytes(username);
  const response = message.authResponse;
  if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    if (message.authResponseLengthPrefix !== undefined) {
      writer.bytes(message.authResponseLengthPrefix);
    } else writer.lenencInt(response.length);
    writer.bytes(response);
  } else if (capabilities & CLIENT_SECURE_CONNECTION) {
    if (response.length > 0xff) {
      throw new RangeError(`Cannot serialize ${what}: authResponse is longer than 255 bytes`);
    }
    writer.u8(response.length).bytes(response);
  } else {
    assertNoNul(response, "authResponse", what);
    writer.bytes(response);
    if (!message.authResponseUnterminated) writer.u8(0);
  }
  if (message.database !== undefined) {
    const database = message.databaseBytes ?? utf8Encode(message.database);
    assertNoNul(database, "database", what);
    writer.nulBytes(database);
  }
  if (message.authPluginName !== undefined) {
    writer.string(message.authPluginName);
    if (!message.authPluginNameUnterminated) writer.u8(0);
  }
  if (message.connectAttributes !== undefined || message.connectAttributesBytes !== undefined) {
    writeConnectAttributes(writer, message.connectAttributes ?? [], message.connectAttributesBytes);
  }
  if (message.zstdCompressionLevel !== undefined) writer.u8(message.zstdCompressionLevel);
  if (message.trailing !== undefined) writer.bytes(message.trailing);
  return writer.finish();
}

/**
 * Parses a pre-4.1 HandshakeResponse320 (CLIENT_PROTOCOL_41 clear).
 *
 * @example
 * ```ts
 * import { parseHandshakeResponse320 } from "./handshake.ts";
 * const payload = new Uint8Array([0x05, 0x20, 0xff, 0xff, 0xff, 0x75, 0, 0x41, 0x42, 0]);
 * const response = parseHandshakeResponse320(payload);
 * console.assert(response.username === "u" && response.authResponse.length === 2);
 * ```
 */
export function parseHandshakeResponse320(payload: Uint8Array): HandshakeResponse320 {
  const reader = new PacketReader(payload, "HandshakeResponse320");
  const capabilities = reader.u16();
  if (capabilities & CLIENT_PROTOCOL_41) reader.fail(`CLIENT_PROTOCOL_41 is set`);
  const maxPacketSize = reader.u24();
  const [username, usernameBytes] = decodeName(reader.nulBytes());
  const [authResponse, unterminated] = nulOrRest(reader);
  const message: HandshakeResponse320 = {
    kind: "handshake-response-320",
    capabilities,
    maxPacketSize,
    username,
    authResponse,
  };
  if (usernameBytes !== undefined) message.usernameBytes = usernameBytes;
  if (unterminated) message.authResponseUnterminated = true;
  if ((capabilities & CLIENT_CONNECT_WITH_DB) && !reader.atEnd) {
    // The 4.0 protocol lets a string at the end of the packet go without its NUL.
    const [bytes, databaseUnterminated] = nulOrRest(reader);
    const [database, databaseBytes] = decodeName(bytes);
    message.database = database;
    if (databaseBytes !== undefined) message.databaseBytes = databaseBytes;
    if (databaseUnterminated) message.databaseUnterminated = true;
  }
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

/**
 * Encodes a HandshakeResponse320.
 *
 * @example
 * ```ts
 * import { parseHandshakeResponse320, serializeHandshakeResponse320 } from "./handshake.ts";
 * const payload = new Uint8Array([0x05, 0x20, 0xff, 0xff, 0xff, 0x75, 0, 0x41, 0x42, 0]);
 * const again = serializeHandshakeResponse320(parseHandshakeResponse320(payload));
 * console.assert(again.join() === payload.join());
 * ```
 */
export function serializeHandshakeResponse320(message: HandshakeResponse320): Uint8Array {
  const what = "HandshakeResponse320";
  checkPresence(message.capabilities, what, [[
    "database",
    message.database,
    CLIENT_CONNECT_WITH_DB,
  ]]);
  if (message.database !== undefined && message.authResponseUnterminated) {
    throw new RangeError(`Cannot serialize ${what}: an unterminated authResponse ends the packet`);
  }
  const writer = new PacketWriter(64);
  writer.u16(message.capabilities & 0xffff).u24(message.maxPacketSize);
  const username = message.usernameBytes ?? utf8Encode(message.username);
  assertNoNul(username, "username", what);
  assertNoNul(message.authResponse, "authResponse", what);
  writer.nulBytes(username).bytes(message.authResponse);
  if (!message.authResponseUnterminated) writer.u8(0);
  if (message.database !== undefined) {
    const database = message.databaseBytes ?? utf8Encode(message.database);
    assertNoNul(database, "database", what);
    writer.bytes(database);
    if (!message.databaseUnterminated) writer.u8(0);
  }
  if (message.trailing !== undefined) writer.bytes(message.trailing);
  return writer.finish();
}

/**
 * Parses a client's first packet: an SSLRequest (exactly 32 bytes, CLIENT_SSL set), a
 * HandshakeResponse41 (CLIENT_PROTOCOL_41 set) or a HandshakeResponse320.
 *
 * After an SSLRequest the client starts TLS and sends its HandshakeResponse41 (sequence id 2)
 * inside it. The 5-byte SSLRequest of pre-4.1 clients is not recognized (it fails as a
 * HandshakeResponse320 without a user name).
 *
 * @example
 * ```ts
 * import { parseHandshakeResponse } from "./handshake.ts";
 * const request = new Uint8Array(32);
 * request[1] = 0x0a;
 * console.assert(parseHandshakeResponse(request).kind === "ssl-request");
 * ```
 */
export function parseHandshakeResponse(payload: Uint8Array): HandshakeResponse {
  if (payload.length < 2) {
    new PacketReader(payload, "HandshakeResponse").fail(
      `expected at least 2 bytes, got ${payload.length}`,
    );
  }
  if (!(payload[1] & (CLIENT_PROTOCOL_41 >>> 8))) return parseHandshakeResponse320(payload);
  if (isSslRequest(payload)) return parseSslRequest(payload);
  return parseHandshakeResponse41(payload);
}

/**
 * Encodes any {@link HandshakeResponse}.
 *
 * @example
 * ```ts
 * import { serializeHandshakeResponse } from "./handshake.ts";
 * const bytes = serializeHandshakeResponse({
 *   kind: "ssl-request", capabilities: 0xa00, maxPacketSize: 0, characterSet: 45,
 *   mariadbCapabilities: 0,
 * });
 * console.assert(bytes.length === 32);
 * ```
 */
export function serializeHandshakeResponse(message: HandshakeResponse): Uint8Array {
  switch (message.kind) {
    case "ssl-request":
      return serializeSslRequest(message);
    case "handshake-response-41":
      return serializeHandshakeResponse41(message);
    case "handshake-response-320":
      return serializeHandshakeResponse320(message);
  }
}

/**
 * The codec context after the handshake: the server's capabilities ANDed with the client's, and
 * MariaDB's extended capabilities likewise (0 unless both sides left CLIENT_LONG_PASSWORD clear).
 * Use the client's full HandshakeResponse41 (after TLS), not its SSLRequest, when both exist;
 * they carry the same flags in practice.
 *
 * @example
 * ```ts
 * import { negotiatedContext, parseHandshakeResponse, parseHandshakeV10 } from "./handshake.ts";
 * const greeting = parseHandshakeV10(new Uint8Array([
 *   10, 0x35, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x00, 0x82, 8, 2, 0, 0, 0, 0,
 *   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0,
 * ]));
 * const request = new Uint8Array(32);
 * request[1] = 0x0a; // CLIENT_PROTOCOL_41 | CLIENT_SSL
 * const context = negotiatedContext(greeting, parseHandshakeResponse(request));
 * console.assert(context.capabilities === 0x0200 && context.mariadbCapabilities === 0);
 * ```
 */
export function negotiatedContext(
  greeting: HandshakeV10,
  response: HandshakeResponse,
): CodecContext {
  const capabilities = (greeting.capabilities & response.capabilities) >>> 0;
  const mariadbCapabilities = response.kind === "handshake-response-320"
    ? 0
    : (greeting.mariadbCapabilities & response.mariadbCapabilities) >>> 0;
  return { capabilities, mariadbCapabilities };
}

/** Offset of the lower capability bytes in a HandshakeV10 payload, or -1. */
function greetingCapabilityOffset(payload: Uint8Array): number {
  if (payload.length === 0 || payload[0] !== 10) return -1;
  const nul = payload.indexOf(0, 1);
  if (nul < 0) return -1;
  const at = nul + 1 + 4 + 8 + 1;
  return at + 2 <= payload.length ? at : -1;
}

/**
 * Reads the capability flags of a HandshakeV10 payload without decoding the rest, or
 * `undefined` when the payload is not one. Only the lower 16 bits exist in a pre-4.0 greeting.
 *
 * @example
 * ```ts
 * import { readGreetingCapabilities } from "./handshake.ts";
 * const hello = new Uint8Array([10, 0x35, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x20, 0x08]);
 * console.assert(readGreetingCapabilities(hello) === 0x0820);
 * ```
 */
export function readGreetingCapabilities(payload: Uint8Array): number | undefined {
  const at = greetingCapabilityOffset(payload);
  if (at < 0) return undefined;
  const lower = payload[at] | (payload[at + 1] << 8);
  if (at + 7 > payload.length) return lower;
  return (lower | (payload[at + 5] << 16) | (payload[at + 6] << 24)) >>> 0;
}

/**
 * Clears capability bits of a HandshakeV10 payload IN PLACE, without re-encoding or changing its
 * length: e.g. `Capability.CLIENT_SSL | Capability.CLIENT_COMPRESS` so clients stay in
 * plaintext. Returns false (and changes nothing) when the payload is not a HandshakeV10.
 *
 * @example
 * ```ts
 * import { clearGreetingCapabilities, readGreetingCapabilities } from "./handshake.ts";
 * import { Capability } from "./constants.ts";
import type { CodecContext } from "./context.ts";
 * const hello = new Uint8Array([10, 0x35, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x20, 0x08]);
 * console.assert(clearGreetingCapabilities(hello, Capability.CLIENT_SSL | Capability.CLIENT_COMPRESS));
 * console.assert(readGreetingCapabilities(hello) === 0);
 * ```
 */
export function clearGreetingCapabilities(payload: Uint8Array, mask: number): boolean {
  const at = greetingCapabilityOffset(payload);
  if (at < 0) return false;
  payload[at] &= ~mask;
  payload[at + 1] &= ~(mask >>> 8);
  if (at + 7 <= payload.length) {
    payload[at + 5] &= ~(mask >>> 16);
    payload[at + 6] &= ~(mask >>> 24);
  }
  return true;
}

/**
 * Sets capability bits (of the lower 16) of a HandshakeV10 payload IN PLACE: the proxy offers
 * CLIENT_SSL when it terminates TLS itself. Returns false when the payload is not a HandshakeV10.
 *
 * @example
 * ```ts
 * import { setGreetingCapabilities } from "./handshake.ts";
 * const hello = new Uint8Array([10, 0x35, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x00, 0x00]);
 * console.assert(setGreetingCapabilities(hello, 0x0800) && hello[17] === 0x08);
 * ```
 */
export function setGreetingCapabilities(payload: Uint8Array, mask: number): boolean {
  const at = greetingCapabilityOffset(payload);
  if (at < 0 || mask > 0xffff) return false;
  payload[at] |= mask;
  payload[at + 1] |= mask >>> 8;
  return true;
}

/**
 * Clears MariaDB extended capability bits (`MariaDbCapability`) of a HandshakeV10 payload IN
 * PLACE. Those bytes are only MariaDB capabilities when CLIENT_LONG_PASSWORD is clear; otherwise
 * nothing is changed. Returns false when the payload is not a HandshakeV10 long enough to hold
 * them.
 *
 * @example
 * ```ts
 * import { clearGreetingMariaDbCapabilities } from "./handshake.ts";
 * const hello = new Uint8Array(34);
 * hello.set([10, 0x35, 0]);
 * hello[30] = 0x1d; // extended capabilities, CLIENT_LONG_PASSWORD clear
 * console.assert(clearGreetingMariaDbCapabilities(hello, 0x10) && hello[30] === 0x0d);
 * ```
 */
export function clearGreetingMariaDbCapabilities(payload: Uint8Array, mask: number): boolean {
  const at = greetingCapabilityOffset(payload);
  // lower caps (2), charset (1), status (2), upper caps (2), data length (1), reserved (6)
  const extended = at + 14;
  if (at < 0 || extended + 4 > payload.length) return false;
  if (payload[at] & CLIENT_LONG_PASSWORD) return true;
  for (let i = 0; i < 4; i++) payload[extended + i] &= ~(mask >>> (8 * i));
  return true;
}
