/**
 * Authentication exchange packets after the HandshakeResponse: AuthSwitchRequest (and its
 * pre-4.1 one-byte form), the client's auth continuation packets, AuthMoreData, AuthNextFactor,
 * plus secret-free descriptions of auth data for traces.
 *
 * What a server packet is during authentication depends on its first byte AND the connection:
 * 0x00 OK, 0xff ERR, 0xfe AuthSwitchRequest (0xfe alone: OldAuthSwitchRequest), 0x02
 * AuthNextFactor on MySQL 8.0.27+ when MULTI_FACTOR_AUTHENTICATION was negotiated, 0x01
 * AuthMoreData; MariaDB sends other plugin packets unprefixed (see {@link parseAuthMoreData}).
 * Every client packet after the HandshakeResponse is an {@link AuthSwitchResponse}.
 *
 * Parsed messages share memory with the payload they came from.
 *
 * @module
 */

import { PacketReader } from "./reader.ts";
import { utf8Encode, utf8Exact } from "./text.ts";
import { PacketWriter } from "./writer.ts";

/** First bytes of server packets in the authentication phase. */
export const AuthPacketHeader = {
  AUTH_MORE_DATA: 0x01,
  AUTH_NEXT_FACTOR: 0x02,
  AUTH_SWITCH_REQUEST: 0xfe,
} as const;

/** Single-byte signals of caching_sha2_password (and sha256_password's key request). */
export const CachingSha2 = {
  /** Client to server: send me your RSA public key (caching_sha2_password). */
  REQUEST_PUBLIC_KEY: 0x02,
  /** Client to server: send me your RSA public key (sha256_password). */
  SHA256_REQUEST_PUBLIC_KEY: 0x01,
  /** Server to client, in AuthMoreData: the cached hash matched; OK follows. */
  FAST_AUTH_SUCCESS: 0x03,
  /** Server to client, in AuthMoreData: send the password (clear over TLS, else RSA). */
  PERFORM_FULL_AUTHENTICATION: 0x04,
} as const;

/** The server asks the client to restart authentication with another plugin. */
export interface AuthSwitchRequest {
  /** Which packet this is. */
  kind: "auth-switch-request";
  /** The plugin to continue with, e.g. `client_ed25519`. */
  pluginName: string;
  /**
   * The plugin's data, exactly as sent: MySQL and MariaDB append a NUL to the 20-byte scramble
   * of mysql_native_password and caching_sha2_password; client_ed25519 gets 32 bytes, no NUL.
   */
  pluginData: Uint8Array;
}

/** The pre-4.1 switch request: a lone 0xfe asking for mysql_old_password with the greeting's scramble. */
export interface OldAuthSwitchRequest {
  /** Which packet this is. */
  kind: "old-auth-switch-request";
}

/**
 * Any client packet after the HandshakeResponse until OK/ERR: the answer to an
 * AuthSwitchRequest, caching_sha2_password's public-key request (0x02), a clear-text or
 * RSA-encrypted password, an Ed25519 signature...
 *
 * Secrets: `data`.
 */
export interface AuthSwitchResponse {
  /** Which packet this is. */
  kind: "auth-switch-response";
  /** SECRET. The plugin's bytes, without any header. */
  data: Uint8Array;
}

/**
 * Extra plugin data from the server: 0x01 + data (caching_sha2_password's 0x03/0x04 signals,
 * a PEM public key).
 */
export interface AuthMoreData {
  /** Which packet this is. */
  kind: "auth-more-data";
  /** The plugin's bytes, without the 0x01 header. */
  data: Uint8Array;
  /**
   * MariaDB sends plugin data without the 0x01 header unless its first byte is 0x00, 0x01,
   * 0xfe or 0xff (e.g. the dialog plugin's questions start with 0x02 to 0x05).
   */
  unprefixed?: true;
}

/** MySQL 8.0.27+ multi-factor authentication: authenticate the next factor with this plugin. */
export interface AuthNextFactor {
  /** Which packet this is. */
  kind: "auth-next-factor";
  /** The plugin to continue with, e.g. `client_ed25519`. */
  pluginName: string;
  /** The plugin's data (its scramble), as sent. */
  pluginData: Uint8Array;
}

/** Who sent auth data. */
export type AuthDirection = "client" | "server";

function readPluginName(reader: PacketReader): string {
  const name = utf8Exact(reader.nulBytes());
  if (name === undefined) reader.fail(`auth plugin name is not valid UTF-8`);
  return name;
}

function pluginNameBytes(name: string, what: string): Uint8Array {
  const bytes = utf8Encode(name);
  if (bytes.includes(0)) {
    throw new RangeError(`Cannot serialize ${what}: pluginName contains a NUL byte`);
  }
  return bytes;
}

/**
 * Parses an AuthSwitchRequest (0xfe, plugin name, data), or the one-byte OldAuthSwitchRequest.
 * MariaDB sends the full form even to clients without CLIENT_PLUGIN_AUTH.
 *
 * @example
 * ```ts
 * import { parseAuthSwitchRequest } from "./auth.ts";
 * const request = parseAuthSwitchRequest(new Uint8Array([0xfe, 0x61, 0, 1, 2]));
 * console.assert(request.kind === "auth-switch-request" && request.pluginName === "a");
 * console.assert(parseAuthSwitchRequest(new Uint8Array([0xfe])).kind === "old-auth-switch-request");
 * ```
 */
export function parseAuthSwitchRequest(
  payload: Uint8Array,
): AuthSwitchRequest | OldAuthSwitchRequest {
  const reader = new PacketReader(payload, "AuthSwitchRequest");
  const header = reader.u8();
  if (header !== AuthPacketHeader.AUTH_SWITCH_REQUEST) {
    reader.fail(`expected header 0xfe, got 0x${header.toString(16).padStart(2, "0")}`);
  }
  if (reader.atEnd) return { kind: "old-auth-switch-request" };
  const pluginName = readPluginName(reader);
  return { kind: "auth-switch-request", pluginName, pluginData: reader.restBytes() };
}

/**
 * Encodes an AuthSwitchRequest or OldAuthSwitchRequest.
 *
 * @example
 * ```ts
 * import { serializeAuthSwitchRequest } from "./auth.ts";
 * const bytes = serializeAuthSwitchRequest({
 *   kind: "auth-switch-request", pluginName: "a", pluginData: new Uint8Array([1, 2]),
 * });
 * console.assert(bytes.join() === "254,97,0,1,2");
 * ```
 */
export function serializeAuthSwitchRequest(
  message: AuthSwitchRequest | OldAuthSwitchRequest,
): Uint8Array {
  if (message.kind === "old-auth-switch-request") {
    return new Uint8Array([AuthPacketHeader.AUTH_SWITCH_REQUEST]);
  }
  const name = pluginNameBytes(message.pluginName, "AuthSwitchRequest");
  return new PacketWriter(2 + name.length + message.pluginData.length)
    .u8(AuthPacketHeader.AUTH_SWITCH_REQUEST).nulBytes(name).bytes(message.pluginData).finish();
}

/**
 * Wraps a client auth continuation packet. Every payload is valid: there is no header.
 *
 * @example
 * ```ts
 * import { parseAuthSwitchResponse } from "./auth.ts";
 * console.assert(parseAuthSwitchResponse(new Uint8Array([2])).data[0] === 2);
 * ```
 */
export function parseAuthSwitchResponse(payload: Uint8Array): AuthSwitchResponse {
  return { kind: "auth-switch-response", data: payload };
}

/**
 * Encodes a client auth continuation packet (a copy of its data).
 *
 * @example
 * ```ts
 * import { serializeAuthSwitchResponse } from "./auth.ts";
 * const data = new Uint8Array([2]);
 * console.assert(serializeAuthSwitchResponse({ kind: "auth-switch-response", data }).join() === "2");
 * ```
 */
export function serializeAuthSwitchResponse(message: AuthSwitchResponse): Uint8Array {
  return message.data.slice();
}

/**
 * Parses AuthMoreData: 0x01 + data. Also accepts MariaDB's unprefixed plugin packets (any first
 * byte but 0x00 OK, 0xfe switch and 0xff ERR), marked `unprefixed`. On MySQL with
 * MULTI_FACTOR_AUTHENTICATION a 0x02 packet is an AuthNextFactor: the caller must tell them
 * apart first (see {@link parseAuthNextFactor}).
 *
 * @example
 * ```ts
 * import { parseAuthMoreData } from "./auth.ts";
 * const more = parseAuthMoreData(new Uint8Array([0x01, 0x04]));
 * console.assert(more.data.length === 1 && more.data[0] === 0x04 && !more.unprefixed);
 * ```
 */
export function parseAuthMoreData(payload: Uint8Array): AuthMoreData {
  const reader = new PacketReader(payload, "AuthMoreData");
  const header = reader.u8();
  if (header === AuthPacketHeader.AUTH_MORE_DATA) {
    return { kind: "auth-more-data", data: reader.restBytes() };
  }
  if (header === 0x00 || header === 0xfe || header === 0xff) {
    reader.fail(`0x${header.toString(16).padStart(2, "0")} starts an OK, ERR or AuthSwitchRequest`);
  }
  return { kind: "auth-more-data", data: payload, unprefixed: true };
}

/**
 * Encodes AuthMoreData.
 *
 * @example
 * ```ts
 * import { serializeAuthMoreData } from "./auth.ts";
 * const bytes = serializeAuthMoreData({ kind: "auth-more-data", data: new Uint8Array([3]) });
 * console.assert(bytes.join() === "1,3");
 * ```
 */
export function serializeAuthMoreData(message: AuthMoreData): Uint8Array {
  if (message.unprefixed) {
    const first = message.data[0];
    if (first === undefined || first === 0x00 || first === 0x01 || first >= 0xfe) {
      throw new RangeError(
        `Cannot serialize AuthMoreData: unprefixed data cannot be empty or start with ` +
          `0x00, 0x01, 0xfe or 0xff`,
      );
    }
    return message.data.slice();
  }
  return new PacketWriter(1 + message.data.length).u8(AuthPacketHeader.AUTH_MORE_DATA)
    .bytes(message.data).finish();
}

/**
 * Parses AuthNextFactor: 0x02, plugin name, data.
 *
 * @example
 * ```ts
 * import { parseAuthNextFactor } from "./auth.ts";
 * const next = parseAuthNextFactor(new Uint8Array([0x02, 0x61, 0]));
 * console.assert(next.pluginName === "a" && next.pluginData.length === 0);
 * ```
 */
export function parseAuthNextFactor(payload: Uint8Array): AuthNextFactor {
  const reader = new PacketReader(payload, "AuthNextFactor");
  const header = reader.u8();
  if (header !== AuthPacketHeader.AUTH_NEXT_FACTOR) {
    reader.fail(`expected header 0x02, got 0x${header.toString(16).padStart(2, "0")}`);
  }
  const pluginName = readPluginName(reader);
  return { kind: "auth-next-factor", pluginName, pluginData: reader.restBytes() };
}

/**
 * Encodes AuthNextFactor.
 *
 * @example
 * ```ts
 * import { serializeAuthNextFactor } from "./auth.ts";
 * const bytes = serializeAuthNextFactor({
 *   kind: "auth-next-factor", pluginName: "a", pluginData: new Uint8Array(0),
 * });
 * console.assert(bytes.join() === "2,97,0");
 * ```
 */
export function serializeAuthNextFactor(message: AuthNextFactor): Uint8Array {
  const name = pluginNameBytes(message.pluginName, "AuthNextFactor");
  return new PacketWriter(2 + name.length + message.pluginData.length)
    .u8(AuthPacketHeader.AUTH_NEXT_FACTOR).nulBytes(name).bytes(message.pluginData).finish();
}

const PEM_PREFIX = utf8Encode("-----BEGIN ");

/**
 * Whether auth data is a PEM-encoded key (the RSA public key of caching_sha2_password and
 * sha256_password).
 *
 * @example
 * ```ts
 * import { isPemPublicKey } from "./auth.ts";
 * console.assert(isPemPublicKey(new TextEncoder().encode("-----BEGIN PUBLIC KEY-----\n")));
 * ```
 */
export function isPemPublicKey(data: Uint8Array): boolean {
  if (data.length < PEM_PREFIX.length) return false;
  for (let i = 0; i < PEM_PREFIX.length; i++) if (data[i] !== PEM_PREFIX[i]) return false;
  return true;
}

/** What the server means by an AuthMoreData during caching_sha2_password. */
export type CachingSha2ServerSignal =
  | "fast-auth-success"
  | "perform-full-authentication"
  | "public-key";

/**
 * Decodes the data of a caching_sha2_password AuthMoreData, or `undefined` when it is none of
 * the known signals.
 *
 * @example
 * ```ts
 * import { cachingSha2ServerSignal } from "./auth.ts";
 * console.assert(cachingSha2ServerSignal(new Uint8Array([0x04])) === "perform-full-authentication");
 * ```
 */
export function cachingSha2ServerSignal(data: Uint8Array): CachingSha2ServerSignal | undefined {
  if (data.length === 1 && data[0] === CachingSha2.FAST_AUTH_SUCCESS) return "fast-auth-success";
  if (data.length === 1 && data[0] === CachingSha2.PERFORM_FULL_AUTHENTICATION) {
    return "perform-full-authentication";
  }
  if (isPemPublicKey(data)) return "public-key";
  return undefined;
}

/** A NUL-terminated UTF-8 string with no other NUL: what clients send as a clear-text password. */
function looksLikeClearText(data: Uint8Array): boolean {
  if (data.length === 0 || data[data.length - 1] !== 0) return false;
  const text = data.subarray(0, data.length - 1);
  return !text.includes(0) && utf8Exact(text) !== undefined;
}

function describeScramble(data: Uint8Array): string {
  return data.length > 0 && data[data.length - 1] === 0
    ? `scramble ${data.length - 1} bytes + NUL`
    : `scramble ${data.length} bytes`;
}

const CLEAR_TEXT = "clear-text password (redacted)";

/**
 * A short description of auth data for traces, never showing secrets (a clear-text password is
 * "(redacted)" without its length). `plugin` is the plugin in effect (from the greeting,
 * HandshakeResponse41 or the last AuthSwitchRequest/AuthNextFactor); `data` is a plugin payload
 * without packet headers (`authResponse`, `AuthSwitchResponse.data`, `AuthMoreData.data`,
 * `pluginData`). Telling a caching_sha2 32-byte token from an RSA-encrypted or clear-text
 * password is by shape, as the codec does not know the TLS state.
 *
 * @example
 * ```ts
 * import { describeAuthData } from "./auth.ts";
 * console.assert(describeAuthData("caching_sha2_password", "client", new Uint8Array([2])) === "request public key");
 * console.assert(describeAuthData("mysql_clear_password", "client", new Uint8Array([0x61, 0])) === "clear-text password (redacted)");
 * ```
 */
export function describeAuthData(
  plugin: string,
  direction: AuthDirection,
  data: Uint8Array,
): string {
  const n = data.length;
  if (n === 0) return direction === "client" ? "empty (no password)" : "empty";
  if (direction === "server") {
    if (isPemPublicKey(data)) return `PEM public key ${n} bytes`;
    switch (plugin) {
      case "caching_sha2_password":
        if (n === 1 && data[0] === CachingSha2.FAST_AUTH_SUCCESS) return "fast auth success";
        if (n === 1 && data[0] === CachingSha2.PERFORM_FULL_AUTHENTICATION) {
          return "perform full authentication";
        }
        return describeScramble(data);
      case "mysql_native_password":
      case "mysql_old_password":
      case "sha256_password":
      case "mysql_clear_password":
        return describeScramble(data);
      case "client_ed25519":
        return `nonce ${n} bytes`;
      case "dialog":
        return `dialog question ${n} bytes`;
    }
    return `${n} bytes`;
  }
  switch (plugin) {
    case "mysql_clear_password":
    case "dialog":
      return CLEAR_TEXT;
    case "mysql_native_password":
    case "mysql_old_password":
      return describeScramble(data);
    case "client_ed25519":
      return `Ed25519 signature ${n} bytes`;
    case "caching_sha2_password":
    case "sha256_password": {
      const keyRequest = plugin === "caching_sha2_password"
        ? CachingSha2.REQUEST_PUBLIC_KEY
        : CachingSha2.SHA256_REQUEST_PUBLIC_KEY;
      if (n === 1 && data[0] === keyRequest) return "request public key";
      if (looksLikeClearText(data)) return CLEAR_TEXT;
      if (plugin === "caching_sha2_password" && n === 32) return "scramble 32 bytes";
      if (n >= 64 && n % 64 === 0) return `RSA-encrypted password ${n} bytes`;
      return `${n} bytes`;
    }
  }
  return `${n} bytes`;
}
