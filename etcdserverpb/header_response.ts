/**
 * A response that holds nothing but its `ResponseHeader` (field 1), encoded by hand: the bytes
 * of protobufjs' generated `encode`, without its per-field objects. A put without `prev_kv` is
 * such a response, and under write load nearly every response is one.
 *
 * Why: protobufjs encodes through a list of operation objects (one per field, a state per
 * nested message) and a `LongBits` object per 64-bit field; a header has four of them. Each
 * put's response made about 0.6 KB of garbage that way (docs/performance.md, 2026-12-07
 * round 4).
 *
 * Wire form, as protobufjs writes it (proto3: a field is left out when it is zero or absent):
 *
 * | bytes  | what                                                         |
 * |--------|--------------------------------------------------------------|
 * | 1      | tag of field 1, length-delimited (0x0a)                      |
 * | 1      | header length (at most 44: four fields of 1 + 10 bytes)      |
 * | 1 + n  | per set field: tag (field << 3, varint), then its varint     |
 *
 * The header's fields, in field order: cluster_id (1, uint64), member_id (2, uint64),
 * revision (3, int64), raft_term (4, uint64). Anything else — a negative, fractional or string
 * value, unknown fields, a set field other than the header — is left to protobufjs (the
 * function returns undefined).
 *
 * @module
 */

import { varint64Bytes, writeVarint64 } from "./_varint.ts";
import { carveBytes } from "./writer.ts";

/** Tag of the header: field 1, wire type 2. */
const _HEADER_TAG = 0x0a;
const _TWO_POW_32 = 2 ** 32;

/** Which header fields are written (1) and their low and high 32 bits. */
const _set = new Uint8Array(4);
const _lo = new Uint32Array(4);
const _hi = new Uint32Array(4);

/**
 * `message` encoded as protobufjs would, after `prefixBytes` zero bytes, when it holds only a
 * plain header (every field in `otherFields` absent or null); undefined otherwise.
 */
export function encodeHeaderOnly(
  message: object,
  otherFields: readonly string[],
  prefixBytes: number,
): Uint8Array | undefined {
  const fields = message as Record<string, unknown>;
  for (const name of otherFields) if (fields[name] != null) return undefined;
  if (fields["$unknowns"] != null || !Object.hasOwn(message, "header")) return undefined;
  const header = fields["header"];
  if (header === null || typeof header !== "object") return undefined;
  const headerBytes = _readHeader(header as Record<string, unknown>);
  if (headerBytes === undefined) return undefined;
  const out = carveBytes(prefixBytes + 2 + headerBytes);
  let at = prefixBytes;
  out[at++] = _HEADER_TAG;
  out[at++] = headerBytes;
  for (let field = 0; field < 4; field++) {
    if (_set[field] === 0) continue;
    out[at++] = (field + 1) << 3;
    at = writeVarint64(out, at, _lo[field]!, _hi[field]!);
  }
  if (at !== out.length) throw new Error("encodeHeaderOnly: the header's size was miscounted");
  return out;
}

/** Fills `_lo`/`_hi` from `header`; returns its encoded size, or undefined to fall back. */
function _readHeader(header: Record<string, unknown>): number | undefined {
  if (header["$unknowns"] != null) return undefined;
  // One named read per field rather than `header[name]` in a loop over the four names: a keyed
  // read that sees four names goes megamorphic (a stub-cache probe on every response;
  // docs/performance.md, "V8 tiers, deopts and inline caches on the put path, round 8").
  const clusterId = _readField(header, 0, "clusterId", header["clusterId"]);
  const memberId = _readField(header, 1, "memberId", header["memberId"]);
  const revision = _readField(header, 2, "revision", header["revision"]);
  const raftTerm = _readField(header, 3, "raftTerm", header["raftTerm"]);
  if (clusterId < 0 || memberId < 0 || revision < 0 || raftTerm < 0) return undefined;
  return clusterId + memberId + revision + raftTerm;
}

/**
 * Fills `_set`/`_lo`/`_hi` at `field` from `value` (the header's `name`); returns the field's
 * encoded size (0 when it is not written), or -1 to fall back to protobufjs.
 */
function _readField(
  header: Record<string, unknown>,
  field: number,
  name: string,
  value: unknown,
): number {
  _set[field] = 0;
  if (value == null || !Object.hasOwn(header, name)) return 0;
  let lo: number;
  let hi: number;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) return -1;
    if (value === 0) return 0;
    lo = value >>> 0;
    hi = ((value - lo) / _TWO_POW_32) >>> 0;
  } else if (typeof value === "object" && _isLong(value)) {
    if (value.low === 0 && value.high === 0) return 0;
    lo = value.low >>> 0;
    hi = value.high >>> 0;
  } else {
    return -1;
  }
  _set[field] = 1;
  _lo[field] = lo;
  _hi[field] = hi;
  return 1 + varint64Bytes(lo, hi);
}

function _isLong(value: object): value is { low: number; high: number } {
  const long = value as { low?: unknown; high?: unknown };
  return typeof long.low === "number" && typeof long.high === "number";
}
