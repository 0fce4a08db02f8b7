/**
 * The merged key permissions of one user (etcd 3.4's `auth/range_perm_cache.go` over its
 * `pkg/adt` interval tree), and the two questions a permission check asks of them:
 *
 * - a single key: does any permitted interval hold it (the tree's `Intersects` with the point
 *   `[key, key+"\0")`);
 * - a range `[key, end)`: do the permitted intervals that overlap it, taken in order of their
 *   start, form one contiguous run that covers it (the tree's `Contains`). Two grants `[a, c)`
 *   and `[c, e)` cover `[b, d)` together; a gap between them does not.
 *
 * Bounds compare as etcd's `BytesAffineComparable`: an empty byte string is greater than every
 * other, so an empty end (and a range end of `"\0"`, "from this key on") means "no upper bound".
 * A permission with an empty range end is the single key `[key, key+"\0")`.
 *
 * @module
 */

import { compareBytes } from "../bytes/mod.ts";
import { authpb } from "../etcdserverpb/mod.ts";

/** A half-open interval `[begin, end)`; an empty `end` is unbounded. */
export interface KeyInterval {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
}

/** etcd's affine byte order: empty sorts after everything. */
export function compareAffine(a: Uint8Array, b: Uint8Array): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return compareBytes(a, b);
}

/** `key + "\0"`: the end of the single-key interval. */
function _pointEnd(key: Uint8Array): Uint8Array {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return end;
}

/** Whether two intervals overlap (adt's `Interval.Compare` returning 0). */
function _overlaps(a: KeyInterval, b: KeyInterval): boolean {
  return compareAffine(a.begin, b.end) < 0 && compareAffine(b.begin, a.end) < 0;
}

/** The intervals one kind of permission grants, sorted by start. */
export class IntervalSet {
  readonly #intervals: KeyInterval[] = [];

  /** Adds a permitted interval. */
  insert(interval: KeyInterval): void {
    const at = this.#intervals.findIndex((i) => compareAffine(i.begin, interval.begin) > 0);
    if (at === -1) this.#intervals.push(interval);
    else this.#intervals.splice(at, 0, interval);
  }

  /** How many intervals the set holds. */
  get size(): number {
    return this.#intervals.length;
  }

  /**
   * Whether an interval holds the single `key`: the overlap with `[key, key+"\0")` asked
   * without building that end (a begin below `key+"\0"` is a begin at or below `key`).
   */
  holds(key: Uint8Array): boolean {
    for (const i of this.#intervals) {
      if (compareAffine(i.begin, key) <= 0 && compareAffine(key, i.end) < 0) return true;
    }
    return false;
  }

  /** Whether any interval overlaps `interval`. */
  intersects(interval: KeyInterval): boolean {
    return this.#intervals.some((i) => _overlaps(i, interval));
  }

  /** Whether the intervals overlapping `interval` cover it without a gap. */
  contains(interval: KeyInterval): boolean {
    let minBegin: Uint8Array | undefined;
    let maxEnd: Uint8Array | undefined;
    for (const i of this.#intervals) {
      if (!_overlaps(i, interval)) continue;
      if (minBegin === undefined || maxEnd === undefined) {
        minBegin = i.begin;
        maxEnd = i.end;
        continue;
      }
      if (compareAffine(maxEnd, i.begin) < 0) return false;
      if (compareAffine(i.end, maxEnd) > 0) maxEnd = i.end;
    }
    if (minBegin === undefined || maxEnd === undefined) return false;
    return compareAffine(maxEnd, interval.end) >= 0 && compareAffine(minBegin, interval.begin) <= 0;
  }
}

/** The interval a stored permission grants (etcd's getMergedPerms). */
export function permissionInterval(perm: authpb.Permission.$Properties): KeyInterval {
  const key = perm.key ?? new Uint8Array(0);
  const rangeEnd = perm.rangeEnd ?? new Uint8Array(0);
  if (rangeEnd.length === 0) return { begin: key, end: _pointEnd(key) };
  // "\0" as range end means "every key from `key` on".
  const fromKey = rangeEnd.length === 1 && rangeEnd[0] === 0;
  return { begin: key, end: fromKey ? new Uint8Array(0) : rangeEnd };
}

/** What one user may read and write: the union over the roles granted to it. */
export class UnifiedPermissions {
  readonly read: IntervalSet = new IntervalSet();
  readonly write: IntervalSet = new IntervalSet();

  /** Adds every key permission of a role. */
  addRole(role: authpb.Role.$Properties): void {
    for (const perm of role.keyPermission ?? []) {
      const interval = permissionInterval(perm);
      const type = perm.permType ?? authpb.Permission.Type.READ;
      if (type === authpb.Permission.Type.READ || type === authpb.Permission.Type.READWRITE) {
        this.read.insert(interval);
      }
      if (type === authpb.Permission.Type.WRITE || type === authpb.Permission.Type.READWRITE) {
        this.write.insert(interval);
      }
    }
  }

  /**
   * Whether `[key, rangeEnd)` (or the single `key` when `rangeEnd` is empty) is permitted for
   * reading (`write` false) or writing (`write` true).
   */
  permits(key: Uint8Array, rangeEnd: Uint8Array, write: boolean): boolean {
    const set = write ? this.write : this.read;
    if (rangeEnd.length === 0) return set.holds(key);
    const fromKey = rangeEnd.length === 1 && rangeEnd[0] === 0;
    return set.contains({ begin: key, end: fromKey ? new Uint8Array(0) : rangeEnd });
  }
}
