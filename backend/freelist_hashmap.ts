/**
 * The segregated hashmap free set (the idea of bbolt's `freelist_hmap.go`, built for speed):
 *
 * - `_starts`: span start -> (span length, position of the start in its length's bucket);
 * - `_ends`: span end (exclusive) -> span start, to find the left neighbour of a released run;
 * - `_buckets`: span length -> dense array of the starts of all spans of that length;
 * - `_lengths`: the sorted lengths that have at least one span.
 *
 * allocate(n) pops a span of exactly n pages in O(1); otherwise it takes the smallest longer
 * span (binary search over the few distinct lengths) and returns the rest to the set.
 * Releasing a run merges it with the free spans that touch it on both sides in O(1).
 * Both tables are open-addressing u32 tables in typed arrays (`_u32_table.ts`).
 *
 * @module
 */

import { assert } from "./errors.ts";
import { type FreeSpans, MAX_FREE_PGID } from "./free_spans.ts";
import { U32Table } from "./_u32_table.ts";

class _Bucket {
  starts = new Uint32Array(16);
  length = 0;
}

/** Free set as spans in hash tables. */
export class HashmapFreeSpans implements FreeSpans {
  readonly type = "map" as const;
  private _starts = new U32Table();
  private _ends = new U32Table(16, 1);
  private _buckets = new Map<number, _Bucket>();
  private _lengths: number[] = [];
  private _count = 0;

  count(): number {
    return this._count;
  }

  allocate(n: number): number {
    assert(n >= 1, "allocate(n) needs n >= 1");
    const exact = this._buckets.get(n);
    if (exact !== undefined && exact.length > 0) {
      const start = exact.starts[exact.length - 1]!;
      this._removeSpan(start, n);
      return start;
    }
    const lengths = this._lengths;
    let lo = 0;
    let hi = lengths.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lengths[mid]! <= n) lo = mid + 1;
      else hi = mid;
    }
    if (lo === lengths.length) return 0;
    const size = lengths[lo]!;
    const bucket = this._buckets.get(size)!;
    const start = bucket.starts[bucket.length - 1]!;
    this._removeSpan(start, size);
    this._addSpan(start + n, size - n);
    return start;
  }

  releaseSpan(start: number, n: number): void {
    assert(
      start > 1 && start + n - 1 <= MAX_FREE_PGID,
      () => `free span ${start}+${n} out of range`,
    );
    let first = start;
    let size = n;
    const left = this._ends.find(start);
    if (left >= 0) {
      const leftStart = this._ends.value(left);
      assert(leftStart < start, "left neighbour must end at the released run");
      const leftSize = start - leftStart;
      this._removeSpan(leftStart, leftSize);
      first = leftStart;
      size += leftSize;
    }
    const right = this._starts.find(start + n);
    if (right >= 0) {
      const rightSize = this._starts.value(right);
      this._removeSpan(start + n, rightSize);
      size += rightSize;
    }
    this._addSpan(first, size);
  }

  releaseSorted(ids: ArrayLike<number>): void {
    let i = 0;
    while (i < ids.length) {
      const start = ids[i]!;
      let j = i + 1;
      while (j < ids.length && ids[j]! === start + (j - i)) j++;
      this.releaseSpan(start, j - i);
      i = j;
    }
  }

  init(ids: ArrayLike<number>): void {
    // Size the tables once for the number of runs, so a rebuild of 10^7 ids never rehashes.
    let runs = 0;
    for (let i = 0; i < ids.length; i++) {
      if (i === 0 || ids[i]! !== ids[i - 1]! + 1) runs++;
      else assert(ids[i - 1]! < ids[i]!, "freelist ids must be sorted");
    }
    this._starts = new U32Table(runs);
    this._ends = new U32Table(runs, 1);
    this._buckets = new Map();
    this._lengths = [];
    this._count = 0;
    let i = 0;
    while (i < ids.length) {
      const start = ids[i]!;
      let j = i + 1;
      while (j < ids.length && ids[j]! === start + (j - i)) j++;
      assert(start > 1 && start + (j - i) - 1 <= MAX_FREE_PGID, "free id out of range");
      this._addSpan(start, j - i);
      i = j;
    }
  }

  ids(): Uint32Array {
    const starts = new Uint32Array(this._starts.size);
    let k = 0;
    this._starts.forEach((key) => (starts[k++] = key));
    starts.sort();
    const out = new Uint32Array(this._count);
    let o = 0;
    for (let s = 0; s < starts.length; s++) {
      const start = starts[s]!;
      const size = this._starts.value(this._starts.find(start));
      for (let p = 0; p < size; p++) out[o++] = start + p;
    }
    assert(o === this._count, "hashmap free count mismatch");
    return out;
  }

  spanHistogram(): Map<number, number> {
    const histogram = new Map<number, number>();
    for (const size of this._lengths) histogram.set(size, this._buckets.get(size)!.length);
    return histogram;
  }

  private _addSpan(start: number, size: number): void {
    let bucket = this._buckets.get(size);
    if (bucket === undefined) {
      bucket = new _Bucket();
      this._buckets.set(size, bucket);
    }
    if (bucket.length === 0) this._insertLength(size);
    if (bucket.length === bucket.starts.length) {
      const grown = new Uint32Array(bucket.starts.length * 2);
      grown.set(bucket.starts);
      bucket.starts = grown;
    }
    this._starts.set(start, size, bucket.length);
    bucket.starts[bucket.length++] = start;
    this._ends.set(start + size, start, 0);
    this._count += size;
  }

  private _removeSpan(start: number, size: number): void {
    const slot = this._starts.find(start);
    assert(slot >= 0 && this._starts.value(slot) === size, () => `no free span ${start}+${size}`);
    const position = this._starts.value2(slot);
    this._starts.deleteAt(slot);
    const bucket = this._buckets.get(size)!;
    const last = bucket.starts[--bucket.length]!;
    if (last !== start) {
      // Move the last start of the bucket into the vacated position.
      bucket.starts[position] = last;
      this._starts.setValue2(this._starts.find(last), position);
    }
    if (bucket.length === 0) this._removeLength(size);
    const endSlot = this._ends.find(start + size);
    assert(endSlot >= 0, "span end missing");
    this._ends.deleteAt(endSlot);
    this._count -= size;
  }

  private _insertLength(size: number): void {
    const lengths = this._lengths;
    let i = lengths.length;
    while (i > 0 && lengths[i - 1]! > size) i--;
    lengths.splice(i, 0, size);
  }

  private _removeLength(size: number): void {
    const i = this._lengths.indexOf(size);
    assert(i >= 0, "span length missing");
    this._lengths.splice(i, 1);
  }
}
