/**
 * A transaction (bbolt `tx.go`): a read transaction sees the meta it started with; the one
 * write transaction builds new pages copy-on-write and commits them with a new meta.
 *
 * @module
 */

import { Bucket } from "./bucket.ts";
import type { Cursor } from "./cursor.ts";
import type { DB } from "./db.ts";
import { assert, BoltError, ERR_TX_CLOSED, ERR_TX_NOT_WRITABLE } from "./errors.ts";
import {
  debuggingDiskBackendCommitRebalanceDurationSeconds,
  debuggingDiskBackendCommitSpillDurationSeconds,
  debuggingDiskBackendCommitWriteDurationSeconds,
} from "./metrics.ts";
import { copyMeta, type Meta, Page, PGID_NO_FREELIST } from "./page.ts";

/** Counters of one transaction (bbolt's TxStats, the parts we keep). */
export interface TxStats {
  pageCount: number;
  pageAlloc: number;
  cursorCount: number;
  nodeCount: number;
  rebalance: number;
  split: number;
  spill: number;
  write: number;
}

/** A read or read-write transaction. */
export class Tx {
  readonly db: DB;
  readonly writable: boolean;
  readonly meta: Meta;
  readonly root: Bucket;
  /** Pages allocated by this write transaction, written on commit. */
  readonly pages = new Map<number, Page>();
  readonly stats: TxStats = {
    pageCount: 0,
    pageAlloc: 0,
    cursorCount: 0,
    nodeCount: 0,
    rebalance: 0,
    split: 0,
    spill: 0,
    write: 0,
  };
  closed = false;
  readonly #startHighWater: number;

  constructor(db: DB, writable: boolean, meta: Meta) {
    this.db = db;
    this.writable = writable;
    this.meta = copyMeta(meta);
    this.#startHighWater = meta.pgid;
    if (writable) this.meta.txid += 1;
    this.root = new Bucket(this);
    this.root.root = this.meta.root;
    this.root.sequence = this.meta.sequence;
  }

  /** The transaction id (a read tx has the id of the commit it sees). */
  id(): number {
    return this.meta.txid;
  }

  /** Bytes of the database as this transaction sees it (high-water mark * page size). */
  size(): number {
    return this.meta.pgid * this.db.pageSize;
  }

  /** The top-level bucket `name`, or null. */
  bucket(name: Uint8Array): Bucket | null {
    return this.root.bucket(name);
  }

  /** Creates a top-level bucket. */
  createBucket(name: Uint8Array): Bucket {
    return this.root.createBucket(name);
  }

  /** Creates a top-level bucket unless it exists. */
  createBucketIfNotExists(name: Uint8Array): Bucket {
    return this.root.createBucketIfNotExists(name);
  }

  /** Deletes a top-level bucket. */
  deleteBucket(name: Uint8Array): void {
    this.root.deleteBucket(name);
  }

  /** A cursor over the names of the top-level buckets. */
  cursor(): Cursor {
    return this.root.cursor();
  }

  /** Calls `fn` with each top-level bucket. */
  forEach(fn: (name: Uint8Array, bucket: Bucket) => void): void {
    this.root.forEach((name) => fn(name, this.root.bucket(name)!));
  }

  /** The page `id` as this transaction sees it. */
  page(id: number): Page {
    if (this.writable) {
      const dirty = this.pages.get(id);
      if (dirty !== undefined) return dirty;
    }
    return this.db.page(id);
  }

  /** Allocates `count` contiguous pages, zeroed, marked as dirty. */
  allocate(count: number): Page {
    assert(this.writable && !this.closed, "allocate outside an open write transaction");
    const page = this.db.allocate(this, count);
    this.pages.set(page.id, page);
    this.stats.pageCount += count;
    this.stats.pageAlloc += count * this.db.pageSize;
    return page;
  }

  /**
   * Moves page `id` (with its overflow pages) to this transaction's pending list. A node
   * knows its page's overflow; otherwise the page header is read.
   */
  freePage(id: number, overflow?: number): void {
    if (overflow === undefined) {
      const page = this.page(id);
      assert(page.id === id, () => `page ${id} has id ${page.id}`);
      overflow = page.overflow;
    }
    this.db.freelist.free(this.meta.txid, id, overflow);
  }

  /**
   * Commits and returns once the commit is durable. Each step keeps the file valid if the
   * process dies right after it: the old meta still points at untouched pages until the new
   * meta is written and synced.
   */
  commit(): void {
    this.#commitPages();
    this.db.finishCommitSync();
  }

  /**
   * Commits without waiting on the disk: when this returns, the pages are written (not yet
   * synced), the transaction is closed and new transactions start from its state. The promise
   * resolves once the pages are synced and the meta is written and synced, both fdatasyncs
   * awaited off the event loop. The next commit (or DB.finishCommitSync, or close) finishes
   * this one first, synchronously, so commits reach the disk in order.
   */
  commitAsync(): Promise<void> {
    this.#commitPages();
    return this.db.finishCommitAsync();
  }

  /** Everything of a commit up to the first sync: spill, write pages, stage the meta. */
  #commitPages(): void {
    if (this.closed) throw new BoltError(ERR_TX_CLOSED);
    if (!this.writable) throw new BoltError(ERR_TX_NOT_WRITABLE);
    try {
      // Merge underfull nodes, then write changed nodes to new pages.
      const began = performance.now();
      this.root.rebalance();
      const rebalanced = performance.now();
      this.root.spill();
      const spilled = performance.now();
      debuggingDiskBackendCommitRebalanceDurationSeconds.observe((rebalanced - began) / 1000);
      debuggingDiskBackendCommitSpillDurationSeconds.observe((spilled - rebalanced) / 1000);
      this.meta.root = this.root.root;
      this.meta.sequence = this.root.sequence;
      // The old freelist page is replaced by a fresh one (or by none).
      if (this.meta.freelist !== PGID_NO_FREELIST) this.freePage(this.meta.freelist);
      if (!this.db.noFreelistSync) {
        const page = this.allocate(Math.floor(this.db.freelist.size() / this.db.pageSize) + 1);
        this.db.freelist.write(page);
        this.meta.freelist = page.id;
      } else {
        this.meta.freelist = PGID_NO_FREELIST;
      }
      // Write the dirty pages (the previous commit is durable first); they are synced before
      // the meta that points at them is written.
      const writing = performance.now();
      this.db.writePages(this);
      debuggingDiskBackendCommitWriteDurationSeconds.observe((performance.now() - writing) / 1000);
      this.stats.write += this.pages.size;
      if (this.db.strictMode) this.db.strictCheck(this);
      // New transactions start from this meta; finishCommit* puts it on disk.
      this.db.stageMeta(this.meta);
    } catch (error) {
      this.rollback();
      throw error;
    }
    this.db.freelist.commitTx();
    this.#close();
  }

  /** Discards a write transaction's changes, or ends a read transaction. */
  rollback(): void {
    if (this.closed) return;
    if (this.writable) this.db.freelist.rollback(this.meta.txid, this.#startHighWater);
    this.#close();
  }

  #close(): void {
    this.closed = true;
    this.db.closeTx(this);
  }
}
