/**
 * The multi-version key-value store: revisions, the key index, the store over the backend's
 * `key` and `meta` buckets with compaction and hashes, and the watchable store with watch
 * streams. See `kvstore.ts` and `watchable_store.ts`.
 *
 * @module
 */
export {
  CompactedError,
  EmptyWatcherRangeError,
  FutureRevisionError,
  StoreClosedError,
  WatcherDuplicateIdError,
  WatcherNotExistError,
  WatchStreamFullError,
} from "./errors.ts";
export { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
export {
  CONSISTENT_INDEX_KEY,
  FINISHED_COMPACT_KEY,
  type HashKvResult,
  KEY_BUCKET,
  KvStore,
  type LeaseAttacher,
  META_BUCKET,
  type RangeOptions,
  type RangeResult,
  SCHEDULED_COMPACT_KEY,
  type StoreOptions,
  type TxnRead,
  type TxnWrite,
} from "./kvstore.ts";
export {
  decodeEvent,
  decodeKeyValue,
  emptyKeyValue,
  encodeEvent,
  encodeKeyValue,
  encodeKeyValueWithView,
  type Event,
  eventSize,
  EventType,
  type KeyValue,
  keyValueSize,
} from "./mvccpb.ts";
export { bytesToRevision, isTombstoneKey, type Revision, revisionToBytes } from "./revision.ts";
export {
  WATCH_STREAM_QUEUE_MAX,
  WatchableStore,
  type WatchableStoreOptions,
  type WatchOptions,
  WatchStream,
} from "./watchable_store.ts";
export { FilterType, type WatchResponse } from "./watcher_group.ts";
export { reportTxn } from "./metrics.ts";
