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
  #starts = new U32Table();
  #ends = new U32Table(16, 1);
  #buckets = new Map<number, _Bucket>();
  #lengths: number[] = [];
  #count = 0;

  count(): number {
    return this.#count;
  }

  allocate(n: number): number {
    assert(n >= 1, "allocate(n) needs n >= 1");
    const exact = this.#buckets.get(n);
    if (exact !== undefined && exact.length > 0) {
      const start = exact.starts[exact.length - 1]!;
      this.#removeSpan(start, n);
      return start;
    }
    const lengths = this.#lengths;
    let lo = 0;
    let hi = lengths.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lengths[mid]! <= n) lo = mid + 1;
      else hi = mid;
    }
    if (lo === lengths.length) return 0;
    const size = lengths[lo]!;
    const bucket = this.#buckets.get(size)!;
    const start = bucket.starts[bucket.length - 1]!;
    this.#removeSpan(start, size);
    this.#addSpan(start + n, size - n);
    return start;
  }

  releaseSpan(start: number, n: number): void {
    assert(
      start > 1 && start + n - 1 <= MAX_FREE_PGID,
      () => `free span ${start}+${n} out of range`,
    );
    let first = start;
    let size = n;
    const left = this.#ends.find(start);
    if (left >= 0) {
      const leftStart = this.#ends.value(left);
      assert(leftStart < start, "left neighbour must end at the released run");
      const leftSize = start - leftStart;
      this.#removeSpan(leftStart, leftSize);
      first = leftStart;
      size += leftSize;
    }
    const right = this.#starts.find(start + n);
    if (right >= 0) {
      const rightSize = this.#starts.value(right);
      this.#removeSpan(start + n, rightSize);
      size += rightSize;
    }
    this.#addSpan(first, size);
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
    this.#starts = new U32Table(runs);
    this.#ends = new U32Table(runs, 1);
    this.#buckets = new Map();
    this.#lengths = [];
    this.#count = 0;
    let i = 0;
    while (i < ids.length) {
      const start = ids[i]!;
      let j = i + 1;
      while (j < ids.length && ids[j]! === start + (j - i)) j++;
      assert(start > 1 && start + (j - i) - 1 <= MAX_FREE_PGID, "free id out of range");
      this.#addSpan(start, j - i);
      i = j;
    }
  }

  ids(): Uint32Array {
    const starts = new Uint32Array(this.#starts.size);
    let k = 0;
    this.#starts.forEach((key) => (starts[k++] = key));
    starts.sort();
    const out = new Uint32Array(this.#count);
    let o = 0;
    for (let s = 0; s < starts.length; s++) {
      const start = starts[s]!;
      const size = this.#starts.value(this.#starts.find(start));
      for (let p = 0; p < size; p++) out[o++] = start + p;
    }
    assert(o === this.#count, "hashmap free count mismatch");
    return out;
  }

  spanHistogram(): Map<number, number> {
    const histogram = new Map<number, number>();
    for (const size of this.#lengths) histogram.set(size, this.#buckets.get(size)!.length);
    return histogram;
  }

  #addSpan(start: number, size: number): void {
    let bucket = this.#buckets.get(size);
    if (bucket === undefined) {
      bucket = new _Bucket();
      this.#buckets.set(size, bucket);
    }
    if (bucket.length === 0) this.#insertLength(size);
    if (bucket.length === bucket.starts.length) {
      const grown = new Uint32Array(bucket.starts.length * 2);
      grown.set(bucket.starts);
      bucket.starts = grown;
    }
    this.#starts.set(start, size, bucket.length);
    bucket.starts[bucket.length++] = start;
    this.#ends.set(start + size, start, 0);
    this.#count += size;
  }

  #removeSpan(start: number, size: number): void {
    const slot = this.#starts.find(start);
    assert(slot >= 0 && this.#starts.value(slot) === size, () => `no free span ${start}+${size}`);
    const position = this.#starts.value2(slot);
    this.#starts.deleteAt(slot);
    const bucket = this.#buckets.get(size)!;
    const last = bucket.starts[--bucket.length]!;
    if (last !== start) {
      // Move the last start of the bucket into the vacated position.
      bucket.starts[position] = last;
      this.#starts.setValue2(this.#starts.find(last), position);
    }
    if (bucket.length === 0) this.#removeLength(size);
    const endSlot = this.#ends.find(start + size);
    assert(endSlot >= 0, "span end missing");
    this.#ends.deleteAt(endSlot);
    this.#count -= size;
  }

  #insertLength(size: number): void {
    const lengths = this.#lengths;
    let i = lengths.length;
    while (i > 0 && lengths[i - 1]! > size) i--;
    lengths.splice(i, 0, size);
  }

  #removeLength(size: number): void {
    const i = this.#lengths.indexOf(size);
    assert(i >= 0, "span length missing");
    this.#lengths.splice(i, 1);
  }
}
