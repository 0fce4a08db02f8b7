/**
 * Churn benchmark: grows a bolt file to --gb gigabytes (default 10) with inserts (60%) and
 * overwrites (40%) of random keys, 20% of the values 2..11 pages long, and every fifth commit a
 * "compaction" that deletes 1.6 x ops random live keys at once, as etcd's compaction does. The
 * deletes leave holes all over the file, so the freelist is large and fragmented while the
 * multi-page values keep asking for contiguous runs. Prints
 * the commit latency p50/p99 for every gigabyte of file size, for each freelist, with the
 * free-page count: with the hashmap the latency stays flat as the file grows; the array's
 * linear scans show where it bends.
 *
 *   deno task bench:churn [--gb=10] [--freelist=map|array|both] [--ops=5000] [--compact=8000] [--json]
 *
 * Real fdatasync on every commit; the freelist is not persisted (etcd 3.4's default).
 * Progress lines go to bench/out/churn-<freelist>.jsonl as they are measured.
 */

import { DB } from "../backend/mod.ts";

function flag(name: string, fallback: string): string {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : arg.slice(name.length + 3);
}

const targetGb = Number(flag("gb", "10"));
const opsPerCommit = Number(flag("ops", "5000"));
const which = flag("freelist", "both");
const json = Deno.args.includes("--json");
/** Every COMPACT_EVERY-th commit deletes `compactDeletes` random live keys (as etcd's compaction). */
const COMPACT_EVERY = 5;
const compactDeletes = Number(flag("compact", String(Math.round(opsPerCommit * 1.6))));
const freelists = which === "both"
  ? (["map", "array"] as const)
  : ([which as "map" | "array"] as const);
const GB = 1024 ** 3;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function keyOf(id: number): Uint8Array {
  // A scrambled id: consecutive ids land all over the tree.
  const key = new Uint8Array(12);
  const dv = new DataView(key.buffer);
  dv.setUint32(0, Math.imul(id, 0x9e3779b1) >>> 0);
  dv.setUint32(4, id);
  dv.setUint32(8, 0x6b657973);
  return key;
}

/** 80%: 100 B .. 3 KB (several per leaf); 20%: 4 .. 40 KB (runs of 2 .. 11 pages). */
function valueSize(rand: () => number): number {
  return rand() < 0.8 ? 100 + Math.floor(rand() * 3000) : 4096 + Math.floor(rand() * 36864);
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
  freePages: number;
  fileBytes: number;
}

function run(freelist: "map" | "array"): Row[] {
  const dir = Deno.makeTempDirSync({ prefix: "detcd-churn-", dir: flag("dir", "/tmp") });
  const path = `${dir}/db`;
  const out = new URL(`./out/churn-${freelist}.jsonl`, import.meta.url);
  Deno.mkdirSync(new URL("./out/", import.meta.url), { recursive: true });
  Deno.writeTextFileSync(out, "");
  const db = DB.open(path, { freelistType: freelist, noFreelistSync: true });
  const rand = prng(42);
  const bucketName = new TextEncoder().encode("key");
  db.update((tx) => tx.createBucket(bucketName));
  const live: number[] = [];
  let nextId = 1;
  const rows: Row[] = [];
  let latencies: number[] = [];
  let gb = 0;
  let commitNumber = 0;
  const started = performance.now();
  while (db.fileSize() < targetGb * GB) {
    const tx = db.begin(true);
    const bucket = tx.bucket(bucketName)!;
    commitNumber++;
    if (commitNumber % COMPACT_EVERY === 0) {
      // A compaction: many scattered keys go at once, leaving holes all over the file.
      for (let i = 0; i < compactDeletes && live.length > 0; i++) {
        const index = Math.floor(rand() * live.length);
        bucket.delete(keyOf(live[index]!));
        live[index] = live[live.length - 1]!;
        live.pop();
      }
    } else {
      for (let i = 0; i < opsPerCommit; i++) {
        if (rand() < 0.6 || live.length < 1000) {
          const id = nextId++;
          bucket.put(keyOf(id), new Uint8Array(valueSize(rand)).fill(id & 255));
          live.push(id);
        } else {
          const id = live[Math.floor(rand() * live.length)]!;
          bucket.put(keyOf(id), new Uint8Array(valueSize(rand)).fill(id & 255));
        }
      }
    }
    const t = performance.now();
    tx.commit();
    latencies.push(performance.now() - t);
    const nowGb = Math.floor(db.fileSize() / GB);
    if (nowGb > gb) {
      latencies.sort((a, b) => a - b);
      const row: Row = {
        freelist,
        gb: gb + 1,
        commits: latencies.length,
        p50Ms: Math.round(percentile(latencies, 0.5) * 100) / 100,
        p99Ms: Math.round(percentile(latencies, 0.99) * 100) / 100,
        maxMs: Math.round(latencies[latencies.length - 1]! * 100) / 100,
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
          } ms  max ${row.maxMs.toFixed(1).padStart(8)} ms  free pages ${row.freePages}`,
        );
      }
      latencies = [];
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
