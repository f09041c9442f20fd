/**
 * COM_CHANGE_USER: re-authenticate on an open connection. The server answers with OK, ERR or
 * an AuthSwitchRequest (MariaDB 10.11 sends an AuthSwitchRequest even when the client already
 * used the user's plugin), after which the exchange continues as in the connection phase.
 *
 * Parsed messages share memory with the payload they came from.
 *
 * @module
 */

import { Capability, Command } from "./constants.ts";
import { type CodecContext, hasCapability } from "./context.ts";
import {
  type ConnectAttributes,
  readConnectAttributes,
  writeConnectAttributes,
} from "./handshake.ts";
import { PacketReader } from "./reader.ts";
import { utf8Decode, utf8Encode, utf8Exact } from "./text.ts";
import { PacketWriter } from "./writer.ts";

/**
 * COM_CHANGE_USER. Optional fields are absent when the packet ends before them (clients only
 * send the character set and what follows when the server speaks 4.1 / has the flags).
 *
 * Secrets: `authResponse`.
 */
export interface ComChangeUser {
  /** Which packet this is. */
  kind: "COM_CHANGE_USER";
  /** The user to change to. */
  username: string;
  /** The raw user name when it is not valid UTF-8. */
  usernameBytes?: Uint8Array;
  /** SECRET. 1-byte length with CLIENT_SECURE_CONNECTION, else NUL-terminated. */
  authResponse: Uint8Array;
  /** The new default schema ("" for none); absent only in a packet that ends before it. */
  schema?: string;
  /** The bytes of `schema` when they are not valid UTF-8. */
  schemaBytes?: Uint8Array;
  /** The character set (collation id) of the new session. */
  characterSet?: number;
  /** CLIENT_PLUGIN_AUTH: the plugin that produced `authResponse`. */
  authPluginName?: string;
  /** CLIENT_CONNECT_ATTRS. */
  connectAttributes?: ConnectAttributes;
  /** The raw attribute block when re-encoding the pairs would differ. */
  connectAttributesBytes?: Uint8Array;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

function decodeName(bytes: Uint8Array): [string, Uint8Array | undefined] {
  const text = utf8Exact(bytes);
  return text === undefined ? [utf8Decode(bytes), bytes] : [text, undefined];
}

/**
 * Parses COM_CHANGE_USER. The layout of the auth response and of the optional tail depends on
 * the negotiated capabilities (CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH,
 * CLIENT_CONNECT_ATTRS).
 *
 * @example
 * ```ts
 * import { parseComChangeUser } from "./change_user.ts";
 * import { Capability } from "./constants.ts";
 * const context = { capabilities: Capability.CLIENT_SECURE_CONNECTION, mariadbCapabilities: 0 };
 * const change = parseComChangeUser(new Uint8Array([0x11, 0x75, 0, 1, 0xaa, 0]), context);
 * console.assert(change.username === "u" && change.schema === "");
 * ```
 */
export function parseComChangeUser(payload: Uint8Array, context: CodecContext): ComChangeUser {
  const reader = new PacketReader(payload, "COM_CHANGE_USER");
  const command = reader.u8();
  if (command !== Command.COM_CHANGE_USER) {
    reader.fail(`expected command 0x11, got 0x${command.toString(16).padStart(2, "0")}`);
  }
  const [username, usernameBytes] = decodeName(reader.nulBytes());
  const authResponse = hasCapability(context, Capability.CLIENT_SECURE_CONNECTION)
    ? reader.bytes(reader.u8())
    : reader.nulBytes();
  const message: ComChangeUser = { kind: "COM_CHANGE_USER", username, authResponse };
  if (usernameBytes !== undefined) message.usernameBytes = usernameBytes;
  if (!reader.atEnd) {
    const [schema, schemaBytes] = decodeName(reader.nulBytes());
    message.schema = schema;
    if (schemaBytes !== undefined) message.schemaBytes = schemaBytes;
  }
  // A lone byte after the schema is not a character set (servers need both bytes).
  if (reader.remaining >= 2) message.characterSet = reader.u16();
  if (message.characterSet !== undefined && !reader.atEnd) {
    if (hasCapability(context, Capability.CLIENT_PLUGIN_AUTH)) {
      const name = utf8Exact(reader.nulBytes());
      if (name === undefined) reader.fail(`auth plugin name is not valid UTF-8`);
      message.authPluginName = name;
    }
    if (hasCapability(context, Capability.CLIENT_CONNECT_ATTRS) && !reader.atEnd) {
      const { attributes, bytes } = readConnectAttributes(reader);
      message.connectAttributes = attributes;
      if (bytes !== undefined) message.connectAttributesBytes = bytes;
    }
  }
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

/**
 * Encodes COM_CHANGE_USER for the negotiated capabilities. Throws a `RangeError` when a field is
 * present without its flag or after a missing one.
 *
 * @example
 * ```ts
 * import { serializeComChangeUser } from "./change_user.ts";
 * import { Capability } from "./constants.ts";
 * const context = { capabilities: Capability.CLIENT_SECURE_CONNECTION, mariadbCapabilities: 0 };
 * const bytes = serializeComChangeUser({
 *   kind: "COM_CHANGE_USER", username: "u", authResponse: new Uint8Array([0xaa]), schema: "",
 * }, context);
 * console.assert(bytes.join() === "17,117,0,1,170,0");
 * ```
 */
export function serializeComChangeUser(message: ComChangeUser, context: CodecContext): Uint8Array {
  const what = "COM_CHANGE_USER";
  const fail = (detail: string): never => {
    throw new RangeError(`Cannot serialize ${what}: ${detail}`);
  };
  const hasAttributes = message.connectAttributes !== undefined ||
    message.connectAttributesBytes !== undefined;
  const pluginAuth = hasCapability(context, Capability.CLIENT_PLUGIN_AUTH);
  const connectAttrs = hasCapability(context, Capability.CLIENT_CONNECT_ATTRS);
  if (message.authPluginName !== undefined && !pluginAuth) {
    fail(`authPluginName needs CLIENT_PLUGIN_AUTH`);
  }
  if (hasAttributes && !connectAttrs) fail(`connectAttributes needs CLIENT_CONNECT_ATTRS`);
  if (message.schema === undefined && message.characterSet !== undefined) {
    fail(`characterSet is present but schema is not`);
  }
  if (
    message.characterSet === undefined && (message.authPluginName !== undefined || hasAttributes)
  ) {
    fail(`authPluginName or connectAttributes are present but characterSet is not`);
  }
  if (hasAttributes && pluginAuth && message.authPluginName === undefined) {
    fail(`connectAttributes is present but authPluginName is not`);
  }
  const writer = new PacketWriter(64 + message.authResponse.length);
  writer.u8(Command.COM_CHANGE_USER);
  const username = message.usernameBytes ?? utf8Encode(message.username);
  if (username.includes(0)) fail(`username contains a NUL byte`);
  writer.nulBytes(username);
  const response = message.authResponse;
  if (hasCapability(context, Capability.CLIENT_SECURE_CONNECTION)) {
    if (response.length > 0xff) fail(`authResponse is longer than 255 bytes`);
    writer.u8(response.length).bytes(response);
  } else {
    if (response.includes(0)) fail(`authResponse contains a NUL byte`);
    writer.nulBytes(response);
  }
  if (message.schema !== undefined) {
    const schema = message.schemaBytes ?? utf8Encode(message.schema);
    if (schema.includes(0)) fail(`schema contains a NUL byte`);
    writer.nulBytes(schema);
  }
  if (message.characterSet !== undefined) writer.u16(message.characterSet);
  if (message.authPluginName !== undefined) writer.nulString(message.authPluginName);
  if (hasAttributes) {
    writeConnectAttributes(writer, message.connectAttributes ?? [], message.connectAttributesBytes);
  }
  if (message.trailing !== undefined) writer.bytes(message.trailing);
  return writer.finish();
}
