/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as Go's `crc32.MakeTable(Castagnoli)`;
 * etcd hashes the key bucket with it for HashKV.
 *
 * @module
 */

const _POLY = 0x82f63b78;
const _TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ _POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Continues a CRC-32C over `bytes`; start with 0. Returns an unsigned 32-bit value. */
export function crc32cUpdate(crc: number, bytes: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = _TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
