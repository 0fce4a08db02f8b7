/**
 * The range watchers of a group, found by key (etcd keeps them in an interval tree,
 * `pkg/adt/interval_tree.go`, inside `watcherGroup.ranges`).
 *
 * Ranges are half-open `[start, end)` over latin1 key strings (byte order); an end of "" means
 * "every key from start on". Watchers of the same range share one entry, so a lookup costs one
 * test per distinct range at most, and, once the set of ranges has settled, a centered interval
 * tree answers in O(log n + matches).
 *
 * The tree is static and rebuilt lazily: a change of the set of distinct ranges marks it stale;
 * lookups then scan the ranges linearly, and after {@link _STALE_LOOKUPS_MAX} of them the tree is
 * rebuilt (O(n log n), about the cost of that many scans), so churn of watchers between events
 * never costs a rebuild per event.
 *
 * @module
 */

/** Lookups answered by a linear scan before a stale tree is rebuilt. */
const _STALE_LOOKUPS_MAX = 16;

/** One distinct range and the values (watchers) on it. */
interface _Range<T> {
  start: string;
  end: string;
  values: Set<T>;
}

/** A node of the centered tree: the ranges containing `center`, and the ranges either side. */
interface _Node<T> {
  center: string;
  /** Ranges containing the center, by start ascending. */
  byStart: _Range<T>[];
  /** The same ranges, by end descending ("" first: it never ends). */
  byEnd: _Range<T>[];
  left: _Node<T> | undefined;
  right: _Node<T> | undefined;
}

/** True when the range ending at `end` still covers `key` (`key < end`). */
function _endsAfter(end: string, key: string): boolean {
  return end === "" || key < end;
}

/** Compares ends for a descending sort ("" is the largest). */
function _byEndDescending<T>(a: _Range<T>, b: _Range<T>): number {
  if (a.end === b.end) return 0;
  if (a.end === "") return -1;
  if (b.end === "") return 1;
  return a.end < b.end ? 1 : -1;
}

function _build<T>(ranges: _Range<T>[]): _Node<T> | undefined {
  if (ranges.length === 0) return undefined;
  const starts = ranges.map((r) => r.start).sort();
  const center = starts[starts.length >> 1]!;
  const here: _Range<T>[] = [];
  const left: _Range<T>[] = [];
  const right: _Range<T>[] = [];
  for (const r of ranges) {
    if (r.start > center) right.push(r);
    else if (_endsAfter(r.end, center)) here.push(r);
    else left.push(r);
  }
  // The median start's range is not empty, so it contains the center: each level shrinks.
  if (here.length === 0) throw new Error("interval index: no range at the center");
  const byStart = [...here].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const byEnd = [...here].sort(_byEndDescending);
  return { center, byStart, byEnd, left: _build(left), right: _build(right) };
}

/** Values attached to half-open key ranges, found by the key they cover. */
export class IntervalIndex<T> {
  /** start -> end -> the range. */
  readonly #ranges = new Map<string, Map<string, _Range<T>>>();
  #count = 0;
  #tree: _Node<T> | undefined;
  #stale = false;
  #staleLookups = 0;

  /** Number of distinct ranges. */
  get rangeCount(): number {
    return this.#count;
  }

  /** Attaches `value` to `[start, end)`; the range must not be empty. */
  add(start: string, end: string, value: T): void {
    if (end !== "" && start >= end) throw new RangeError("interval index: empty range");
    let byEnd = this.#ranges.get(start);
    if (byEnd === undefined) {
      byEnd = new Map();
      this.#ranges.set(start, byEnd);
    }
    let range = byEnd.get(end);
    if (range === undefined) {
      range = { start, end, values: new Set() };
      byEnd.set(end, range);
      this.#count++;
      this.#markStale();
    }
    range.values.add(value);
  }

  /** Detaches `value` from `[start, end)`; false when it was not there. */
  delete(start: string, end: string, value: T): boolean {
    const byEnd = this.#ranges.get(start);
    const range = byEnd?.get(end);
    if (byEnd === undefined || range === undefined || !range.values.delete(value)) return false;
    if (range.values.size === 0) {
      byEnd.delete(end);
      if (byEnd.size === 0) this.#ranges.delete(start);
      this.#count--;
      this.#markStale();
    }
    return true;
  }

  /** Calls `visit` with the values of every range covering `key` (stops early on `true`). */
  forEachCovering(key: string, visit: (values: Set<T>) => boolean | void): void {
    if (this.#count === 0) return;
    if (this.#stale && ++this.#staleLookups > _STALE_LOOKUPS_MAX) {
      this.#tree = _build(this.#all());
      this.#stale = false;
    }
    if (this.#stale) {
      for (const byEnd of this.#ranges.values()) {
        for (const r of byEnd.values()) {
          if (r.start <= key && _endsAfter(r.end, key) && visit(r.values) === true) return;
        }
      }
      return;
    }
    let node = this.#tree;
    while (node !== undefined) {
      if (key < node.center) {
        // Every range here ends after the center, hence after key: it covers key iff it
        // starts at or before it.
        for (const r of node.byStart) {
          if (r.start > key) break;
          if (visit(r.values) === true) return;
        }
        node = node.left;
      } else {
        // Every range here starts at or before the center, hence before key.
        for (const r of node.byEnd) {
          if (!_endsAfter(r.end, key)) break;
          if (visit(r.values) === true) return;
        }
        node = node.right;
      }
    }
  }

  #all(): _Range<T>[] {
    const out: _Range<T>[] = [];
    for (const byEnd of this.#ranges.values()) for (const r of byEnd.values()) out.push(r);
    return out;
  }

  #markStale(): void {
    this.#stale = true;
    this.#staleLookups = 0;
    this.#tree = undefined;
  }
}
