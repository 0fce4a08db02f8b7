/**
 * Errors of the key-value store, with etcd's texts (`mvcc/kvstore.go`, `watcher.go`). The API
 * layer maps them to gRPC codes by class and prefixes "etcdserver: ".
 *
 * @module
 */

/** A read or compaction asked for a revision that compaction has removed. */
export class CompactedError extends Error {
  override readonly name = "CompactedError";
  /** The store's compacted revision at the time of the request. */
  readonly compactRevision: number;
  constructor(compactRevision: number) {
    super("mvcc: required revision has been compacted");
    this.compactRevision = compactRevision;
  }
}

/** A read or compaction asked for a revision later than the store's current one. */
export class FutureRevisionError extends Error {
  override readonly name = "FutureRevisionError";
  /** The store's current revision at the time of the request. */
  readonly currentRevision: number;
  constructor(currentRevision: number) {
    super("mvcc: required revision is a future revision");
    this.currentRevision = currentRevision;
  }
}

/** The store has been closed. */
export class StoreClosedError extends Error {
  override readonly name = "StoreClosedError";
  constructor() {
    super("mvcc: closed");
  }
}

/** A watch asked for an ID already in use on its stream. */
export class WatcherDuplicateIdError extends Error {
  override readonly name = "WatcherDuplicateIdError";
  constructor() {
    super("mvcc: duplicate watch ID provided on the WatchStream");
  }
}

/** A cancel or progress request named a watcher the stream does not have. */
export class WatcherNotExistError extends Error {
  override readonly name = "WatcherNotExistError";
  constructor() {
    super("mvcc: watcher does not exist");
  }
}

/** The stream cannot take another watcher (see `WATCHERS_PER_STREAM_MAX`). */
export class WatchStreamFullError extends Error {
  override readonly name = "WatchStreamFullError";
  constructor() {
    super("mvcc: too many watchers on the WatchStream");
  }
}

/** A watch range whose end is not after its key. */
export class EmptyWatcherRangeError extends Error {
  override readonly name = "EmptyWatcherRangeError";
  constructor() {
    super("mvcc: watcher range is empty");
  }
}
