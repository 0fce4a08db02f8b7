/**
 * etcd's batched backend (`mvcc/backend/backend.go`, `batch_tx.go`, `read_tx.go`) over the
 * bolt file: one long-lived write transaction that collects writes and commits them every
 * `batchIntervalMs` or after `batchLimit` writes, whichever comes first.
 *
 * A batch commit writes its pages at once but awaits both fdatasyncs (pages, then meta) off
 * the event loop, so requests keep being served while the disk works; the next batch opens at
 * once on top of the committed state, and its own commit waits until the one in flight is
 * durable. forceCommit() is the synchronous, durable commit for callers that need the file on
 * disk now (snapshot, defrag, compaction schedule, close).
 *
 * Readers see the writes of the batch before it commits, as etcd's txReadBuffer makes them
 * do. Here a ReadTx reads straight through the open write transaction (one thread, so no read
 * can interleave with a half-done write): it sees puts and deletes at once, a superset of
 * etcd's buffer, which holds puts only.
 *
 * @module
 */

import * as fs from "node:fs";
import { crc32c } from "../checksum/mod.ts";
import { DB, type DBOptions } from "./db.ts";
import { assert, BoltError, ERR_BUCKET_EXISTS, ERR_BUCKET_NOT_FOUND } from "./errors.ts";
import type { FreelistType } from "./free_spans.ts";
import { META_PAGE_FLAG, Page, writeMeta } from "./page.ts";
import { compareBytes, equalBytes } from "../bytes/mod.ts";
import type { Tx } from "./tx.ts";
import type { Bucket } from "./bucket.ts";
import {
  type BackendLogger,
  countOpenSnapshot,
  diskBackendCommitDurationSeconds,
  diskBackendDefragDurationSeconds,
  diskBackendSnapshotDurationSeconds,
  diskDefragInflight,
  type PageFileStats,
  reportPageFile,
  watchSnapshotDuration,
} from "./metrics.ts";

/** Options of openBackend (etcd's backend.BackendConfig). */
export interface BackendOptions {
  /** The db file, e.g. member/snap/db. */
  path: string;
  /** Commit the batch at least this often. Default 100. */
  batchIntervalMs?: number;
  /** Commit the batch once it holds this many writes. Default 10000. */
  batchLimit?: number;
  /** Free-page set, as etcd's --experimental-backend-bbolt-freelist-type. Default "map". */
  freelistType?: FreelistType;
  /** Do not persist the freelist (etcd 3.4 on Linux). Default true. */
  noFreelistSync?: boolean;
  /** Ignored: there is no mmap to size. */
  initialMmapSize?: number;
  /** Run check() after every commit (tests). */
  strictMode?: boolean;
  /** Byte budget of the page cache (detcd's --experimental-backend-cache-bytes). Default 16 MiB. */
  pageCacheBytes?: number;
  /** Where a snapshot that takes long is warned about (etcd's backend logger). */
  logger?: BackendLogger;
}

/**
 * A read view. Keys and values are bytes and come back in key order; in the bolt backend a read
 * view also sees the batch's uncommitted writes.
 */
export interface ReadTx {
  /**
   * Keys and values of `bucket` from `key` up to (not including) `endKey`, at most `limit` pairs
   * (`limit <= 0`: all). With `endKey` undefined or empty only `key` itself is looked up.
   */
  unsafeRange(
    bucket: Uint8Array,
    key: Uint8Array,
    endKey: Uint8Array | undefined,
    limit: number,
  ): { keys: Uint8Array[]; values: Uint8Array[] };
  /** Calls `visitor` for each key of `bucket` in order. */
  unsafeForEach(bucket: Uint8Array, visitor: (key: Uint8Array, value: Uint8Array) => void): void;
  /**
   * Calls `visitor` for each key of `bucket` in order, for a scan that needs only some bytes of
   * each value: `size` is the value's length and `part(offset, length)` returns those bytes of
   * it. Keys and parts are views valid during the call only (a part until the next part). The
   * bolt backend then reads only the first page of a value that spans overflow pages, and the
   * parts asked for, past its page cache.
   */
  unsafeForEachPart(
    bucket: Uint8Array,
    visitor: (key: Uint8Array, size: number, part: ValuePart) => void,
  ): void;
}

/** Bytes `offset` to `offset + length` of a value (see `ReadTx.unsafeForEachPart`). */
export type ValuePart = (offset: number, length: number) => Uint8Array;

/** A ValuePart over a value held whole. */
export function wholeValuePart(value: Uint8Array): ValuePart {
  return (offset, length) => {
    if (offset < 0 || length < 0 || offset + length > value.length) {
      throw new RangeError(
        `value part ${offset}+${length} outside a value of ${value.length} bytes`,
      );
    }
    return value.subarray(offset, offset + length);
  };
}

/** The one write transaction of the backend. */
export interface BatchTx extends ReadTx {
  lock(): void;
  /** Commits when the pending writes reached batchLimit. */
  unlock(): void;
  unsafeCreateBucket(name: Uint8Array): void;
  unsafeDeleteBucket(name: Uint8Array): void;
  unsafePut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void;
  /**
   * `unsafePut` that takes `key` and `value` over without copying them: the caller must not
   * change them afterwards (for a constant key and a value made for this put alone).
   */
  unsafePutOwned(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void;
  /**
   * A put whose keys mostly grow: pages are split at 90% instead of 50%. The batch takes `key`
   * and `value` over without copying them (unlike `unsafePut`): the caller must not change them
   * afterwards.
   */
  unsafeSeqPut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void;
  unsafeDelete(bucket: Uint8Array, key: Uint8Array): void;
  commit(): void;
}

/** A consistent copy of the committed db file. */
export interface BackendSnapshot {
  size(): number;
  writeTo(sink: (chunk: Uint8Array) => Promise<void> | void): Promise<number>;
  close(): void;
}

/**
 * The backend contract: the storage under the key-value store, the lessor, auth and membership.
 * `mvcc/` and `lease/` are written against this interface alone, so that an in-memory backend
 * can stand in for the bolt file in their tests.
 */
export interface Backend {
  readonly batchTx: BatchTx;
  readTx(): ReadTx;
  concurrentReadTx(): ReadTx;
  /** Commits the batch now and waits until it is durable. */
  forceCommit(): void;
  /** Bytes the backend takes (the db file's size). */
  size(): number;
  /** Bytes in use (the file's size minus its free pages). */
  sizeInUse(): number;
  /** A checksum of every bucket and pair, skipping those `ignore` selects. */
  hash(ignore?: (bucket: Uint8Array, key: Uint8Array) => boolean): number;
  /** The number of batch commits so far. */
  commits(): number;
  close(): void;
}

/**
 * The bolt-file backend of an etcd member: the {@link Backend} contract plus what only a page
 * file has (defragmentation, a snapshot of the file, the file itself).
 */
export interface BoltBackend extends Backend {
  /**
   * Rewrites the file compactly. The copy runs in steps of a few milliseconds with the event
   * loop free between them; reads and writes go on meanwhile (see {@link DefragProgress}).
   * A call while one runs joins it.
   */
  defrag(onProgress?: (done: number, total: number) => void): Promise<void>;
  /** The defragmentation in progress, or undefined. */
  defragProgress(): DefragProgress | undefined;
  snapshot(): BackendSnapshot;
  /** The bolt file under the backend (tests, inspector). */
  db(): DB;
}

/** How far a defragmentation has got. */
export interface DefragProgress {
  /** Keys (and nested buckets) copied into the new file so far. */
  readonly copied: number;
  /** Keys (and nested buckets) the file held when the copy began. */
  readonly total: number;
  /** Milliseconds since it began. */
  readonly elapsedMs: number;
  /** Writes made meanwhile, to be replayed on the new file. */
  readonly journaled: number;
}

/** Opens (creating if needed) the backend file. */
export function openBackend(options: BackendOptions): BoltBackend {
  return new _Backend(options);
}

/**
 * The copy commits every this many keys: each commit writes its pages on the event loop (its
 * fdatasyncs are awaited off it), so this bounds how long one holds the loop.
 */
const DEFRAG_COMMIT_KEYS = 2500;
/** A defragmentation step copies for this long, then lets the event loop run. */
const DEFRAG_STEP_MS = 10;
/** The copy looks at the clock (and may pause) once per this many keys. */
const DEFRAG_KEYS_PER_CHECK = 256;
/**
 * Writes made during a defragmentation are kept until it ends (they are also in the open batch
 * on the old file). Past this many times batchLimit the copy stops yielding and finishes at
 * once, which bounds that memory: the member then waits for it, as etcd's always does.
 */
const DEFRAG_JOURNAL_BATCH_FACTOR = 4;
/** The same bound in bytes of keys and values (large values fill memory long before the count). */
const DEFRAG_JOURNAL_BYTES_MAX = 64 * 1024 * 1024;
/**
 * While a commit is in flight the next batch may grow to this many times batchLimit; past it
 * the writer waits for the disk (a synchronous finish), which bounds the memory of a batch.
 */
const IN_FLIGHT_BATCH_LIMIT_FACTOR = 4;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

function _range(
  tx: Tx,
  bucketName: Uint8Array,
  key: Uint8Array,
  endKey: Uint8Array | undefined,
  limit: number,
): { keys: Uint8Array[]; values: Uint8Array[] } {
  const keys: Uint8Array[] = [];
  const values: Uint8Array[] = [];
  const bucket = tx.bucket(bucketName);
  if (bucket === null) return { keys, values };
  const single = endKey === undefined || endKey.length === 0;
  const max = single ? 1 : limit <= 0 ? Infinity : limit;
  const c = bucket.cursor();
  for (let k = c.seek(key); k !== null; k = c.next()) {
    if (single ? !equalBytes(k, key) : compareBytes(k, endKey!) >= 0) break;
    keys.push(k);
    values.push(c.value ?? new Uint8Array(0));
    if (keys.length >= max) break;
  }
  return { keys, values };
}

function _forEach(tx: Tx, bucketName: Uint8Array, visitor: (k: Uint8Array, v: Uint8Array) => void) {
  const bucket = tx.bucket(bucketName);
  if (bucket === null) return;
  const c = bucket.cursor();
  for (let k = c.first(); k !== null; k = c.next()) visitor(k, c.value ?? new Uint8Array(0));
}

function _forEachPart(
  tx: Tx,
  bucketName: Uint8Array,
  visitor: (key: Uint8Array, size: number, part: ValuePart) => void,
): void {
  const bucket = tx.bucket(bucketName);
  if (bucket === null) return;
  if (bucket.root === 0 || bucket.rootNode !== null || bucket.nodes.size > 0) {
    // Inline, or changed by the open batch: its pages are not all committed ones.
    const c = bucket.cursor();
    for (let k = c.first(); k !== null; k = c.next()) {
      if (c.value === null) continue; // a nested bucket
      visitor(k, c.value.length, wholeValuePart(c.value));
    }
    return;
  }
  tx.db.forEachPart(bucket.root, visitor);
}

class _ReadTx implements ReadTx {
  readonly #backend: _Backend;

  constructor(backend: _Backend) {
    this.#backend = backend;
  }
  unsafeRange(bucket: Uint8Array, key: Uint8Array, endKey: Uint8Array | undefined, limit: number) {
    return _range(this.#backend.writeTx(), bucket, key, endKey, limit);
  }
  unsafeForEach(bucket: Uint8Array, visitor: (key: Uint8Array, value: Uint8Array) => void) {
    _forEach(this.#backend.writeTx(), bucket, visitor);
  }
  unsafeForEachPart(
    bucket: Uint8Array,
    visitor: (key: Uint8Array, size: number, part: ValuePart) => void,
  ): void {
    _forEachPart(this.#backend.writeTx(), bucket, visitor);
  }
}

class _BatchTx extends _ReadTx implements BatchTx {
  pending = 0;
  #locked = false;
  readonly #owner: _Backend;

  constructor(owner: _Backend) {
    super(owner);
    this.#owner = owner;
  }
  lock(): void {
    this.#locked = true;
  }
  unlock(): void {
    this.#locked = false;
    if (this.pending >= this.#owner.batchLimit) this.commit();
  }
  isLocked(): boolean {
    return this.#locked;
  }
  #bucket(name: Uint8Array): Bucket {
    const bucket = this.#owner.writeTx().bucket(name);
    if (bucket === null) {
      throw new BoltError(
        `failed to find a bucket (bucket-name ${new TextDecoder().decode(name)})`,
      );
    }
    return bucket;
  }
  unsafeCreateBucket(name: Uint8Array): void {
    try {
      this.#owner.writeTx().createBucket(name);
    } catch (error) {
      if (!(error instanceof BoltError && error.message === ERR_BUCKET_EXISTS)) throw error;
    }
    this.#owner.defragJournal?.add({ op: "createBucket", bucket: name.slice() });
    this.pending++;
  }
  unsafeDeleteBucket(name: Uint8Array): void {
    try {
      this.#owner.writeTx().deleteBucket(name);
    } catch (error) {
      if (!(error instanceof BoltError && error.message === ERR_BUCKET_NOT_FOUND)) throw error;
    }
    this.#owner.defragJournal?.add({ op: "deleteBucket", bucket: name.slice() });
    this.pending++;
  }
  unsafePut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.#bucket(bucket).put(key, value);
    this.#journalPut(bucket, key, value);
  }
  unsafePutOwned(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.#bucket(bucket).putOwned(key, value);
    this.#journalPut(bucket, key, value);
  }
  /** Counts a put, and copies it to a running defragmentation's journal. */
  #journalPut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.#owner.defragJournal?.add({
      op: "put",
      bucket: bucket.slice(),
      key: key.slice(),
      value: value.slice(),
    });
    this.pending++;
  }
  unsafeSeqPut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    const b = this.#bucket(bucket);
    this.#owner.defragJournal?.add({
      op: "seqPut",
      bucket: bucket.slice(),
      key: key.slice(),
      value: value.slice(),
    });
    // etcd: keys that only grow leave old pages full, so split them at 90%.
    b.fillPercent = 0.9;
    b.putOwned(key, value);
    this.pending++;
  }
  unsafeDelete(bucket: Uint8Array, key: Uint8Array): void {
    this.#bucket(bucket).delete(key);
    this.#owner.defragJournal?.add({ op: "delete", bucket: bucket.slice(), key: key.slice() });
    this.pending++;
  }
  commit(): void {
    this.#owner.commitBatch();
  }
}

class _Backend implements BoltBackend {
  readonly batchTx: _BatchTx;
  readonly batchLimit: number;
  #db: DB;
  #tx: Tx;
  #commits = 0;
  /** The durability of the last batch commit, while its fdatasyncs are awaited. */
  #inFlight: Promise<void> | null = null;
  /** A commit was asked for while one was in flight: start it when that one is durable. */
  #commitWanted = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The defragmentation in progress. */
  #defrag: _DefragRun | undefined;
  /** While a defragmentation runs: every write since it began, in order. */
  defragJournal: _Journal | undefined;
  readonly #dbOptions: DBOptions;
  readonly #path: string;
  readonly #logger: BackendLogger | undefined;

  constructor(options: BackendOptions) {
    this.#path = options.path;
    this.#logger = options.logger;
    this.batchLimit = options.batchLimit ?? 10000;
    assert(this.batchLimit >= 1, "batchLimit must be at least 1");
    this.#dbOptions = {
      freelistType: options.freelistType ?? "map",
      noFreelistSync: options.noFreelistSync ?? true,
      strictMode: options.strictMode ?? false,
    };
    if (options.pageCacheBytes !== undefined) {
      this.#dbOptions.pageCacheBytes = options.pageCacheBytes;
    }
    this.#db = DB.open(this.#path, this.#dbOptions);
    this.#tx = this.#db.begin(true);
    this.batchTx = new _BatchTx(this);
    const intervalMs = options.batchIntervalMs ?? 100;
    assert(intervalMs > 0, "batchIntervalMs must be positive");
    this.#timer = setInterval(() => {
      if (!this.batchTx.isLocked() && this.batchTx.pending > 0) this.commitBatch();
    }, intervalMs);
    // The batch timer must not keep the process alive on its own.
    Deno.unrefTimer(this.#timer);
    reportPageFile(() => this.#pageFileStats());
  }

  /** What the `detcd_backend_*` gauges show, read on scrape. */
  #pageFileStats(): PageFileStats {
    const db = this.#db;
    const freelist = db.freelist;
    return {
      pages: db.meta.pgid,
      free: freelist.freeCount(),
      pending: freelist.pendingCount(),
      freelist: this.#dbOptions.noFreelistSync ? 0 : Math.floor(freelist.size() / db.pageSize) + 1,
      spans: () => freelist.spans.spanHistogram(),
    };
  }

  db(): DB {
    return this.#db;
  }

  writeTx(): Tx {
    assert(!this.#db.isClosed(), "backend is closed");
    return this.#tx;
  }

  /**
   * Commits the open batch (if it holds writes) and starts the next one at once; the commit's
   * fdatasyncs are awaited in the background. While an earlier commit is still in flight the
   * writes stay in the open batch, which is committed as soon as that one is durable.
   */
  commitBatch(): void {
    if (this.batchTx.pending === 0) return;
    // During a defragmentation the batch stays open: the copy's source must not change.
    if (this.#defrag !== undefined) return;
    if (this.#inFlight !== null) {
      const bound = this.batchLimit * IN_FLIGHT_BATCH_LIMIT_FACTOR;
      if (this.batchTx.pending < bound) {
        this.#commitWanted = true;
        return;
      }
      // The bound on a batch: wait for the disk here rather than let the batch grow on.
      this.#db.finishCommitSync();
      this.#inFlight = null;
    }
    this.#commitWanted = false;
    const began = performance.now();
    const durable = this.#tx.commitAsync();
    this.#commits++;
    this.batchTx.pending = 0;
    this.#tx = this.#db.begin(true);
    const inFlight: Promise<void> = durable.then(() => {
      // etcd times the whole bolt commit, both fdatasyncs included.
      diskBackendCommitDurationSeconds.observe((performance.now() - began) / 1000);
      this.#onDurable(inFlight);
    });
    this.#inFlight = inFlight;
  }

  /** The commit `inFlight` is durable: start the batch that waited for it, if any. */
  #onDurable(inFlight: Promise<void>): void {
    // A forceCommit() or close() finished it first and took over.
    if (this.#inFlight !== inFlight) return;
    this.#inFlight = null;
    if (!this.#commitWanted || this.#db.isClosed()) return;
    // A locked batch is left for unlock() or the next tick of the batch timer.
    if (!this.batchTx.isLocked()) this.commitBatch();
  }

  /** Commits the open batch and waits on this thread until it (and any commit in flight) is durable. */
  #commitSync(): void {
    // A caller that needs the file durable now gets the defragmented one.
    this.#finishDefragNow();
    this.#db.finishCommitSync();
    this.#inFlight = null;
    this.#commitWanted = false;
    if (this.batchTx.pending === 0) return;
    const began = performance.now();
    this.#tx.commit();
    diskBackendCommitDurationSeconds.observe((performance.now() - began) / 1000);
    this.#commits++;
    this.batchTx.pending = 0;
    this.#tx = this.#db.begin(true);
  }

  readTx(): ReadTx {
    return new _ReadTx(this);
  }

  concurrentReadTx(): ReadTx {
    return new _ReadTx(this);
  }

  forceCommit(): void {
    this.#commitSync();
  }

  size(): number {
    // etcd's backend reports the committed transaction's size (bbolt tx.Size(): high-water
    // page times page size), not the file's, which bbolt grows ahead in 16 MiB steps.
    return this.#db.meta.pgid * this.#db.pageSize;
  }

  sizeInUse(): number {
    return this.size() - this.#db.freelist.freeCount() * this.#db.pageSize;
  }

  commits(): number {
    return this.#commits;
  }

  hash(ignore?: (bucket: Uint8Array, key: Uint8Array) => boolean): number {
    // As etcd's backend.Hash: the committed state, bucket names then keys and values.
    return this.#db.view((tx) => {
      let crc = 0;
      const c = tx.cursor();
      for (let name = c.first(); name !== null; name = c.next()) {
        const bucket = tx.bucket(name);
        if (bucket === null) {
          throw new BoltError(`cannot get hash of bucket ${new TextDecoder().decode(name)}`);
        }
        crc = crc32c(name, crc);
        bucket.forEach((k, v) => {
          if (ignore !== undefined && ignore(name, k)) return;
          crc = crc32c(k, crc);
          if (v !== null) crc = crc32c(v, crc);
        });
      }
      return crc;
    });
  }

  snapshot(): BackendSnapshot {
    this.#commitSync();
    return new _Snapshot(this.#db, this.#path, this.#logger);
  }

  defrag(onProgress?: (done: number, total: number) => void): Promise<void> {
    if (this.#defrag !== undefined) return this.#defrag.done;
    assert(!this.#db.isClosed(), "backend is closed");
    const run = this.#startDefrag(onProgress);
    this.#defrag = run;
    diskDefragInflight.set(1);
    run.done = this.#driveDefrag(run).finally(() => {
      diskDefragInflight.set(0);
      diskBackendDefragDurationSeconds.observe((performance.now() - run.beganMs) / 1000);
    });
    return run.done;
  }

  defragProgress(): DefragProgress | undefined {
    const run = this.#defrag;
    if (run === undefined) return undefined;
    return {
      copied: run.copied,
      total: run.total,
      elapsedMs: performance.now() - run.beganMs,
      journaled: this.defragJournal?.entries.length ?? 0,
    };
  }

  /**
   * Starts a defragmentation: the batch is committed, a read transaction pins the committed
   * state as the copy's source, and from now on every write is also journaled. Writes still go
   * to the open batch on the old file (readers see them there), which is not committed until
   * the copy ends: so the source never changes under the copy.
   */
  #startDefrag(onProgress: ((done: number, total: number) => void) | undefined): _DefragRun {
    this.#commitSync();
    const temporary = this.#path + ".defrag.tmp";
    if (fs.existsSync(temporary)) fs.unlinkSync(temporary);
    const target = DB.open(temporary, { ...this.#dbOptions, strictMode: false });
    const source = this.#db.begin(false);
    const run: _DefragRun = {
      temporary,
      target,
      source,
      total: 0,
      copied: 0,
      beganMs: performance.now(),
      steps: _copySteps(source, target, {
        counted: (total) => (run.total = total),
        copied: (copied) => {
          run.copied = copied;
          onProgress?.(copied, run.total);
        },
      }),
      done: Promise.resolve(),
    };
    this.defragJournal = new _Journal();
    return run;
  }

  /** Copies in steps of DEFRAG_STEP_MS, letting the event loop run between them. */
  async #driveDefrag(run: _DefragRun): Promise<void> {
    const journalMax = this.batchLimit * DEFRAG_JOURNAL_BATCH_FACTOR;
    for (;;) {
      if (this.#defrag !== run) {
        // close() abandoned it, or forceCommit() finished it.
        if (run.aborted) throw new BoltError("defrag: the backend was closed");
        return;
      }
      const stepEndMs = performance.now() + DEFRAG_STEP_MS;
      // Too many writes kept: finish now rather than let the journal grow on.
      const journal = this.defragJournal;
      const untilDone = journal !== undefined &&
        (journal.entries.length >= journalMax || journal.bytes >= DEFRAG_JOURNAL_BYTES_MAX);
      let step: "copied" | "more" | Promise<void> = "more";
      while (step === "more" && (untilDone || performance.now() < stepEndMs)) {
        step = this.#copyMore(run);
      }
      if (step === "copied") {
        this.#switchToCopy(run);
        return;
      }
      if (step instanceof Promise) {
        // A commit of the copy: its fdatasyncs are awaited off the event loop.
        try {
          await step;
        } catch (error) {
          this.#abandonDefrag(run);
          throw error;
        }
      } else await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /**
   * Copies up to DEFRAG_KEYS_PER_CHECK keys: "copied" once everything is, or the durability of
   * a commit of the copy to wait for.
   */
  #copyMore(run: _DefragRun): "copied" | "more" | Promise<void> {
    try {
      const step = run.steps.next();
      if (step.done) return "copied";
      return step.value ?? "more";
    } catch (error) {
      this.#abandonDefrag(run);
      throw error;
    }
  }

  /**
   * The copy is whole: the old file's batch (its writes are in the journal) is dropped, the
   * copy renamed over the old file, and the journal replayed into the new file's batch.
   */
  #switchToCopy(run: _DefragRun): void {
    const journal = this.defragJournal?.entries ?? [];
    this.defragJournal = undefined;
    this.#defrag = undefined;
    run.source.rollback();
    // close() makes the copy's last commit durable before the rename below.
    run.target.close();
    this.#tx.rollback();
    this.#db.close();
    // The rename is the switch: the old file stays whole until it happens, and the copy holds
    // exactly what the old file had committed (the journal was never committed there).
    try {
      fs.renameSync(run.temporary, this.#path);
      _syncDirectory(this.#path);
    } finally {
      // Whichever file is at the path now (the copy, or the old one if the rename failed)
      // gets the journal: nothing written meanwhile is lost.
      this.#db = DB.open(this.#path, this.#dbOptions);
      this.#tx = this.#db.begin(true);
      for (const entry of journal) this.#replay(entry);
    }
    this.batchTx.pending = journal.length;
    if (this.batchTx.pending >= this.batchLimit && !this.batchTx.isLocked()) this.commitBatch();
  }

  /** Applies a journaled write to the open batch, as the batch tx first did. */
  #replay(entry: _JournalEntry): void {
    const tx = this.#tx;
    switch (entry.op) {
      case "createBucket":
        if (tx.bucket(entry.bucket) === null) tx.createBucket(entry.bucket);
        return;
      case "deleteBucket":
        if (tx.bucket(entry.bucket) !== null) tx.deleteBucket(entry.bucket);
        return;
      case "put":
      case "seqPut": {
        const bucket = tx.bucket(entry.bucket);
        assert(bucket !== null, "defrag replay: a put into a missing bucket");
        if (entry.op === "seqPut") bucket.fillPercent = 0.9;
        bucket.put(entry.key, entry.value);
        return;
      }
      case "delete": {
        const bucket = tx.bucket(entry.bucket);
        assert(bucket !== null, "defrag replay: a delete in a missing bucket");
        bucket.delete(entry.key);
        return;
      }
    }
  }

  /** Drops a defragmentation: the old file and its batch stay as they are. */
  #abandonDefrag(run: _DefragRun): void {
    if (this.#defrag !== run) return;
    this.#defrag = undefined;
    this.defragJournal = undefined;
    run.aborted = true;
    run.source.rollback();
    run.target.close();
    fs.unlinkSync(run.temporary);
  }

  /** Finishes a running defragmentation on this thread (for callers that need the file now). */
  #finishDefragNow(): void {
    const run = this.#defrag;
    if (run === undefined) return;
    for (;;) {
      const step = this.#copyMore(run);
      if (step === "copied") break;
      if (step instanceof Promise) {
        // Make that commit durable here; its promise then resolves on its own.
        step.catch(() => {});
        run.target.finishCommitSync();
      }
    }
    this.#switchToCopy(run);
  }

  close(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    if (this.#db.isClosed()) return;
    // A defragmentation in progress is dropped: its writes are in the batch committed here.
    if (this.#defrag !== undefined) this.#abandonDefrag(this.#defrag);
    this.#commitSync();
    this.#tx.rollback();
    this.#db.close();
  }
}

/** A running defragmentation. */
interface _DefragRun {
  readonly temporary: string;
  readonly target: DB;
  /** The read transaction that pins the copied state. */
  readonly source: Tx;
  /** Keys to copy (0 until counted). */
  total: number;
  copied: number;
  readonly beganMs: number;
  /**
   * The copy, advanced by next(): each call counts or copies up to DEFRAG_KEYS_PER_CHECK keys,
   * and yields the durability of a commit of the copy when it made one.
   */
  readonly steps: Generator<Promise<void> | void, void, void>;
  done: Promise<void>;
  aborted?: boolean;
}

/** The writes made while a defragmentation runs, in order, and their size. */
class _Journal {
  readonly entries: _JournalEntry[] = [];
  /** Bytes of bucket names, keys and values held. */
  bytes = 0;

  add(entry: _JournalEntry): void {
    this.entries.push(entry);
    this.bytes += entry.bucket.length + ("key" in entry ? entry.key.length : 0) +
      ("value" in entry ? entry.value.length : 0);
  }
}

/** A write made while a defragmentation runs. */
type _JournalEntry =
  | { op: "createBucket" | "deleteBucket"; bucket: Uint8Array }
  | { op: "put" | "seqPut"; bucket: Uint8Array; key: Uint8Array; value: Uint8Array }
  | { op: "delete"; bucket: Uint8Array; key: Uint8Array };

/** What {@link _copySteps} reports. */
interface _CopyProgress {
  /** The keys (and nested buckets) of the source, once counted. */
  counted(total: number): void;
  /** The keys copied so far. */
  copied(done: number): void;
}

/**
 * Counts, then copies, every bucket of `source` into the empty `target`, pausing (a `yield`)
 * every DEFRAG_KEYS_PER_CHECK keys and committing every DEFRAG_COMMIT_KEYS: a commit's pages
 * are written at once and the durability of its fdatasyncs is yielded, for the caller to await
 * (or to finish synchronously) before the next step. The caller keeps `source` unchanged
 * between steps.
 */
function* _copySteps(
  source: Tx,
  target: DB,
  progress: _CopyProgress,
): Generator<Promise<void> | void, void, void> {
  const names: Uint8Array[] = [];
  source.forEach((name) => names.push(name.slice()));
  let total = 0;
  const count = function* (from: Bucket): Generator<void, void, void> {
    const c = from.cursor();
    for (let k = c.first(); k !== null; k = c.next()) {
      if (c.value === null) yield* count(from.bucket(k)!);
      if (++total % DEFRAG_KEYS_PER_CHECK === 0) yield;
    }
  };
  for (const name of names) yield* count(source.bucket(name)!);
  progress.counted(total);
  let done = 0;
  let sinceCommit = 0;
  let targetTx = target.begin(true);
  try {
    // A commit ends the target transaction, so target buckets are found again by their path.
    const resolve = (path: Uint8Array[]): Bucket => {
      let bucket = targetTx.root;
      for (const name of path) bucket = bucket.createBucketIfNotExists(name);
      bucket.fillPercent = 0.9;
      return bucket;
    };
    const copy = function* (
      from: Bucket,
      path: Uint8Array[],
    ): Generator<Promise<void> | void, void, void> {
      let to = resolve(path);
      if (from.sequence !== 0) to.setSequence(from.sequence);
      const c = from.cursor();
      for (let k = c.first(); k !== null; k = c.next()) {
        if (c.value === null) {
          yield* copy(from.bucket(k)!, [...path, k.slice()]);
          to = resolve(path);
        } else {
          to.put(k, c.value);
        }
        done++;
        if (++sinceCommit >= DEFRAG_COMMIT_KEYS) {
          const durable = targetTx.commitAsync();
          progress.copied(done);
          yield durable;
          targetTx = target.begin(true);
          sinceCommit = 0;
          to = resolve(path);
        } else if (done % DEFRAG_KEYS_PER_CHECK === 0) {
          progress.copied(done);
          yield;
        }
      }
    };
    for (const name of names) yield* copy(source.bucket(name)!, [name]);
    const durable = targetTx.commitAsync();
    progress.copied(done);
    yield durable;
  } finally {
    targetTx.rollback();
  }
}

function _syncDirectory(path: string): void {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A snapshot: a read transaction that pins its pages, and its own handle on the file. */
class _Snapshot implements BackendSnapshot {
  readonly #tx: Tx;
  readonly #fd: number;
  readonly #pageSize: number;
  readonly #openedMs = performance.now();
  readonly #stopWarnings: () => void;
  #closed = false;

  constructor(db: DB, path: string, logger: BackendLogger | undefined) {
    this.#tx = db.begin(false);
    this.#fd = fs.openSync(path, "r");
    this.#pageSize = db.pageSize;
    this.#stopWarnings = watchSnapshotDuration(logger, this.#tx.size());
    countOpenSnapshot(1);
  }

  size(): number {
    return this.#tx.size();
  }

  async writeTo(sink: (chunk: Uint8Array) => Promise<void> | void): Promise<number> {
    assert(!this.#closed, "snapshot is closed");
    const ps = this.#pageSize;
    // Both meta pages carry this snapshot's meta (as bbolt's Tx.WriteTo does).
    const metas = new Uint8Array(ps * 2);
    for (let i = 0; i < 2; i++) {
      const page = new Page(metas.subarray(i * ps, (i + 1) * ps));
      page.id = i;
      page.flags = META_PAGE_FLAG;
      writeMeta(page, this.#tx.meta);
    }
    await sink(metas);
    let written = metas.length;
    const end = this.#tx.size();
    while (written < end) {
      const chunk = new Uint8Array(Math.min(SNAPSHOT_CHUNK_BYTES, end - written));
      let done = 0;
      while (done < chunk.length) {
        const n = fs.readSync(this.#fd, chunk, done, chunk.length - done, written + done);
        if (n === 0) throw new BoltError(`snapshot: short read at ${written + done}`);
        done += n;
      }
      await sink(chunk);
      written += chunk.length;
    }
    return written;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tx.rollback();
    fs.closeSync(this.#fd);
    this.#stopWarnings();
    countOpenSnapshot(-1);
    // etcd's backend observes a snapshot's life, from opening to closing it.
    diskBackendSnapshotDurationSeconds.observe((performance.now() - this.#openedMs) / 1000);
  }
}
