/**
 * What decoding a packet needs to know about the connection it came from.
 *
 * @module
 */

import { Capability } from "./constants.ts";

/**
 * The capabilities both sides agreed on. Many packets change layout with them (OK packets with
 * CLIENT_SESSION_TRACK, ERR packets without CLIENT_PROTOCOL_41, column counts with MariaDB's
 * metadata cache, ...).
 */
export interface CodecContext {
  /** Lower 32 capability bits: the server's flags ANDed with the client's. */
  capabilities: number;
  /** MariaDB's extended capabilities, ANDed likewise (0 for MySQL). */
  mariadbCapabilities: number;
}

/** The context before any flags are known: protocol 4.1, nothing else. */
export const DEFAULT_CONTEXT: Readonly<CodecContext> = Object.freeze({
  capabilities: Capability.CLIENT_PROTOCOL_41,
  mariadbCapabilities: 0,
});

/** Whether `flag` (a {@link Capability} bit) is set in `context`. */
export function hasCapability(context: CodecContext, flag: number): boolean {
  return (context.capabilities & flag) !== 0;
}

/** Whether `flag` (a `MariaDbCapability` bit) is set in `context`. */
export function hasMariaDbCapability(context: CodecContext, flag: number): boolean {
  return (context.mariadbCapabilities & flag) !== 0;
}
