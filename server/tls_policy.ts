/**
 * The restrictions etcd 3.4 puts on a TLS connection beyond the certificate chain, for one
 * listener side (client or peer), as `pkg/transport` TLSInfo applies them:
 *
 * - `--peer-cert-allowed-cn`: the verified peer certificate's subject CN must equal it.
 * - `--peer-cert-allowed-hostname`, `--client-cert-allowed-hostname`: the verified peer
 *   certificate must be valid for that host name (Go's `x509.Certificate.VerifyHostname`: IP
 *   SANs for an IP, DNS SANs with a leading `*.` wildcard for a name; the CN is not consulted,
 *   as in the Go release etcd 3.4.23 is built with). The two are mutually exclusive.
 * - `--peer-crl-file`, `--client-crl-file`: a peer certificate (leaf or chain) whose serial
 *   number the list revokes is disconnected after the handshake.
 * - `--cipher-suites`: Go cipher suite names; an unknown name stops the member at start. Go
 *   applies the list to TLS 1.0-1.2 only (TLS 1.3 suites are not configurable there), so a
 *   TLS 1.2 connection that negotiated a suite outside the list is refused, and TLS 1.3 is not
 *   restricted.
 *
 * etcd sets the CN/host name check in the base TLS config, so it applies on both sides: as a
 * server to verified client certificates (only when client certificates are asked for: a
 * trusted CA or client-cert-auth), and as a client (the peer transport) to the server's
 * certificate. The CRL applies to listeners only.
 *
 * The checks run right after the handshake (the TLS layer under Deno offers no hook inside
 * it, and it does not honour a cipher list): a refused connection is closed before any
 * request on it is read, instead of failing the handshake with a TLS alert.
 *
 * @module
 */

import type { PeerCertificate, TLSSocket } from "node:tls";
import { isIP } from "node:net";
import { X509Certificate } from "node:crypto";
import { openssl, openSslCipherName } from "../tls/mod.ts";
import { normalizeSerial, revokedSerials } from "./crl.ts";
import type { TlsConfig } from "./config.ts";
import { ConfigError } from "./config_flags.ts";

/**
 * Go's cipher suite names (crypto/tls `CipherSuites()` and `InsecureCipherSuites()`, plus the
 * two CHACHA20 aliases etcd's tlsutil accepts) -> the IANA name that `getCipher().standardName`
 * reports. TLS 1.3 suites are accepted and restrict nothing, as in Go.
 */
const _GO_CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_RC4_128_SHA: "TLS_RSA_WITH_RC4_128_SHA",
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA: "TLS_RSA_WITH_AES_128_CBC_SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "TLS_RSA_WITH_AES_256_CBC_SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "TLS_RSA_WITH_AES_128_CBC_SHA256",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "TLS_RSA_WITH_AES_128_GCM_SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "TLS_RSA_WITH_AES_256_GCM_SHA384",
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  TLS_AES_128_GCM_SHA256: "TLS_AES_128_GCM_SHA256",
  TLS_AES_256_GCM_SHA384: "TLS_AES_256_GCM_SHA384",
  TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
};

/** The TLS 1.3 suites: Go's config cannot restrict them, so neither does detcd. */
const _TLS13_SUITES = new Set([
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
]);

/** etcd's error when a client certificate fails the CN or host name check. */
export const CERT_AUTH_FAILED = "client certificate authentication failed";
/** Go's server-side error when no cipher suite of the list was negotiable. */
export const NO_SHARED_CIPHER = "tls: no cipher suite supported by both client and server";

/**
 * The IANA names of `--cipher-suites` (Go names). Throws etcd's error on an unknown name:
 * `unexpected TLS cipher suite "NAME"`.
 */
export function cipherSuiteNames(goNames: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const name of goNames) {
    const iana = Object.hasOwn(_GO_CIPHER_SUITES, name) ? _GO_CIPHER_SUITES[name] : undefined;
    if (iana === undefined) throw new Error(`unexpected TLS cipher suite ${JSON.stringify(name)}`);
    names.add(iana);
  }
  return names;
}

/** The checks of one TLS side; build it with {@link tlsPolicy}. */
export class TlsPolicy {
  readonly #allowedCn: string;
  readonly #allowedHostname: string;
  readonly #revoked: ReadonlySet<string> | undefined;
  readonly #ciphers: ReadonlySet<string>;

  constructor(options: {
    allowedCn?: string;
    allowedHostname?: string;
    revoked?: ReadonlySet<string>;
    cipherSuites?: ReadonlySet<string>;
  }) {
    this.#allowedCn = options.allowedCn ?? "";
    this.#allowedHostname = options.allowedHostname ?? "";
    if (this.#allowedCn !== "" && this.#allowedHostname !== "") {
      throw new Error(
        `AllowedCN and AllowedHostname are mutually exclusive (cn=${
          JSON.stringify(this.#allowedCn)
        }, hostname=${JSON.stringify(this.#allowedHostname)})`,
      );
    }
    this.#revoked = options.revoked;
    this.#ciphers = options.cipherSuites ?? new Set();
  }

  /** True when a CN or host name restriction is set (etcd's VerifyPeerCertificate). */
  get verifiesCertificate(): boolean {
    return this.#allowedCn !== "" || this.#allowedHostname !== "";
  }

  /**
   * True when a restriction must act inside the handshake (etcd's VerifyPeerCertificate and
   * CipherSuites): such a side terminates TLS with OpenSSL (tls/), not Deno's TLS.
   */
  get restrictsHandshake(): boolean {
    return this.verifiesCertificate || this.#ciphers.size > 0;
  }

  /**
   * The OpenSSL cipher list for TLS 1.2 (`undefined`: no restriction; `""`: the list names
   * TLS 1.3 suites only, so no TLS 1.2 suite is allowed). Throws when a listed suite is not
   * available in the system OpenSSL (RC4 and 3DES are not in OpenSSL 3's default build):
   * such a suite could not be negotiated as etcd would.
   */
  openSslCipherList(): string | undefined {
    if (this.#ciphers.size === 0) return undefined;
    const names: string[] = [];
    for (const iana of this.#ciphers) {
      if (_TLS13_SUITES.has(iana)) continue;
      const name = openSslCipherName(iana);
      if (name === undefined) {
        throw new Error(
          `TLS cipher suite ${JSON.stringify(iana)} is not available in the system OpenSSL`,
        );
      }
      names.push(name);
    }
    return names.join(":");
  }

  /** {@link verifyCertificate} of a DER leaf (OpenSSL's verify callback hands DER). */
  verifyCertificateDer(der: Uint8Array): Error | undefined {
    return this.verifyCertificate(peerCertificateOf(der));
  }

  /** The revocation list check of a peer chain given as DER, leaf first (etcd's checkCRL). */
  checkRevokedDer(chain: readonly Uint8Array[]): Error | undefined {
    return this.#checkSerials(chain.map((der) => new X509Certificate(der).serialNumber));
  }

  /** True when there is anything to check on a connection. */
  get active(): boolean {
    return this.verifiesCertificate || (this.#revoked?.size ?? 0) > 0 || this.#ciphers.size > 0;
  }

  /**
   * The CN or host name check on a verified peer certificate (leaf); `undefined` when it
   * passes or nothing is restricted, else etcd's error.
   */
  verifyCertificate(cert: PeerCertificate | undefined): Error | undefined {
    if (!this.verifiesCertificate) return undefined;
    if (cert === undefined || Object.keys(cert).length === 0) return new Error(CERT_AUTH_FAILED);
    if (this.#allowedCn !== "") {
      return _commonName(cert) === this.#allowedCn ? undefined : new Error(CERT_AUTH_FAILED);
    }
    return certificateMatchesHost(cert, this.#allowedHostname)
      ? undefined
      : new Error(CERT_AUTH_FAILED);
  }

  /** Cipher suite restriction on an established connection (TLS 1.2 and below). */
  checkCipher(socket: TLSSocket): Error | undefined {
    if (this.#ciphers.size === 0) return undefined;
    if (socket.getProtocol() === "TLSv1.3") return undefined;
    const suite = socket.getCipher()?.standardName;
    return suite !== undefined && this.#ciphers.has(suite)
      ? undefined
      : new Error(NO_SHARED_CIPHER);
  }

  /**
   * Every check a listener makes on an accepted connection, in etcd's order: cipher suite
   * and certificate (the handshake), then the revocation list. `certificateRequested`: the
   * listener asked for a client certificate (etcd runs the CN/host name check only then).
   */
  checkAccepted(socket: TLSSocket, certificateRequested: boolean): Error | undefined {
    const cipher = this.checkCipher(socket);
    if (cipher !== undefined) return cipher;
    if (certificateRequested && this.verifiesCertificate) {
      const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
      const error = this.verifyCertificate(cert);
      if (error !== undefined) return error;
    }
    return this.#checkRevoked(socket);
  }

  #checkRevoked(socket: TLSSocket): Error | undefined {
    if (this.#revoked === undefined || this.#revoked.size === 0) return undefined;
    const seen = new Set<PeerCertificate>();
    const serials: string[] = [];
    let cert: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = socket
      .getPeerCertificate(true);
    while (cert !== undefined && typeof cert.serialNumber === "string" && !seen.has(cert)) {
      seen.add(cert);
      serials.push(cert.serialNumber);
      cert = cert.issuerCertificate;
    }
    return this.#checkSerials(serials);
  }

  #checkSerials(serials: readonly string[]): Error | undefined {
    if (this.#revoked === undefined || this.#revoked.size === 0) return undefined;
    for (const hex of serials) {
      const serial = normalizeSerial(hex);
      if (this.#revoked.has(serial)) {
        const bytes = serial.length % 2 === 1 ? `0${serial}` : serial;
        return new Error(`transport: certificate serial ${bytes.toLowerCase()} revoked`);
      }
    }
    return undefined;
  }
}

/**
 * The policy of one side from its flags; reads the CRL file. Throws etcd's errors: unknown
 * cipher suite, CN and host name both set, unreadable CRL.
 */
export function tlsPolicy(tls: TlsConfig, cipherSuites: readonly string[]): TlsPolicy {
  const options: ConstructorParameters<typeof TlsPolicy>[0] = {
    allowedCn: tls.allowedCn,
    allowedHostname: tls.allowedHostname,
    cipherSuites: cipherSuiteNames(cipherSuites),
  };
  if (tls.crlFile !== "") options.revoked = revokedSerials(Deno.readFileSync(tls.crlFile));
  return new TlsPolicy(options);
}

/** The fields etcd logs for a refused TLS connection ("rejected connection"). */
export function rejectedConnectionFields(
  socket: TLSSocket,
  error: Error,
): Record<string, unknown> {
  const servername = (socket as TLSSocket & { servername?: unknown }).servername;
  const fields: Record<string, unknown> = {
    "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`,
    "server-name": typeof servername === "string" ? servername : "",
  };
  const cert = socket.getPeerCertificate();
  if (cert !== undefined && Object.keys(cert).length > 0) {
    const { dns, ips } = _subjectAltNames(cert);
    fields["ip-addresses"] = ips;
    fields["dns-names"] = dns;
  }
  fields.error = error.message;
  return fields;
}

/**
 * A DER certificate in the shape `node:tls` reports a peer certificate (the fields the
 * checks here read: subject CN, subjectaltname, serialNumber).
 */
export function peerCertificateOf(der: Uint8Array): PeerCertificate {
  const x509 = new X509Certificate(der);
  const subject: Record<string, string> = {};
  for (const line of x509.subject.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) subject[line.slice(0, at)] = line.slice(at + 1);
  }
  return {
    subject,
    subjectaltname: x509.subjectAltName ?? "",
    serialNumber: x509.serialNumber,
  } as unknown as PeerCertificate;
}

/**
 * The fields etcd logs for a refused TLS connection ("rejected connection") when TLS is
 * OpenSSL's: the same as {@link rejectedConnectionFields}, from what the session knows.
 */
export function rejectedHandshakeFields(
  connection: { remoteAddress?: string | undefined; remotePort?: number | undefined },
  serverName: string,
  peerCertificates: readonly Uint8Array[],
  error: Error,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    "remote-addr": `${connection.remoteAddress}:${connection.remotePort}`,
    "server-name": serverName,
  };
  const leaf = peerCertificates[0];
  if (leaf !== undefined) {
    const { dns, ips } = _subjectAltNames(peerCertificateOf(leaf));
    fields["ip-addresses"] = ips;
    fields["dns-names"] = dns;
  }
  fields.error = error.message;
  return fields;
}

function _commonName(cert: PeerCertificate): string {
  const cn = cert.subject?.CN as string | string[] | undefined;
  if (Array.isArray(cn)) return cn[0] ?? "";
  return cn ?? "";
}

function _subjectAltNames(cert: PeerCertificate): { dns: string[]; ips: string[] } {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const entry of (cert.subjectaltname ?? "").split(/,\s*/)) {
    if (entry.startsWith("DNS:")) dns.push(entry.slice(4));
    else if (entry.startsWith("IP Address:")) ips.push(entry.slice(11));
  }
  return { dns, ips };
}

/**
 * Go's `VerifyHostname` without the CN fallback: an IP (brackets allowed) must be one of the
 * certificate's IP SANs; a name matches a DNS SAN case-insensitively, a trailing dot ignored,
 * where a SAN `*.rest` matches exactly one leftmost label.
 */
export function certificateMatchesHost(cert: PeerCertificate, host: string): boolean {
  const { dns, ips } = _subjectAltNames(cert);
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(bare) !== 0) {
    const wanted = _canonicalIp(bare);
    return ips.some((ip) => isIP(ip) !== 0 && _canonicalIp(ip) === wanted);
  }
  const name = bare.toLowerCase().replace(/\.$/, "");
  if (name === "") return false;
  return dns.some((pattern) => _matchHostname(pattern.toLowerCase().replace(/\.$/, ""), name));
}

function _matchHostname(pattern: string, host: string): boolean {
  if (pattern === "" || host === "") return false;
  const patternLabels = pattern.split(".");
  const hostLabels = host.split(".");
  if (patternLabels.length !== hostLabels.length) return false;
  return patternLabels.every((label, i) =>
    (i === 0 && label === "*" && patternLabels.length > 1) || label === hostLabels[i]
  );
}

function _canonicalIp(ip: string): string {
  if (isIP(ip) === 4) return ip.split(".").map(Number).join(".");
  // An IPv4-mapped or compressed IPv6 address: let the URL parser canonicalize it.
  return new URL(`http://[${ip}]/`).hostname;
}

/**
 * Refuses at start (exit 2) a TLS restriction that needs the OpenSSL handshake when OpenSSL
 * cannot be used: no `--allow-ffi`, no libssl 3, or a listed suite this OpenSSL lacks. On
 * the peer side: `--peer-cert-allowed-cn`, `--peer-cert-allowed-hostname`, `--cipher-suites`
 * with https peers; on the client side: `--client-cert-allowed-hostname`, `--cipher-suites`
 * with https client (or metrics) URLs. Without it the restriction could not act as etcd's
 * does, so the member does not start rather than silently enforce less.
 */
export function requireHandshakeTls(cfg: {
  peerTls: TlsConfig;
  clientTls?: TlsConfig;
  cipherSuites: readonly string[];
  listenPeerUrls: readonly URL[];
  initialCluster: ReadonlyMap<string, readonly URL[]>;
  listenClientUrls?: readonly URL[];
  listenMetricsUrls?: readonly URL[];
}): void {
  const https = (urls: readonly URL[]) => urls.some((url) => url.protocol === "https:");
  const tls = cfg.peerTls;
  const peerUrls = [...cfg.listenPeerUrls, ...[...cfg.initialCluster.values()].flat()];
  const flags: string[] = [];
  if (https(peerUrls)) {
    if (tls.allowedCn !== "") flags.push("--peer-cert-allowed-cn");
    if (tls.allowedHostname !== "") flags.push("--peer-cert-allowed-hostname");
  }
  const clientUrls = [...cfg.listenClientUrls ?? [], ...cfg.listenMetricsUrls ?? []];
  if (cfg.clientTls !== undefined && cfg.clientTls.allowedHostname !== "" && https(clientUrls)) {
    flags.push("--client-cert-allowed-hostname");
  }
  if (cfg.cipherSuites.length > 0 && (https(peerUrls) || https(clientUrls))) {
    flags.push("--cipher-suites");
  }
  if (flags.length === 0) return;
  const policy = new TlsPolicy({ cipherSuites: cipherSuiteNames(cfg.cipherSuites) });
  try {
    openssl();
    policy.openSslCipherList();
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}; needed by ${flags.join(", ")}`);
  }
}
