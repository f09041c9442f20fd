/**
 * The team-wide shape of a packet the codec does not understand.
 *
 * @module
 */

/**
 * A packet the codec could not classify (an unknown command byte, a packet type that is not
 * valid in the current protocol state). It carries the whole payload so it can be relayed or
 * re-serialized unchanged; `reason` says why it was not decoded, for traces.
 *
 * Parsed packets may share memory with the payload they came from.
 *
 * @example
 * ```ts
 * import type { UnknownPacket } from "./unknown.ts";
 * const packet: UnknownPacket = { kind: "unknown", bytes: new Uint8Array([0x42]) };
 * console.assert(packet.bytes.length === 1);
 * ```
 */
export interface UnknownPacket {
  /** Which packet this is. */
  kind: "unknown";
  /** The whole payload, unchanged. */
  bytes: Uint8Array;
  /** Why the packet was not decoded, for humans. */
  reason?: string;
}

/**
 * Builds an {@link UnknownPacket}, leaving `reason` out when not given.
 *
 * @example
 * ```ts
 * import { unknownPacket } from "./unknown.ts";
 * const packet = unknownPacket(new Uint8Array([0x42]), "unknown command byte 0x42");
 * console.assert(packet.kind === "unknown" && packet.reason !== undefined);
 * ```
 */
export function unknownPacket(bytes: Uint8Array, reason?: string): UnknownPacket {
  return reason === undefined ? { kind: "unknown", bytes } : { kind: "unknown", bytes, reason };
}
