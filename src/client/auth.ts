/**
 * What a client answers to each authentication plugin: the password scrambles of
 * mysql_native_password, caching_sha2_password and client_ed25519, the RSA-encrypted password of
 * caching_sha2_password / sha256_password full authentication, and the clear-text password.
 *
 * Pure functions over bytes (hashing and RSA through `node:crypto`, Ed25519 point arithmetic
 * through npm:@noble/curves); the exchange itself is in `login.ts`.
 *
 * @module
 */

import { createHash, publicEncrypt } from "node:crypto";
import { constants as cryptoConstants } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519";
import { utf8Encode } from "../protocol/text.ts";

/** The auth plugins this client speaks. */
export const CLIENT_PLUGINS = [
  "mysql_native_password",
  "caching_sha2_password",
  "sha256_password",
  "client_ed25519",
  "mysql_clear_password",
] as const;

/** One of {@link CLIENT_PLUGINS}. */
export type ClientPlugin = typeof CLIENT_PLUGINS[number];

/**
 * Whether `name` is a plugin this client can authenticate with.
 *
 * @example
 * ```ts
 * import { isClientPlugin } from "./auth.ts";
 * console.assert(isClientPlugin("client_ed25519") && !isClientPlugin("dialog"));
 * ```
 */
export function isClientPlugin(name: string): name is ClientPlugin {
  return (CLIENT_PLUGINS as readonly string[]).includes(name);
}

function hash(algorithm: "sha1" | "sha256" | "sha512", ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(algorithm);
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i % b.length];
  return out;
}

/** Bytes of the nonce client_ed25519 signs (MariaDB's NONCE_BYTES). */
const ED25519_NONCE_BYTES = 32;

/**
 * The nonce in an auth switch request's data for `plugin`. The 20-byte scramble of the password
 * plugins ends with a NUL there: they use the bytes before it. client_ed25519's 32 random bytes
 * come with no terminator, and may end with a 0 byte themselves (1 login in 256).
 *
 * @example
 * ```ts
 * import { pluginNonce } from "./auth.ts";
 * console.assert(pluginNonce(new Uint8Array(21), "mysql_native_password").length === 20);
 * console.assert(pluginNonce(new Uint8Array(32), "client_ed25519").length === 32);
 * ```
 */
export function pluginNonce(data: Uint8Array, plugin: string): Uint8Array {
  if (plugin === "client_ed25519") return data.subarray(0, ED25519_NONCE_BYTES);
  return data.length > 0 && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data;
}

/**
 * mysql_native_password: `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`; empty for an
 * empty password.
 *
 * @example
 * ```ts
 * import { nativePasswordScramble } from "./auth.ts";
 * console.assert(nativePasswordScramble("secret", new Uint8Array(20)).length === 20);
 * console.assert(nativePasswordScramble("", new Uint8Array(20)).length === 0);
 * ```
 */
export function nativePasswordScramble(password: string, nonce: Uint8Array): Uint8Array {
  if (password === "") return new Uint8Array(0);
  const stage1 = hash("sha1", utf8Encode(password));
  const stage2 = hash("sha1", stage1);
  return xor(stage1, hash("sha1", nonce.subarray(0, 20), stage2));
}

/**
 * caching_sha2_password's fast-auth scramble:
 * `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`; empty for an empty password.
 *
 * @example
 * ```ts
 * import { cachingSha2Scramble } from "./auth.ts";
 * console.assert(cachingSha2Scramble("secret", new Uint8Array(20)).length === 32);
 * ```
 */
export function cachingSha2Scramble(password: string, nonce: Uint8Array): Uint8Array {
  if (password === "") return new Uint8Array(0);
  const stage1 = hash("sha256", utf8Encode(password));
  const stage2 = hash("sha256", stage1);
  return xor(stage1, hash("sha256", stage2, nonce.subarray(0, 20)));
}

/**
 * The password as sent in clear (over TLS, or inside RSA): its UTF-8 bytes and a NUL.
 *
 * @example
 * ```ts
 * import { clearPassword } from "./auth.ts";
 * console.assert(clearPassword("ab").join() === "97,98,0");
 * ```
 */
export function clearPassword(password: string): Uint8Array {
  const bytes = utf8Encode(password);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * caching_sha2_password / sha256_password full authentication without TLS: the NUL-terminated
 * password XOR the nonce (repeated), encrypted with the server's RSA public key (PEM) using
 * RSA-OAEP (SHA-1), as MySQL 8 expects.
 *
 * @example
 * ```ts ignore
 * const encrypted = rsaEncryptedPassword("secret", nonce, serverPublicKeyPem);
 * ```
 */
export function rsaEncryptedPassword(
  password: string,
  nonce: Uint8Array,
  publicKeyPem: string,
): Uint8Array {
  const plain = xor(clearPassword(password), nonce.subarray(0, 20));
  return new Uint8Array(publicEncrypt(
    { key: publicKeyPem, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING },
    plain,
  ));
}

const L = ed25519.Point.Fn.ORDER;

function littleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

function toLittleEndian32(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/**
 * client_ed25519 (MariaDB): an Ed25519 signature of the server's 32-byte nonce. Unlike RFC 8032,
 * the secret scalar and nonce prefix come from SHA-512 of the password itself (any length), not
 * of a 32-byte seed, so standard Ed25519 keys cannot express it; the arithmetic is the same
 * (MariaDB's `crypto_sign` in plugin/auth_ed25519/ref10/sign.c).
 *
 * @example
 * ```ts
 * import { ed25519Signature } from "./auth.ts";
 * console.assert(ed25519Signature("secret", new Uint8Array(32)).length === 64);
 * ```
 */
export function ed25519Signature(password: string, nonce: Uint8Array): Uint8Array {
  const az = hash("sha512", utf8Encode(password));
  az[0] &= 248;
  az[31] &= 63;
  az[31] |= 64;
  const a = littleEndian(az.subarray(0, 32)) % L;
  const publicKey = ed25519.Point.BASE.multiply(a).toBytes();
  const r = littleEndian(hash("sha512", az.subarray(32, 64), nonce)) % L;
  // r is 0 with probability 2^-252; multiply() refuses 0, whose point is the identity.
  const R = (r === 0n ? ed25519.Point.ZERO : ed25519.Point.BASE.multiply(r)).toBytes();
  const k = littleEndian(hash("sha512", R, publicKey, nonce)) % L;
  const S = (r + k * a) % L;
  const signature = new Uint8Array(64);
  signature.set(R);
  signature.set(toLittleEndian32(S), 32);
  return signature;
}
