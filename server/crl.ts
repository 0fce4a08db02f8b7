/**
 * Certificate revocation lists for `--client-crl-file`, checked as etcd 3.4 checks them
 * (`pkg/transport/listener_tls.go` checkCRL): after the TLS handshake, a client whose certificate
 * serial number is listed in the CRL is disconnected. Like etcd, only the serial numbers are
 * compared; the CRL's own signature is not verified.
 *
 * DER layout read here (RFC 5280 §5.1):
 * ```
 * CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
 * TBSCertList ::= SEQUENCE {
 *   version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name,
 *   thisUpdate Time, nextUpdate Time OPTIONAL,
 *   revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time,
 *                                               crlEntryExtensions OPTIONAL } OPTIONAL,
 *   crlExtensions [0] EXPLICIT Extensions OPTIONAL }
 * ```
 * A PEM file (`-----BEGIN X509 CRL-----`) is accepted too.
 *
 * @module
 */

const TAG_INTEGER = 0x02;
const TAG_SEQUENCE = 0x30;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;

interface _Element {
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just past the contents. */
  end: number;
}

function _read(der: Uint8Array, offset: number, limit: number): _Element {
  if (offset + 2 > limit) throw new Error("crl: truncated DER element");
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) {
      throw new Error("crl: bad DER length");
    }
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i]!;
    start += bytes;
  }
  if (start + length > limit) throw new Error("crl: DER element runs past its parent");
  return { tag, start, end: start + length };
}

function _children(der: Uint8Array, parent: _Element): _Element[] {
  const children: _Element[] = [];
  let at = parent.start;
  while (at < parent.end) {
    const child = _read(der, at, parent.end);
    children.push(child);
    at = child.end;
  }
  return children;
}

/** A serial number as uppercase hex without leading zeros (how both sides are compared). */
export function normalizeSerial(hex: string): string {
  const trimmed = hex.replace(/[^0-9a-fA-F]/g, "").toUpperCase().replace(/^0+/, "");
  return trimmed === "" ? "0" : trimmed;
}

function _pemToDer(text: string): Uint8Array {
  const body = text.replace(/-----(BEGIN|END) X509 CRL-----/g, "").replace(/\s+/g, "");
  const binary = atob(body);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The serial numbers a CRL revokes (normalized hex). Throws on a file that is not a CRL. */
export function revokedSerials(file: Uint8Array): Set<string> {
  const head = new TextDecoder().decode(file.subarray(0, 64));
  const der = head.includes("-----BEGIN X509 CRL-----")
    ? _pemToDer(new TextDecoder().decode(file))
    : file;
  const list = _read(der, 0, der.length);
  if (list.tag !== TAG_SEQUENCE) throw new Error("crl: not a CertificateList");
  const tbs = _children(der, list)[0];
  if (tbs === undefined || tbs.tag !== TAG_SEQUENCE) throw new Error("crl: no TBSCertList");
  const fields = _children(der, tbs);
  let i = 0;
  if (fields[i]?.tag === TAG_INTEGER) i++; // version
  i += 2; // signature algorithm, issuer
  const isTime = (e: _Element | undefined) =>
    e !== undefined && (e.tag === TAG_UTC_TIME || e.tag === TAG_GENERALIZED_TIME);
  if (!isTime(fields[i])) throw new Error("crl: no thisUpdate");
  i++;
  if (isTime(fields[i])) i++; // nextUpdate
  const serials = new Set<string>();
  const revoked = fields[i];
  if (revoked === undefined || revoked.tag !== TAG_SEQUENCE) return serials;
  for (const entry of _children(der, revoked)) {
    const serial = _children(der, entry)[0];
    if (serial === undefined || serial.tag !== TAG_INTEGER) {
      throw new Error("crl: revoked entry without a serial number");
    }
    let hex = "";
    for (let b = serial.start; b < serial.end; b++) hex += der[b]!.toString(16).padStart(2, "0");
    serials.add(normalizeSerial(hex));
  }
  return serials;
}
