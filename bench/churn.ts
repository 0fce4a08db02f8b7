/**
 * Churn benchmark: grows a bolt file to --gb gigabytes (default 10). Each commit puts 1/8 of
 * --ops as big values (8..40 KiB: leaves of 3..11 pages) and 7/8 as small values (100..1000 B)
 * under random keys; every fifth commit is a "compaction" that deletes 80% of the small keys.
 * The deletes leave single free pages all over the file while the big values keep asking for
 * runs, so the freelist grows with the file and is fragmented. Prints the commit latency
 * p50/p99 for every gigabyte of file size, for each freelist, with the
 * free-page count: with the hashmap the latency stays flat as the file grows; the array's
 * linear scans show where it bends.
 *
 *   deno task bench:churn [--gb=10] [--step=1] [--freelist=map|array|both] [--ops=3200] [--tag=NAME] [--json]
 *
 * Real fdatasync on every commit; the freelist is not persisted (etcd 3.4's default).
 * Progress lines go to bench/out/churn-<freelist>.jsonl as they are measured.
 */

import { DB } from "../backend/mod.ts";
import { mulberry32 as prng } from "../testing/mod.ts";

function flag(name: string, fallback: string): string {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : arg.slice(name.length + 3);
}

const targetGb = Number(flag("gb", "10"));
/** Report a row every `step` GB (default 1). */
const stepGb = Number(flag("step", "1"));
const opsPerCommit = Number(flag("ops", "3200"));
const which = flag("freelist", "both");
const json = Deno.args.includes("--json");
/** Every COMPACT_EVERY-th commit deletes COMPACT_FRACTION of the small keys (a compaction). */
const COMPACT_EVERY = 5;
const COMPACT_FRACTION = 0.8;
const bigPerCommit = Math.round(opsPerCommit / 8);
const smallPerCommit = opsPerCommit - bigPerCommit;
const freelists = which === "both"
  ? (["map", "array"] as const)
  : ([which as "map" | "array"] as const);
const GB = 1024 ** 3;

function keyOf(id: number): Uint8Array {
  // A scrambled id: consecutive ids land all over the tree.
  const key = new Uint8Array(12);
  const dv = new DataView(key.buffer);
  dv.setUint32(0, Math.imul(id, 0x9e3779b1) >>> 0);
  dv.setUint32(4, id);
  dv.setUint32(8, 0x6b657973);
  return key;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

interface Row {
  freelist: string;
  gb: number;
  commits: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  freelistP50Ms: number;
  freelistP99Ms: number;
  freePages: number;
  fileBytes: number;
}

function run(freelist: "map" | "array"): Row[] {
  const dir = Deno.makeTempDirSync({ prefix: "detcd-churn-", dir: flag("dir", "/tmp") });
  const path = `${dir}/db`;
  const out = new URL(`./out/churn-${freelist}${flag("tag", "")}.jsonl`, import.meta.url);
  Deno.mkdirSync(new URL("./out/", import.meta.url), { recursive: true });
  Deno.writeTextFileSync(out, "");
  const db = DB.open(path, { freelistType: freelist, noFreelistSync: true });
  // Time spent in the freelist itself (allocate, and release when a write tx begins), so the
  // allocator's share of the commit is visible apart from I/O and the machine's load.
  let freelistMs = 0;
  const allocate = db.freelist.allocate.bind(db.freelist);
  const release = db.freelist.release.bind(db.freelist);
  db.freelist.allocate = (txid: number, n: number) => {
    const t = performance.now();
    const start = allocate(txid, n);
    freelistMs += performance.now() - t;
    return start;
  };
  db.freelist.release = (txid: number) => {
    const t = performance.now();
    release(txid);
    freelistMs += performance.now() - t;
  };
  let freelistTimes: number[] = [];
  const rand = prng(42);
  const bucketName = new TextEncoder().encode("key");
  db.update((tx) => tx.createBucket(bucketName));
  let small: number[] = [];
  let nextId = 1;
  const rows: Row[] = [];
  let latencies: number[] = [];
  let gb = 0;
  let commitNumber = 0;
  const started = performance.now();
  while (db.fileSize() < targetGb * GB) {
    freelistMs = 0;
    const tx = db.begin(true);
    const bucket = tx.bucket(bucketName)!;
    commitNumber++;
    // Big values: new keys whose leaves need runs of 3..11 pages.
    for (let i = 0; i < bigPerCommit; i++) {
      const id = nextId++;
      bucket.put(keyOf(id), new Uint8Array(8192 + Math.floor(rand() * 32768)).fill(id & 255));
    }
    // Small values: many per leaf page; most are deleted again by the next compaction.
    for (let i = 0; i < smallPerCommit; i++) {
      const id = nextId++;
      bucket.put(keyOf(id), new Uint8Array(100 + Math.floor(rand() * 900)).fill(id & 255));
      small.push(id);
    }
    if (commitNumber % COMPACT_EVERY === 0) {
      // A compaction: most small keys go at once, leaving single free pages all over the
      // file that the big values, which want runs, cannot use.
      const keep: number[] = [];
      for (const id of small) {
        if (rand() < COMPACT_FRACTION) bucket.delete(keyOf(id));
        else keep.push(id);
      }
      small = keep;
    }
    const t = performance.now();
    tx.commit();
    latencies.push(performance.now() - t);
    freelistTimes.push(freelistMs);
    const nowGb = Math.floor(db.fileSize() / GB / stepGb);
    if (nowGb > gb) {
      latencies.sort((a, b) => a - b);
      freelistTimes.sort((a, b) => a - b);
      const row: Row = {
        freelist,
        gb: Math.round((gb + 1) * stepGb * 100) / 100,
        commits: latencies.length,
        p50Ms: Math.round(percentile(latencies, 0.5) * 100) / 100,
        p99Ms: Math.round(percentile(latencies, 0.99) * 100) / 100,
        maxMs: Math.round(latencies[latencies.length - 1]! * 100) / 100,
        freelistP50Ms: Math.round(percentile(freelistTimes, 0.5) * 1000) / 1000,
        freelistP99Ms: Math.round(percentile(freelistTimes, 0.99) * 1000) / 1000,
        freePages: db.freelist.freeCount(),
        fileBytes: db.fileSize(),
      };
      rows.push(row);
      Deno.writeTextFileSync(
        out,
        JSON.stringify({ ...row, elapsedS: Math.round((performance.now() - started) / 1000) }) +
          "\n",
        {
          append: true,
        },
      );
      if (json) console.log(JSON.stringify(row));
      else {
        console.log(
          `${freelist.padEnd(6)} ${String(row.gb).padStart(3)} GB ${
            String(row.commits).padStart(6)
          } commits  p50 ${row.p50Ms.toFixed(2).padStart(8)} ms  p99 ${
            row.p99Ms.toFixed(2).padStart(8)
          } ms  max ${row.maxMs.toFixed(1).padStart(8)} ms  freelist p50 ${
            row.freelistP50Ms.toFixed(3)
          } p99 ${row.freelistP99Ms.toFixed(3)} ms  free pages ${row.freePages}`,
        );
      }
      latencies = [];
      freelistTimes = [];
      gb = nowGb;
    }
  }
  db.close();
  Deno.removeSync(dir, { recursive: true });
  return rows;
}

if (!json) {
  console.log(`# deno task bench:churn --gb=${targetGb} --ops=${opsPerCommit} --freelist=${which}`);
  console.log(
    "# commit latency (rebalance, spill, allocation, write, 2x fdatasync) per GB of file size",
  );
}
const all: Row[] = [];
for (const freelist of freelists) all.push(...run(freelist));
if (!json && freelists.length === 2) {
  console.log("GB   map p50  array p50   ratio   map p99  array p99   ratio");
  for (const m of all.filter((r) => r.freelist === "map")) {
    const a = all.find((r) => r.freelist === "array" && r.gb === m.gb);
    if (a === undefined) continue;
    console.log(
      `${String(m.gb).padStart(2)} ${m.p50Ms.toFixed(2).padStart(9)} ${
        a.p50Ms.toFixed(2).padStart(10)
      } ${(a.p50Ms / m.p50Ms).toFixed(2).padStart(7)} ${m.p99Ms.toFixed(2).padStart(9)} ${
        a.p99Ms.toFixed(2).padStart(10)
      } ${(a.p99Ms / m.p99Ms).toFixed(2).padStart(7)}`,
    );
  }
}
