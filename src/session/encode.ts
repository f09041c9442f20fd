/**
 * Encodes any decoded message back to its payload: the inverse of the session decoder.
 *
 * @module
 */

import { serializeHandshakeResponse, serializeHandshakeV10 } from "../protocol/handshake.ts";
import {
  serializeAuthMoreData,
  serializeAuthNextFactor,
  serializeAuthSwitchRequest,
  serializeAuthSwitchResponse,
} from "../protocol/auth.ts";
import { serializeGenericResponse } from "../protocol/generic.ts";
import { serializeResultsetPacket } from "../protocol/resultset.ts";
import { type BinaryColumn, serializeBinaryRow } from "../protocol/binary.ts";
import { serializeCommand } from "../protocol/commands.ts";
import type { CodecContext } from "../protocol/context.ts";
import type { ClientMessage, ServerMessage } from "./messages.ts";

/**
 * Serializes a message the decoder produced, with the capabilities in effect where it was sent.
 * Binary rows also need their result set's columns.
 *
 * @example
 * ```ts
 * import { serializeMessage } from "./encode.ts";
 * import { DEFAULT_CONTEXT } from "../protocol/context.ts";
 * const bytes = serializeMessage({ kind: "COM_PING" }, DEFAULT_CONTEXT);
 * console.assert(bytes.join() === "14");
 * ```
 */
export function serializeMessage(
  message: ClientMessage | ServerMessage,
  context: CodecContext,
  columns: readonly BinaryColumn[] = [],
): Uint8Array {
  switch (message.kind) {
    case "handshake-v10":
      return serializeHandshakeV10(message);
    case "ssl-request":
    case "handshake-response-41":
    case "handshake-response-320":
      return serializeHandshakeResponse(message);
    case "auth-switch-request":
    case "old-auth-switch-request":
      return serializeAuthSwitchRequest(message);
    case "auth-switch-response":
      return serializeAuthSwitchResponse(message);
    case "auth-more-data":
      return serializeAuthMoreData(message);
    case "auth-next-factor":
      return serializeAuthNextFactor(message);
    case "ok":
    case "err":
    case "eof":
    case "progress":
      return serializeGenericResponse(message, context);
    case "column-count":
    case "column-definition":
    case "column-definition-320":
    case "text-row":
    case "stmt-prepare-ok":
    case "local-infile-request":
    case "local-infile-data":
    case "statistics":
      return serializeResultsetPacket(message, context);
    case "binary-row":
      return serializeBinaryRow(message, columns);
    case "unknown":
      return message.bytes.slice();
    default:
      return serializeCommand(message, context);
  }
}
