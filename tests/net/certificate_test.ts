/**
 * The certificates clients get with TLS: the one `--tls-auto` makes verifies as a self-signed
 * server certificate for localhost, and bad files or a key that does not match are errors that
 * name the file and the problem.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import {
  CertificateError,
  loadServerCertificate,
  selfSignedCertificate,
} from "../../src/net/certificate.ts";
import { certificateOption } from "../../src/cli/proxy.ts";
import { UsageError } from "../../src/cli/args.ts";

Deno.test("selfSignedCertificate() is a v3 ECDSA certificate for localhost and 127.0.0.1 that verifies itself", () => {
  const made = selfSignedCertificate();
  const x509 = new X509Certificate(made.cert);
  assert.equal(x509.subject, x509.issuer);
  assert(x509.verify(x509.publicKey), "signed by its own key");
  assert(x509.checkHost("localhost"));
  assert(x509.checkIP("127.0.0.1"));
  assert(x509.checkIP("::1"));
  assert.equal(x509.fingerprint256, made.fingerprint);
  assert(new Date(x509.validTo).getTime() > Date.now() + 300 * 86_400_000);
  assert(new Date(x509.validFrom).getTime() < Date.now());
  // node:tls accepts the pair as a server context.
  tls.createSecureContext({ cert: made.cert, key: made.key });
  assert.notEqual(selfSignedCertificate().fingerprint, made.fingerprint, "a fresh one each time");
});

Deno.test("loadServerCertificate() reads PEM files, and names the file that is missing, not PEM, or does not match", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const one = selfSignedCertificate();
    const other = selfSignedCertificate();
    await Deno.writeTextFile(`${dir}/cert.pem`, one.cert);
    await Deno.writeTextFile(`${dir}/key.pem`, one.key);
    await Deno.writeTextFile(`${dir}/other-key.pem`, other.key);
    await Deno.writeTextFile(`${dir}/junk.pem`, "not a certificate");
    const loaded = await loadServerCertificate({
      certFile: `${dir}/cert.pem`,
      keyFile: `${dir}/key.pem`,
    });
    assert.equal(loaded.fingerprint, one.fingerprint);
    assert.equal(loaded.generated, false);
    const fails = (source: Parameters<typeof loadServerCertificate>[0], pattern: RegExp) =>
      assert.rejects(loadServerCertificate(source), (error: Error) => {
        assert(error instanceof CertificateError);
        assert.match(error.message, pattern);
        return true;
      });
    await fails(
      { certFile: `${dir}/missing.pem`, keyFile: `${dir}/key.pem` },
      /Cannot read the TLS certificate .*missing\.pem/,
    );
    await fails(
      { certFile: `${dir}/junk.pem`, keyFile: `${dir}/key.pem` },
      /junk\.pem: not a PEM certificate/,
    );
    await fails(
      { certFile: `${dir}/cert.pem`, keyFile: `${dir}/junk.pem` },
      /junk\.pem: not a PEM private key/,
    );
    await fails(
      { certFile: `${dir}/cert.pem`, keyFile: `${dir}/other-key.pem` },
      /the key does not match the certificate/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("certificateOption() wants --tls-cert and --tls-key together, and not with --tls-auto", () => {
  assert.equal(certificateOption({}), undefined);
  assert.equal(certificateOption({ "tls-auto": true }), "auto");
  assert.deepEqual(certificateOption({ "tls-cert": "c", "tls-key": "k" }), {
    certFile: "c",
    keyFile: "k",
  });
  assert.throws(() => certificateOption({ "tls-cert": "c" }), UsageError);
  assert.throws(
    () => certificateOption({ "tls-cert": "c", "tls-key": "k", "tls-auto": true }),
    UsageError,
  );
});
