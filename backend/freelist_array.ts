/**
 * bbolt's array freelist (`bbolt/freelist.go`): the free page ids in one sorted array, and a
 * linear scan for `n` contiguous ids. Allocation is O(free pages); a run at the head of the
 * array is removed by moving the head offset (as bbolt reslices), elsewhere by a copy.
 *
 * @module
 */

import { assert } from "./errors.ts";
import { type FreeSpans, MAX_FREE_PGID } from "./free_spans.ts";

/** Sorted array of free page ids. */
export class ArrayFreeSpans implements FreeSpans {
  readonly type = "array" as const;
  private _buf = new Uint32Array(1024);
  private _head = 0;
  private _tail = 0;

  count(): number {
    return this._tail - this._head;
  }

  allocate(n: number): number {
    assert(n >= 1, "allocate(n) needs n >= 1");
    const buf = this._buf;
    let initial = 0;
    let previous = 0;
    for (let i = this._head; i < this._tail; i++) {
      const id = buf[i]!;
      if (previous === 0 || id - previous !== 1) initial = id;
      if (id - initial + 1 === n) {
        const first = i - n + 1;
        if (first === this._head) {
          this._head += n;
        } else {
          buf.copyWithin(first, i + 1, this._tail);
          this._tail -= n;
        }
        if (this._head === this._tail) this._head = this._tail = 0;
        return initial;
      }
      previous = id;
    }
    return 0;
  }

  releaseSpan(start: number, n: number): void {
    const ids = new Uint32Array(n);
    for (let i = 0; i < n; i++) ids[i] = start + i;
    this.releaseSorted(ids);
  }

  releaseSorted(ids: ArrayLike<number>): void {
    const m = ids.length;
    if (m === 0) return;
    const count = this.count();
    // Compact to the front and make room, then merge from the back (no temporary array).
    if (this._head + count + m > this._buf.length || this._head > 0) {
      const size = Math.max(this._buf.length, count + m);
      const next = size > this._buf.length
        ? new Uint32Array(Math.max(size, this._buf.length * 2))
        : this._buf;
      if (next === this._buf) next.copyWithin(0, this._head, this._tail);
      else next.set(this._buf.subarray(this._head, this._tail), 0);
      this._buf = next;
      this._head = 0;
      this._tail = count;
    }
    const buf = this._buf;
    let a = this._tail - 1;
    let b = m - 1;
    let out = this._tail + m - 1;
    while (b >= 0) {
      const idB = ids[b]!;
      assert(idB > 1 && idB <= MAX_FREE_PGID, () => `free page id ${idB} out of range`);
      if (a >= 0 && buf[a]! > idB) {
        buf[out--] = buf[a--]!;
      } else {
        assert(a < 0 || buf[a] !== idB, () => `page ${idB} freed twice`);
        buf[out--] = idB;
        b--;
      }
    }
    this._tail += m;
  }

  init(ids: ArrayLike<number>): void {
    this._buf = new Uint32Array(Math.max(1024, ids.length));
    this._buf.set(ids);
    this._head = 0;
    this._tail = ids.length;
    for (let i = 1; i < ids.length; i++) {
      assert(ids[i - 1]! < ids[i]!, "freelist ids must be sorted and distinct");
    }
  }

  ids(): Uint32Array {
    return this._buf.slice(this._head, this._tail);
  }

  spanHistogram(): Map<number, number> {
    const histogram = new Map<number, number>();
    let run = 0;
    for (let i = this._head; i < this._tail; i++) {
      if (run > 0 && this._buf[i]! === this._buf[i - 1]! + 1) {
        run++;
        continue;
      }
      if (run > 0) histogram.set(run, (histogram.get(run) ?? 0) + 1);
      run = 1;
    }
    if (run > 0) histogram.set(run, (histogram.get(run) ?? 0) + 1);
    return histogram;
  }
}
