/**
 * Self-signed certificates for `--auto-tls` and `--peer-auto-tls`, made as etcd's
 * `transport.SelfCert` makes them (pkg/transport/listener.go): `cert.pem` and `key.pem` in the
 * given directory (etcd uses `${dataDir}/fixtures/peer` and `${dataDir}/fixtures/client`),
 * reused when both already exist; subject O=etcd; valid for 365 days; key usage digital
 * signature + key encipherment; extended key usage server auth; basic constraints present
 * (not a CA); the listen hosts as IP or DNS subject alternative names.
 *
 * One deliberate difference: etcd uses an ECDSA P-521 key; detcd uses P-256, because the TLS
 * stack under Deno (rustls) does not serve P-521 certificates. Go clients accept both.
 *
 * The certificate is written as DER by hand (no X.509 writer is available to Deno), following
 * RFC 5280 §4.1; `_der*` below are the few ASN.1 encoders it needs.
 *
 * @module
 */

import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";
import { concatBytes } from "../bytes/mod.ts";

/** Paths of a certificate and its key, both PEM. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

// ASN.1 universal tags (X.690 §8).
const _TAG_INTEGER = 0x02;
const _TAG_BIT_STRING = 0x03;
const _TAG_OCTET_STRING = 0x04;
const _TAG_OID = 0x06;
const _TAG_UTF8_STRING = 0x0c;
const _TAG_UTC_TIME = 0x17;
const _TAG_GENERALIZED_TIME = 0x18;
const _TAG_SEQUENCE = 0x30;
const _TAG_SET = 0x31;
const _TAG_BOOLEAN = 0x01;
// Context tags: [0] EXPLICIT version, [3] EXPLICIT extensions, SAN dNSName [2] and iPAddress [7].
const _TAG_VERSION = 0xa0;
const _TAG_EXTENSIONS = 0xa3;
const _TAG_SAN_DNS = 0x82;
const _TAG_SAN_IP = 0x87;

// Object identifiers.
const _OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const _OID_ORGANIZATION = "2.5.4.10";
const _OID_KEY_USAGE = "2.5.29.15";
const _OID_SUBJECT_ALT_NAME = "2.5.29.17";
const _OID_BASIC_CONSTRAINTS = "2.5.29.19";
const _OID_EXT_KEY_USAGE = "2.5.29.37";
const _OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

const _VALIDITY_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * Returns `dir/cert.pem` and `dir/key.pem`, creating a self-signed certificate for `hosts`
 * (`host:port` or bare hosts) unless both files exist already.
 */
export async function selfSignedCert(dir: string, hosts: string[]): Promise<CertFiles> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  if ((await _exists(certFile)) && (await _exists(keyFile))) return { certFile, keyFile };

  const { certPem, keyPem } = createSelfSignedCertPem(hosts, new Date());
  await Deno.writeTextFile(certFile, certPem, { mode: 0o644 });
  await Deno.writeTextFile(keyFile, keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

/** Builds a self-signed certificate and its EC private key as PEM text, valid from `now`. */
export function createSelfSignedCertPem(
  hosts: string[],
  now: Date,
): { certPem: string; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const algorithm = _derSequence([_derOid(_OID_ECDSA_WITH_SHA256)]);
  const name = _derSequence([
    _derSet([_derSequence([_derOid(_OID_ORGANIZATION), _derTlv(_TAG_UTF8_STRING, _utf8("etcd"))])]),
  ]);
  const serial = new Uint8Array(randomBytes(16));
  const tbs = _derSequence([
    _derTlv(_TAG_VERSION, _derInteger(new Uint8Array([2]))),
    _derInteger(serial),
    algorithm,
    name,
    _derSequence([_derTime(now), _derTime(new Date(now.getTime() + _VALIDITY_MS))]),
    name,
    spki,
    _derTlv(_TAG_EXTENSIONS, _derSequence(_extensions(hosts))),
  ]);
  const signature = new Uint8Array(sign("sha256", tbs, privateKey));
  const certificate = _derSequence([tbs, algorithm, _derBitString(signature)]);
  const keyPem = String(privateKey.export({ type: "sec1", format: "pem" }));
  return { certPem: _pem("CERTIFICATE", certificate), keyPem };
}

function _extensions(hosts: string[]): Uint8Array[] {
  // digitalSignature (bit 0) | keyEncipherment (bit 2): one byte 0b1010_0000, 5 unused bits.
  const keyUsage = _derTlv(_TAG_BIT_STRING, new Uint8Array([5, 0xa0]));
  const extensions = [
    _extension(_OID_KEY_USAGE, true, keyUsage),
    _extension(_OID_EXT_KEY_USAGE, false, _derSequence([_derOid(_OID_SERVER_AUTH)])),
    _extension(_OID_BASIC_CONSTRAINTS, true, _derSequence([])),
  ];
  const names = hosts.map(_hostOnly).filter((host) => host !== "").map((host) =>
    isIP(host) !== 0 ? _derTlv(_TAG_SAN_IP, _ipBytes(host)) : _derTlv(_TAG_SAN_DNS, _utf8(host))
  );
  if (names.length > 0) {
    extensions.push(_extension(_OID_SUBJECT_ALT_NAME, false, _derSequence(names)));
  }
  return extensions;
}

function _extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  const parts = [_derOid(oid)];
  if (critical) parts.push(_derTlv(_TAG_BOOLEAN, new Uint8Array([0xff])));
  parts.push(_derTlv(_TAG_OCTET_STRING, value));
  return _derSequence(parts);
}

/** `host:port`, `[v6]:port`, or a bare host -> the host, as Go's net.SplitHostPort. */
function _hostOnly(hostPort: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(hostPort);
  if (bracketed !== null) return bracketed[1]!;
  const colons = hostPort.split(":").length - 1;
  if (colons === 1) return hostPort.slice(0, hostPort.indexOf(":"));
  return hostPort;
}

function _ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return new Uint8Array(ip.split(".").map(Number));
  // Expand an IPv6 address with at most one `::`.
  const [head = "", tail] = ip.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = new Array(8 - headGroups.length - tailGroups.length).fill("0");
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}

function _utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Tag, definite length (short or long form), value. */
function _derTlv(tag: number, value: Uint8Array): Uint8Array {
  const length = value.length;
  let header: number[];
  if (length < 0x80) {
    header = [tag, length];
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
      lengthBytes.unshift(rest & 0xff);
    }
    header = [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  return concatBytes([new Uint8Array(header), value]);
}

function _derSequence(items: Uint8Array[]): Uint8Array {
  return _derTlv(_TAG_SEQUENCE, concatBytes(items));
}

function _derSet(items: Uint8Array[]): Uint8Array {
  return _derTlv(_TAG_SET, concatBytes(items));
}

/** A non-negative INTEGER from big-endian magnitude bytes (minimal, sign byte when needed). */
function _derInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length === 0) body = new Uint8Array([0]);
  if ((body[0]! & 0x80) !== 0) body = concatBytes([new Uint8Array([0]), body]);
  return _derTlv(_TAG_INTEGER, body);
}

function _derBitString(bytes: Uint8Array): Uint8Array {
  return _derTlv(_TAG_BIT_STRING, concatBytes([new Uint8Array([0]), bytes]));
}

function _derOid(oid: string): Uint8Array {
  const arcs = oid.split(".").map(Number);
  const bytes: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
      base128.unshift((rest & 0x7f) | 0x80);
    }
    bytes.push(...base128);
  }
  return _derTlv(_TAG_OID, new Uint8Array(bytes));
}

/** UTCTime for years 1950-2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5). */
function _derTime(time: Date): Uint8Array {
  const pad = (value: number) => String(value).padStart(2, "0");
  const year = time.getUTCFullYear();
  const rest = `${pad(time.getUTCMonth() + 1)}${pad(time.getUTCDate())}${pad(time.getUTCHours())}${
    pad(time.getUTCMinutes())
  }${pad(time.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) {
    return _derTlv(_TAG_UTC_TIME, _utf8(`${pad(year % 100)}${rest}`));
  }
  return _derTlv(_TAG_GENERALIZED_TIME, _utf8(`${year}${rest}`));
}

function _pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const base64 = btoa(binary);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

async function _exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
