/**
 * Client-side TLS for MySQL connections: the modes MySQL clients know (`--ssl-mode`), and the
 * upgrade of an already open connection after the SSLRequest. Reusable by anything that speaks
 * to a server (the client here, the proxy's upstream side).
 *
 * @module
 */

import { nodeStartTls } from "../net/node_tls.ts";

/**
 * How a client uses TLS, as MySQL's `--ssl-mode`:
 * - `off`: never;
 * - `preferred`: when the server offers it, without verifying its certificate;
 * - `required`: always (fail if the server does not offer it), without verifying;
 * - `verify-ca`: always, and the certificate must chain to a trusted CA;
 * - `verify-identity`: as `verify-ca`, and the certificate must name the host connected to.
 */
export type TlsMode = "off" | "preferred" | "required" | "verify-ca" | "verify-identity";

/** The modes, in order of strictness. */
export const TLS_MODES: readonly TlsMode[] = [
  "off",
  "preferred",
  "required",
  "verify-ca",
  "verify-identity",
];

/** TLS settings of a client connection. */
export interface ClientTlsOptions {
  /** When to use TLS and what to verify. */
  mode: TlsMode;
  /** Trusted CA certificates (PEM text); default the system's roots. */
  ca?: string | string[];
  /** A file of trusted CA certificates (PEM), read at connect time. */
  caFile?: string;
  /** The name the certificate must carry under `verify-identity`; default the host connected to. */
  hostname?: string;
}

/**
 * Reads a `--tls` value. Throws a `TypeError` naming the accepted modes.
 *
 * @example
 * ```ts
 * import { parseTlsMode } from "./tls.ts";
 * console.assert(parseTlsMode("VERIFY_CA") === "verify-ca");
 * ```
 */
export function parseTlsMode(text: string): TlsMode {
  const mode = text.toLowerCase().replaceAll("_", "-");
  if ((TLS_MODES as readonly string[]).includes(mode)) return mode as TlsMode;
  throw new TypeError(`Unknown TLS mode "${text}": use one of ${TLS_MODES.join(", ")}`);
}

/**
 * Whether a mode insists on TLS (so a server without it is an error).
 *
 * @example
 * ```ts
 * import { tlsRequired } from "./tls.ts";
 * console.assert(tlsRequired("required") && !tlsRequired("preferred"));
 * ```
 */
export function tlsRequired(mode: TlsMode): boolean {
  return mode !== "off" && mode !== "preferred";
}

/**
 * A TLS handshake failed, or the server cannot do TLS when the mode requires it.
 *
 * @example
 * ```ts
 * import { TlsError } from "./tls.ts";
 * console.assert(new TlsError("no").name === "TlsError");
 * ```
 */
export class TlsError extends Error {
  /** An error with `message` (and its `cause`). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TlsError";
  }
}

/** The CA certificates of `options`, from `ca` and `caFile`. */
async function caCertificates(options: ClientTlsOptions): Promise<string[] | undefined> {
  const list = options.ca === undefined ? [] : [options.ca].flat();
  if (options.caFile !== undefined) {
    try {
      list.push(await Deno.readTextFile(options.caFile));
    } catch (error) {
      throw new TlsError(
        `Cannot read the CA file ${options.caFile}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  return list.length > 0 ? list : undefined;
}

/**
 * Upgrades an open connection to TLS as the client, after the MySQL SSLRequest was sent: the
 * server's next bytes are its TLS handshake. `host` is the name or address connected to (checked
 * under `verify-identity` unless `options.hostname` says otherwise). The returned connection
 * replaces `conn`, which must not be used afterwards. Rejects with a {@link TlsError} when the
 * handshake or the certificate check fails.
 *
 * Verifying modes over TCP use `Deno.startTls`; `preferred`/`required` (no verification) and unix
 * sockets go through `node:tls`.
 *
 * @example
 * ```ts ignore
 * const secure = await startClientTls(conn, { mode: "verify-ca", caFile: "ca.pem" }, "127.0.0.1");
 * ```
 */
export async function startClientTls(
  conn: Deno.Conn,
  options: ClientTlsOptions,
  host: string,
): Promise<Deno.Conn> {
  if (options.mode === "off") throw new TlsError("Cannot start TLS: the mode is off");
  const ca = await caCertificates(options);
  const verify = options.mode === "verify-ca" || options.mode === "verify-identity";
  const hostname = options.hostname ?? host;
  try {
    if (verify && conn.remoteAddr.transport === "tcp") {
      const secure = await Deno.startTls(conn as Deno.TcpConn, {
        hostname,
        caCerts: ca,
        unsafelyDisableHostnameVerification: options.mode === "verify-ca",
      });
      await secure.handshake();
      return secure;
    }
    return await nodeStartTls(conn, {
      verify,
      checkIdentity: options.mode === "verify-identity",
      hostname,
      ca,
    });
  } catch (error) {
    try {
      conn.close();
    } catch {
      // consumed by the TLS layer, or already closed
    }
    throw new TlsError(
      `TLS handshake with ${hostname} failed (mode ${options.mode}): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
