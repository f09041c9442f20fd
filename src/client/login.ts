/**
 * The client's side of the connection phase and of COM_CHANGE_USER: the HandshakeResponse (after
 * an SSLRequest and TLS when asked), then the authentication exchange with every plugin this
 * client speaks, auth switches included, until the server's OK or ERR.
 *
 * @module
 */

import { Capability } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import {
  type HandshakeResponse41,
  type HandshakeV10,
  serializeHandshakeResponse41,
  serializeSslRequest,
} from "../protocol/handshake.ts";
import { CachingSha2 } from "../protocol/auth.ts";
import type { ErrPacket, OkPacket } from "../protocol/generic.ts";
import { utf8Decode } from "../protocol/text.ts";
import type { Packet } from "../protocol/framing.ts";
import type { DecodedPacket, SessionDecoder } from "../session/decoder.ts";
import type { ServerMessage } from "../session/messages.ts";
import {
  cachingSha2Scramble,
  clearPassword,
  ed25519Signature,
  isClientPlugin,
  nativePasswordScramble,
  pluginNonce,
  rsaEncryptedPassword,
} from "./auth.ts";
import type { PacketChannel } from "./channel.ts";
import { AuthError, MysqlError } from "./errors.ts";
import { type ClientTlsOptions, startClientTls, TlsError, tlsRequired } from "./tls.ts";

/** Capabilities the client asks for unless told otherwise (ANDed with the server's). */
export const DEFAULT_CLIENT_CAPABILITIES = Capability.CLIENT_LONG_PASSWORD |
  Capability.CLIENT_LONG_FLAG | Capability.CLIENT_LOCAL_FILES | Capability.CLIENT_PROTOCOL_41 |
  Capability.CLIENT_TRANSACTIONS | Capability.CLIENT_SECURE_CONNECTION |
  Capability.CLIENT_MULTI_STATEMENTS | Capability.CLIENT_MULTI_RESULTS |
  Capability.CLIENT_PS_MULTI_RESULTS | Capability.CLIENT_PLUGIN_AUTH |
  Capability.CLIENT_CONNECT_ATTRS | Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CLIENT_SESSION_TRACK | Capability.CLIENT_DEPRECATE_EOF;

/** Capabilities this client cannot honour: never asked for whatever the caller says. */
const UNSUPPORTED = Capability.CLIENT_COMPRESS | Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM |
  Capability.CLIENT_SSL | Capability.MULTI_FACTOR_AUTHENTICATION;

/** `utf8mb4_general_ci`: what MariaDB clients use by default. */
export const DEFAULT_CHARACTER_SET = 45;

/** Who logs in, and how. */
export interface Credentials {
  /** The user name. */
  user: string;
  /** Default: empty (no password). */
  password?: string;
  /** The default schema. */
  database?: string;
  /**
   * The server's RSA public key (PEM) for caching_sha2_password / sha256_password full
   * authentication without TLS. Without it the client asks the server for its key.
   */
  serverPublicKey?: string;
}

/** How the connection phase goes. */
export interface LoginOptions extends Credentials {
  /** TLS settings; default no TLS. */
  tls?: ClientTlsOptions;
  /** The host connected to: the name TLS checks under verify-identity. */
  host: string;
  /** Capability flags to ask for; default {@link DEFAULT_CLIENT_CAPABILITIES}. */
  capabilities?: number;
  /** MariaDB extended capabilities to ask for (`MariaDbCapability`); default none. */
  mariadbCapabilities?: number;
  /** Collation id; default 45 (utf8mb4_general_ci). */
  characterSet?: number;
  /** Connection attributes; default `_client_name` = `mysql-proxy`. */
  connectAttributes?: [string, string][];
}

/** How a login went. */
export interface LoginOutcome {
  /** The server's greeting. */
  greeting: HandshakeV10;
  /** The server's final OK. */
  ok: OkPacket;
  /** The plugin the exchange ended with. */
  plugin: string;
  /** Whether the connection is encrypted. */
  tls: boolean;
  /** The negotiated capabilities. */
  context: CodecContext;
  /** Every packet of the phase, decoded, in order (the SSLRequest is not among them). */
  packets: DecodedPacket[];
}

/** How an authentication exchange ended. */
export type AuthOutcome =
  | { kind: "ok"; ok: OkPacket; plugin: string }
  | { kind: "err"; err: ErrPacket };

/** What an authentication exchange needs to know. */
export interface AuthState {
  /** The connection. */
  channel: PacketChannel;
  /** The connection's decoder (fed with both sides' packets). */
  decoder: SessionDecoder;
  /** The password (never stored elsewhere). */
  password: string;
  /** Whether the connection is encrypted (clear-text passwords only then). */
  tls: boolean;
  /** The server's RSA public key (PEM), when given. */
  serverPublicKey?: string;
  /** Receives every decoded packet of the exchange. */
  packets: DecodedPacket[];
  /** Said on errors: "Login as app" / "COM_CHANGE_USER to app". */
  what: string;
}

/**
 * A payload as the framer would hand it over (one frame), for feeding the client's own packets to
 * a `SessionDecoder`.
 *
 * @example
 * ```ts
 * import { packetOf } from "./login.ts";
 * console.assert(packetOf(new Uint8Array([0x0e]), 0).length === 1);
 * ```
 */
export function packetOf(payload: Uint8Array, sequenceId: number): Packet {
  return { sequenceId, lastSequenceId: sequenceId, frames: 1, length: payload.length, payload };
}

/**
 * The first answer for `plugin` with `nonce`: what goes in the HandshakeResponse or after an
 * auth switch. Throws an {@link AuthError} for a plugin this client does not speak, and for
 * mysql_clear_password without TLS.
 *
 * @example
 * ```ts
 * import { firstAnswer } from "./login.ts";
 * const answer = firstAnswer("mysql_native_password", new Uint8Array(20), { password: "pw", tls: false });
 * console.assert(answer.length === 20);
 * ```
 */
export function firstAnswer(
  plugin: string,
  nonce: Uint8Array,
  state: Pick<AuthState, "password" | "tls" | "serverPublicKey">,
): Uint8Array {
  const { password, tls } = state;
  switch (plugin) {
    case "mysql_native_password":
      return nativePasswordScramble(password, nonce);
    case "caching_sha2_password":
      return cachingSha2Scramble(password, nonce);
    case "client_ed25519":
      return ed25519Signature(password, nonce);
    case "sha256_password":
      if (password === "") return new Uint8Array([0]);
      if (tls) return clearPassword(password);
      if (state.serverPublicKey) {
        return rsaEncryptedPassword(password, nonce, state.serverPublicKey);
      }
      return new Uint8Array([CachingSha2.SHA256_REQUEST_PUBLIC_KEY]);
    case "mysql_clear_password":
      if (!tls) {
        throw new AuthError(
          "The server asks for mysql_clear_password, which sends the password in clear: " +
            "refused without TLS (connect with TLS, e.g. --tls required)",
        );
      }
      return clearPassword(password);
    default:
      throw new AuthError(
        `The server asks for auth plugin ${plugin}, which this client does not speak`,
      );
  }
}

/**
 * Runs the connection phase on a fresh connection: reads the greeting, upgrades to TLS when
 * asked (replacing the channel's connection), sends the HandshakeResponse41 and authenticates.
 * Throws a {@link MysqlError} when the server refuses (wrong password, unknown database), an
 * {@link AuthError} or {@link TlsError} when the client cannot go on.
 *
 * @example
 * ```ts ignore
 * const outcome = await login(channel, new SessionDecoder(), { user: "app", password: "pw", host: "db" });
 * ```
 */
export async function login(
  channel: PacketChannel,
  decoder: SessionDecoder,
  options: LoginOptions,
): Promise<LoginOutcome> {
  const packets: DecodedPacket[] = [];
  const first = await channel.next();
  const hello = decoder.server(first);
  packets.push(hello);
  if (hello.message.kind === "err") {
    throw new MysqlError(hello.message, "The server refused the connection");
  }
  if (hello.message.kind !== "handshake-v10") {
    throw new AuthError(
      `Cannot log in: the server's greeting did not decode (${describe(hello.message)})`,
    );
  }
  const greeting = hello.message;
  const mode = options.tls?.mode ?? "off";
  const serverTls = (greeting.capabilities & Capability.CLIENT_SSL) !== 0;
  if (tlsRequired(mode) && !serverTls) {
    throw new TlsError(`The server does not offer TLS, which mode ${mode} requires`);
  }
  const useTls = mode !== "off" && serverTls;
  let capabilities = (options.capabilities ?? DEFAULT_CLIENT_CAPABILITIES) & ~UNSUPPORTED;
  capabilities |= Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION |
    Capability.CLIENT_PLUGIN_AUTH;
  if (options.database) capabilities |= Capability.CLIENT_CONNECT_WITH_DB;
  else capabilities &= ~Capability.CLIENT_CONNECT_WITH_DB;
  capabilities = (capabilities & greeting.capabilities) >>> 0;
  if (useTls) capabilities = (capabilities | Capability.CLIENT_SSL) >>> 0;
  // MariaDB reads CLIENT_LONG_PASSWORD as "CLIENT_MYSQL": extended capabilities go with it clear.
  const mariadbCapabilities = (capabilities & Capability.CLIENT_LONG_PASSWORD) === 0
    ? ((options.mariadbCapabilities ?? 0) & greeting.mariadbCapabilities) >>> 0
    : 0;
  const characterSet = options.characterSet ?? DEFAULT_CHARACTER_SET;
  let seq = (first.lastSequenceId + 1) & 0xff;
  if (useTls) {
    seq = await channel.send(
      serializeSslRequest({
        kind: "ssl-request",
        capabilities,
        maxPacketSize: 0x1000000,
        characterSet,
        mariadbCapabilities,
      }),
      seq,
    );
    channel.replaceConnection(await startClientTls(channel.conn, options.tls!, options.host));
  }
  const state: AuthState = {
    channel,
    decoder,
    password: options.password ?? "",
    tls: useTls,
    serverPublicKey: options.serverPublicKey,
    packets,
    what: `Login as ${options.user}`,
  };
  const offered = greeting.authPluginName ?? "mysql_native_password";
  // ed25519 needs a 32-byte nonce and clear text needs TLS: start with native, the server switches.
  const plugin = isClientPlugin(offered) && offered !== "client_ed25519" &&
      (offered !== "mysql_clear_password" || useTls)
    ? offered
    : "mysql_native_password";
  const response: HandshakeResponse41 = {
    kind: "handshake-response-41",
    capabilities,
    maxPacketSize: 0x1000000,
    characterSet,
    mariadbCapabilities,
    username: options.user,
    authResponse: firstAnswer(plugin, greeting.authPluginData, state),
    authPluginName: plugin,
  };
  if (options.database) response.database = options.database;
  if (capabilities & Capability.CLIENT_CONNECT_ATTRS) {
    response.connectAttributes = options.connectAttributes ?? [["_client_name", "mysql-proxy"]];
  }
  const payload = serializeHandshakeResponse41(response);
  packets.push(decoder.client(packetOf(payload, seq)));
  await channel.send(payload, seq);
  const done = await authenticate(state, plugin, greeting.authPluginData);
  if (done.kind === "err") throw new MysqlError(done.err, state.what);
  return {
    greeting,
    ok: done.ok,
    plugin: done.plugin,
    tls: useTls,
    context: { ...decoder.context },
    packets,
  };
}

/**
 * The exchange after the client's first auth data (HandshakeResponse or COM_CHANGE_USER): auth
 * switches, caching_sha2_password's fast/full authentication and public key, until the server's
 * OK or ERR. Throws an {@link AuthError} when the client cannot answer.
 *
 * @example
 * ```ts ignore
 * const { ok, plugin } = await authenticate(state, "mysql_native_password", greeting.authPluginData);
 * ```
 */
export async function authenticate(
  state: AuthState,
  plugin: string,
  nonce: Uint8Array,
): Promise<AuthOutcome> {
  const { channel, decoder, packets } = state;
  const reply = async (data: Uint8Array, after: Packet) => {
    const seq = (after.lastSequenceId + 1) & 0xff;
    packets.push(decoder.client(packetOf(data, seq)));
    await channel.send(data, seq);
  };
  for (;;) {
    const packet = await channel.next();
    const decoded = decoder.server(packet);
    packets.push(decoded);
    const message = decoded.message;
    switch (message.kind) {
      case "ok":
        return { kind: "ok", ok: message, plugin };
      case "err":
        return { kind: "err", err: message };
      case "auth-switch-request":
        plugin = message.pluginName;
        nonce = pluginNonce(message.pluginData, plugin);
        await reply(firstAnswer(plugin, nonce, state), packet);
        break;
      case "old-auth-switch-request":
        throw new AuthError(
          `${state.what}: the server asks for mysql_old_password, which this client does not speak`,
        );
      case "auth-next-factor":
        throw new AuthError(
          `${state.what}: the server asks for a second factor (${message.pluginName}), which this client does not do`,
        );
      case "auth-more-data":
        // Fast-auth success needs no answer: the OK follows.
        if (
          plugin === "caching_sha2_password" &&
          isSignal(message.data, CachingSha2.FAST_AUTH_SUCCESS)
        ) break;
        await reply(moreData(plugin, message.data, nonce, state), packet);
        break;
      default:
        throw new AuthError(
          `${state.what}: unexpected packet during authentication (${describe(message)})`,
        );
    }
  }
}

function isSignal(data: Uint8Array, signal: number): boolean {
  return data.length === 1 && data[0] === signal;
}

/** The answer to AuthMoreData (full authentication, the server's public key). */
function moreData(
  plugin: string,
  data: Uint8Array,
  nonce: Uint8Array,
  state: AuthState,
): Uint8Array {
  const pem = data.length > 16 && utf8Decode(data.subarray(0, 11)) === "-----BEGIN "
    ? utf8Decode(data)
    : undefined;
  if (plugin === "caching_sha2_password") {
    if (isSignal(data, CachingSha2.PERFORM_FULL_AUTHENTICATION)) {
      if (state.tls) return clearPassword(state.password);
      if (state.serverPublicKey) {
        return rsaEncryptedPassword(state.password, nonce, state.serverPublicKey);
      }
      return new Uint8Array([CachingSha2.REQUEST_PUBLIC_KEY]);
    }
  }
  if ((plugin === "caching_sha2_password" || plugin === "sha256_password") && pem) {
    return rsaEncryptedPassword(state.password, nonce, pem);
  }
  throw new AuthError(
    `${state.what}: unexpected data from auth plugin ${plugin} (${data.length} bytes)`,
  );
}

function describe(message: ServerMessage | { kind: string }): string {
  return "reason" in message ? `${message.kind}: ${message.reason}` : message.kind;
}
