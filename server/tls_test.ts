/**
 * Goal: the self-signed certificate is a valid X.509 v3 certificate that TLS stacks accept.
 * Method: parse it with node:crypto's X509Certificate (checks the DER and the signature), and
 * serve TLS with it through Deno.listenTls, fetching from it with the certificate as the CA.
 */
import { ok, strictEqual } from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createSelfSignedCertPem, selfSignedCert } from "./tls.ts";

Deno.test("createSelfSignedCertPem() makes a self-signed cert with the hosts as SANs", () => {
  const now = new Date("2026-01-02T03:04:05Z");
  const { certPem, keyPem } = createSelfSignedCertPem([
    "127.0.0.1:2380",
    "localhost:2380",
    "[::1]:1",
  ], now);
  const cert = new X509Certificate(certPem);
  ok(cert.verify(cert.publicKey), "signature verifies with its own key");
  strictEqual(cert.subject, "O=etcd");
  strictEqual(cert.issuer, "O=etcd");
  const names = cert.subjectAltName ?? "";
  ok(names.includes("IP Address:127.0.0.1"), names);
  ok(names.includes("DNS:localhost"), names);
  ok(names.includes("IP Address:0:0:0:0:0:0:0:1") || names.includes("IP Address:::1"), names);
  strictEqual(new Date(cert.validFrom).getTime(), now.getTime());
  strictEqual(new Date(cert.validTo).getTime() - now.getTime(), 365 * 24 * 3600 * 1000);
  ok(keyPem.startsWith("-----BEGIN EC PRIVATE KEY-----"));
});

Deno.test("selfSignedCert() writes cert.pem/key.pem once, and TLS serves with them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = await selfSignedCert(`${dir}/fixtures/peer`, ["127.0.0.1:23899"]);
    strictEqual(files.certFile, `${dir}/fixtures/peer/cert.pem`);
    const first = await Deno.readTextFile(files.certFile);
    await selfSignedCert(`${dir}/fixtures/peer`, ["127.0.0.1:23899"]);
    strictEqual(await Deno.readTextFile(files.certFile), first, "existing files are reused");
    strictEqual((await Deno.stat(files.keyFile)).mode! & 0o777, 0o600);

    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 23899,
      cert: first,
      key: await Deno.readTextFile(files.keyFile),
    });
    const served = (async () => {
      const conn = await listener.accept();
      await conn.handshake();
      await conn.write(new TextEncoder().encode("ok"));
      conn.close();
    })();
    const client = await Deno.connectTls({ hostname: "127.0.0.1", port: 23899, caCerts: [first] });
    const buffer = new Uint8Array(2);
    await client.read(buffer);
    strictEqual(new TextDecoder().decode(buffer), "ok");
    client.close();
    await served;
    listener.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
