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
  #buf = new Uint32Array(1024);
  #head = 0;
  #tail = 0;

  count(): number {
    return this.#tail - this.#head;
  }

  allocate(n: number): number {
    assert(n >= 1, "allocate(n) needs n >= 1");
    const buf = this.#buf;
    let initial = 0;
    let previous = 0;
    for (let i = this.#head; i < this.#tail; i++) {
      const id = buf[i]!;
      if (previous === 0 || id - previous !== 1) initial = id;
      if (id - initial + 1 === n) {
        const first = i - n + 1;
        if (first === this.#head) {
          this.#head += n;
        } else {
          buf.copyWithin(first, i + 1, this.#tail);
          this.#tail -= n;
        }
        if (this.#head === this.#tail) this.#head = this.#tail = 0;
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
    if (this.#head + count + m > this.#buf.length || this.#head > 0) {
      const size = Math.max(this.#buf.length, count + m);
      const next = size > this.#buf.length
        ? new Uint32Array(Math.max(size, this.#buf.length * 2))
        : this.#buf;
      if (next === this.#buf) next.copyWithin(0, this.#head, this.#tail);
      else next.set(this.#buf.subarray(this.#head, this.#tail), 0);
      this.#buf = next;
      this.#head = 0;
      this.#tail = count;
    }
    const buf = this.#buf;
    let a = this.#tail - 1;
    let b = m - 1;
    let out = this.#tail + m - 1;
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
    this.#tail += m;
  }

  init(ids: ArrayLike<number>): void {
    this.#buf = new Uint32Array(Math.max(1024, ids.length));
    this.#buf.set(ids);
    this.#head = 0;
    this.#tail = ids.length;
    for (let i = 1; i < ids.length; i++) {
      assert(ids[i - 1]! < ids[i]!, "freelist ids must be sorted and distinct");
    }
  }

  ids(): Uint32Array {
    return this.#buf.slice(this.#head, this.#tail);
  }

  spanHistogram(): Map<number, number> {
    const histogram = new Map<number, number>();
    let run = 0;
    for (let i = this.#head; i < this.#tail; i++) {
      if (run > 0 && this.#buf[i]! === this.#buf[i - 1]! + 1) {
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
