/**
 * The member's peer HTTP client settings, from `--peer-*` TLS flags (etcd embed/config.go
 * PeerTLSInfo and pkg/transport TLSInfo.ClientConfig), and the shared client that the
 * cluster requests outside raft (`/members`, `/leases`, `/members/promote`) use.
 *
 * @module
 */

import { type OpenSslDialOptions, PeerClient, type PeerTlsOptions } from "../rafthttp/mod.ts";
import type { ServerConfig, TlsConfig } from "./config.ts";
import {
  certificateMatchesHost,
  peerCertificateOf,
  type TlsPolicy,
  tlsPolicy,
} from "./tls_policy.ts";

/**
 * The client side of the peer TLS settings. A member with `--peer-auto-tls` and no trusted
 * CA dials peers without verifying their certificate, as etcd does for its self-signed
 * certificates (TLSInfo.selfCert sets InsecureSkipVerify); the member's own certificate is
 * always offered as client certificate (etcd ClientConfig loads CertFile/KeyFile).
 */
export function peerTlsOptions(tls: TlsConfig, cipherSuites: readonly string[]): PeerTlsOptions {
  const options: PeerTlsOptions = {
    insecureSkipVerify: tls.autoTls && tls.trustedCaFile === "",
  };
  // etcd's allowed CN or host name sits in the base TLS config: its peer client checks the
  // server's certificate with it too; the cipher list restricts the client as well.
  const policy: TlsPolicy = tlsPolicy({ ...tls, crlFile: "" }, cipherSuites);
  if (policy.verifiesCertificate) {
    options.verifyServerCertificate = (cert) => policy.verifyCertificate(cert);
  }
  if (cipherSuites.length > 0) options.verifyConnection = (socket) => policy.checkCipher(socket);
  if (policy.restrictsHandshake) options.openSsl = _openSslDial(tls, policy);
  if (tls.trustedCaFile !== "") options.caPem = Deno.readTextFileSync(tls.trustedCaFile);
  if (tls.certFile !== "" && tls.keyFile !== "") {
    options.certPem = Deno.readTextFileSync(tls.certFile);
    options.keyPem = Deno.readTextFileSync(tls.keyFile);
  }
  return options;
}

/**
 * The OpenSSL dial settings, used when a restriction must act inside the handshake (etcd
 * puts its allowed CN or host name in the base TLS config its peer transport dials with, and
 * Go answers a refused server certificate with the bad_certificate alert).
 */
function _openSslDial(tls: TlsConfig, policy: TlsPolicy): OpenSslDialOptions {
  const dial: OpenSslDialOptions = {
    // Go's client checks the server's certificate against the host it dialled.
    verifyHost: (der, host) =>
      certificateMatchesHost(peerCertificateOf(der), host)
        ? undefined
        : new Error(`x509: certificate is not valid for ${host}`),
  };
  if (tls.certFile !== "" && tls.keyFile !== "") {
    dial.certFile = tls.certFile;
    dial.keyFile = tls.keyFile;
  }
  if (tls.trustedCaFile !== "") dial.caFile = tls.trustedCaFile;
  const cipherList = policy.openSslCipherList();
  if (cipherList !== undefined) dial.cipherList = cipherList;
  if (policy.verifiesCertificate) dial.verifyLeaf = (der) => policy.verifyCertificateDer(der);
  return dial;
}

const _clients = new WeakMap<TlsConfig, PeerClient>();

/**
 * The peer client for requests outside the raft transport, one per TLS config (its
 * keep-alive pools are shared by every such request of the member).
 */
export function peerClientFor(cfg: Pick<ServerConfig, "peerTls" | "cipherSuites">): PeerClient {
  const tls = cfg.peerTls;
  let client = _clients.get(tls);
  if (client === undefined) {
    client = new PeerClient({ tls: peerTlsOptions(tls, cfg.cipherSuites) });
    _clients.set(tls, client);
  }
  return client;
}

/** Closes the client {@link peerClientFor} made for `tls`; a later call makes a new one. */
export function releasePeerClient(tls: TlsConfig): void {
  _clients.get(tls)?.close();
  _clients.delete(tls);
}
