/**
 * The data of `memory_budget_test.ts`: key `i` and its value, a 1 KiB pattern that differs per
 * key, so that a value read from the wrong page or a stale buffer is caught.
 */

/** Bytes of each value: four values and their headers fill a 4 KiB page. */
export const VALUE_BYTES = 1000;

const _encoder = new TextEncoder();

/** The key of entry `i`. */
export function keyOf(i: number): Uint8Array {
  return _encoder.encode(`k${String(i).padStart(7, "0")}`);
}

/** The value of entry `i`. */
export function expectedValue(i: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  for (let b = 0; b < VALUE_BYTES; b++) value[b] = (i * 31 + b * 7) & 0xff;
  return value;
}
