// Goal: the Long <-> bigint/number conversions are exact at the edges of each range and
// refuse values they cannot hold. Method: table of edge values, round trips both ways, and a
// check against Long's own decimal rendering.
import assert from "node:assert/strict";
import Long from "long";
import {
  bigintToLong,
  bigintToULong,
  idToHex,
  longToBigint,
  longToNumber,
  numberToLong,
  numberToULong,
} from "./int64.ts";

Deno.test("bigint -> Long -> bigint round-trips int64 and uint64 edge values", () => {
  const signed = [0n, 1n, -1n, (1n << 53n) + 1n, (1n << 63n) - 1n, -(1n << 63n), -123456789012345n];
  for (const value of signed) {
    const long = bigintToLong(value);
    assert.equal(long.toString(), value.toString());
    assert.equal(longToBigint(long), value);
  }
  const unsigned = [0n, 1n, 1n << 63n, (1n << 64n) - 1n, 0x8e9e05c52164694dn];
  for (const value of unsigned) {
    const long = bigintToULong(value);
    assert.equal(long.toString(), value.toString());
    assert.equal(longToBigint(long), value);
  }
});

Deno.test("bigint conversions refuse values outside the 64-bit range", () => {
  assert.throws(() => bigintToLong(1n << 63n), RangeError);
  assert.throws(() => bigintToLong(-(1n << 63n) - 1n), RangeError);
  assert.throws(() => bigintToULong(-1n), RangeError);
  assert.throws(() => bigintToULong(1n << 64n), RangeError);
});

Deno.test("longToNumber() is exact up to 2^53 - 1 and throws beyond", () => {
  const max = Number.MAX_SAFE_INTEGER;
  assert.equal(longToNumber(Long.fromNumber(max)), max);
  assert.equal(longToNumber(Long.fromNumber(-max)), -max);
  assert.equal(longToNumber(Long.fromNumber(max, true)), max);
  assert.equal(longToNumber(numberToLong(42)), 42);
  assert.equal(longToNumber(7), 7);
  assert.throws(() => longToNumber(Long.fromString("9007199254740992")), RangeError);
  assert.throws(() => longToNumber(Long.fromString("-9007199254740992")), RangeError);
  assert.throws(() => longToNumber(Long.fromString("18446744073709551615", true)), RangeError);
  assert.throws(() => longToNumber(Long.fromString("-1", false).toUnsigned()), RangeError);
});

Deno.test("number -> Long refuses unsafe and (for uint64) negative numbers", () => {
  assert.equal(numberToLong(-5).toString(), "-5");
  assert.equal(numberToULong(5).unsigned, true);
  assert.throws(() => numberToLong(2 ** 53), RangeError);
  assert.throws(() => numberToLong(1.5), RangeError);
  assert.throws(() => numberToULong(-1), RangeError);
});

Deno.test("idToHex() prints member IDs as etcd does", () => {
  assert.equal(idToHex(0x8e9e05c52164694dn), "8e9e05c52164694d");
  assert.equal(idToHex(bigintToULong(0x8e9e05c52164694dn)), "8e9e05c52164694d");
  assert.throws(() => idToHex(-1n), RangeError);
});
