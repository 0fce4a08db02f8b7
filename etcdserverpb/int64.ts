/**
 * Conversions between protobufjs `Long` (how the generated code carries every 64-bit field)
 * and the JavaScript types the rest of detcd uses.
 *
 * - `bigint` for values that may pass 2^53: lease IDs, member and cluster IDs, raft terms and
 *   indexes when unsigned 64-bit.
 * - `number` for revisions, counts and TTLs, which stay far below 2^53; the conversion asserts
 *   it rather than losing precision silently.
 *
 * @module
 */

import type LongClass from "long";
import $protobuf from "protobufjs/minimal.js";

/**
 * long.js's `Long`, as protobufjs loaded it (`util.Long`, through `require("long")`: long.js's
 * CommonJS build). Importing "long" here would load long.js a second time, as its ES module
 * build: 44 KB of source, held twice for the life of the process, for a class that only
 * duplicates this one.
 */
const Long: typeof LongClass = _protobufLong();
/** A long.js value. */
type Long = LongClass;

function _protobufLong(): typeof LongClass {
  const found = $protobuf.util.Long as unknown as typeof LongClass | null | undefined;
  if (typeof found?.fromBits !== "function") throw new Error("protobufjs did not load long.js");
  return found;
}

/** The value of a decoded 64-bit field: a Long, or a number where protobufjs left one. */
export type Int64Like = Long | number;

/** Zero, signed; shared because Long values are immutable. */
export const LONG_ZERO: Long = Long.ZERO;
/** Zero, unsigned. */
export const ULONG_ZERO: Long = Long.UZERO;

/**
 * A 64-bit field as a JavaScript number. Throws if the value is outside the safe integer
 * range, where a number could no longer hold it exactly.
 */
export function longToNumber(value: Int64Like): number {
  if (typeof value === "number") {
    _assertSafe(value);
    return value;
  }
  // Every |v| >= 2^53 rounds to a double of magnitude >= 2^53, which is not a safe integer,
  // and every |v| < 2^53 converts exactly: so checking the result is exact.
  const result = value.toNumber();
  if (!Number.isSafeInteger(result)) {
    throw new RangeError(`64-bit value ${value} is outside the safe integer range`);
  }
  return result;
}

/** A number (safe integer) as a signed Long, for an int64 field. */
export function numberToLong(value: number): Long {
  _assertSafe(value);
  return value === 0 ? LONG_ZERO : Long.fromNumber(value, false);
}

/** A number (safe, non-negative integer) as an unsigned Long, for a uint64 field. */
export function numberToULong(value: number): Long {
  _assertSafe(value);
  if (value < 0) throw new RangeError(`uint64 cannot hold ${value}`);
  return value === 0 ? ULONG_ZERO : Long.fromNumber(value, true);
}

/**
 * A 64-bit field as a bigint. A signed Long gives a value in [-2^63, 2^63), an unsigned one a
 * value in [0, 2^64).
 */
export function longToBigint(value: Int64Like): bigint {
  if (typeof value === "number") {
    _assertSafe(value);
    return BigInt(value);
  }
  const low = BigInt(value.low >>> 0);
  const high = value.unsigned ? BigInt(value.high >>> 0) : BigInt(value.high);
  return (high << 32n) | low;
}

/** A bigint in [-2^63, 2^63) as a signed Long, for an int64 field. */
export function bigintToLong(value: bigint): Long {
  if (value < -(1n << 63n) || value >= (1n << 63n)) {
    throw new RangeError(`int64 cannot hold ${value}`);
  }
  return _fromBigint(value, false);
}

/**
 * A bigint as an unsigned Long, for a uint64 field. Accepts [0, 2^64); etcd IDs are uint64.
 */
export function bigintToULong(value: bigint): Long {
  if (value < 0n || value >= (1n << 64n)) throw new RangeError(`uint64 cannot hold ${value}`);
  return _fromBigint(value, true);
}

/**
 * The Long of two 32-bit words (either signedness; `| 0` is applied), as protobufjs makes
 * it for a decoded int64 (`unsigned` false) or uint64 (true) field.
 */
export function longFromBits(low: number, high: number, unsigned: boolean): Long {
  return Long.fromBits(low | 0, high | 0, unsigned);
}

/** An unsigned 64-bit ID in etcd's hex form (member IDs print as `8e9e05c52164694d`). */
export function idToHex(value: Int64Like | bigint): string {
  const id = typeof value === "bigint" ? value : longToBigint(value);
  if (id < 0n) throw new RangeError(`an ID is unsigned, got ${id}`);
  return id.toString(16);
}

function _fromBigint(value: bigint, unsigned: boolean): Long {
  const low = Number(BigInt.asUintN(32, value));
  const high = Number(BigInt.asUintN(32, value >> 32n));
  // Long.fromBits wants int32 words; `| 0` reinterprets the unsigned words.
  return Long.fromBits(low | 0, high | 0, unsigned);
}

function _assertSafe(value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not a safe integer`);
}
