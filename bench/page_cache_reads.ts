/**
 * What a smaller page cache costs random reads: one store over the bolt backend (temp file),
 * `CACHE_KEYS` keys (default 100,000) of 256 bytes written `CACHE_WRITES` times (default 3, so
 * 300,000 revisions and a db of about 120 MB, as bench/memory.ts), then single-key ranges of
 * random keys with the page cache's budget set to each of `CACHE_BUDGETS_MIB` (default
 * 64,32,16) in turn, `CACHE_ROUNDS` rounds (default 3) interleaved. Each round first reads
 * `CACHE_READS` random keys (default 200,000) to warm the cache at that budget, then times as
 * many more. Prints µs per range, the cache's miss rate, and the process's CPU per range.
 *
 *     deno run -A bench/page_cache_reads.ts
 *
 * The kernel's page cache holds the file throughout (it was just written), so a miss costs a
 * `pread` from memory, a fresh page buffer and the page's parsing, not a disk read.
 *
 * @module
 */

import process from "node:process";
import { openBackend } from "../backend/mod.ts";
import { WatchableStore } from "../mvcc/mod.ts";
import { mulberry32 } from "../testing/mod.ts";

function _envNumber(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name}=${raw}`);
  return value;
}

const KEYS = _envNumber("CACHE_KEYS", 100_000);
const WRITES = _envNumber("CACHE_WRITES", 3);
const READS = _envNumber("CACHE_READS", 200_000);
const ROUNDS = _envNumber("CACHE_ROUNDS", 3);
const BUDGETS_MIB = (Deno.env.get("CACHE_BUDGETS_MIB") ?? "64,32,16").split(",").map(Number);
const MIB = 1024 * 1024;

const dir = Deno.makeTempDirSync({ prefix: "page_cache_reads_" });
try {
  const backend = openBackend({ path: `${dir}/db` });
  const store = new WatchableStore(backend);
  const value = new Uint8Array(256).fill(0x76);
  const keys = Array.from(
    { length: KEYS },
    (_, i) => new TextEncoder().encode(`key-${String(i).padStart(8, "0")}`),
  );
  for (let w = 0; w < WRITES; w++) {
    for (const key of keys) store.put(key, value);
    backend.forceCommit();
  }
  const db = backend.db();
  console.log(`${KEYS} keys x ${WRITES} writes, db ${(db.fileSize() / MIB).toFixed(0)} MiB`);
  console.log("| round | budget MiB | µs per range | CPU µs per range | miss rate |");
  console.log("|---:|---:|---:|---:|---:|");
  const random = mulberry32(7);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const budgetMib of BUDGETS_MIB) {
      db.setPageCacheBudget(budgetMib * MIB);
      const read = () => store.range(keys[Math.floor(random() * KEYS)]!, undefined);
      for (let i = 0; i < READS; i++) read();
      const misses0 = db.stats.cacheMisses;
      const hits0 = db.stats.cacheHits;
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < READS; i++) read();
      const elapsedMs = performance.now() - started;
      const cpu = process.cpuUsage(cpu0);
      const misses = db.stats.cacheMisses - misses0;
      const lookups = misses + db.stats.cacheHits - hits0;
      console.log(
        `| ${round} | ${budgetMib} | ${(elapsedMs * 1000 / READS).toFixed(2)} | ${
          ((cpu.user + cpu.system) / READS).toFixed(2)
        } | ${(misses / lookups).toFixed(3)} |`,
      );
    }
  }
  store.close();
  backend.close();
} finally {
  Deno.removeSync(dir, { recursive: true });
}
