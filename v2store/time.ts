/**
 * Times of the v2 store: nanoseconds since the Unix epoch as a `bigint` (etcd's requests carry
 * `Expiration` and `Time` as int64 nanoseconds), `0n` for Go's zero time (a permanent node).
 * Formatting and parsing follow Go's `time.Time` JSON (RFC 3339 with nanoseconds, trailing
 * zeros of the fraction dropped).
 *
 * @module
 */

/** A permanent node's expire time (Go's zero `time.Time`). */
export const PERMANENT = 0n;

/** etcd's minExpireTime (2000-01-01T00:00:00Z): earlier expire times mean permanent. */
export const MIN_EXPIRE_TIME_NS = 946_684_800_000_000_000n;

const _NS_PER_MS = 1_000_000n;
const _GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** The wall clock in nanoseconds (millisecond resolution under Deno). */
export function wallClockNs(): bigint {
  return BigInt(Date.now()) * _NS_PER_MS;
}

/** Go's `time.Time` MarshalJSON text (without quotes) of `ns`, in UTC. */
export function formatGoTime(ns: bigint): string {
  if (ns === PERMANENT) return _GO_ZERO_TIME;
  let ms = ns / _NS_PER_MS;
  let rest = ns % _NS_PER_MS;
  if (rest < 0n) {
    rest += _NS_PER_MS;
    ms -= 1n;
  }
  const iso = new Date(Number(ms)).toISOString(); // 2006-01-02T15:04:05.000Z
  const seconds = iso.slice(0, 19);
  const fraction = (iso.slice(20, 23) + rest.toString().padStart(6, "0")).replace(/0+$/, "");
  return fraction === "" ? `${seconds}Z` : `${seconds}.${fraction}Z`;
}

const _RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses Go's `time.Time` JSON text; the zero time gives PERMANENT. Throws on bad text. */
export function parseGoTime(text: string): bigint {
  const match = _RFC3339.exec(text);
  if (match === null) throw new Error(`v2store: bad time ${JSON.stringify(text)}`);
  const [, seconds, fraction, zone] = match;
  if (seconds!.startsWith("0001-01-01T00:00:00") && (fraction ?? "0").match(/^0+$/)) {
    return PERMANENT;
  }
  const offset = zone === "Z" ? "Z" : zone!;
  const ms = Date.parse(`${seconds}${offset}`);
  if (Number.isNaN(ms)) throw new Error(`v2store: bad time ${JSON.stringify(text)}`);
  const nanos = BigInt((fraction ?? "").padEnd(9, "0") || "0");
  return BigInt(ms) * _NS_PER_MS + nanos;
}
