/**
 * Property tests of the two free-page sets and of the freelist around them. The same random
 * operation sequences (allocate runs of 1..16 pages, free them into pending lists by txid,
 * release, roll back) drive the hashmap and the array; a reference model (a Set of free ids)
 * checks after every operation that no page is handed out twice, that the free set equals the
 * model, and that freed pages come back once released.
 */

import { Freelist, newFreeSpans } from "./freelist.ts";
import { HashmapFreeSpans } from "./freelist_hashmap.ts";
import { U32Table } from "./_u32_table.ts";
import { FREELIST_COUNT_OVERFLOW, Page } from "./page.ts";
import { assert, assertEquals, prng } from "./_test_util.ts";
import type { FreelistType } from "./free_spans.ts";

function runFreelistProperty(type: FreelistType, seed: number, steps: number): void {
  const rand = prng(seed);
  const freelist = new Freelist(type);
  const highWater = 2000;
  // Start with a random half of the pages free.
  const free = new Set<number>();
  for (let id = 2; id < highWater; id++) if (rand() < 0.5) free.add(id);
  freelist.readIds(Uint32Array.from([...free].sort((a, b) => a - b)));
  const inUse = new Set<number>();
  for (let id = 2; id < highWater; id++) if (!free.has(id)) inUse.add(id);
  const pending = new Map<number, number[]>();
  let txid = 10;
  let txAllocated: [number, number][] = [];
  for (let step = 0; step < steps; step++) {
    const r = rand();
    if (r < 0.45) {
      const n = 1 + Math.floor(rand() * 16);
      const start = freelist.allocate(txid, n);
      if (start !== 0) {
        for (let id = start; id < start + n; id++) {
          assert(free.has(id), `${type}: page ${id} handed out but not free`);
          assert(!inUse.has(id), `${type}: page ${id} handed out twice`);
          free.delete(id);
          inUse.add(id);
        }
        txAllocated.push([start, n]);
      } else {
        // No run of n must exist in the model either.
        const sorted = [...free].sort((a, b) => a - b);
        let run = 0;
        for (let i = 0; i < sorted.length; i++) {
          run = i > 0 && sorted[i] === sorted[i - 1]! + 1 ? run + 1 : 1;
          assert(run < n, `${type}: allocate(${n}) failed but a run exists`);
        }
      }
    } else if (r < 0.8 && inUse.size > 0) {
      // Free a random in-use page (as one page: spans may be freed page by page).
      const ids = [...inUse];
      const id = ids[Math.floor(rand() * ids.length)]!;
      freelist.free(txid, id, 0);
      inUse.delete(id);
      const list = pending.get(txid) ?? [];
      list.push(id);
      pending.set(txid, list);
    } else if (r < 0.93) {
      // Commit: the transaction's allocations stay; a new transaction starts.
      freelist.commitTx();
      txAllocated = [];
      txid++;
      if (rand() < 0.7) {
        const upTo = txid - 1 - Math.floor(rand() * 3);
        freelist.release(upTo);
        for (const [t, ids] of [...pending]) {
          if (t > upTo) continue;
          for (const id of ids) free.add(id);
          pending.delete(t);
        }
      }
    } else {
      // Roll back: this transaction's frees are forgotten, its allocations come back.
      freelist.rollback(txid, highWater);
      for (const id of pending.get(txid) ?? []) inUse.add(id);
      pending.delete(txid);
      for (const [start, n] of txAllocated) {
        for (let id = start; id < start + n; id++) {
          inUse.delete(id);
          free.add(id);
        }
      }
      txAllocated = [];
    }
    assertEquals(freelist.freeCount(), free.size, `${type}: free count at step ${step}`);
    if (step % 25 === 0) {
      assertEquals(
        [...freelist.spans.ids()],
        [...free].sort((a, b) => a - b),
        `${type}: free ids at step ${step}`,
      );
    }
    let pendingCount = 0;
    for (const ids of pending.values()) pendingCount += ids.length;
    assertEquals(freelist.pendingCount(), pendingCount);
  }
  // Everything freed comes back once released.
  freelist.commitTx();
  freelist.release(Infinity);
  for (const ids of pending.values()) for (const id of ids) free.add(id);
  assertEquals([...freelist.spans.ids()], [...free].sort((a, b) => a - b));
}

for (const type of ["map", "array"] as const) {
  Deno.test(`freelist ${type}: random allocate/free/release/rollback never hands out a page twice`, () => {
    for (let seed = 1; seed <= 6; seed++) runFreelistProperty(type, seed, 3000);
  });
}

Deno.test("hashmap releaseSpan() merges a released span with both neighbours", () => {
  const spans = new HashmapFreeSpans();
  spans.init([10, 11, 12, 20, 21]);
  spans.releaseSpan(13, 7);
  assertEquals([...spans.spanHistogram()], [[12, 1]]);
  assertEquals(spans.allocate(12), 10);
  assertEquals(spans.count(), 0);
});

Deno.test("hashmap allocate() takes an exact span first, else splits the smallest larger one", () => {
  const spans = new HashmapFreeSpans();
  spans.init([2, 3, 4, 5, 6, 10, 11, 12, 20, 21, 22, 23, 24, 25, 26, 27]);
  assertEquals(spans.allocate(3), 10);
  assertEquals(spans.allocate(2), 2);
  assertEquals([...spans.ids()], [4, 5, 6, 20, 21, 22, 23, 24, 25, 26, 27]);
  assertEquals(spans.allocate(9), 0);
  assertEquals(spans.allocate(8), 20);
  assertEquals(spans.allocate(1), 4);
});

Deno.test("both free sets give the same answers to the same sequence on a single span", () => {
  for (const type of ["map", "array"] as const) {
    const spans = newFreeSpans(type);
    spans.init([2, 3, 4, 5]);
    assertEquals(spans.allocate(4), 2, type);
    spans.releaseSorted([2, 3]);
    spans.releaseSorted([4, 5]);
    assertEquals(spans.allocate(4), 2, type);
  }
});

Deno.test("U32Table matches a Map under random inserts and deletes", () => {
  const rand = prng(99);
  const table = new U32Table();
  const model = new Map<number, number>();
  for (let i = 0; i < 50000; i++) {
    const key = 1 + Math.floor(rand() * 3000);
    if (rand() < 0.55) {
      table.set(key, i, i + 1);
      model.set(key, i);
    } else {
      const slot = table.find(key);
      assertEquals(slot >= 0, model.has(key));
      if (slot >= 0) {
        assertEquals(table.value(slot), model.get(key));
        table.deleteAt(slot);
        model.delete(key);
      }
    }
    assertEquals(table.size, model.size);
  }
  for (const [key, value] of model) assertEquals(table.value(table.find(key)), value);
});

Deno.test("freelist page round-trips more than 0xFFFF ids with bbolt's count convention", () => {
  for (const type of ["map", "array"] as const) {
    const freelist = new Freelist(type);
    const ids = new Uint32Array(70000);
    for (let i = 0; i < ids.length; i++) ids[i] = 2 + i * 2;
    freelist.readIds(ids);
    freelist.free(5, 3, 0);
    const pageSize = 4096;
    const pages = Math.floor(freelist.size() / pageSize) + 1;
    const page = new Page(new Uint8Array(pages * pageSize));
    freelist.write(page);
    assertEquals(page.count, FREELIST_COUNT_OVERFLOW);
    assertEquals(Number(page.dv.getBigUint64(16, true)), 70001);
    const loaded = new Freelist(type);
    loaded.read(page, 200000);
    assertEquals(loaded.freeCount(), 70001);
    const back = loaded.spans.ids();
    assertEquals(back[0], 2);
    assertEquals(back[1], 3);
    assertEquals(back[2], 4);
  }
});
