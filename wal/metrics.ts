/**
 * The WAL's metrics (etcd's `wal/metrics.go`): fsync latency, observed around every fdatasync
 * of a segment and its directory, and bytes appended to segments.
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { exponentialBuckets, Gauge, Histogram } from "../metrics/mod.ts";

/** `etcd_disk_wal_fsync_duration_seconds`. */
export const walFsyncDurationSeconds = new Histogram({
  name: "etcd_disk_wal_fsync_duration_seconds",
  help: "The latency distributions of fsync called by WAL.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_disk_wal_write_bytes_total`. */
export const walWriteBytesTotal = new Gauge({
  name: "etcd_disk_wal_write_bytes_total",
  help: "Total number of bytes written in WAL.",
});
/** Anything fsync durations can be observed into: the metric above or a private histogram. */
export interface DurationObserver {
  observe(seconds: number): void;
}

/** What the WAL logs through: the server's logger, or nothing. */
export interface WalLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** capnslog or zap: etcd words the warning differently for each. */
  readonly format?: "capnslog" | "zap";
}

/** etcd's warnSyncDuration: an fdatasync slower than this is logged as `slow fdatasync`. */
export const WARN_SYNC_DURATION_SECONDS = 1;

/**
 * Test-only: `DETCD_TEST_FSYNC_DELAY_MS` adds this many milliseconds before every WAL
 * fdatasync, to make a slow disk on demand (the fault tests of the seeds' warnings). Read once
 * at start; zero when unset, and then the sync path only compares it with zero.
 */
export const TEST_FSYNC_DELAY_MS: number = _readTestDelay();

function _readTestDelay(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("DETCD_TEST_FSYNC_DELAY_MS");
  } catch {
    return 0; // no env permission: no hook
  }
  const ms = Number(text ?? "0");
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Formats seconds as Go's time.Duration prints (`1.234s`, `12.5ms`), for log fields. */
export function goDurationString(seconds: number): string {
  if (seconds >= 1) return `${+seconds.toFixed(9)}s`;
  if (seconds >= 1e-3) return `${+(seconds * 1e3).toFixed(6)}ms`;
  if (seconds >= 1e-6) return `${+(seconds * 1e6).toFixed(3)}µs`;
  return `${Math.round(seconds * 1e9)}ns`;
}
