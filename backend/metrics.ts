/**
 * The backend's metrics (etcd's `mvcc/backend/metrics.go`): commit phases, defrag and snapshot
 * durations, plus detcd's own page-file series (`detcd_backend_*`).
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { exponentialBuckets, Gauge, Histogram } from "../metrics/mod.ts";

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

/** What the backend logs through: the server's logger, or nothing. */
export interface BackendLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** capnslog or zap: etcd words the snapshot warning differently for each. */
  readonly format?: "capnslog" | "zap";
}

/** etcd's minSnapshotWarningTimeout: the least time before a slow snapshot is warned about. */
export const SNAPSHOT_WARNING_MIN_MS: number = _readTestSnapshotWarningMs() ?? 30_000;

/**
 * Test-only: `DETCD_TEST_SNAPSHOT_WARNING_MS` lowers the 30 s minimum above so that a fault
 * test can make a slow snapshot transfer in seconds. Read once at start.
 */
function _readTestSnapshotWarningMs(): number | undefined {
  let text: string | undefined;
  try {
    text = Deno.env.get("DETCD_TEST_SNAPSHOT_WARNING_MS");
  } catch {
    return undefined;
  }
  const ms = Number(text);
  return text !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** etcd's assumed snapshot send rate: 100 MB/s (it writes 1024 * 1014 bytes to the MB). */
const _SNAPSHOT_SEND_BYTES_PER_SECOND = 100 * 1024 * 1014;

/** How long a snapshot of `bytes` may take before etcd warns: its size at 100 MB/s, or more. */
export function snapshotWarningMs(bytes: number): number {
  return Math.max(SNAPSHOT_WARNING_MIN_MS, (bytes / _SNAPSHOT_SEND_BYTES_PER_SECOND) * 1000);
}

/**
 * Warns, every `snapshotWarningMs(bytes)` while a snapshot of the db stays open, that it is
 * taking long, in etcd's words for each logger. Returns the function that stops the warnings.
 */
export function watchSnapshotDuration(
  logger: BackendLogger | undefined,
  bytes: number,
): () => void {
  if (logger === undefined) return () => {};
  const started = new Date();
  const startedMs = performance.now();
  const timer = setInterval(() => {
    const seconds = (performance.now() - startedMs) / 1000;
    if (logger.format === "zap") {
      logger.warn("snapshotting taking too long to transfer", {
        taking: goStyleSeconds(seconds),
        bytes,
        size: humanBytes(bytes),
      });
    } else {
      logger.warn(
        `snapshotting is taking more than ${seconds} seconds to finish transferring ` +
          `${bytes / (1024 * 1014)} MB [started at ${goTimeString(started)}]`,
      );
    }
  }, snapshotWarningMs(bytes));
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}

/** Seconds as Go prints a time.Duration, e.g. `31.5s`. */
function goStyleSeconds(seconds: number): string {
  return `${+seconds.toFixed(9)}s`;
}

/** go-humanize's Bytes: SI units, `25 kB`, `1.2 MB`. */
export function humanBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const exponent = Math.min(Math.floor(Math.log(bytes) / Math.log(1000)), units.length - 1);
  const value = bytes / 1000 ** exponent;
  const text = value < 10 ? value.toFixed(1) : value.toFixed(0);
  return `${text} ${units[exponent]}`;
}

/** Go's time.Time String() in UTC, without the monotonic clock reading. */
function goTimeString(time: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())} ` +
    `${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())}.` +
    `${pad(time.getUTCMilliseconds(), 3)} +0000 UTC`;
}

let _openSnapshots = 0;

/**
 * Read transactions that stay open across turns of the event loop: db snapshots being sent
 * (every other read finishes within one turn). `etcd_mvcc_db_open_read_transactions` reads it.
 */
export function openReadTransactions(): number {
  return _openSnapshots;
}

/** A db snapshot opened (+1) or closed (-1). */
export function countOpenSnapshot(delta: 1 | -1): void {
  _openSnapshots += delta;
}
