/**
 * The backend's metrics (etcd's `mvcc/backend/metrics.go`): commit phases, defrag and snapshot
 * durations, plus detcd's own page-file series (`detcd_backend_*`).
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { exponentialBuckets, Gauge, Histogram } from "prom-client";

/** `etcd_debugging_disk_backend_commit_rebalance_duration_seconds`. */
export const debuggingDiskBackendCommitRebalanceDurationSeconds = new Histogram({
  name: "etcd_debugging_disk_backend_commit_rebalance_duration_seconds",
  help: "The latency distributions of commit.rebalance called by bboltdb backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_debugging_disk_backend_commit_spill_duration_seconds`. */
export const debuggingDiskBackendCommitSpillDurationSeconds = new Histogram({
  name: "etcd_debugging_disk_backend_commit_spill_duration_seconds",
  help: "The latency distributions of commit.spill called by bboltdb backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_debugging_disk_backend_commit_write_duration_seconds`. */
export const debuggingDiskBackendCommitWriteDurationSeconds = new Histogram({
  name: "etcd_debugging_disk_backend_commit_write_duration_seconds",
  help: "The latency distributions of commit.write called by bboltdb backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_disk_backend_commit_duration_seconds`. */
export const diskBackendCommitDurationSeconds = new Histogram({
  name: "etcd_disk_backend_commit_duration_seconds",
  help: "The latency distributions of commit called by backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_disk_backend_defrag_duration_seconds`. */
export const diskBackendDefragDurationSeconds = new Histogram({
  name: "etcd_disk_backend_defrag_duration_seconds",
  help: "The latency distribution of backend defragmentation.",
  buckets: exponentialBuckets(0.1, 2, 13),
});

/** `etcd_disk_backend_snapshot_duration_seconds`. */
export const diskBackendSnapshotDurationSeconds = new Histogram({
  name: "etcd_disk_backend_snapshot_duration_seconds",
  help: "The latency distribution of backend snapshots.",
  buckets: exponentialBuckets(0.01, 2, 17),
});

/** `etcd_disk_defrag_inflight`. */
export const diskDefragInflight = new Gauge({
  name: "etcd_disk_defrag_inflight",
  help: "Whether or not defrag is active on the member. 1 means active, 0 means not.",
});
/** What the page-file gauges read on scrape, from the backend opened last. */
export interface PageFileStats {
  /** Pages up to the high-water mark (bbolt's meta.pgid), meta pages included. */
  pages: number;
  /** Pages free for allocation. */
  free: number;
  /** Pages freed by write transactions that readers may still see. */
  pending: number;
  /** Pages holding the freelist itself. */
  freelist: number;
  /** Span length in pages -> how many free spans have that length. */
  spans(): Map<number, number>;
}

let _pageFileSource: (() => PageFileStats) | undefined;

/** Makes the `detcd_backend_*` gauges report `source` (the backend opened last). */
export function reportPageFile(source: (() => PageFileStats) | undefined): void {
  _pageFileSource = source;
}

/** `detcd_backend_pages`: pages below the high-water mark by what holds them. */
export const backendPages = new Gauge({
  name: "detcd_backend_pages",
  help: "Pages of the db file below its high-water mark, by type (meta, freelist, free, " +
    "pending, in_use).",
  labelNames: ["type"] as const,
  collect() {
    this.reset();
    const stats = _pageFileSource?.();
    if (stats === undefined) return;
    const meta = 2;
    this.set({ type: "meta" }, meta);
    this.set({ type: "freelist" }, stats.freelist);
    this.set({ type: "free" }, stats.free);
    this.set({ type: "pending" }, stats.pending);
    this.set(
      { type: "in_use" },
      Math.max(0, stats.pages - meta - stats.freelist - stats.free - stats.pending),
    );
  },
});

/** Upper bounds (in pages) of the span-length classes of `detcd_backend_freelist_spans`. */
export const FREE_SPAN_BOUNDS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];

/** `detcd_backend_freelist_spans`: free spans by length class (fragmentation of the file). */
export const backendFreelistSpans = new Gauge({
  name: "detcd_backend_freelist_spans",
  help: "Runs of contiguous free pages, by length class: le is the largest length of the " +
    "class, which starts above the previous class (not cumulative).",
  labelNames: ["le"] as const,
  collect() {
    this.reset();
    const stats = _pageFileSource?.();
    if (stats === undefined) return;
    const counts = spanClassCounts(stats.spans());
    FREE_SPAN_BOUNDS.forEach((bound, i) => this.set({ le: String(bound) }, counts[i]!));
    this.set({ le: "+Inf" }, counts[FREE_SPAN_BOUNDS.length]!);
  },
});

/** Sorts span lengths into the classes of {@link FREE_SPAN_BOUNDS} plus one above them all. */
export function spanClassCounts(spans: Map<number, number>): number[] {
  const counts = new Array<number>(FREE_SPAN_BOUNDS.length + 1).fill(0);
  for (const [length, count] of spans) {
    let i = 0;
    while (i < FREE_SPAN_BOUNDS.length && length > FREE_SPAN_BOUNDS[i]!) i++;
    counts[i]! += count;
  }
  return counts;
}
