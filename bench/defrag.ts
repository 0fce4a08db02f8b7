/**
 * Defragmentation time and event-loop stalls: `deno run -A bench/defrag.ts [keys] [valueBytes]`.
 *
 * Fills a backend with `keys` keys (default 200,000) of `valueBytes` bytes (default 256) in one
 * bucket, deletes every third, commits, then runs `defrag()` while a timer measures how long
 * the event loop is held at a time (the longest gap between ticks of a 1 ms interval). Prints
 * the defragmentation's wall time, the longest stall, the ticks that ran during it and the file
 * size before and after. Three runs; the file is rebuilt for each. The same script run on an
 * older tree (whose defrag copies in one go) gives the "before" figures.
 *
 * @module
 */

import { openBackend } from "../backend/mod.ts";

const KEYS = Number(Deno.args[0] ?? "200000");
const VALUE_BYTES = Number(Deno.args[1] ?? "256");
const RUNS = 3;
const enc = new TextEncoder();

async function once(run: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detcd_defrag_bench_" });
  const backend = openBackend({ path: `${dir}/db` });
  try {
    const tx = backend.batchTx;
    const bucket = enc.encode("key");
    tx.lock();
    tx.unsafeCreateBucket(bucket);
    const value = new Uint8Array(VALUE_BYTES).fill(7);
    for (let i = 0; i < KEYS; i++) {
      tx.unsafePut(bucket, enc.encode(`k${String(i).padStart(9, "0")}`), value);
    }
    tx.unlock();
    backend.forceCommit();
    tx.lock();
    for (let i = 0; i < KEYS; i += 3) {
      tx.unsafeDelete(bucket, enc.encode(`k${String(i).padStart(9, "0")}`));
    }
    tx.unlock();
    backend.forceCommit();
    const sizeBefore = backend.size();
    let last = performance.now();
    let longestStallMs = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longestStallMs = Math.max(longestStallMs, now - last);
      last = now;
      ticks++;
    }, 1);
    const began = performance.now();
    last = began;
    await backend.defrag();
    const wallMs = performance.now() - began;
    longestStallMs = Math.max(longestStallMs, performance.now() - last);
    clearInterval(timer);
    console.log(
      `run ${run}: ${KEYS.toLocaleString("en")} keys (${VALUE_BYTES} B values, a third deleted): ` +
        `defrag ${wallMs.toFixed(0)} ms, longest event-loop stall ${
          longestStallMs.toFixed(0)
        } ms, ` +
        `${ticks} timer ticks during it, ${(sizeBefore / 2 ** 20).toFixed(1)} -> ` +
        `${(backend.size() / 2 ** 20).toFixed(1)} MiB`,
    );
  } finally {
    backend.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (let run = 1; run <= RUNS; run++) await once(run);
