/**
 * The multi-version key-value store over the backend (etcd `mvcc/kvstore.go`, `kvstore_txn.go`,
 * `kvstore_compaction.go`).
 *
 * Layout in the backend:
 * - bucket `key`: revision key (see `revision.ts`) -> encoded `mvccpb.KeyValue`. A tombstone's
 *   key carries the 't' mark and its value holds only the key.
 * - bucket `meta`: `consistent_index` (8-byte big-endian raft index), `scheduledCompactRev` and
 *   `finishedCompactRev` (17-byte revision keys of {rev, 0}).
 *
 * One write transaction is one main revision; its changes get sub revisions 0, 1, 2, ... The
 * store starts at revision 1, so the first write is revision 2 (as etcd).
 *
 * Everything here is synchronous except the physical part of a compaction, which deletes old
 * revisions in batches between event-loop turns so that writers are never held up for long.
 *
 * @module
 */

import { type Backend, type BatchTx, openReadTransactions, type ReadTx } from "../backend/mod.ts";
import { crc32c } from "../checksum/mod.ts";
import { CompactedError, FutureRevisionError, StoreClosedError } from "./errors.ts";
import { compareBytes, equalBytes, Slab } from "../bytes/mod.ts";
import { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
import { type RevisionSet, TreeIndex } from "./key_index.ts";
import {
  decodeKeyValue,
  decodeKeyValueIndexFields,
  encodeKeyValueWithView,
  encodeTombstoneKeyValue,
  type KeyValue,
  type KeyValueIndexFields,
} from "./mvccpb.ts";
import {
  debuggingMvccDbCompactionKeysTotal,
  debuggingMvccDbCompactionPauseDurationMilliseconds,
  debuggingMvccDbCompactionTotalDurationMilliseconds,
  debuggingMvccIndexCompactionPauseDurationMilliseconds,
  mvccHashDurationSeconds,
  mvccHashRevDurationSeconds,
  reportStore,
  reportTxn,
} from "./metrics.ts";
import {
  assertRevisionNumber,
  bytesToRevision,
  isTombstoneKey,
  type Revision,
  REVISION_BYTES,
  revisionGreater,
  revisionId,
  revisionToBytes,
  writeRevisionBytes,
} from "./revision.ts";

const _encoder = new TextEncoder();
/** Name of the bucket of key revisions. */
export const KEY_BUCKET: Uint8Array = _encoder.encode("key");
/** Name of the bucket of store metadata. */
export const META_BUCKET: Uint8Array = _encoder.encode("meta");
/** Meta key of the raft index of the last applied entry. */
export const CONSISTENT_INDEX_KEY: Uint8Array = _encoder.encode("consistent_index");
/** Meta key of the revision of the last compaction requested. */
export const SCHEDULED_COMPACT_KEY: Uint8Array = _encoder.encode("scheduledCompactRev");
/** Meta key of the revision of the last compaction completed on disk. */
export const FINISHED_COMPACT_KEY: Uint8Array = _encoder.encode("finishedCompactRev");

const _COMPACTION_BATCH_LIMIT = 1000;
const _COMPACTION_SLEEP_MS = 10;
const _NO_LEASE = 0n;
/** The value of every tombstone's change (zero-length, so nobody can write into it). */
const _NO_VALUE = new Uint8Array(0);

/**
 * The lessor as the store sees it: keys are latin1 strings of their bytes (see `key_bytes.ts`),
 * as etcd's `lease.LeaseItem{Key: string(key)}`.
 */
export interface LeaseAttacher {
  /** Attaches `key` to the lease; throws when the lease does not exist. */
  attach(id: bigint, key: string): void;
  /** Detaches `key` from the lease; throws when the lease does not exist. */
  detach(id: bigint, key: string): void;
  /** The lease `key` is attached to, 0n for none. */
  getLease(key: string): bigint;
}

/** Options of {@link KvStore}. */
export interface StoreOptions {
  /** The lessor that tracks which keys hang on which lease. Needed for puts with a lease. */
  lessor?: LeaseAttacher;
  /**
   * The raft index of the entry being applied. When given, every write transaction stores it
   * under `meta/consistent_index` in the same backend batch as its changes.
   */
  consistentIndex?: () => number;
  /** Revisions deleted per backend batch by a compaction (etcd default 1000). */
  compactionBatchLimit?: number;
  /** Pause between compaction batches, in milliseconds (etcd: 10). */
  compactionSleepMs?: number;
}

/** Options of a range read. */
export interface RangeOptions {
  /** Maximum number of key-values returned; 0 or less is no limit. */
  limit?: number;
  /** Revision to read at; 0 or less reads the newest. */
  rev?: number;
  /** Return only the count. */
  countOnly?: boolean;
}

/** What a range read returns. */
export interface RangeResult {
  /** The key-values, in key order, at most `limit`. */
  kvs: KeyValue[];
  /** How many keys the range holds at the revision (before the limit). */
  count: number;
  /** The store's revision the read was served at (the response header revision). */
  rev: number;
}

/** A read view at a fixed revision. */
export interface TxnRead {
  /** The compacted revision when the view was opened (-1 if none). */
  readonly firstRev: number;
  /** The current revision when the view was opened. */
  readonly rev: number;
  /**
   * Reads `[key, end)`; `end` undefined reads the single key, an empty `end` every key from
   * `key` on. Throws {@link CompactedError} or {@link FutureRevisionError}.
   */
  range(key: Uint8Array, end: Uint8Array | undefined, options?: RangeOptions): RangeResult;
  /** Ends the view: its ranges are counted in the store's metrics (etcd's txn End()). */
  end?(): void;
}

/** A write transaction: every change in it shares one main revision. */
export interface TxnWrite extends TxnRead {
  /** Puts `value` under `key` with `lease` (0n: none); returns the revision it will have. */
  put(key: Uint8Array, value: Uint8Array, lease?: bigint): number;
  /** Deletes the keys of the range; returns how many and the revision. */
  deleteRange(key: Uint8Array, end: Uint8Array | undefined): { deleted: number; rev: number };
  /** The changes made so far (a deletion has createRevision 0). */
  readonly changes: readonly KeyValue[];
  /** Ends the transaction: the revision becomes current and watchers are told. */
  end(): void;
}

/** The result of {@link KvStore.hashByRev}. */
export interface HashKvResult {
  hash: number;
  currentRev: number;
  compactRev: number;
}

/** The multi-version key-value store. */
export class KvStore {
  protected backend: Backend;
  protected index = new TreeIndex();
  readonly #lessor: LeaseAttacher | undefined;
  readonly #consistentIndexGetter: (() => number) | undefined;
  readonly #compactionBatchLimit: number;
  readonly #compactionSleepMs: number;
  #currentRev = 1;
  #compactMainRev = -1;
  #savedConsistentIndex = -1;
  /** The consistent index's 8 bytes, big-endian, rewritten for each save. */
  /** Keys whose last generation is not deleted (etcd's keysGauge). */
  #liveKeys = 0;
  #writeOpen = false;
  #closed = false;
  #compactionChain: Promise<void> = Promise.resolve();
  /** Bumped by restore: compactions of an older backend stop. */
  #epoch = 0;
  #compactionTimer: ReturnType<typeof setTimeout> | undefined;
  #compactionWake: (() => void) | undefined;

  /** Opens the store over `backend`: creates the buckets and rebuilds the index from disk. */
  constructor(backend: Backend, options: StoreOptions = {}) {
    this.backend = backend;
    this.#lessor = options.lessor;
    this.#consistentIndexGetter = options.consistentIndex;
    this.#compactionBatchLimit = options.compactionBatchLimit ?? _COMPACTION_BATCH_LIMIT;
    this.#compactionSleepMs = options.compactionSleepMs ?? _COMPACTION_SLEEP_MS;
    if (this.#compactionBatchLimit < 1) throw new RangeError("compactionBatchLimit must be >= 1");
    this.#open();
    // The scrape-time gauges read the store opened last, as etcd's report functions do.
    reportStore({
      rev: () => this.rev,
      compactRev: () => this.compactRev,
      liveKeys: () => this.#liveKeys,
      dbSize: () => this.backend.size(),
      dbSizeInUse: () => this.backend.sizeInUse(),
      // Reads finish within one turn of the event loop; only a db snapshot stays open.
      openReadTransactions,
      watchers: () => this.watcherGauges(),
    });
  }

  /** All watchers and the slow ones, for the metrics; a plain store has none. */
  protected watcherGauges(): { total: number; slow: number } {
    return { total: 0, slow: 0 };
  }

  /**
   * Replaces the backend with another one (a db snapshot received from the leader) and rebuilds
   * everything from it (etcd `store.Restore`). The lessor must have been recovered from the same
   * backend first, so that keys can be attached to their leases.
   */
  restore(backend: Backend): void {
    this.#assertOpen();
    if (this.#writeOpen) throw new Error("mvcc: restore during a write transaction");
    this.#epoch++;
    if (this.#compactionTimer !== undefined) clearTimeout(this.#compactionTimer);
    this.#compactionTimer = undefined;
    this.#compactionWake?.();
    this.backend = backend;
    this.index = new TreeIndex();
    this.#currentRev = 1;
    this.#compactMainRev = -1;
    this.#savedConsistentIndex = -1;
    this.#open();
  }

  #open(): void {
    const tx = this.backend.batchTx;
    tx.lock();
    tx.unsafeCreateBucket(KEY_BUCKET);
    tx.unsafeCreateBucket(META_BUCKET);
    tx.unlock();
    this.backend.forceCommit();
    this.#restore();
  }

  /** The revision of the last completed write transaction. */
  get rev(): number {
    return this.#currentRev;
  }

  /** The revision of the last compaction (-1 when never compacted). */
  get compactRev(): number {
    return this.#compactMainRev;
  }

  /** Opens a read view at the current revision. */
  read(): TxnRead {
    this.#assertOpen();
    const tx = this.backend.readTx();
    const rev = this.#currentRev;
    let ranges = 0;
    return {
      firstRev: this.#compactMainRev,
      rev,
      range: (key, end, options = {}) => {
        ranges++;
        return this._rangeKeys(tx, key, end, rev, options);
      },
      end: () => reportTxn(ranges, 0, 0, 0),
    };
  }

  /** Opens the write transaction (one at a time); call `end()` on it. */
  write(): TxnWrite {
    this.#assertOpen();
    if (this.#writeOpen) throw new Error("mvcc: a write transaction is already open");
    this.#writeOpen = true;
    const tx = this.backend.batchTx;
    tx.lock();
    return new _StoreTxnWrite(this, tx, this.#currentRev);
  }

  /** Shorthand: one put in its own write transaction. Returns the new revision. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint = _NO_LEASE): number {
    const txn = this.write();
    const rev = txn.put(key, value, lease);
    txn.end();
    return rev;
  }

  /** Shorthand: one delete range in its own write transaction. */
  deleteRange(key: Uint8Array, end: Uint8Array | undefined): { deleted: number; rev: number } {
    const txn = this.write();
    const result = txn.deleteRange(key, end);
    txn.end();
    return result;
  }

  /** Shorthand: one range read at the current revision. */
  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions = {}): RangeResult {
    return this.read().range(key, end, options);
  }

  /**
   * Compacts the history at `rev`: reads below `rev` fail from now on, and the old revisions are
   * deleted from the backend in batches. Returns a promise that resolves when they are (the
   * "physical" option). Throws {@link CompactedError} or {@link FutureRevisionError}.
   */
  compact(rev: number): { done: Promise<void> } {
    this.#assertOpen();
    this.#updateCompactRev(rev);
    return { done: this.#scheduleCompaction(rev) };
  }

  /**
   * The hash of the whole backend except `meta/consistent_index` (etcd `store.Hash`), with the
   * current revision.
   */
  hash(): { hash: number; revision: number } {
    const began = performance.now();
    this.backend.forceCommit();
    const hash = this.backend.hash((bucket, key) =>
      equalBytes(bucket, META_BUCKET) && equalBytes(key, CONSISTENT_INDEX_KEY)
    );
    mvccHashDurationSeconds.observe((performance.now() - began) / 1000);
    return { hash, revision: this.#currentRev };
  }

  /**
   * The CRC-32C of the key bucket as of revision `rev` (0: current), skipping revisions that a
   * compaction has scheduled for deletion (etcd `store.HashByRev`, used by HashKV).
   */
  hashByRev(rev: number): HashKvResult {
    const compactRev = this.#compactMainRev;
    const currentRev = this.#currentRev;
    if (rev > 0 && rev <= compactRev) throw new CompactedError(compactRev);
    if (rev > 0 && rev > currentRev) throw new FutureRevisionError(currentRev);
    const began = performance.now();
    const atRev = rev === 0 ? currentRev : rev;
    const keep = this.index.keep(atRev);
    const upper: Revision = { main: atRev + 1, sub: 0 };
    const lower: Revision = { main: compactRev + 1, sub: 0 };
    let crc = crc32c(KEY_BUCKET);
    this.backend.readTx().unsafeForEach(KEY_BUCKET, (k, v) => {
      const kr = bytesToRevision(k);
      if (!revisionGreater(upper, kr)) return;
      // Skip what the compaction will delete; etcd keeps everything when nothing is kept.
      if (revisionGreater(lower, kr) && keep.size > 0 && !keep.has(revisionId(kr))) return;
      crc = crc32c(k, crc);
      crc = crc32c(v, crc);
    });
    mvccHashRevDurationSeconds.observe((performance.now() - began) / 1000);
    return { hash: crc, currentRev, compactRev };
  }

  /** The consistent index stored in `meta` (0 when none). */
  consistentIndex(): number {
    const { values } = this.backend.readTx().unsafeRange(
      META_BUCKET,
      CONSISTENT_INDEX_KEY,
      undefined,
      0,
    );
    const value = values[0];
    if (value === undefined) return 0;
    if (value.length !== 8) throw new Error("mvcc: consistent_index is not 8 bytes");
    const index = Number(new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, false));
    assertRevisionNumber(index, "consistent index");
    return index;
  }

  /**
   * Stores the caller's consistent index (if any) and forces a backend commit (etcd
   * `store.Commit`: before a raft snapshot is taken or sent). Between commits the index is
   * stored only by writes that changed keys (and by the auth store), as in etcd 3.4.
   */
  commit(): void {
    const tx = this.backend.batchTx;
    tx.lock();
    this.saveConsistentIndex(tx);
    tx.unlock();
    this.backend.forceCommit();
  }

  /** Writes the consistent index into `tx` if it changed; `tx` must be locked. */
  saveConsistentIndex(tx: BatchTx): void {
    if (this.#consistentIndexGetter === undefined) return;
    const index = this.#consistentIndexGetter();
    assertRevisionNumber(index, "consistent index");
    if (index === this.#savedConsistentIndex) return;
    // Written on every write transaction: the batch takes the constant key and this 8-byte
    // value over (no copies), and the index goes in as two 32-bit halves, not a BigInt. The
    // value is a view of a shared slab (one heap object, where an array of its own is three:
    // view, buffer, store); only the latest one stays referenced once the batch commits.
    const bytes = _CONSISTENT_INDEX_SLAB.alloc(8);
    _putUint32(bytes, 0, Math.floor(index / 2 ** 32));
    _putUint32(bytes, 4, index >>> 0);
    tx.unsafePutOwned(META_BUCKET, CONSISTENT_INDEX_KEY, bytes);
    this.#savedConsistentIndex = index;
  }

  /** Stops background compaction; the store can no longer be used. */
  close(): void {
    this.#closed = true;
    if (this.#compactionTimer !== undefined) clearTimeout(this.#compactionTimer);
    this.#compactionTimer = undefined;
    this.#compactionWake?.();
  }

  /** Waits for scheduled physical compactions (tests and shutdown). */
  compactionsDone(): Promise<void> {
    return this.#compactionChain;
  }

  /** The store's key index (read-only use by the watchable store and tests). */
  get keyIndex(): TreeIndex {
    return this.index;
  }

  /** Called when a write transaction that changed keys ends, before it becomes current. */
  protected onWriteEnd(_rev: number, _changes: KeyValue[]): void {}

  // -- internals used by the write transaction ---------------------------------------------

  /** @internal */
  _rangeKeys(
    tx: ReadTx,
    key: Uint8Array,
    end: Uint8Array | undefined,
    curRev: number,
    options: RangeOptions,
  ): RangeResult {
    let rev = options.rev ?? 0;
    if (rev > curRev) throw new FutureRevisionError(curRev);
    if (rev <= 0) rev = curRev;
    if (rev < this.#compactMainRev) throw new CompactedError(this.#compactMainRev);
    const limit = options.countOnly ? 1 : options.limit ?? 0;
    const found = this.index.revisions(key, end, rev, limit);
    if (found.total === 0 || options.countOnly) return { kvs: [], count: found.total, rev: curRev };
    const kvs: KeyValue[] = [];
    // One scratch key for the lookups: the backend only seeks with it.
    const revKey = new Uint8Array(REVISION_BYTES);
    for (const revpair of found.revs) {
      writeRevisionBytes(revpair, revKey);
      const { values } = tx.unsafeRange(KEY_BUCKET, revKey, undefined, 0);
      const value = values[0];
      if (values.length !== 1 || value === undefined) {
        throw new Error(`mvcc: range cannot find revision ${revpair.main}.${revpair.sub}`);
      }
      // Copy once: the backend may reuse its buffers, the client keeps the result.
      kvs.push(decodeKeyValue(value.slice()));
    }
    return { kvs, count: found.total, rev: curRev };
  }

  /** @internal */
  _put(tx: BatchTx, beginRev: number, changes: KeyValue[], put: _PutArgs): void {
    const rev = beginRev + 1;
    // One key string per put, for the index's lookup and update and the lessor.
    const keyString = bytesToKeyString(put.key);
    const prev = this.index.getKeyString(keyString, rev);
    let oldLease = _NO_LEASE;
    if (prev !== undefined && this.#lessor !== undefined) {
      oldLease = this.#lessor.getLease(keyString);
    }
    const idxRev: Revision = { main: rev, sub: changes.length };
    const kv: KeyValue = {
      key: put.key,
      value: put.value,
      createRevision: prev === undefined ? rev : prev.created.main,
      modRevision: rev,
      version: prev === undefined ? 1 : prev.version + 1,
      lease: put.lease,
    };
    const encoded = encodeKeyValueWithView(kv);
    // The change keeps views of the key and value inside the encoding (their one copy), never
    // the caller's arrays (views of a request or a raft entry, kept whole by a view).
    kv.key = encoded.key;
    kv.value = encoded.value;
    tx.unsafeSeqPut(KEY_BUCKET, revisionToBytes(idxRev), encoded.bytes);
    this.index.putKeyString(keyString, idxRev);
    if (prev === undefined) this.#liveKeys++;
    changes.push(kv);
    if (oldLease !== _NO_LEASE) this.#lessor!.detach(oldLease, keyString);
    if (put.lease !== _NO_LEASE) {
      if (this.#lessor === undefined) throw new Error("mvcc: no lessor to attach a lease");
      this.#lessor.attach(put.lease, keyString);
    }
  }

  /** @internal */
  _deleteRange(
    tx: BatchTx,
    beginRev: number,
    changes: KeyValue[],
    key: Uint8Array,
    end: Uint8Array | undefined,
  ): number {
    const rrev = changes.length > 0 ? beginRev + 1 : beginRev;
    // The index tombstones the keys in one walk, at the revisions #delete writes them under.
    const keys = this.index.tombstoneRange(key, end, {
      atRev: rrev,
      main: beginRev + 1,
      sub: changes.length,
    });
    for (const keyString of keys) this.#delete(tx, beginRev, changes, keyString);
    return keys.length;
  }

  /** Writes the tombstone of a key the index has tombstoned at {beginRev + 1, changes.length}. */
  #delete(tx: BatchTx, beginRev: number, changes: KeyValue[], keyString: string): void {
    const idxRev: Revision = { main: beginRev + 1, sub: changes.length };
    const key = keyStringToBytes(keyString);
    const kv: KeyValue = {
      key,
      value: _NO_VALUE,
      createRevision: 0,
      modRevision: 0,
      version: 0,
      lease: _NO_LEASE,
    };
    tx.unsafeSeqPut(KEY_BUCKET, revisionToBytes(idxRev, true), encodeTombstoneKeyValue(key));
    this.#liveKeys--;
    changes.push(kv);
    if (this.#lessor !== undefined) {
      const lease = this.#lessor.getLease(keyString);
      if (lease !== _NO_LEASE) this.#lessor.detach(lease, keyString);
    }
  }

  /** @internal */
  _endWrite(tx: BatchTx, changes: KeyValue[]): void {
    try {
      if (changes.length > 0) {
        this.saveConsistentIndex(tx);
        const rev = this.#currentRev + 1;
        // The revision is on its way to disk with the batch: make it current, then tell
        // the watchers (a failure there must not leave the store behind its own data).
        this.#currentRev = rev;
        this.onWriteEnd(rev, changes);
      }
      // etcd 3.4 (storeTxnWrite.End) saves the index only when the transaction changed keys.
    } finally {
      tx.unlock();
      this.#writeOpen = false;
    }
  }

  // -- compaction -----------------------------------------------------------------------------

  #updateCompactRev(rev: number): void {
    assertRevisionNumber(rev, "compact revision");
    if (rev <= this.#compactMainRev) throw new CompactedError(this.#compactMainRev);
    if (rev > this.#currentRev) throw new FutureRevisionError(this.#currentRev);
    this.#compactMainRev = rev;
    const tx = this.backend.batchTx;
    tx.lock();
    tx.unsafePut(META_BUCKET, SCHEDULED_COMPACT_KEY, revisionToBytes({ main: rev, sub: 0 }));
    tx.unlock();
    // The schedule must be on disk before any revision is removed.
    this.backend.forceCommit();
  }

  #scheduleCompaction(rev: number): Promise<void> {
    const began = performance.now();
    const keep = this.index.compact(rev);
    debuggingMvccIndexCompactionPauseDurationMilliseconds.observe(performance.now() - began);
    const run = this.#compactionChain.then(() => this.#compactPhysically(rev, keep));
    this.#compactionChain = run.catch(() => {});
    return run;
  }

  async #compactPhysically(rev: number, keep: RevisionSet): Promise<void> {
    // Revisions below `rev` go, unless the key index keeps them; those AT `rev` all stay, so
    // that a watcher from the compaction revision (still allowed) gets every event of it, a
    // delete included (etcd issue #18089, fixed in etcd 3.5.15; 3.4 loses that delete).
    const end = new Uint8Array(8);
    new DataView(end.buffer).setBigUint64(0, BigInt(rev), false);
    let last: Uint8Array = new Uint8Array(17);
    const epoch = this.#epoch;
    const began = performance.now();
    const counted = { keys: 0 };
    while (!this.#closed && epoch === this.#epoch) {
      if (this.#writeOpen) {
        await this.#sleep(0);
        continue;
      }
      const pause = performance.now();
      const next = this.#compactBatch(rev, keep, last, end, counted);
      debuggingMvccDbCompactionPauseDurationMilliseconds.observe(performance.now() - pause);
      if (next === undefined) {
        debuggingMvccDbCompactionTotalDurationMilliseconds.observe(performance.now() - began);
        debuggingMvccDbCompactionKeysTotal.inc(counted.keys);
        return;
      }
      last = next;
      // Commit the deletes at once rather than letting them pile up in the write buffer.
      this.backend.forceCommit();
      await this.#sleep(this.#compactionSleepMs);
    }
  }

  /** Deletes one batch; returns where to go on, or undefined when the compaction finished. */
  #compactBatch(
    rev: number,
    keep: RevisionSet,
    last: Uint8Array,
    end: Uint8Array,
    counted: { keys: number },
  ): Uint8Array | undefined {
    const tx = this.backend.batchTx;
    tx.lock();
    try {
      const { keys } = tx.unsafeRange(KEY_BUCKET, last, end, this.#compactionBatchLimit);
      let lastRev: Revision | undefined;
      // Decide first, delete after: the keys may be views into pages that deletes change.
      const doomed: Uint8Array[] = [];
      for (const key of keys) {
        lastRev = bytesToRevision(key);
        if (!keep.has(revisionId(lastRev))) doomed.push(key.slice());
      }
      for (const key of doomed) tx.unsafeDelete(KEY_BUCKET, key);
      counted.keys += doomed.length;
      if (keys.length < this.#compactionBatchLimit || lastRev === undefined) {
        tx.unsafePut(META_BUCKET, FINISHED_COMPACT_KEY, revisionToBytes({ main: rev, sub: 0 }));
        return undefined;
      }
      return revisionToBytes({ main: lastRev.main, sub: lastRev.sub + 1 });
    } finally {
      tx.unlock();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#compactionWake = resolve;
      this.#compactionTimer = setTimeout(() => {
        this.#compactionTimer = undefined;
        this.#compactionWake = undefined;
        resolve();
      }, ms);
    });
  }

  // -- restore ----------------------------------------------------------------------------------

  #restore(): void {
    const tx = this.backend.batchTx;
    tx.lock();
    let scheduledCompact = 0;
    const keyToLease = new Map<string, bigint>();
    try {
      const finished = tx.unsafeRange(META_BUCKET, FINISHED_COMPACT_KEY, undefined, 0).values[0];
      if (finished !== undefined) this.#compactMainRev = bytesToRevision(finished).main;
      const scheduled = tx.unsafeRange(META_BUCKET, SCHEDULED_COMPACT_KEY, undefined, 0).values[0];
      if (scheduled !== undefined) scheduledCompact = bytesToRevision(scheduled).main;
      this.#currentRev = this.#restoreIndex(tx, keyToLease);
      this.index.finishRestore();
      this.#liveKeys = this.index.countLive();
      // Revisions up to the compaction may all be gone; the store is at least there.
      if (this.#currentRev < this.#compactMainRev) this.#currentRev = this.#compactMainRev;
      if (scheduledCompact <= this.#compactMainRev) scheduledCompact = 0;
    } finally {
      tx.unlock();
    }
    for (const [key, lease] of keyToLease) {
      if (this.#lessor === undefined) throw new Error("mvcc: no lessor to attach a lease");
      try {
        this.#lessor.attach(lease, key);
      } catch {
        // etcd logs and goes on: the lease was revoked while the key was not yet deleted.
      }
    }
    this.#savedConsistentIndex = this.consistentIndex();
    if (scheduledCompact !== 0) {
      // Finish the compaction a crash interrupted.
      this.#updateCompactRev(scheduledCompact);
      void this.#scheduleCompaction(scheduledCompact);
    }
  }

  /**
   * Rebuilds the index from the key bucket; returns the last main revision seen. Of each
   * revision only the key, create revision, version and lease are decoded, from the parts of the
   * stored KeyValue that hold them: the value's bytes are not read (with large values, most of
   * the file).
   */
  #restoreIndex(tx: BatchTx, keyToLease: Map<string, bigint>): number {
    let currentRev = 1;
    const min = revisionToBytes({ main: 1, sub: 0 });
    tx.unsafeForEachPart(KEY_BUCKET, (revKey, size, part) => {
      if (compareBytes(revKey, min) < 0) return;
      currentRev = this.#restoreOne(revKey, decodeKeyValueIndexFields(size, part), keyToLease);
    });
    return currentRev;
  }

  #restoreOne(
    revKey: Uint8Array,
    kv: KeyValueIndexFields,
    keyToLease: Map<string, bigint>,
  ): number {
    const keyString = bytesToKeyString(kv.key);
    const rev = bytesToRevision(revKey);
    const tombstone = isTombstoneKey(revKey);
    // The map is usually empty (no leases): skip the lookups then.
    if (kv.lease !== _NO_LEASE && !tombstone) keyToLease.set(keyString, kv.lease);
    else if (keyToLease.size !== 0) keyToLease.delete(keyString);
    this.index.restore(keyString, {
      rev,
      tombstone,
      createRevision: kv.createRevision,
      version: kv.version,
    });
    return rev.main;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

interface _PutArgs {
  key: Uint8Array;
  value: Uint8Array;
  lease: bigint;
}

class _StoreTxnWrite implements TxnWrite {
  readonly firstRev: number;
  readonly #changes: KeyValue[] = [];
  #ended = false;
  /** Operations and put bytes, for the store's counters (etcd's metricsTxnWrite). */
  #ranges = 0;
  #puts = 0;
  #deletes = 0;
  #putBytes = 0;

  readonly #tx: BatchTx;
  readonly #store: KvStore;

  constructor(
    store: KvStore,
    tx: BatchTx,
    readonly rev: number,
  ) {
    this.#tx = tx;
    this.#store = store;
    this.firstRev = store.compactRev;
  }

  get changes(): readonly KeyValue[] {
    return this.#changes;
  }

  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions = {}): RangeResult {
    this.#assertActive();
    this.#ranges++;
    const rev = this.#changes.length > 0 ? this.rev + 1 : this.rev;
    return this.#store._rangeKeys(this.#tx, key, end, rev, options);
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint = _NO_LEASE): number {
    this.#assertActive();
    if (key.length === 0) throw new RangeError("mvcc: key is not provided");
    this.#puts++;
    this.#putBytes += key.length + value.length;
    // The key and value are copied once, into the encoding (`_put`); the index keeps the key
    // as its string.
    this.#store._put(this.#tx, this.rev, this.#changes, { key, value, lease });
    return this.rev + 1;
  }

  deleteRange(key: Uint8Array, end: Uint8Array | undefined): { deleted: number; rev: number } {
    this.#assertActive();
    this.#deletes++;
    const deleted = this.#store._deleteRange(this.#tx, this.rev, this.#changes, key, end);
    if (deleted !== 0 || this.#changes.length > 0) return { deleted, rev: this.rev + 1 };
    return { deleted: 0, rev: this.rev };
  }

  end(): void {
    this.#assertActive();
    this.#ended = true;
    reportTxn(this.#ranges, this.#puts, this.#deletes, this.#putBytes);
    this.#store._endWrite(this.#tx, this.#changes);
  }

  #assertActive(): void {
    if (this.#ended) throw new Error("mvcc: write transaction already ended");
  }
}

/** Writes `value` (0 <= value < 2^32) big-endian at `offset`. */
/** Where the consistent index's values are carved (512 per slab). */
const _CONSISTENT_INDEX_SLAB = new Slab(4096);

function _putUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}
