/**
 * The connection phase of the fake server: a greeting built from the recorded one, and an
 * authentication exchange that accepts any credentials without knowing a password, whatever
 * plugin the client starts with, replaying the auth switch the recorded server made for the user.
 *
 * @module
 */

import { generateKeyPairSync } from "node:crypto";
import { Capability } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import {
  type HandshakeResponse,
  type HandshakeV10,
  negotiatedContext,
  parseHandshakeResponse,
  serializeHandshakeV10,
} from "../protocol/handshake.ts";
import { serializeAuthMoreData, serializeAuthSwitchRequest } from "../protocol/auth.ts";
import { type ErrPacket, type OkPacket, serializeErr, serializeOk } from "../protocol/generic.ts";
import { framePacket } from "../protocol/writer.ts";
import { utf8Encode } from "../protocol/text.ts";
import type { PacketIO } from "./io.ts";

/** Capabilities replay does not implement: cleared in the greeting. */
export const REPLAY_UNSUPPORTED_CAPABILITIES = Capability.CLIENT_SSL |
  Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM;

/**
 * Capabilities replay offers whatever the recorded server offered: zlib compression, which
 * recordings made before the proxy decoded it show cleared.
 */
export const REPLAY_ADDED_CAPABILITIES = Capability.CLIENT_COMPRESS;

/** Who may log in: `undefined` lets anyone in. */
export interface UserPolicy {
  users: ReadonlySet<string>;
  databases: ReadonlySet<string>;
}

/** An auth switch to make: the plugin and its data's shape. */
export interface AuthSwitch {
  pluginName: string;
  dataLength: number;
  nul: boolean;
}

/** What the server knows after a successful login. */
export interface Login {
  user: string;
  database?: string;
  /** The recorded greeting's capabilities (as sent to this client) AND the client's. */
  context: CodecContext;
  /** The plugin the exchange ended with. */
  plugin: string;
  /** The client's character set (collation id), when its handshake response says. */
  characterSet?: number;
}

/** The connection phase's inputs. */
export interface LoginSetup {
  greeting: HandshakeV10;
  /** The client's address, for the text of "access denied". */
  host: string;
  users?: UserPolicy;
  /** The switch to make for a user, or none. */
  switchFor(user: string): AuthSwitch | undefined;
  /** An RSA public key (PEM) for sha256_password clients that ask for one. */
  publicKey(): string;
  /**
   * Upgrades the connection to TLS after an SSLRequest of `consumed` bytes; absent: replay has
   * no certificate and refuses the SSLRequest.
   */
  startTls?: (consumed: number) => Promise<void>;
}

/** A greeting that replaces an absent recording's: MariaDB 10.11 with its usual capabilities. */
const DEFAULT_GREETING: HandshakeV10 = {
  kind: "handshake-v10",
  protocolVersion: 10,
  serverVersion: "5.5.5-10.11.0-MariaDB-replay",
  connectionId: 0,
  authPluginData: new Uint8Array(20),
  capabilities: 0x81fff7fe,
  characterSet: 45,
  statusFlags: 2,
  authPluginDataLength: 21,
  mariadbCapabilities: 0x1d,
  authPluginName: "mysql_native_password",
};

/** Plugins whose data a greeting can carry (20 bytes); others are reached by an auth switch. */
const GREETING_PLUGINS = new Set([
  "mysql_native_password",
  "caching_sha2_password",
  "sha256_password",
  "mysql_clear_password",
]);

/** `count` random printable bytes, as servers make scrambles. */
export function scramble(count: number): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  for (let i = 0; i < count; i++) bytes[i] = 0x21 + bytes[i] % 94;
  return bytes;
}

/**
 * The greeting for one client: the recorded server's version, capabilities (TLS only when
 * `offerTls`, with zlib compression), character set, status and plugin, with a fresh scramble and connection id.
 *
 * @example
 * ```ts
 * import { buildGreeting } from "./handshake.ts";
 * const greeting = buildGreeting(undefined, 7, "caching_sha2_password");
 * console.assert(greeting.connectionId === 7 && greeting.authPluginName === "caching_sha2_password");
 * ```
 */
export function buildGreeting(
  recorded: HandshakeV10 | undefined,
  connectionId: number,
  plugin?: string,
  offerTls = false,
): HandshakeV10 {
  const base = recorded ?? DEFAULT_GREETING;
  let capabilities = ((base.capabilities | REPLAY_ADDED_CAPABILITIES) &
    ~REPLAY_UNSUPPORTED_CAPABILITIES) >>> 0;
  // TLS only with a certificate (`offerTls`).
  if (offerTls) capabilities = (capabilities | Capability.CLIENT_SSL) >>> 0;
  let authPluginName = base.authPluginName;
  if (plugin !== undefined && GREETING_PLUGINS.has(plugin)) {
    authPluginName = plugin;
    capabilities = (capabilities | Capability.CLIENT_PLUGIN_AUTH) >>> 0;
  }
  const secure = (capabilities & Capability.CLIENT_SECURE_CONNECTION) !== 0;
  const greeting: HandshakeV10 = {
    kind: "handshake-v10",
    protocolVersion: 10,
    serverVersion: base.serverVersion,
    connectionId,
    authPluginData: scramble(secure ? 20 : 8),
    capabilities,
    characterSet: base.characterSet,
    statusFlags: base.statusFlags,
    authPluginDataLength: secure ? 21 : 0,
    mariadbCapabilities: base.mariadbCapabilities,
  };
  if (authPluginName !== undefined && (capabilities & Capability.CLIENT_PLUGIN_AUTH)) {
    greeting.authPluginName = authPluginName;
  }
  return greeting;
}

/** An ERR packet as a server sends it at login or for a command. */
export function errPayload(code: number, sqlState: string, message: string): Uint8Array {
  const err: ErrPacket = { kind: "err", code, sqlState, message };
  return serializeErr(err);
}

/**
 * Runs the connection phase: greeting, HandshakeResponse, auth (switch) exchange, OK or ERR.
 * Resolves to the login, or `undefined` when the client left or was refused.
 */
export async function serveLogin(io: PacketIO, setup: LoginSetup): Promise<Login | undefined> {
  const { greeting } = setup;
  await io.write(framePacket(serializeHandshakeV10(greeting), 0));
  let packet = await io.next();
  if (!packet) return undefined;
  let seq = (packet.lastSequenceId + 1) & 0xff;
  let response: HandshakeResponse;
  try {
    response = parseHandshakeResponse(packet.payload);
    if (response.kind === "ssl-request") {
      if (!setup.startTls) {
        const text = "Bad handshake: replay does not offer TLS without a certificate: start it " +
          "with --tls-cert FILE --tls-key FILE or --tls-auto, or connect without SSL";
        await io.write(framePacket(errPayload(1043, "08S01", text), seq));
        return undefined;
      }
      await setup.startTls(4 * packet.frames + packet.payload.length);
      packet = await io.next();
      if (!packet) return undefined;
      seq = (packet.lastSequenceId + 1) & 0xff;
      response = parseHandshakeResponse(packet.payload);
      if (response.kind === "ssl-request") throw new TypeError("a second SSLRequest");
    }
  } catch {
    await io.write(framePacket(errPayload(1043, "08S01", "Bad handshake"), seq));
    return undefined;
  }
  const context = negotiatedContext(greeting, response);
  const user = response.username;
  const database = response.database || undefined;
  if (setup.users && !setup.users.users.has(user)) {
    await io.write(framePacket(accessDenied(user, setup.host, response.authResponse), seq));
    return undefined;
  }
  const secure = (response.capabilities & Capability.CLIENT_SECURE_CONNECTION) !== 0;
  const clientPlugin = response.kind === "handshake-response-41" && response.authPluginName
    ? response.authPluginName
    : secure
    ? "mysql_native_password"
    : "mysql_old_password";
  const pluginAuth = (context.capabilities & Capability.CLIENT_PLUGIN_AUTH) !== 0;
  const outcome = await authenticate(io, {
    seq,
    plugin: clientPlugin,
    data: response.authResponse,
    switchTo: pluginAuth ? setup.switchFor(user) : undefined,
    publicKey: setup.publicKey,
  });
  if (!outcome) return undefined;
  seq = outcome.seq;
  if (database !== undefined && setup.users && !setup.users.databases.has(database)) {
    await io.write(framePacket(errPayload(1049, "42000", `Unknown database '${database}'`), seq));
    return undefined;
  }
  await io.write(framePacket(loginOk(context, greeting.statusFlags, database), seq));
  const login: Login = { user, context, plugin: outcome.plugin };
  if (database !== undefined) login.database = database;
  if (response.kind === "handshake-response-41") login.characterSet = response.characterSet;
  return login;
}

/** ERR 1045, as MariaDB words it. */
export function accessDenied(user: string, host: string, authResponse: Uint8Array): Uint8Array {
  const using = authResponse.length > 0 ? "YES" : "NO";
  return errPayload(
    1045,
    "28000",
    `Access denied for user '${user}'@'${host}' (using password: ${using})`,
  );
}

/** The OK that ends a login or COM_CHANGE_USER (with the schema as session state, as MariaDB). */
export function loginOk(context: CodecContext, status: number, database?: string): Uint8Array {
  const ok: OkPacket = {
    kind: "ok",
    header: 0,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: status,
    warnings: 0,
  };
  if (database !== undefined && (context.capabilities & Capability.CLIENT_SESSION_TRACK)) {
    ok.statusFlags = status | 0x4000;
    ok.info = "";
    ok.sessionStateChanges = [{ kind: "schema", schema: database }];
  }
  return serializeOk(ok, context);
}

/** Where an authentication exchange starts. */
export interface AuthStart {
  /** The sequence id of the server's next packet. */
  seq: number;
  /** The plugin the client used for `data`. */
  plugin: string;
  /** The client's first auth data (never stored). */
  data: Uint8Array;
  /** Switch the client to this plugin first (when it uses another one). */
  switchTo?: AuthSwitch;
  publicKey(): string;
}

/**
 * Accepts the client's credentials: switches plugin when asked to, answers the plugin's extra
 * round trips (caching_sha2_password fast-auth success, sha256_password's public key), and
 * resolves to the sequence id for the final OK, or `undefined` if the client left.
 */
export async function authenticate(
  io: PacketIO,
  start: AuthStart,
): Promise<{ seq: number; plugin: string } | undefined> {
  let { seq, plugin, data } = start;
  const target = start.switchTo;
  if (target && target.pluginName !== plugin) {
    const bytes = scramble(target.dataLength);
    const pluginData = target.nul ? concat(bytes, new Uint8Array(1)) : bytes;
    await io.write(framePacket(
      serializeAuthSwitchRequest({
        kind: "auth-switch-request",
        pluginName: target.pluginName,
        pluginData,
      }),
      seq,
    ));
    const reply = await io.next();
    if (!reply) return undefined;
    seq = (reply.lastSequenceId + 1) & 0xff;
    plugin = target.pluginName;
    data = reply.payload;
  }
  if (plugin === "caching_sha2_password" && data.length > 0) {
    await io.write(framePacket(
      serializeAuthMoreData({ kind: "auth-more-data", data: new Uint8Array([0x03]) }),
      seq,
    ));
    seq = (seq + 1) & 0xff;
  } else if (plugin === "sha256_password" && data.length === 1 && data[0] === 0x01) {
    // The client asks for the RSA public key, then sends its password encrypted with it.
    await io.write(framePacket(
      serializeAuthMoreData({ kind: "auth-more-data", data: utf8Encode(start.publicKey()) }),
      seq,
    ));
    const reply = await io.next();
    if (!reply) return undefined;
    seq = (reply.lastSequenceId + 1) & 0xff;
  }
  return { seq, plugin };
}

/** A fresh RSA key pair's public half, as PEM (for sha256_password). */
export function generatePublicKey(): string {
  const { publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return publicKey;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
