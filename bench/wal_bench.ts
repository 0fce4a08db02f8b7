/**
 * WAL benchmark: entries a second and fsyncs a second for `save()` batches of 1, 10, 100 and
 * 1000 entries of 256 bytes, beside the raw write+fdatasync rate of the same disk measured in
 * the same run (the physical limit for one synchronous writer).
 *
 * Run: deno task bench:wal            (or: deno run -A bench/wal_bench.ts [--seconds S])
 *
 * Rounds interleave the raw loops and the WAL so that load from other processes on the shared
 * disk hits both alike; the best round of each is reported, and ratios are taken to the raw
 * rates of the same run.
 */

import { join } from "node:path";
import type { Entry } from "../raft/raftpb.ts";
import { Wal } from "../wal/wal.ts";
import { encodeMetadata } from "../wal/walpb.ts";
import { DurationHistogram, WAL_FSYNC_BUCKETS } from "../wal/histogram.ts";

const ENTRY_BYTES = 256;
const BATCHES = [1, 10, 100, 1000];
const ROUNDS = 3;
const secondsArg = Deno.args.indexOf("--seconds");
const SECONDS = secondsArg >= 0 ? Number(Deno.args[secondsArg + 1]) : 1.5;
/** One batch-1 frame: 8-byte length word + record (type, crc, entry of 256 bytes) + padding. */
const RAW_WRITE_BYTES = 288;
const SEGMENT_BYTES = 64 * 1000 * 1000;

interface Rate {
  saves: number;
  entries: number;
  seconds: number;
}

async function rawLoop(dir: string, mode: "sync" | "async" | "hybrid"): Promise<Rate> {
  const path = join(dir, `raw-${mode}`);
  const file = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
  await file.truncate(SEGMENT_BYTES);
  file.syncSync();
  const buffer = new Uint8Array(RAW_WRITE_BYTES).fill(0x5a);
  let saves = 0;
  const began = performance.now();
  const until = began + SECONDS * 1000;
  while (performance.now() < until) {
    if (mode === "sync") {
      file.writeSync(buffer);
      file.syncDataSync();
    } else if (mode === "hybrid") {
      file.writeSync(buffer);
      await file.syncData();
    } else {
      await file.write(buffer);
      await file.syncData();
    }
    saves++;
  }
  const seconds = (performance.now() - began) / 1000;
  file.close();
  await Deno.remove(path);
  return { saves, entries: saves, seconds };
}

function makeEntries(first: number, count: number, data: Uint8Array): Entry[] {
  return Array.from({ length: count }, (_, i) => ({ term: 1, index: first + i, type: 0, data }));
}

async function walLoop(
  dir: string,
  batch: number,
  histogram: DurationHistogram,
  writeMode: "async" | "sync",
): Promise<Rate> {
  const walDir = join(dir, `wal-${batch}-${crypto.randomUUID()}`);
  const wal = await Wal.create(walDir, encodeMetadata({ nodeId: 1n, clusterId: 2n }), {
    histogram,
    writeMode,
  });
  const data = new Uint8Array(ENTRY_BYTES).fill(0x61);
  let next = 1;
  let saves = 0;
  const began = performance.now();
  const until = began + SECONDS * 1000;
  while (performance.now() < until) {
    const entries = makeEntries(next, batch, data);
    next += batch;
    await wal.save({ term: 1, vote: 1n, commit: next - 1 }, entries);
    saves++;
  }
  const seconds = (performance.now() - began) / 1000;
  await wal.close();
  await Deno.remove(walDir, { recursive: true });
  return { saves, entries: saves * batch, seconds };
}

function best(rates: Rate[]): Rate {
  return rates.reduce((a, b) => (b.saves / b.seconds > a.saves / a.seconds ? b : a));
}

function perSecond(count: number, seconds: number): string {
  return Math.round(count / seconds).toLocaleString("en-US").padStart(9);
}

function row(what: string, r: Rate, rawSyncRate: number, rawAsyncRate: number): string {
  const rate = r.saves / r.seconds;
  return `| ${what.padEnd(44)} | ${perSecond(r.entries, r.seconds)} | ${
    perSecond(r.saves, r.seconds)
  } | ` +
    `${(rate / rawSyncRate).toFixed(2).padStart(11)} | ${
      (rate / rawAsyncRate).toFixed(2).padStart(12)
    } |`;
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wal_bench_" });
  const histogram = new DurationHistogram("bench", "bench", WAL_FSYNC_BUCKETS);
  const raw: Record<"sync" | "async" | "hybrid", Rate[]> = { sync: [], async: [], hybrid: [] };
  const wal: Record<string, Rate[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ["sync", "async", "hybrid"] as const) {
      raw[mode].push(await rawLoop(dir, mode));
    }
    for (const batch of BATCHES) {
      (wal[`async ${batch}`] ??= []).push(await walLoop(dir, batch, histogram, "async"));
    }
    (wal["sync 1"] ??= []).push(await walLoop(dir, 1, histogram, "sync"));
  }
  await Deno.remove(dir, { recursive: true });

  const rawSync = best(raw.sync);
  const rawAsync = best(raw.async);
  const syncRate = rawSync.saves / rawSync.seconds;
  const asyncRate = rawAsync.saves / rawAsync.seconds;
  const lines = [
    `WAL benchmark: ${ENTRY_BYTES}-byte entries, best of ${ROUNDS} interleaved rounds of ${SECONDS} s`,
    `command: deno task bench:wal   (deno run -A bench/wal_bench.ts --seconds ${SECONDS})`,
    "",
    "| what                                         | entries/s |  fsyncs/s | vs raw sync | vs raw async |",
    "|----------------------------------------------|-----------|-----------|-------------|--------------|",
    row(`raw writeSync + syncDataSync, ${RAW_WRITE_BYTES} B`, rawSync, syncRate, asyncRate),
    row(`raw await write + await syncData, ${RAW_WRITE_BYTES} B`, rawAsync, syncRate, asyncRate),
    row(
      `raw writeSync + await syncData, ${RAW_WRITE_BYTES} B`,
      best(raw.hybrid),
      syncRate,
      asyncRate,
    ),
  ];
  for (const batch of BATCHES) {
    lines.push(
      row(`wal.save(), batch ${batch}`, best(wal[`async ${batch}`]!), syncRate, asyncRate),
    );
  }
  lines.push(
    row(`wal.save(), batch 1, writeMode "sync"`, best(wal["sync 1"]!), syncRate, asyncRate),
  );
  const h = histogram.snapshot();
  const mean = (h.sum / h.count * 1e3).toFixed(3);
  lines.push(
    "",
    `etcd_disk_wal_fsync_duration_seconds over all WAL runs: ${h.count} fsyncs, mean ${mean} ms`,
  );
  const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
  lines.push(`load average during the run: ${load} (${navigator.hardwareConcurrency} CPUs)`);
  console.log(lines.join("\n"));
}

if (import.meta.main) await main();
