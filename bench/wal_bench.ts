/**
 * WAL benchmark: entries a second and fsyncs a second for `save()` batches of 1, 10, 100 and
 * 1000 entries of 256 bytes, beside the raw write+fdatasync rate of the same disk measured in
 * the same run (the physical limit for one writer that syncs every write).
 *
 * Run: deno task bench:wal            (or: deno run -A bench/wal_bench.ts [--seconds S])
 *
 * The disk is shared with other processes whose load comes and goes, so the variants are run
 * in short interleaved slices (250 ms each, round robin) and each one's counts are summed over
 * its slices: every variant sees the same mix of quiet and busy moments, and the ratios to the
 * raw rates of the same run are what the figures mean.
 */

import { join } from "node:path";
import type { Entry } from "../raft/mod.ts";
import { DurationHistogram, encodeMetadata, Wal, WAL_FSYNC_BUCKETS } from "../wal/mod.ts";

const ENTRY_BYTES = 256;
const BATCHES = [1, 10, 100, 1000];
const SLICE_MS = 250;
const secondsArg = Deno.args.indexOf("--seconds");
/** Seconds each variant runs in total. */
const SECONDS = secondsArg >= 0 ? Number(Deno.args[secondsArg + 1]) : 4;
/** One batch-1 frame: 8-byte length word + record (type, crc, entry of 256 bytes) + padding. */
const RAW_WRITE_BYTES = 288;
const SEGMENT_BYTES = 64 * 1000 * 1000;

/** One thing measured: `step()` does one write+sync (or one save) and returns entries. */
interface Variant {
  name: string;
  step(): Promise<number> | number;
  close(): Promise<void>;
  saves: number;
  entries: number;
  seconds: number;
}

async function rawVariant(
  dir: string,
  mode: "sync" | "async" | "hybrid" | "nosync",
): Promise<Variant> {
  const path = join(dir, `raw-${mode}`);
  const file = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
  await file.truncate(SEGMENT_BYTES);
  file.syncSync();
  const buffer = new Uint8Array(RAW_WRITE_BYTES).fill(0x5a);
  let offset = 0;
  const wrap = () => {
    offset += RAW_WRITE_BYTES;
    if (offset + RAW_WRITE_BYTES > SEGMENT_BYTES) {
      offset = 0;
      file.seekSync(0, Deno.SeekMode.Start);
    }
  };
  const names = {
    sync: "raw writeSync + syncDataSync",
    async: "raw await write + await syncData",
    hybrid: "raw writeSync + await syncData",
    nosync: "raw writeSync, no fsync",
  };
  return {
    name: `${names[mode]}, ${RAW_WRITE_BYTES} B`,
    saves: 0,
    entries: 0,
    seconds: 0,
    step: mode === "sync" || mode === "nosync"
      ? () => {
        file.writeSync(buffer);
        if (mode === "sync") file.syncDataSync();
        wrap();
        return 1;
      }
      : async () => {
        if (mode === "hybrid") file.writeSync(buffer);
        else await file.write(buffer);
        await file.syncData();
        wrap();
        return 1;
      },
    close: async () => {
      file.close();
      await Deno.remove(path);
    },
  };
}

async function walVariant(
  dir: string,
  batch: number,
  writeMode: "async" | "sync",
  histogram: DurationHistogram,
  unsafeNoFsync = false,
): Promise<Variant> {
  const walDir = join(dir, `wal-${batch}-${writeMode}-${unsafeNoFsync}`);
  const wal = await Wal.create(walDir, encodeMetadata({ nodeId: 1n, clusterId: 2n }), {
    histogram,
    writeMode,
    unsafeNoFsync,
  });
  const data = new Uint8Array(ENTRY_BYTES).fill(0x61);
  let next = 1;
  const suffix = (writeMode === "sync" ? "" : `, writeMode "async"`) +
    (unsafeNoFsync ? ", no fsync" : "");
  return {
    name: `wal.save(), batch ${batch}${suffix}`,
    saves: 0,
    entries: 0,
    seconds: 0,
    step: async () => {
      const entries: Entry[] = [];
      for (let i = 0; i < batch; i++) entries.push({ term: 1, index: next + i, type: 0, data });
      next += batch;
      await wal.save({ term: 1, vote: 1n, commit: next - 1 }, entries);
      return batch;
    },
    close: async () => {
      await wal.close();
      await Deno.remove(walDir, { recursive: true });
    },
  };
}

async function runSlice(variant: Variant): Promise<void> {
  const began = performance.now();
  const until = began + SLICE_MS;
  while (performance.now() < until) {
    variant.entries += await variant.step();
    variant.saves++;
  }
  variant.seconds += (performance.now() - began) / 1000;
}

function usPerSave(v: Variant): string {
  return ((v.seconds / v.saves) * 1e6).toFixed(1);
}

function perSecond(count: number, seconds: number): string {
  return Math.round(count / seconds).toLocaleString("en-US").padStart(9);
}

function row(v: Variant, rawSyncRate: number, rawAsyncRate: number): string {
  const rate = v.saves / v.seconds;
  return `| ${v.name.padEnd(44)} | ${perSecond(v.entries, v.seconds)} | ` +
    `${perSecond(v.saves, v.seconds)} | ${(rate / rawSyncRate).toFixed(2).padStart(11)} | ` +
    `${(rate / rawAsyncRate).toFixed(2).padStart(12)} |`;
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wal_bench_" });
  const histogram = new DurationHistogram("bench", "bench", WAL_FSYNC_BUCKETS);
  const variants: Variant[] = [
    await rawVariant(dir, "sync"),
    await rawVariant(dir, "async"),
    await rawVariant(dir, "hybrid"),
  ];
  for (const batch of BATCHES) variants.push(await walVariant(dir, batch, "sync", histogram));
  variants.push(await walVariant(dir, 1, "async", histogram));
  // Without fsync: what the WAL itself costs per save (framing, CRC, the write call).
  variants.push(await rawVariant(dir, "nosync"));
  variants.push(await walVariant(dir, 1, "sync", new DurationHistogram("x", "x", []), true));
  const slices = Math.max(1, Math.round((SECONDS * 1000) / SLICE_MS));
  for (let slice = 0; slice < slices; slice++) {
    for (const variant of variants) await runSlice(variant);
  }
  for (const variant of variants) await variant.close();
  await Deno.remove(dir, { recursive: true });

  const [rawSync, rawAsync] = variants as [Variant, Variant];
  const syncRate = rawSync.saves / rawSync.seconds;
  const asyncRate = rawAsync.saves / rawAsync.seconds;
  const h = histogram.snapshot();
  const lines = [
    `WAL benchmark: ${ENTRY_BYTES}-byte entries; each variant ${SECONDS} s in ${slices} ` +
    `interleaved slices of ${SLICE_MS} ms`,
    `command: deno task bench:wal   (deno run -A bench/wal_bench.ts --seconds ${SECONDS})`,
    "",
    "| what                                         | entries/s |  fsyncs/s | vs raw sync | vs raw async |",
    "|----------------------------------------------|-----------|-----------|-------------|--------------|",
    ...variants.map((v) => row(v, syncRate, asyncRate)),
    "",
    `cost per save without fsync: raw writeSync ${usPerSave(variants[variants.length - 2]!)} us, ` +
    `wal.save() batch 1 ${usPerSave(variants[variants.length - 1]!)} us`,
    `etcd_disk_wal_fsync_duration_seconds over the WAL runs: ${h.count} fsyncs, ` +
    `mean ${(h.sum / h.count * 1e3).toFixed(3)} ms`,
    `load average after the run: ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")} ` +
    `(${navigator.hardwareConcurrency} CPUs)`,
  ];
  console.log(lines.join("\n"));
}

if (import.meta.main) await main();
