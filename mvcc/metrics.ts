/**
 * The store's metrics (etcd's `mvcc/metrics.go`): operation counters, keys, watchers, events,
 * compaction and hash durations, and the db size gauges read on scrape.
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Counter, exponentialBuckets, Gauge, Histogram } from "../metrics/mod.ts";

/**
 * The transaction counts of `reportTxn` not yet added to their metrics, one slot each. Adding
 * to a prom-client metric makes objects per call (a labels object, a result), and every put
 * counts three: the sums wait here, in a typed array (no boxed number per update), and each
 * metric takes its sum when it is collected (scraped).
 */
const _unflushed = new Float64Array(9);
const _TXNS = 0;
const _DEBUG_TXNS = 1;
const _RANGES = 2;
const _DEBUG_RANGES = 3;
const _PUTS = 4;
const _DEBUG_PUTS = 5;
const _DEBUG_PUT_BYTES = 6;
const _DELETES = 7;
const _DEBUG_DELETES = 8;

/** A metric's collect(): adds the unflushed sum of `slot` to it. */
function _flushing(slot: number): (this: Counter | Gauge) => void {
  return function (this: Counter | Gauge) {
    const sum = _unflushed[slot]!;
    if (sum === 0) return;
    _unflushed[slot] = 0;
    this.inc(sum);
  };
}

/** `etcd_debugging_mvcc_compact_revision`. */
export const debuggingMvccCompactRevision = new Gauge({
  name: "etcd_debugging_mvcc_compact_revision",
  help: "The revision of the last compaction in store.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.compactRev());
  },
});

/** `etcd_debugging_mvcc_current_revision`. */
export const debuggingMvccCurrentRevision = new Gauge({
  name: "etcd_debugging_mvcc_current_revision",
  help: "The current revision of store.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.rev());
  },
});

/** `etcd_debugging_mvcc_db_compaction_keys_total`. */
export const debuggingMvccDbCompactionKeysTotal = new Counter({
  name: "etcd_debugging_mvcc_db_compaction_keys_total",
  help: "Total number of db keys compacted.",
});

/** `etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds`. */
export const debuggingMvccDbCompactionPauseDurationMilliseconds = new Histogram({
  name: "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
  help: "Bucketed histogram of db compaction pause duration.",
  buckets: exponentialBuckets(1, 2, 13),
});

/** `etcd_debugging_mvcc_db_compaction_total_duration_milliseconds`. */
export const debuggingMvccDbCompactionTotalDurationMilliseconds = new Histogram({
  name: "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
  help: "Bucketed histogram of db compaction total duration.",
  buckets: exponentialBuckets(100, 2, 14),
});

/** `etcd_debugging_mvcc_db_total_size_in_bytes`. */
export const debuggingMvccDbTotalSizeInBytes = new Gauge({
  name: "etcd_debugging_mvcc_db_total_size_in_bytes",
  help: "Total size of the underlying database physically allocated in bytes.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.dbSize());
  },
});

/** `etcd_debugging_mvcc_delete_total`. */
export const debuggingMvccDeleteTotal = new Counter({
  name: "etcd_debugging_mvcc_delete_total",
  help: "Total number of deletes seen by this member.",
  collect: _flushing(_DEBUG_DELETES),
});

/** `etcd_debugging_mvcc_events_total`. */
export const debuggingMvccEventsTotal = new Counter({
  name: "etcd_debugging_mvcc_events_total",
  help: "Total number of events sent by this member.",
});

/** `etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds`. */
export const debuggingMvccIndexCompactionPauseDurationMilliseconds = new Histogram({
  name: "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
  help: "Bucketed histogram of index compaction pause duration.",
  buckets: exponentialBuckets(0.5, 2, 14),
});

/** `etcd_debugging_mvcc_keys_total`. */
export const debuggingMvccKeysTotal = new Gauge({
  name: "etcd_debugging_mvcc_keys_total",
  help: "Total number of keys.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.liveKeys());
  },
});

/** `etcd_debugging_mvcc_pending_events_total`. */
export const debuggingMvccPendingEventsTotal = new Gauge({
  name: "etcd_debugging_mvcc_pending_events_total",
  help: "Total number of pending events to be sent.",
});

/** `etcd_debugging_mvcc_put_total`. */
export const debuggingMvccPutTotal = new Counter({
  name: "etcd_debugging_mvcc_put_total",
  help: "Total number of puts seen by this member.",
  collect: _flushing(_DEBUG_PUTS),
});

/** `etcd_debugging_mvcc_range_total`. */
export const debuggingMvccRangeTotal = new Counter({
  name: "etcd_debugging_mvcc_range_total",
  help: "Total number of ranges seen by this member.",
  collect: _flushing(_DEBUG_RANGES),
});

/** `etcd_debugging_mvcc_slow_watcher_total`. */
export const debuggingMvccSlowWatcherTotal = new Gauge({
  name: "etcd_debugging_mvcc_slow_watcher_total",
  help: "Total number of unsynced slow watchers.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.watchers().slow);
  },
});

/** `etcd_debugging_mvcc_total_put_size_in_bytes`. */
export const debuggingMvccTotalPutSizeInBytes = new Gauge({
  name: "etcd_debugging_mvcc_total_put_size_in_bytes",
  help: "The total size of put kv pairs seen by this member.",
  collect: _flushing(_DEBUG_PUT_BYTES),
});

/** `etcd_debugging_mvcc_txn_total`. */
export const debuggingMvccTxnTotal = new Counter({
  name: "etcd_debugging_mvcc_txn_total",
  help: "Total number of txns seen by this member.",
  collect: _flushing(_DEBUG_TXNS),
});

/** `etcd_debugging_mvcc_watch_stream_total`. */
export const debuggingMvccWatchStreamTotal = new Gauge({
  name: "etcd_debugging_mvcc_watch_stream_total",
  help: "Total number of watch streams.",
});

/** `etcd_debugging_mvcc_watcher_total`. */
export const debuggingMvccWatcherTotal = new Gauge({
  name: "etcd_debugging_mvcc_watcher_total",
  help: "Total number of watchers.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.watchers().total);
  },
});

/** `etcd_mvcc_db_open_read_transactions`. */
export const mvccDbOpenReadTransactions = new Gauge({
  name: "etcd_mvcc_db_open_read_transactions",
  help: "The number of currently open read transactions",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.openReadTransactions());
  },
});

/** `etcd_mvcc_db_total_size_in_bytes`. */
export const mvccDbTotalSizeInBytes = new Gauge({
  name: "etcd_mvcc_db_total_size_in_bytes",
  help: "Total size of the underlying database physically allocated in bytes.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.dbSize());
  },
});

/** `etcd_mvcc_db_total_size_in_use_in_bytes`. */
export const mvccDbTotalSizeInUseInBytes = new Gauge({
  name: "etcd_mvcc_db_total_size_in_use_in_bytes",
  help: "Total size of the underlying database logically in use in bytes.",
  collect() {
    const source = _storeSource;
    if (source !== undefined) this.set(source.dbSizeInUse());
  },
});

/** `etcd_mvcc_delete_total`. */
export const mvccDeleteTotal = new Counter({
  name: "etcd_mvcc_delete_total",
  help: "Total number of deletes seen by this member.",
  collect: _flushing(_DELETES),
});

/** `etcd_mvcc_hash_duration_seconds`. */
export const mvccHashDurationSeconds = new Histogram({
  name: "etcd_mvcc_hash_duration_seconds",
  help: "The latency distribution of storage hash operation.",
  buckets: exponentialBuckets(0.01, 2, 15),
});

/** `etcd_mvcc_hash_rev_duration_seconds`. */
export const mvccHashRevDurationSeconds = new Histogram({
  name: "etcd_mvcc_hash_rev_duration_seconds",
  help: "The latency distribution of storage hash by revision operation.",
  buckets: exponentialBuckets(0.01, 2, 15),
});

/** `etcd_mvcc_put_total`. */
export const mvccPutTotal = new Counter({
  name: "etcd_mvcc_put_total",
  help: "Total number of puts seen by this member.",
  collect: _flushing(_PUTS),
});

/** `etcd_mvcc_range_total`. */
export const mvccRangeTotal = new Counter({
  name: "etcd_mvcc_range_total",
  help: "Total number of ranges seen by this member.",
  collect: _flushing(_RANGES),
});

/** `etcd_mvcc_txn_total`. */
export const mvccTxnTotal = new Counter({
  name: "etcd_mvcc_txn_total",
  help: "Total number of txns seen by this member.",
  collect: _flushing(_TXNS),
});

/** What the store's scrape-time gauges read, from the store opened last. */
export interface StoreGaugeSource {
  rev(): number;
  compactRev(): number;
  /** Keys with a live (not deleted) generation. */
  liveKeys(): number;
  dbSize(): number;
  dbSizeInUse(): number;
  openReadTransactions(): number;
  /** All watchers, and those catching up or waiting on a full stream (etcd's slow ones). */
  watchers(): { total: number; slow: number };
}

let _storeSource: StoreGaugeSource | undefined;

/** Makes the scrape-time gauges read `source` (etcd swaps its report functions likewise). */
export function reportStore(source: StoreGaugeSource | undefined): void {
  _storeSource = source;
}

/** Counts one finished transaction as etcd's metricsTxnWrite.End() does. */
export function reportTxn(ranges: number, puts: number, deletes: number, putBytes: number): void {
  const counts = _unflushed;
  // etcd counts a transaction only when it did more than one operation.
  if (ranges + puts + deletes > 1) {
    counts[_TXNS]! += 1;
    counts[_DEBUG_TXNS]! += 1;
  }
  if (ranges > 0) {
    counts[_RANGES]! += ranges;
    counts[_DEBUG_RANGES]! += ranges;
  }
  if (puts > 0) {
    counts[_PUTS]! += puts;
    counts[_DEBUG_PUTS]! += puts;
    counts[_DEBUG_PUT_BYTES]! += putBytes;
  }
  if (deletes > 0) {
    counts[_DELETES]! += deletes;
    counts[_DEBUG_DELETES]! += deletes;
  }
}

/** etcd's ReportEventReceived: events handed from a watch stream to its client. */
export function reportEventsReceived(n: number): void {
  if (n === 0) return;
  debuggingMvccPendingEventsTotal.dec(n);
  debuggingMvccEventsTotal.inc(n);
}
