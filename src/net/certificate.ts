/**
 * The certificate the proxy and replay present to clients that ask for TLS: read from PEM files
 * (`--tls-cert`, `--tls-key`), or made on the spot (`--tls-auto`): a self-signed ECDSA P-256
 * certificate for local use, built here as DER with node:crypto signing it, so nobody needs
 * openssl.
 *
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  X509Certificate,
} from "node:crypto";
import tls from "node:tls";
import { encodeBase64 } from "../record/base64.ts";
import { concatBytes } from "../protocol/framing.ts";

/** A certificate and key to terminate clients' TLS with. */
export interface ServerCertificate {
  /** The certificate chain (PEM), leaf first. */
  cert: string;
  /** Its private key (PEM). */
  key: string;
  /** SHA-256 fingerprint of the leaf (`AB:CD:...`), to compare with what a client sees. */
  fingerprint: string;
  /** Whether it was generated (`--tls-auto`) rather than read from files. */
  generated: boolean;
}

/**
 * Where the certificate clients get comes from: PEM files, PEM text, or `"auto"` (a self-signed
 * one generated at start).
 */
export type CertificateSource =
  | { certFile: string; keyFile: string }
  | { cert: string; key: string }
  | "auto";

/**
 * A certificate or key that cannot be used, with what is wrong.
 *
 * @example
 * ```ts
 * import { CertificateError } from "./certificate.ts";
 * console.assert(new CertificateError("no").name === "CertificateError");
 * ```
 */
export class CertificateError extends Error {
  /** An error with `message` (and its `cause`). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateError";
  }
}

/**
 * Reads (`{certFile, keyFile}`), takes (`{cert, key}` PEM text) or generates (`"auto"`) the
 * server certificate, and checks that the key matches the certificate. Throws a
 * {@link CertificateError} naming the file and the problem.
 *
 * @example
 * ```ts
 * import { loadServerCertificate } from "./certificate.ts";
 * const generated = await loadServerCertificate({ auto: true });
 * console.assert(generated.cert.startsWith("-----BEGIN CERTIFICATE-----"));
 * ```
 */
export async function loadServerCertificate(
  source: CertificateSource,
): Promise<ServerCertificate> {
  if (source === "auto") return selfSignedCertificate();
  if ("cert" in source) {
    return checkCertificate(source.cert, source.key, "the certificate", "the key");
  }
  const read = async (path: string, what: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw new CertificateError(`Cannot read the TLS ${what} ${path}: ${message(error)}`, {
        cause: error,
      });
    }
  };
  const cert = await read(source.certFile, "certificate");
  const key = await read(source.keyFile, "key");
  return checkCertificate(cert, key, source.certFile, source.keyFile);
}

function checkCertificate(
  cert: string,
  key: string,
  certName: string,
  keyName: string,
): ServerCertificate {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new CertificateError(
      `Cannot use ${certName}: not a PEM certificate (${message(error)})`,
      { cause: error },
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new CertificateError(
      `Cannot use ${keyName}: not a PEM private key (${message(error)})`,
      { cause: error },
    );
  }
  // The public half of the key must be the certificate's (createSecureContext does not check
  // this in Deno: a mismatch would only show as failed handshakes).
  const spki = (k: KeyObject) => new Uint8Array(k.export({ type: "spki", format: "der" }));
  const expected = spki(leaf.publicKey);
  const actual = spki(createPublicKey(privateKey));
  if (expected.length !== actual.length || expected.some((b, i) => b !== actual[i])) {
    throw new CertificateError(
      `Cannot use ${certName} with ${keyName}: the key does not match the certificate`,
    );
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (error) {
    throw new CertificateError(
      `Cannot use ${certName} with ${keyName}: ${message(error)}`,
      { cause: error },
    );
  }
  return { cert, key, fingerprint: leaf.fingerprint256, generated: false };
}

/**
 * A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`, valid from a day ago
 * for a year, with an ECDSA P-256 key. Clients must not verify it (mysql2
 * `ssl: { rejectUnauthorized: false }`, the mariadb CLI's `--ssl` without
 * `--ssl-verify-server-cert`) or must pin its fingerprint.
 *
 * @example
 * ```ts
 * import { selfSignedCertificate } from "./certificate.ts";
 * console.assert(selfSignedCertificate().fingerprint.length === 95);
 * ```
 */
export function selfSignedCertificate(): ServerCertificate {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const now = Date.now();
  const name = sequence(set(sequence(oid(OID.commonName), utf8String("mysql-proxy (--tls-auto)"))));
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x40; // and no leading zero byte to strip
  const tbs = sequence(
    explicit(0, integer(new Uint8Array([2]))), // v3
    integer(serial),
    algorithm,
    name,
    sequence(time(new Date(now - 86_400_000)), time(new Date(now + 365 * 86_400_000))),
    name,
    spki,
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence()),
        extension(OID.keyUsage, true, bitString(new Uint8Array([0x80]), 7)), // digitalSignature
        extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
        extension(
          OID.subjectAltName,
          false,
          sequence(
            tagged(0x82, ascii("localhost")),
            tagged(0x87, new Uint8Array([127, 0, 0, 1])),
            tagged(0x87, new Uint8Array([...new Uint8Array(15), 1])),
          ),
        ),
      ),
    ),
  );
  const signature = new Uint8Array(sign("sha256", tbs, privateKey));
  const der = sequence(tbs, algorithm, bitString(signature, 0));
  const cert = pem("CERTIFICATE", der);
  const key = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256, generated: true };
}

const OID = {
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

// A minimal DER writer: just the types a certificate needs.

function tagged(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length;
  const header = length < 0x80
    ? [tag, length]
    : length < 0x100
    ? [tag, 0x81, length]
    : [tag, 0x82, length >> 8, length & 0xff];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  out.set(content, header.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts, parts.reduce((sum, part) => sum + part.length, 0));
}

const sequence = (...parts: Uint8Array[]) => tagged(0x30, concat(parts));
const set = (...parts: Uint8Array[]) => tagged(0x31, concat(parts));
const explicit = (n: number, content: Uint8Array) => tagged(0xa0 + n, content);
const integer = (bytes: Uint8Array) => tagged(0x02, bytes);
const ascii = (text: string) => new TextEncoder().encode(text);
const utf8String = (text: string) => tagged(0x0c, ascii(text));
const bitString = (bytes: Uint8Array, unused: number) =>
  tagged(0x03, concat([new Uint8Array([unused]), bytes]));

function oid(dotted: string): Uint8Array {
  const [first, second, ...rest] = dotted.split(".").map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) base128.unshift(0x80 | (value & 0x7f));
    bytes.push(...base128);
  }
  return tagged(0x06, new Uint8Array(bytes));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-11-21T10:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  return date.getUTCFullYear() < 2050
    ? tagged(0x17, ascii(digits.slice(2)))
    : tagged(0x18, ascii(digits));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  const parts = [oid(id)];
  if (critical) parts.push(new Uint8Array([0x01, 0x01, 0xff]));
  parts.push(tagged(0x04, value));
  return sequence(...parts);
}

function pem(label: string, der: Uint8Array): string {
  const base64 = encodeBase64(der);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
