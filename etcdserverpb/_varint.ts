/**
 * Varints of 64-bit values given as two unsigned 32-bit halves, for the hand-written encoders
 * of this module (`header_response.ts`, `put_proposal.ts`): the same bytes as protobufjs'
 * `LongBits` writes, without an object per value.
 *
 * @module
 */

/** Bytes of the varint of the 64-bit value `hi`·2^32 + `lo` (both unsigned). */
export function varint64Bytes(lo: number, hi: number): number {
  let bytes = 1;
  while (hi !== 0) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    bytes++;
  }
  while (lo > 127) {
    lo >>>= 7;
    bytes++;
  }
  return bytes;
}

/** Writes the varint of `hi`·2^32 + `lo` at `at`; returns the offset after it. */
export function writeVarint64(out: Uint8Array, at: number, lo: number, hi: number): number {
  while (hi !== 0) {
    out[at++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 127) {
    out[at++] = (lo & 127) | 128;
    lo >>>= 7;
  }
  out[at++] = lo;
  return at;
}
