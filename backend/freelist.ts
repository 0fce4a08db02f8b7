/**
 * The freelist of a bolt file: a free set (hashmap or array, `free_spans.ts`) plus the pages
 * that transactions freed but that an open reader may still see ("pending", by txid), as
 * bbolt's `freelist.go`. A page freed by transaction T returns to the free set only once no
 * reader older than T remains (`release`).
 *
 * Freelist page layout (bbolt): page header with FREELIST flag and `count`; the sorted ids as
 * u64. When there are 0xFFFF ids or more, `count` is 0xFFFF and the first u64 holds the count.
 *
 * @module
 */

import { assert, BoltError } from "./errors.ts";
import { ArrayFreeSpans } from "./freelist_array.ts";
import { HashmapFreeSpans } from "./freelist_hashmap.ts";
import type { FreelistType, FreeSpans } from "./free_spans.ts";
import {
  FREELIST_COUNT_OVERFLOW,
  FREELIST_PAGE_FLAG,
  Page,
  PAGE_HEADER_SIZE,
  readU64,
  writeU64,
} from "./page.ts";

/** Creates the free set of the given type. */
export function newFreeSpans(type: FreelistType): FreeSpans {
  return type === "array" ? new ArrayFreeSpans() : new HashmapFreeSpans();
}

/** Free pages and pending pages of a bolt file. */
export class Freelist {
  readonly spans: FreeSpans;
  /** txid -> ids freed by that transaction, not yet releasable. */
  #pending = new Map<number, number[]>();
  #pendingCount = 0;
  /** Runs [start, n] allocated by the open write transaction, undone on rollback. */
  #txAllocations: number[] = [];

  constructor(type: FreelistType) {
    this.spans = newFreeSpans(type);
  }

  /** Number of free pages. */
  freeCount(): number {
    return this.spans.count();
  }

  /** Number of pending pages. */
  pendingCount(): number {
    return this.#pendingCount;
  }

  /** Free plus pending pages (what a persisted freelist page lists). */
  count(): number {
    return this.freeCount() + this.#pendingCount;
  }

  /** Bytes a freelist page needs for the current contents. */
  size(): number {
    const n = this.count();
    return PAGE_HEADER_SIZE + 8 * (n >= FREELIST_COUNT_OVERFLOW ? n + 1 : n);
  }

  /** Takes `n` contiguous free pages for transaction `txid`; 0 if there is no such run. */
  allocate(_txid: number, n: number): number {
    const start = this.spans.allocate(n);
    if (start !== 0) this.#txAllocations.push(start, n);
    return start;
  }

  /** Marks page `id` and its `overflow` following pages as freed by `txid`. */
  free(txid: number, id: number, overflow: number): void {
    assert(id > 1, () => `cannot free page ${id}`);
    let list = this.#pending.get(txid);
    if (list === undefined) {
      list = [];
      this.#pending.set(txid, list);
    }
    for (let i = 0; i <= overflow; i++) list.push(id + i);
    this.#pendingCount += overflow + 1;
  }

  /**
   * Moves the pages freed by transactions with txid <= `txid` into the free set, calling
   * `released` with each such page id (no transaction can see those pages any more).
   */
  release(txid: number, released?: (id: number) => void): void {
    for (const [freedBy, ids] of this.#pending) {
      if (freedBy > txid) continue;
      ids.sort((a, b) => a - b);
      if (released !== undefined) { for (const id of ids) released(id); }
      this.spans.releaseSorted(ids);
      this.#pendingCount -= ids.length;
      this.#pending.delete(freedBy);
    }
  }

  /** Forgets the allocations of a committed transaction (they can no longer be undone). */
  commitTx(): void {
    this.#txAllocations.length = 0;
  }

  /**
   * Undoes the freelist effects of write transaction `txid`: its pending frees are dropped
   * (those pages stay in use) and the runs it allocated below the old high-water mark
   * `oldHighWater` go back to the free set (runs above it vanish with the unwritten meta).
   */
  rollback(txid: number, oldHighWater: number): void {
    const ids = this.#pending.get(txid);
    if (ids !== undefined) {
      this.#pendingCount -= ids.length;
      this.#pending.delete(txid);
    }
    const runs = this.#txAllocations;
    for (let i = 0; i < runs.length; i += 2) {
      const start = runs[i]!;
      if (start < oldHighWater) this.spans.releaseSpan(start, runs[i + 1]!);
    }
    runs.length = 0;
  }

  /** All pending ids, by txid (for check()). */
  pendingIds(): number[] {
    const all: number[] = [];
    for (const ids of this.#pending.values()) all.push(...ids);
    return all;
  }

  /** Loads the free set from a freelist page (all listed ids become free). */
  read(page: Page, highWater: number): void {
    if ((page.flags & FREELIST_PAGE_FLAG) === 0) {
      throw new BoltError(`page ${page.id} is not a freelist page (type ${page.type()})`);
    }
    let count = page.count;
    let offset = PAGE_HEADER_SIZE;
    if (count === FREELIST_COUNT_OVERFLOW) {
      count = readU64(page.dv, offset);
      offset += 8;
    }
    if (offset + count * 8 > page.buf.length) {
      throw new BoltError(`freelist page ${page.id} lists ${count} ids past its end`);
    }
    const ids = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const id = readU64(page.dv, offset + i * 8);
      if (id < 2 || id >= highWater) {
        throw new BoltError(
          `freelist page ${page.id} lists page ${id} outside 2..${highWater - 1}`,
        );
      }
      ids[i] = id;
    }
    // bbolt writes them sorted; sort anyway so a foreign writer cannot break our invariants.
    ids.sort();
    for (let i = 1; i < count; i++) {
      if (ids[i] === ids[i - 1]) throw new BoltError(`freelist lists page ${ids[i]} twice`);
    }
    this.spans.init(ids);
    this.#pending.clear();
    this.#pendingCount = 0;
  }

  /** Loads the free set from ids found by walking the tree (freelist not persisted). */
  readIds(ids: ArrayLike<number>): void {
    this.spans.init(ids);
    this.#pending.clear();
    this.#pendingCount = 0;
  }

  /** Writes free and pending ids (sorted) into a freelist page. */
  write(page: Page): void {
    const free = this.spans.ids();
    const pending = Float64Array.from(this.pendingIds()).sort();
    const n = free.length + pending.length;
    page.flags = FREELIST_PAGE_FLAG;
    let offset = PAGE_HEADER_SIZE;
    if (n >= FREELIST_COUNT_OVERFLOW) {
      page.count = FREELIST_COUNT_OVERFLOW;
      writeU64(page.dv, offset, n);
      offset += 8;
    } else {
      page.count = n;
    }
    assert(offset + n * 8 <= page.buf.length, "freelist page too small");
    // Merge the two sorted lists.
    let a = 0;
    let b = 0;
    for (let i = 0; i < n; i++) {
      const id = b >= pending.length || (a < free.length && free[a]! < pending[b]!)
        ? free[a++]!
        : pending[b++]!;
      writeU64(page.dv, offset + i * 8, id);
    }
  }
}
