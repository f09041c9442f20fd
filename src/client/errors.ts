/**
 * Errors of the client.
 *
 * @module
 */

import type { ErrPacket } from "../protocol/generic.ts";

/**
 * The server refused something with an ERR packet (a login: access denied, unknown database).
 * Commands do not throw it: their results carry the error.
 *
 * @example
 * ```ts
 * import { MysqlError } from "./errors.ts";
 * const error = new MysqlError({ kind: "err", code: 1045, sqlState: "28000", message: "Access denied" });
 * console.assert(error.code === 1045 && error.message === "Access denied (1045, 28000)");
 * ```
 */
export class MysqlError extends Error {
  /** The server's error code (e.g. 1045). */
  readonly code: number;
  /** The SQLSTATE, when the server sent one. */
  readonly sqlState: string | undefined;
  /** The server's own message. */
  readonly serverMessage: string;

  /** The error of `err`; `context` ("Login as app") goes before the server's message. */
  constructor(err: ErrPacket, context?: string) {
    const state = err.sqlState === undefined ? "" : `, ${err.sqlState}`;
    super(`${context ? `${context}: ` : ""}${err.message} (${err.code}${state})`);
    this.name = "MysqlError";
    this.code = err.code;
    this.sqlState = err.sqlState;
    this.serverMessage = err.message;
  }
}

/**
 * Authentication could not proceed on the client's side: a plugin this client does not speak, a
 * clear-text password asked for without TLS, a server that sent something unexpected.
 *
 * @example
 * ```ts
 * import { AuthError } from "./errors.ts";
 * console.assert(new AuthError("no").name === "AuthError");
 * ```
 */
export class AuthError extends Error {
  /** An error with `message` (and its `cause`). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthError";
  }
}
