/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven with slicing-by-8.
 *
 * etcd chains this checksum across WAL records: each record's `crc` is the checksum of every
 * record's data so far, computed as `crc32c(data, previousCrc)` (Go's `crc32.Update`, which
 * inverts the running value on entry and on exit). Snap files use the same function from 0.
 *
 * @module
 */

const POLYNOMIAL = 0x82f63b78;
const SLICES = 8;

/** Eight 256-entry tables: `TABLES[k * 256 + b]` advances byte `b` through k further zero bytes. */
const TABLES: Uint32Array = _makeTables();

function _makeTables(): Uint32Array {
  const tables = new Uint32Array(SLICES * 256);
  for (let b = 0; b < 256; b++) {
    let crc = b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    tables[b] = crc >>> 0;
  }
  for (let b = 0; b < 256; b++) {
    let crc = tables[b]!;
    for (let k = 1; k < SLICES; k++) {
      crc = tables[crc & 0xff]! ^ (crc >>> 8);
      tables[k * 256 + b] = crc >>> 0;
    }
  }
  return tables;
}

/**
 * Continues a CRC-32C over `data`, starting from a previous checksum (0 for a fresh one), and
 * returns the new checksum as an unsigned 32-bit number.
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  const t = TABLES;
  let crc = ~previous >>> 0;
  let i = 0;
  const length = data.length;
  // Slicing-by-8: fold eight bytes per step through the eight tables.
  const whole = length - (length % SLICES);
  while (i < whole) {
    const low = crc ^
      (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc = t[7 * 256 + (low & 0xff)]! ^ t[6 * 256 + ((low >>> 8) & 0xff)]! ^
      t[5 * 256 + ((low >>> 16) & 0xff)]! ^ t[4 * 256 + (low >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^ t[2 * 256 + data[i + 5]!]! ^
      t[1 * 256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
    i += SLICES;
  }
  while (i < length) {
    crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
    i++;
  }
  return ~crc >>> 0;
}
