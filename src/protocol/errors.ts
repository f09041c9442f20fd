/**
 * Errors raised by the codec.
 *
 * @module
 */

/** Options of {@link ProtocolError}. */
export interface ProtocolErrorOptions extends ErrorOptions {
  /** Byte offset into the payload where decoding failed. */
  offset?: number;
}

/**
 * A packet could not be decoded: it is shorter than its fields claim, or holds a value the
 * protocol does not allow at that place. `offset` is where in the payload decoding stopped.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * const error = new ProtocolError("Cannot parse OK packet: expected 7 bytes, got 3", { offset: 3 });
 * console.assert(error instanceof RangeError && error.offset === 3);
 * ```
 */
export class ProtocolError extends RangeError {
  /** Byte offset into the payload where decoding failed. */
  readonly offset: number;

  constructor(message: string, options: ProtocolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    this.offset = options.offset ?? 0;
  }
}
