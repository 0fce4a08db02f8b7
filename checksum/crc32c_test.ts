import { strictEqual } from "node:assert/strict";
import { crc32c } from "./crc32c.ts";

/** The bitwise definition, one byte at a time, as the reference the tables must match. */
function _bitwise(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

Deno.test("crc32c() matches the published check value and RFC 3720 vectors", () => {
  // The standard check value of CRC-32C over "123456789".
  strictEqual(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  // RFC 3720 B.4: 32 bytes of zeros, 32 bytes of 0xff, and an ascending run.
  strictEqual(crc32c(new Uint8Array(32)), 0x8a9136aa);
  strictEqual(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  strictEqual(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  strictEqual(crc32c(new Uint8Array(0)), 0);
});

Deno.test("crc32c() equals the bitwise reference for every length and when chained", () => {
  // Goal: the slicing-by-8 path and its byte tail agree with the definition at all alignments.
  let seed = 12345;
  const data = Uint8Array.from({ length: 300 }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 24;
  });
  for (let length = 0; length <= data.length; length++) {
    const part = data.subarray(0, length);
    strictEqual(crc32c(part), _bitwise(part), `length ${length}`);
    // Chaining: crc(a ++ b) == update(crc(a), b), which etcd's WAL relies on across records.
    const cut = length >> 1;
    strictEqual(crc32c(part.subarray(cut), crc32c(part.subarray(0, cut))), crc32c(part));
  }
});
