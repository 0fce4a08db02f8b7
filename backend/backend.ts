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
  /** Byte budget of the page cache (detcd's --experimental-backend-cache-bytes). Default 64 MiB. */
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
}

/** The one write transaction of the backend. */
export interface BatchTx extends ReadTx {
  lock(): void;
  /** Commits when the pending writes reached batchLimit. */
  unlock(): void;
  unsafeCreateBucket(name: Uint8Array): void;
  unsafeDeleteBucket(name: Uint8Array): void;
  unsafePut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void;
  /** A put whose keys mostly grow: pages are split at 90% instead of 50%. */
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
  defrag(onProgress?: (done: number, total: number) => void): Promise<void>;
  snapshot(): BackendSnapshot;
  /** The bolt file under the backend (tests, inspector). */
  db(): DB;
}

/** Opens (creating if needed) the backend file. */
export function openBackend(options: BackendOptions): BoltBackend {
  return new _Backend(options);
}

const DEFRAG_COMMIT_KEYS = 10000;
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
    this.pending++;
  }
  unsafeDeleteBucket(name: Uint8Array): void {
    try {
      this.#owner.writeTx().deleteBucket(name);
    } catch (error) {
      if (!(error instanceof BoltError && error.message === ERR_BUCKET_NOT_FOUND)) throw error;
    }
    this.pending++;
  }
  unsafePut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.#bucket(bucket).put(key, value);
    this.pending++;
  }
  unsafeSeqPut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    const b = this.#bucket(bucket);
    // etcd: keys that only grow leave old pages full, so split them at 90%.
    b.fillPercent = 0.9;
    b.put(key, value);
    this.pending++;
  }
  unsafeDelete(bucket: Uint8Array, key: Uint8Array): void {
    this.#bucket(bucket).delete(key);
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
    const began = performance.now();
    diskDefragInflight.set(1);
    try {
      this.#defrag(onProgress);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    } finally {
      diskDefragInflight.set(0);
      diskBackendDefragDurationSeconds.observe((performance.now() - began) / 1000);
    }
  }

  #defrag(onProgress?: (done: number, total: number) => void): void {
    this.#commitSync();
    this.#tx.rollback();
    const temporary = this.#path + ".defrag.tmp";
    if (fs.existsSync(temporary)) fs.unlinkSync(temporary);
    const target = DB.open(temporary, { ...this.#dbOptions, strictMode: false });
    try {
      _copyDb(this.#db, target, onProgress);
    } catch (error) {
      target.close();
      fs.unlinkSync(temporary);
      this.#tx = this.#db.begin(true);
      throw error;
    }
    target.close();
    this.#db.close();
    // The rename is the switch: the old file stays whole until it happens.
    fs.renameSync(temporary, this.#path);
    _syncDirectory(this.#path);
    this.#db = DB.open(this.#path, this.#dbOptions);
    this.#tx = this.#db.begin(true);
  }

  close(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    if (this.#db.isClosed()) return;
    this.#commitSync();
    this.#tx.rollback();
    this.#db.close();
  }
}

/** Copies every bucket of `source` into the empty `target`, committing every 10000 keys. */
function _copyDb(source: DB, target: DB, onProgress?: (done: number, total: number) => void): void {
  source.view((sourceTx) => {
    let total = 0;
    sourceTx.forEach((_name, bucket) => (total += bucket.stats().keyN));
    let done = 0;
    let sinceCommit = 0;
    let targetTx = target.begin(true);
    // A commit ends the target transaction, so target buckets are found again by their path.
    const resolve = (path: Uint8Array[]): Bucket => {
      let bucket = targetTx.root;
      for (const name of path) bucket = bucket.createBucketIfNotExists(name);
      bucket.fillPercent = 0.9;
      return bucket;
    };
    const copy = (from: Bucket, path: Uint8Array[]) => {
      let to = resolve(path);
      if (from.sequence !== 0) to.setSequence(from.sequence);
      const c = from.cursor();
      for (let k = c.first(); k !== null; k = c.next()) {
        if (c.value === null) {
          copy(from.bucket(k)!, [...path, k.slice()]);
          to = resolve(path);
        } else {
          to.put(k, c.value);
        }
        done++;
        if (++sinceCommit >= DEFRAG_COMMIT_KEYS) {
          targetTx.commit();
          onProgress?.(done, total);
          targetTx = target.begin(true);
          sinceCommit = 0;
          to = resolve(path);
        }
      }
    };
    const names: Uint8Array[] = [];
    sourceTx.forEach((name) => names.push(name.slice()));
    for (const name of names) copy(sourceTx.bucket(name)!, [name]);
    targetTx.commit();
    onProgress?.(done, total);
  });
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
