import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import type { PeerCertificate } from "node:tls";
import {
  CERT_AUTH_FAILED,
  certificateMatchesHost,
  cipherSuiteNames,
  TlsPolicy,
} from "./tls_policy.ts";
import { revokedSerials } from "./crl.ts";

// Goal: the certificate and cipher suite rules of etcd's TLSInfo, decided as Go decides them.
// Method: certificates as node:tls reports them (subject, subjectaltname), checked against
// allowed CNs and host names; Go cipher suite names mapped, unknown names refused with etcd's
// words.

function _cert(cn: string, san: string): PeerCertificate {
  return { subject: { CN: cn }, subjectaltname: san } as unknown as PeerCertificate;
}

Deno.test("certificateMatchesHost follows Go's VerifyHostname (SANs only, one-label wildcard)", () => {
  const wildcard = _cert("example.com", "DNS:*.etcd.local, DNS:etcd.local, IP Address:127.0.0.1");
  ok(certificateMatchesHost(wildcard, "member.etcd.local"));
  ok(certificateMatchesHost(wildcard, "MEMBER.etcd.local."));
  ok(certificateMatchesHost(wildcard, "etcd.local"));
  ok(!certificateMatchesHost(wildcard, "a.b.etcd.local"), "a wildcard covers one label");
  ok(certificateMatchesHost(wildcard, "127.0.0.1"));
  ok(!certificateMatchesHost(wildcard, "127.0.0.2"));
  ok(!certificateMatchesHost(wildcard, "example.com"), "the CN is not a host name");
  const v6 = _cert("", "IP Address:0:0:0:0:0:0:0:1");
  ok(certificateMatchesHost(v6, "[::1]"));
  ok(certificateMatchesHost(v6, "::1"));
});

Deno.test("TlsPolicy.verifyCertificate: allowed CN exact, allowed host name by SAN", () => {
  const byCn = new TlsPolicy({ allowedCn: "example.com" });
  strictEqual(byCn.verifyCertificate(_cert("example.com", "DNS:localhost")), undefined);
  strictEqual(
    byCn.verifyCertificate(_cert("example2.com", "DNS:localhost"))?.message,
    CERT_AUTH_FAILED,
  );
  strictEqual(byCn.verifyCertificate(undefined)?.message, CERT_AUTH_FAILED);
  const byHost = new TlsPolicy({ allowedHostname: "localhost" });
  strictEqual(byHost.verifyCertificate(_cert("x", "DNS:localhost")), undefined);
  strictEqual(byHost.verifyCertificate(_cert("localhost", "DNS:other"))?.message, CERT_AUTH_FAILED);
  strictEqual(new TlsPolicy({}).verifyCertificate(undefined), undefined);
  throws(
    () => new TlsPolicy({ allowedCn: "a", allowedHostname: "b" }),
    { message: 'AllowedCN and AllowedHostname are mutually exclusive (cn="a", hostname="b")' },
  );
});

Deno.test("cipherSuiteNames maps Go names (and etcd's aliases) and refuses unknown ones", () => {
  deepStrictEqual(
    [...cipherSuiteNames(["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_RSA_WITH_AES_128_CBC_SHA"])],
    ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"],
  );
  throws(() => cipherSuiteNames(["ECDHE-RSA-AES128-GCM-SHA256"]), {
    message: 'unexpected TLS cipher suite "ECDHE-RSA-AES128-GCM-SHA256"',
  });
  throws(() => cipherSuiteNames(["toString"]), {
    message: 'unexpected TLS cipher suite "toString"',
  });
});

// The DER forms used by the OpenSSL handshake (tls/): the same rules on etcd's fixture
// certificates, the revocation list on a DER chain, and the cipher list handed to OpenSSL.
const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _HAVE_FIXTURES = await Deno.stat(`${_FIXTURES}/server.crt`).then(() => true, () => false);

/** The DER of a PEM certificate file. */
function _der(name: string): Uint8Array {
  const pem = Deno.readTextFileSync(`${_FIXTURES}/${name}.crt`);
  const base64 = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
}

Deno.test({
  name: "TlsPolicy checks DER certificates (CN, host name, CRL) as it checks node's",
  ignore: !_HAVE_FIXTURES,
  fn() {
    const byCn = new TlsPolicy({ allowedCn: "example.com" });
    strictEqual(byCn.verifyCertificateDer(_der("server")), undefined);
    strictEqual(byCn.verifyCertificateDer(_der("server2"))?.message, CERT_AUTH_FAILED);
    const byHost = new TlsPolicy({ allowedHostname: "member.etcd.local" });
    strictEqual(byHost.verifyCertificateDer(_der("server-wildcard")), undefined);
    strictEqual(byHost.verifyCertificateDer(_der("server"))?.message, CERT_AUTH_FAILED);
    const crl = Deno.readFileSync(`${_FIXTURES}/revoke.crl`);
    const revoked = new TlsPolicy({ revoked: revokedSerials(crl) });
    strictEqual(revoked.checkRevokedDer([_der("server")]), undefined);
    ok(revoked.checkRevokedDer([_der("server-revoked")])?.message.includes("revoked"));
  },
});

Deno.test("openSslCipherList: OpenSSL names for TLS 1.2, TLS 1.3 names left out, none: empty", () => {
  const policy = (names: string[]) => new TlsPolicy({ cipherSuites: cipherSuiteNames(names) });
  strictEqual(policy([]).openSslCipherList(), undefined);
  strictEqual(
    policy([
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
      "TLS_AES_128_GCM_SHA256",
    ]).openSslCipherList(),
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
  );
  strictEqual(policy(["TLS_AES_256_GCM_SHA384"]).openSslCipherList(), "");
  throws(
    () => policy(["TLS_RSA_WITH_RC4_128_SHA"]).openSslCipherList(),
    /not available in the system OpenSSL/,
  );
});
