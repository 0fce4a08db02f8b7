/**
 * Micro-benchmarks of the store's hot paths over the bolt backend (temp file) and the in-memory
 * test backend: put, single-key range, a 3-op txn, and a put fanned out to 100 watchers.
 * Run: `deno bench -A mvcc/kvstore_bench.ts`. Figures are per operation; compare runs, not
 * machines.
 */
import { openBackend } from "../backend/mod.ts";
import { MemBackend } from "./_mem_backend_test_util.ts";
import { WatchableStore } from "./watchable_store.ts";

const dir = Deno.makeTempDirSync({ prefix: "mvcc_bench_" });
const bolt = new WatchableStore(openBackend({ path: `${dir}/db` }));
const mem = new WatchableStore(new MemBackend());
const value = new Uint8Array(256).fill(0x61);
const keys = Array.from({ length: 10_000 }, (_, i) => new TextEncoder().encode(`key-${i}`));
let n = 0;

for (const [name, store] of [["bolt", bolt], ["mem", mem]] as const) {
  for (const key of keys) store.put(key, value);
  Deno.bench(`put 256 B (${name})`, { group: "put" }, () => {
    store.put(keys[n++ % keys.length]!, value);
  });
  Deno.bench(`range one key (${name})`, { group: "range" }, () => {
    store.range(keys[n++ % keys.length]!, undefined);
  });
  Deno.bench(`txn range+put+delete (${name})`, { group: "txn" }, () => {
    const txn = store.write();
    txn.range(keys[n % keys.length]!, undefined);
    txn.put(keys[n % keys.length]!, value);
    txn.deleteRange(keys[(n + 1) % keys.length]!, undefined);
    txn.end();
    n++;
  });
}

const watched = new WatchableStore(new MemBackend());
const stream = watched.newWatchStream();
for (let i = 0; i < 100; i++) stream.watch({ key: new TextEncoder().encode("w") });
Deno.bench("put to 100 synced watchers (mem)", () => {
  watched.put(new TextEncoder().encode("w"), value);
  while (stream.poll() !== undefined) { /* drain */ }
});
