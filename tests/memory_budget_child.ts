/**
 * Child process of `memory_budget_test.ts` (not a test): opens the store over the bolt db at
 * argv[0] with a page-cache budget of argv[1] bytes, sets the budget to argv[2] bytes, then reads
 * every key `k<i>` (i < argv[3]) argv[4] times over, checks each value, and prints one JSON line:
 * the RSS after opening (see below), the largest RSS seen while reading, and the cache's own
 * count.
 * RSS is sampled after a full GC (the process runs with `--expose-gc`) and glibc's
 * `malloc_trim(0)`, less the free part of V8's committed heap, so it is the memory kept, not
 * garbage waiting for the collector or free space an allocator holds.
 */
import { openBackend } from "../backend/mod.ts";
import { KvStore } from "../mvcc/mod.ts";
import { expectedValue, keyOf } from "./_memory_budget_data.ts";

const [pathArg, openBudgetText, budgetText, keysText, passesText] = Deno.args;
if (pathArg === undefined) {
  throw new Error("usage: memory_budget_child.ts DB OPEN_BUDGET BUDGET KEYS PASSES");
}
const path: string = pathArg;
const openBudgetBytes = Number(openBudgetText);
const budgetBytes = Number(budgetText);
const keyCount = Number(keysText);
const passes = Number(passesText);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

// glibc keeps freed memory in its arenas, more of it when a loaded machine had more threads
// touch more arenas; returning it before each sample (as an idle member does, embed/) makes the
// sample the memory kept rather than the allocator's slack. Without glibc, samples are taken as is.
const libc = (() => {
  try {
    return Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } });
  } catch {
    return undefined;
  }
})();

function rssBytes(): number {
  gc!();
  libc?.symbols.malloc_trim(0n);
  const status = Deno.readTextFileSync("/proc/self/status");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
  // V8 keeps the heap pages it committed after a collection (its young generation grows with the
  // allocation rate, which a loaded machine changes); their free part is not memory kept.
  const { heapTotal, heapUsed } = Deno.memoryUsage();
  return rss - (heapTotal - heapUsed);
}

// The baseline is taken after opening (with the small budget in both runs), a warm-up of an eighth
// of the same reads with that small budget, and emptying the cache: the runtime, the key index,
// and the young generation and allocator space that reading settles at (the index rebuild no longer
// reads the values, so opening alone does not reach that level). The measured reads then run with
// `budgetBytes`.
function readAndCheck(i: number): void {
  const { kvs } = store.range(keyOf(i), undefined);
  const value = kvs[0]?.value;
  const expected = expectedValue(i);
  if (value === undefined || value.length !== expected.length) {
    throw new Error(`key ${i}: got ${value?.length} bytes, want ${expected.length}`);
  }
  for (let b = 0; b < value.length; b += 61) {
    if (value[b] !== expected[b]) throw new Error(`key ${i}: byte ${b} differs`);
  }
}

const backend = openBackend({ path, pageCacheBytes: openBudgetBytes });
const store = new KvStore(backend);
for (let i = 0; i < keyCount / 8; i++) readAndCheck(i);
backend.db().dropCache();
const openedRss = rssBytes();
backend.db().setPageCacheBudget(budgetBytes);
let maxRss = openedRss;
for (let pass = 0; pass < passes; pass++) {
  for (let i = 0; i < keyCount; i++) {
    readAndCheck(i);
    if (i % 4096 === 0) maxRss = Math.max(maxRss, rssBytes());
  }
}
maxRss = Math.max(maxRss, rssBytes());
const cacheBytes = backend.db().pageCacheBytes;
console.log(JSON.stringify({ openedRss, maxRss, cacheBytes }));
store.close();
backend.close();
libc?.close();
