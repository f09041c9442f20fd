import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, privateDecrypt } from "node:crypto";
import { constants } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519";
import {
  cachingSha2Scramble,
  clearPassword,
  ed25519Signature,
  nativePasswordScramble,
  pluginNonce,
  rsaEncryptedPassword,
} from "../../src/client/auth.ts";
import { firstAnswer } from "../../src/client/login.ts";
import { AuthError } from "../../src/client/errors.ts";
import { hex } from "../helpers/hex.ts";

const nonce = new TextEncoder().encode("abcdefghijklmnopqrst");

Deno.test("nativePasswordScramble() matches the server's check: SHA1(nonce + stored) XOR reply = SHA1(pw)", () => {
  const reply = nativePasswordScramble("secret", nonce);
  // What a server stores (PASSWORD('secret') without '*') and how it checks a reply.
  const stored = hex("14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
  const key = createHash("sha1").update(nonce).update(stored).digest();
  const stage1 = reply.map((b, i) => b ^ key[i]);
  assert.deepEqual(
    createHash("sha1").update(stage1).digest().toString("hex").toUpperCase(),
    "14E65567ABDB5135D0CFD9A70B3032C179A49EE7",
  );
});

Deno.test("nativePasswordScramble() and cachingSha2Scramble() send nothing for an empty password", () => {
  assert.equal(nativePasswordScramble("", nonce).length, 0);
  assert.equal(cachingSha2Scramble("", nonce).length, 0);
});

Deno.test("cachingSha2Scramble() XORed with SHA256(SHA256(SHA256(pw)) + nonce) gives SHA256(pw)", () => {
  const reply = cachingSha2Scramble("pässword", nonce);
  const sha = (...parts: Uint8Array[]) => {
    const h = createHash("sha256");
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  };
  const stage1 = sha(new TextEncoder().encode("pässword"));
  const key = sha(sha(stage1), nonce);
  assert.deepEqual(reply.map((b, i) => b ^ key[i]), stage1);
});

Deno.test("rsaEncryptedPassword() decrypts (OAEP) to the NUL-terminated password XOR the nonce", () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const longPassword = "x".repeat(45); // longer than the nonce: the nonce repeats
  const encrypted = rsaEncryptedPassword(longPassword, nonce, publicKey);
  assert.equal(encrypted.length, 256);
  const plain = new Uint8Array(
    privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, encrypted),
  );
  assert.deepEqual(plain.map((b, i) => b ^ nonce[i % 20]), clearPassword(longPassword));
});

Deno.test("ed25519Signature() verifies as Ed25519 under the key MariaDB derives from the password", () => {
  // MariaDB's ed25519 "password hash" is the public key A = [clamp(SHA512(pw)[0..32])]B.
  const az = new Uint8Array(createHash("sha512").update("ed25519-pw-1").digest());
  az[0] &= 248;
  az[31] &= 63;
  az[31] |= 64;
  let scalar = 0n;
  for (let i = 31; i >= 0; i--) scalar = (scalar << 8n) | BigInt(az[i]);
  const publicKey = ed25519.Point.BASE.multiply(scalar % ed25519.Point.Fn.ORDER).toBytes();
  const message = crypto.getRandomValues(new Uint8Array(32));
  const signature = ed25519Signature("ed25519-pw-1", message);
  assert.equal(signature.length, 64);
  assert.ok(ed25519.verify(signature, message, publicKey));
  assert.ok(!ed25519.verify(ed25519Signature("other", message), message, publicKey));
});

Deno.test("pluginNonce() drops the NUL servers append to a scramble, not an ed25519 nonce's last byte", () => {
  const native = "mysql_native_password";
  assert.deepEqual(pluginNonce(new Uint8Array([1, 2, 0]), native), new Uint8Array([1, 2]));
  assert.deepEqual(pluginNonce(new Uint8Array([1, 2]), native), new Uint8Array([1, 2]));
  // MariaDB sends the 32 bytes alone; one in 256 ends with 0 (this login used to fail).
  const nonce = new Uint8Array(32).fill(7);
  nonce[31] = 0;
  assert.deepEqual(pluginNonce(nonce, "client_ed25519"), nonce);
});

Deno.test("firstAnswer() refuses mysql_clear_password without TLS and sends it with TLS", () => {
  assert.throws(
    () => firstAnswer("mysql_clear_password", nonce, { password: "pw", tls: false }),
    (error) => error instanceof AuthError && /refused without TLS/.test(error.message),
  );
  assert.deepEqual(
    firstAnswer("mysql_clear_password", nonce, { password: "pw", tls: true }),
    clearPassword("pw"),
  );
});

Deno.test("firstAnswer() for sha256_password asks for the key, uses a given key, or sends clear over TLS", () => {
  assert.deepEqual(
    firstAnswer("sha256_password", nonce, { password: "pw", tls: false }),
    new Uint8Array([1]),
  );
  assert.deepEqual(
    firstAnswer("sha256_password", nonce, { password: "pw", tls: true }),
    clearPassword("pw"),
  );
  assert.deepEqual(
    firstAnswer("sha256_password", nonce, { password: "", tls: false }),
    new Uint8Array([0]),
  );
});

Deno.test("firstAnswer() names a plugin the client does not speak", () => {
  assert.throws(
    () => firstAnswer("dialog", nonce, { password: "pw", tls: false }),
    /auth plugin dialog, which this client does not speak/,
  );
});
