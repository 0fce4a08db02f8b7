/**
 * Snapshot metrics (etcd's `etcdserver/api/snap/metrics.go`): saving `.snap` files and
 * receiving db snapshot files.
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { exponentialBuckets, Histogram } from "../metrics/mod.ts";

/** `etcd_debugging_snap_save_marshalling_duration_seconds`. */
export const debuggingSnapSaveMarshallingDurationSeconds = new Histogram({
  name: "etcd_debugging_snap_save_marshalling_duration_seconds",
  help: "The marshalling cost distributions of save called by snapshot.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_debugging_snap_save_total_duration_seconds`. */
export const debuggingSnapSaveTotalDurationSeconds = new Histogram({
  name: "etcd_debugging_snap_save_total_duration_seconds",
  help: "The total latency distributions of save called by snapshot.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_snap_db_fsync_duration_seconds`. */
export const snapDbFsyncDurationSeconds = new Histogram({
  name: "etcd_snap_db_fsync_duration_seconds",
  help: "The latency distributions of fsyncing .snap.db file",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** `etcd_snap_db_save_total_duration_seconds`. */
export const snapDbSaveTotalDurationSeconds = new Histogram({
  name: "etcd_snap_db_save_total_duration_seconds",
  help: "The total latency distributions of v3 snapshot save",
  buckets: exponentialBuckets(0.1, 2, 10),
});

/** `etcd_snap_fsync_duration_seconds`. */
export const snapFsyncDurationSeconds = new Histogram({
  name: "etcd_snap_fsync_duration_seconds",
  help: "The latency distributions of fsync called by snap.",
  buckets: exponentialBuckets(0.001, 2, 14),
});
