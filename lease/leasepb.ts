/**
 * A hand-written codec for `leasepb.Lease` (etcd `lease/leasepb/lease.proto`), the record kept
 * per lease in the `lease` bucket: ID=1 int64, TTL=2 int64, RemainingTTL=3 int64, encoded as
 * gogoproto does (fields in order, zero values omitted, int64 as two's-complement varints).
 *
 * @module
 */

/** The persisted form of a lease. TTLs are seconds. */
export interface LeaseRecord {
  id: bigint;
  ttl: number;
  remainingTtl: number;
}

function _varintBytes(value: bigint, out: number[]): void {
  let unsigned = BigInt.asUintN(64, value);
  while (unsigned >= 0x80n) {
    out.push(Number(unsigned & 0x7fn) | 0x80);
    unsigned >>= 7n;
  }
  out.push(Number(unsigned));
}

/** Encodes a lease record byte-exact with gogoproto's `Lease.Marshal`. */
export function encodeLeaseRecord(record: LeaseRecord): Uint8Array {
  if (!Number.isSafeInteger(record.ttl) || !Number.isSafeInteger(record.remainingTtl)) {
    throw new RangeError("lease TTLs must be safe integers");
  }
  const out: number[] = [];
  if (record.id !== 0n) {
    out.push((1 << 3) | 0);
    _varintBytes(record.id, out);
  }
  if (record.ttl !== 0) {
    out.push((2 << 3) | 0);
    _varintBytes(BigInt(record.ttl), out);
  }
  if (record.remainingTtl !== 0) {
    out.push((3 << 3) | 0);
    _varintBytes(BigInt(record.remainingTtl), out);
  }
  return Uint8Array.from(out);
}

/** Decodes a lease record; unknown fields are skipped, malformed input throws. */
export function decodeLeaseRecord(bytes: Uint8Array): LeaseRecord {
  const record: LeaseRecord = { id: 0n, ttl: 0, remainingTtl: 0 };
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (offset >= bytes.length) throw new RangeError("leasepb: truncated varint");
      const byte = bytes[offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, result);
    }
    throw new RangeError("leasepb: varint too long");
  };
  while (offset < bytes.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const value = varint();
      if (field === 1) record.id = value;
      else if (field === 2) record.ttl = Number(value);
      else if (field === 3) record.remainingTtl = Number(value);
    } else if (wire === 2) {
      const length = Number(varint());
      if (length < 0 || offset + length > bytes.length) throw new RangeError("leasepb: truncated");
      offset += length;
    } else if (wire === 1 || wire === 5) {
      offset += wire === 1 ? 8 : 4;
      if (offset > bytes.length) throw new RangeError("leasepb: truncated");
    } else {
      throw new RangeError(`leasepb: unsupported wire type ${wire}`);
    }
  }
  return record;
}
