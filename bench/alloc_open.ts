/**
 * Open time of a bolt file with and without a persisted freelist, for both free sets. A file
 * is filled with values of 1..3 KB under random keys, then every third key is deleted, which
 * leaves a fragmented freelist; it is then opened with the freelist read from its page
 * (persisted) and rebuilt by walking the whole tree (not persisted, etcd 3.4's default).
 *
 *   deno run -A bench/alloc_open.ts [--quick] [--json]
 */

import { DB } from "../backend/mod.ts";
import { mulberry32 as prng } from "../testing/mod.ts";

const quick = Deno.args.includes("--quick");
const json = Deno.args.includes("--json");
const KEYS = quick ? [20_000, 100_000] : [20_000, 200_000, 1_000_000];

function key(id: number): Uint8Array {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setUint32(0, Math.imul(id, 0x9e3779b1) >>> 0);
  new DataView(k.buffer).setUint32(4, id);
  return k;
}

function build(path: string, keys: number): void {
  const rand = prng(keys);
  const db = DB.open(path, { noSync: true, noFreelistSync: false });
  const name = new TextEncoder().encode("key");
  db.update((tx) => tx.createBucket(name));
  for (let start = 0; start < keys; start += 20_000) {
    db.update((tx) => {
      const bucket = tx.bucket(name)!;
      for (let id = start; id < Math.min(keys, start + 20_000); id++) {
        bucket.put(key(id), new Uint8Array(1024 + Math.floor(rand() * 2048)));
      }
    });
  }
  for (let start = 0; start < keys; start += 60_000) {
    db.update((tx) => {
      const bucket = tx.bucket(name)!;
      for (let id = start; id < Math.min(keys, start + 60_000); id += 3) bucket.delete(key(id));
    });
  }
  // Two empty commits move the pending pages into the persisted free list.
  db.update(() => {});
  db.update(() => {});
  db.close();
}

function timeOpen(path: string, freelistType: "map" | "array", noFreelistSync: boolean) {
  const samples: number[] = [];
  let free = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const db = DB.open(path, { freelistType, noFreelistSync, readOnly: true });
    samples.push(performance.now() - t);
    free = db.freelist.freeCount();
    db.close();
  }
  samples.sort((a, b) => a - b);
  return { openMs: samples[1]!, freePages: free };
}

if (!json) {
  console.log(
    `# deno run -A bench/alloc_open.ts${quick ? " --quick" : ""}   (median of 3 opens, ms)`,
  );
  console.log(
    "pages      free   persisted map  persisted array  walk map  walk array  walk/persisted (map)",
  );
}
for (const keys of KEYS) {
  const dir = Deno.makeTempDirSync({ prefix: "detcd-open-" });
  const persisted = `${dir}/persisted.db`;
  build(persisted, keys);
  // The same file without its freelist: the meta says "not persisted", so open walks the tree.
  const walked = `${dir}/walked.db`;
  Deno.copyFileSync(persisted, walked);
  const db = DB.open(walked, { noFreelistSync: true, noSync: true });
  db.update(() => {});
  db.close();
  const probe = DB.open(persisted, { readOnly: true });
  const pages = probe.meta.pgid;
  probe.close();
  const row = {
    pages,
    persistedMap: timeOpen(persisted, "map", false),
    persistedArray: timeOpen(persisted, "array", false),
    walkMap: timeOpen(walked, "map", true),
    walkArray: timeOpen(walked, "array", true),
  };
  if (json) console.log(JSON.stringify(row));
  else {
    console.log(
      [
        String(row.pages).padEnd(9),
        String(row.persistedMap.freePages).padStart(6),
        row.persistedMap.openMs.toFixed(1).padStart(14),
        row.persistedArray.openMs.toFixed(1).padStart(16),
        row.walkMap.openMs.toFixed(1).padStart(9),
        row.walkArray.openMs.toFixed(1).padStart(11),
        (row.walkMap.openMs / row.persistedMap.openMs).toFixed(1).padStart(12),
      ].join(" "),
    );
  }
  Deno.removeSync(dir, { recursive: true });
}
