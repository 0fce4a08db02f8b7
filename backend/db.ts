/**
 * The bolt database file (bbolt `db.go`): open and validate, the page cache that replaces
 * bbolt's mmap, page allocation, the commit's disk writes, and the freelist that is either
 * read from its page or rebuilt by walking the tree.
 *
 * Reads are positional (`pread`) into a bounded LRU page cache. A page buffer is never written
 * after it was read or committed: a page id gets new contents only after it was freed and no
 * reader can see it, and then the cache entry is replaced by the new buffer.
 *
 * @module
 */

import * as fs from "node:fs";
import { checkTx } from "./check.ts";
import { assert, BoltError, ERR_DATABASE_NOT_OPEN, ERR_INVALID } from "./errors.ts";
import { Freelist } from "./freelist.ts";
import type { FreelistType } from "./free_spans.ts";
import {
  BRANCH_PAGE_FLAG,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  FREELIST_PAGE_FLAG,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE_FLAG,
  type Meta,
  META_PAGE_FLAG,
  Page,
  PAGE_HEADER_SIZE,
  PGID_NO_FREELIST,
  readMeta,
  readU64,
  writeMeta,
} from "./page.ts";
import { Tx } from "./tx.ts";

/** Options of DB.open. */
export interface DBOptions {
  /** Page size of a new file (an existing file keeps its own). Default 4096. */
  pageSize?: number;
  /** Free-page set: "map" (default) or "array". */
  freelistType?: FreelistType;
  /** Do not persist the freelist; rebuild it on open by walking the tree. Default false. */
  noFreelistSync?: boolean;
  /** Run check() after every commit (tests). */
  strictMode?: boolean;
  /** Open without ever writing. */
  readOnly?: boolean;
  /**
   * Byte budget of the page cache, counting each page's bytes and its objects
   * ({@link PAGE_CACHE_OVERHEAD_BYTES}). Default {@link DEFAULT_PAGE_CACHE_BYTES}.
   */
  pageCacheBytes?: number;
  /** Skip fdatasync (benchmarks of the CPU side only). */
  noSync?: boolean;
}

/** Counters of a DB. */
export interface DBStats {
  freePageN: number;
  pendingPageN: number;
  txN: number;
  openTxN: number;
  cacheHits: number;
  cacheMisses: number;
  /** Milliseconds spent loading the freelist at open. */
  freelistLoadMs: number;
}

const DEFAULT_PAGE_SIZE = 4096;
/**
 * Default byte budget of the page cache: 16 MiB. The kernel's page cache holds the file anyway
 * (etcd's mmapped pages are counted in etcd's RSS the same way); this one saves the `pread` and
 * the parse of the hottest pages. Measured (docs/memory.md, round 5) at 300,000 revisions: 16
 * MiB against 64 lowers the member's RSS by 40-70 MiB under put load and by about 50 MiB once
 * idle, for no CPU per put; random single-key reads whose pages do not fit take about 4 µs
 * more each (15 % of page lookups miss).
 */
export const DEFAULT_PAGE_CACHE_BYTES = 16 * 1024 * 1024;
/**
 * What a cached page costs beyond its bytes: the Page, its Uint8Array, DataView and ArrayBuffer
 * objects and the allocator's record of the backing store (measured in a heap snapshot: about 340
 * bytes of objects; 512 leaves room for malloc's own overhead). Counted so that the budget bounds
 * the memory, not only the page bytes.
 */
export const PAGE_CACHE_OVERHEAD_BYTES = 512;
/**
 * The share of the page cache's budget that holds leaves a commit wrote until they are read
 * again (the probation part, see DB's #admitWritten): 1/128, 128 KiB of the default 16 MiB,
 * some 30 pages. Enough for the few leaves the next commit reads again (the tail of an
 * append-only bucket, the meta bucket's leaf), which a commit writes last; a commit's other
 * leaves pass through in tens of milliseconds. Measured against 1/32 (docs/memory.md, round 7):
 * RSS under load 0.91-0.97x of main's against 0.96-0.98x, with the same external memory.
 */
export const PROBATION_SHARE = 1 / 128;
const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;
/**
 * How far past the high-water mark the file grows at once (bbolt's `DefaultAllocSize`, 16 MiB).
 * Growing ahead keeps most commits from changing the file size, so their fdatasync has no size
 * metadata to push through the file system journal, where the WAL's fdatasync would wait on it.
 */
const GROW_AHEAD_BYTES = 16 * 1024 * 1024;
/** Linux's limit of buffers per writev. */
const IOV_MAX = 1024;
/**
 * Bytes `forEachPart` reads at once past a leaf's first page: a KeyValue's header fields (key,
 * revisions, version, the value's length) fit in one read.
 */
const PART_WINDOW_BYTES = 512;

/** Where a commit stands between its page writes and its durable meta. */
interface _PendingCommit {
  meta: Meta;
  stage: "pages" | "meta" | "durable";
}

/** A bolt database file. */
export class DB {
  readonly path: string;
  readonly pageSize: number;
  readonly noFreelistSync: boolean;
  readonly strictMode: boolean;
  readonly readOnly: boolean;
  readonly noSync: boolean;
  freelist: Freelist;
  /** The meta of the last commit. */
  meta: Meta;
  readonly stats: DBStats = {
    freePageN: 0,
    pendingPageN: 0,
    txN: 0,
    openTxN: 0,
    cacheHits: 0,
    cacheMisses: 0,
    freelistLoadMs: 0,
  };
  #fd: number;
  /** A second handle on the file, for fdatasync off the event loop (see commitAsync). */
  #syncFile: Deno.FsFile | null = null;
  /** The last commit whose pages are written but whose meta may not be durable yet. */
  #pending: _PendingCommit | null = null;
  /** The first failed fdatasync: the file's state is unknown after it, so commits stop. */
  #failure: Error | null = null;
  #fileSize: number;
  #rwtx: Tx | null = null;
  readonly #readers = new Set<Tx>();
  /** The page cache's main part: pages read, CLOCK-evicted (see #evict). */
  readonly #cache = new Map<number, Page>();
  /**
   * The page cache's probation part: leaf pages a commit wrote, in write order, until a read
   * hit promotes one into #cache or newer writes push it out (see #admitWritten).
   */
  readonly #probation = new Map<number, Page>();
  #probationBytes = 0;
  /** Buffers of tree walks, one per depth (see #readPageInto). */
  #walkBuffers: Uint8Array[] = [];
  #cacheBytes = 0;
  #cacheLimit: number;

  private constructor(
    path: string,
    fd: number,
    fileSize: number,
    pageSize: number,
    meta: Meta,
    options: DBOptions,
  ) {
    this.path = path;
    this.#fd = fd;
    this.#fileSize = fileSize;
    this.pageSize = pageSize;
    this.meta = meta;
    this.noFreelistSync = options.noFreelistSync ?? false;
    this.strictMode = options.strictMode ?? false;
    this.readOnly = options.readOnly ?? false;
    this.noSync = options.noSync ?? false;
    this.#cacheLimit = options.pageCacheBytes ?? DEFAULT_PAGE_CACHE_BYTES;
    if (!Number.isSafeInteger(this.#cacheLimit) || this.#cacheLimit < 0) {
      throw new RangeError(
        `pageCacheBytes must be a non-negative integer, not ${this.#cacheLimit}`,
      );
    }
    this.freelist = new Freelist(options.freelistType ?? "map");
  }

  /**
   * Opens (or creates) the database at `path`. A file that cannot be read is left untouched:
   * the error names the file and the problem.
   */
  static open(path: string, options: DBOptions = {}): DB {
    let fd: number;
    try {
      fd = fs.openSync(path, options.readOnly ? "r" : fs.existsSync(path) ? "r+" : "w+", 0o600);
    } catch (error) {
      throw new BoltError(`${path}: cannot open: ${(error as Error).message}`);
    }
    try {
      let size = fs.fstatSync(fd).size;
      if (size === 0 && !options.readOnly) {
        size = _initFile(fd, options.pageSize ?? DEFAULT_PAGE_SIZE);
      }
      const [pageSize, meta] = _readMetas(fd, size);
      if (meta.pgid * pageSize > size) {
        throw new BoltError(
          `file is truncated: ${size} bytes, but meta txid ${meta.txid} has high-water page ` +
            `${meta.pgid} (${meta.pgid * pageSize} bytes)`,
        );
      }
      const db = new DB(path, fd, size, pageSize, meta, options);
      db.#checkTopLevel();
      db.#loadFreelist();
      return db;
    } catch (error) {
      fs.closeSync(fd);
      const message = (error as Error).message;
      throw new BoltError(message.startsWith(path) ? message : `${path}: ${message}`);
    }
  }

  /** Begins a transaction; only one writable transaction may be open. */
  begin(writable: boolean): Tx {
    if (this.#fd < 0) throw new BoltError(ERR_DATABASE_NOT_OPEN);
    if (!writable) {
      const tx = new Tx(this, false, this.meta);
      this.#readers.add(tx);
      this.stats.openTxN = this.#readers.size;
      return tx;
    }
    assert(!this.readOnly, "database is in read-only mode");
    this.#throwIfFailed();
    assert(this.#rwtx === null, "a write transaction is already open");
    // Pages freed by transactions that no open reader predates can be reused now.
    let minReader = Infinity;
    for (const reader of this.#readers) minReader = Math.min(minReader, reader.meta.txid);
    // Their cached buffers go with them: nothing can read them again, and dropped now they are
    // still young for the collector instead of ageing in the cache until CLOCK reaches them.
    this.freelist.release(minReader === Infinity ? this.meta.txid : minReader - 1, this.#forget);
    const tx = new Tx(this, true, this.meta);
    this.#rwtx = tx;
    return tx;
  }

  /** Runs `fn` in a write transaction and commits it (rolls back if `fn` throws). */
  update<T>(fn: (tx: Tx) => T): T {
    const tx = this.begin(true);
    try {
      const result = fn(tx);
      tx.commit();
      return result;
    } finally {
      tx.rollback();
    }
  }

  /** Runs `fn` in a read transaction. */
  view<T>(fn: (tx: Tx) => T): T {
    const tx = this.begin(false);
    try {
      return fn(tx);
    } finally {
      tx.rollback();
    }
  }

  /** Called by a transaction when it ends. */
  closeTx(tx: Tx): void {
    if (tx.writable) {
      assert(this.#rwtx === tx, "closing a write transaction that is not the open one");
      this.#rwtx = null;
      this.stats.txN++;
    } else {
      this.#readers.delete(tx);
      this.stats.openTxN = this.#readers.size;
    }
    this.stats.freePageN = this.freelist.freeCount();
    this.stats.pendingPageN = this.freelist.pendingCount();
  }

  /** The open write transaction, if any. */
  writeTx(): Tx | null {
    return this.#rwtx;
  }

  /** The file size in bytes. */
  fileSize(): number {
    return this.#fileSize;
  }

  /** The committed page `id` (through the cache). */
  page(id: number): Page {
    const cached = this.#cache.get(id);
    if (cached !== undefined) {
      cached.referenced = true;
      this.stats.cacheHits++;
      return cached;
    }
    const written = this.#probation.get(id);
    if (written !== undefined) {
      // Read again after its commit wrote it: it earns a place in the main part.
      this.stats.cacheHits++;
      this.#leaveProbation(id, written);
      this.#cachePut(id, written);
      return written;
    }
    this.stats.cacheMisses++;
    const page = this.readPage(id);
    this.#cachePut(id, page);
    return page;
  }

  /** Reads page `id` (with its overflow pages) from the file, bypassing the cache. */
  readPage(id: number): Page {
    return this.#readPageInto(id, (bytes) => new Uint8Array(bytes));
  }

  /**
   * Reads page `id` into a buffer from `buffer(bytes)`: a fresh one for the cache, or a reused
   * one for a walk that looks at each page once (so that walking a 1 GB file does not leave 1 GB
   * of dead buffers for the collector, whose memory malloc would keep).
   */
  #readPageInto(id: number, buffer: (bytes: number) => Uint8Array): Page {
    const ps = this.pageSize;
    if ((id + 1) * ps > this.#fileSize) {
      throw new BoltError(
        `${this.path}: page ${id} is past the end of the file (${this.#fileSize} bytes)`,
      );
    }
    let buf = buffer(ps);
    _readFully(this.#fd, buf, id * ps);
    let page = new Page(buf);
    const overflow = page.overflow;
    if (overflow > 0) {
      if ((id + 1 + overflow) * ps > this.#fileSize) {
        throw new BoltError(
          `${this.path}: page ${id} with ${overflow} overflow pages runs past the end of the file`,
        );
      }
      buf = buffer((overflow + 1) * ps);
      _readFully(this.#fd, buf, id * ps);
      page = new Page(buf);
    }
    if (page.id !== id) {
      throw new BoltError(`${this.path}: page ${id} has id ${page.id} in its header`);
    }
    return page;
  }

  /**
   * Page `id` for the free-page walk, in the walk's buffer for `depth`. A leaf that spans
   * overflow pages and holds no nested bucket is read as its first page only: the walk needs its
   * header (id, overflow count) and element flags, not its keys and values. The returned page's
   * buffer is then one page long while its header counts the overflow pages.
   */
  #readWalkPage(id: number, depth: number): Page {
    const ps = this.pageSize;
    if ((id + 1) * ps > this.#fileSize) {
      return this.#readPageInto(id, (n) => this.#walkBuffer(depth, n));
    }
    const head = this.#walkBuffer(depth, ps);
    _readFully(this.#fd, head, id * ps);
    const page = new Page(head);
    if (page.overflow === 0) {
      // The first page is the whole page: no second read.
      if (page.id !== id) {
        throw new BoltError(`${this.path}: page ${id} has id ${page.id} in its header`);
      }
      return page;
    }
    if (!page.isLeaf() || !_flagsInHead(page, ps)) {
      return this.#readPageInto(id, (n) => this.#walkBuffer(depth, n));
    }
    for (let i = 0; i < page.count; i++) {
      if ((page.leafFlags(i) & BUCKET_LEAF_FLAG) !== 0) {
        return this.#readPageInto(id, (n) => this.#walkBuffer(depth, n));
      }
    }
    if ((id + 1 + page.overflow) * ps > this.#fileSize) {
      throw new BoltError(
        `${this.path}: page ${id} with ${page.overflow} overflow pages runs past the end of the file`,
      );
    }
    if (page.id !== id) {
      throw new BoltError(`${this.path}: page ${id} has id ${page.id} in its header`);
    }
    return page;
  }

  /**
   * Calls `visit` with each key and value of the committed bucket tree rooted at page `root`, in
   * key order, reading pages past the cache (a cached page is used as it is) into buffers reused
   * from page to page. Of a leaf that spans overflow pages only the first page is read; a value
   * is handed over as its size and a `part(offset, length)` function that returns those bytes
   * of it, reading from the file what the first page does not hold. Keys and parts are views
   * valid only during the call. For a scan that needs a few bytes of large values (the key
   * index rebuild at start-up), this reads a fraction of the file and allocates nothing per
   * page. A part read from the file is valid until the next part is asked for.
   */
  forEachPart(
    root: number,
    visit: (
      key: Uint8Array,
      size: number,
      part: (offset: number, length: number) => Uint8Array,
    ) => void,
  ): void {
    const highWater = this.meta.pgid;
    const ps = this.pageSize;
    const buffers: Uint8Array[] = [];
    const buffer = (depth: number, bytes: number) => {
      let buf = buffers[depth];
      if (buf === undefined || buf.length < bytes) {
        buf = new Uint8Array(Math.max(bytes, 2 * (buf?.length ?? 0)));
        buffers[depth] = buf;
      }
      return buf.subarray(0, bytes);
    };
    // Parts past a leaf's first page are read through a window: the file bytes [windowAt,
    // windowAt + windowLength) held in `scratch`. A KeyValue's fields come as several small parts
    // (a tag and a varint at a time), so one read serves them all instead of one read each.
    let scratch = new Uint8Array(PART_WINDOW_BYTES);
    let windowAt = -1;
    let windowLength = 0;
    /** `length` bytes at byte `at` of the page that starts at file offset `base`. */
    const read = (page: Page, base: number, extent: number, at: number, length: number) => {
      if (at + length <= page.buf.length) return page.buf.subarray(at, at + length);
      if (at + length > extent) {
        throw new BoltError(`${this.path}: element runs past its page at offset ${base}`);
      }
      const from = base + at;
      if (from >= windowAt && from + length <= windowAt + windowLength) {
        return scratch.subarray(from - windowAt, from - windowAt + length);
      }
      // The window never runs past the leaf's last overflow page, which is inside the file.
      const bytes = Math.max(length, Math.min(PART_WINDOW_BYTES, extent - at));
      if (scratch.length < bytes) scratch = new Uint8Array(Math.max(bytes, 2 * scratch.length));
      _readFully(this.#fd, scratch.subarray(0, bytes), from);
      windowAt = from;
      windowLength = bytes;
      return scratch.subarray(0, length);
    };
    const walk = (id: number, depth: number): void => {
      if (id < 2 || id >= highWater) {
        throw new BoltError(
          `${this.path}: page ${id} is past the high-water mark ${highWater} or reserved`,
        );
      }
      let page = this.#cache.get(id) ?? this.#probation.get(id);
      if (page === undefined) {
        const head = buffer(depth, ps);
        if ((id + 1) * ps > this.#fileSize) {
          throw new BoltError(
            `${this.path}: page ${id} is past the end of the file (${this.#fileSize} bytes)`,
          );
        }
        _readFully(this.#fd, head, id * ps);
        page = new Page(head);
        if (page.id !== id) {
          throw new BoltError(`${this.path}: page ${id} has id ${page.id} in its header`);
        }
        if (page.overflow > 0 && (!page.isLeaf() || !_flagsInHead(page, ps))) {
          page = this.#readPageInto(id, (n) => buffer(depth, n));
        }
      }
      if (page.isBranch()) {
        for (let i = 0; i < page.count; i++) walk(page.branchPgid(i), depth + 1);
        return;
      }
      if (!page.isLeaf()) {
        throw new BoltError(
          `${this.path}: page ${id}: expected branch or leaf page, found ${page.type()}`,
        );
      }
      const extent = (page.overflow + 1) * ps;
      if ((id + 1 + page.overflow) * ps > this.#fileSize) {
        throw new BoltError(
          `${this.path}: page ${id} with ${page.overflow} overflow pages runs past the end of the file`,
        );
      }
      const base = id * ps;
      const held = page;
      for (let i = 0; i < held.count; i++) {
        if ((held.leafFlags(i) & BUCKET_LEAF_FLAG) !== 0) continue;
        const elem = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
        const keyAt = elem + held.dv.getUint32(elem + 4, true);
        const keySize = held.dv.getUint32(elem + 8, true);
        const valueAt = keyAt + keySize;
        const size = held.dv.getUint32(elem + 12, true);
        if (valueAt + size > extent) {
          throw new BoltError(`${this.path}: element ${i} runs past page ${id}`);
        }
        // The key is copied out when it is not in the first page (the scratch buffer is the
        // value's).
        const key = keyAt + keySize <= held.buf.length
          ? held.buf.subarray(keyAt, keyAt + keySize)
          : read(held, base, extent, keyAt, keySize).slice();
        visit(key, size, (offset, length) => {
          if (offset < 0 || length < 0 || offset + length > size) {
            throw new RangeError(`value part ${offset}+${length} outside a value of ${size} bytes`);
          }
          return read(held, base, extent, valueAt + offset, length);
        });
      }
    };
    if (root !== 0) walk(root, 0);
  }

  /** A walk's buffer for tree depth `depth`, reused from page to page at that depth. */
  #walkBuffer(depth: number, bytes: number): Uint8Array {
    let buf = this.#walkBuffers[depth];
    if (buf === undefined || buf.length < bytes) {
      buf = new Uint8Array(bytes);
      this.#walkBuffers[depth] = buf;
    }
    return buf.subarray(0, bytes);
  }

  /**
   * Drops page `id` from either part of the cache, if it is there: a page id the freelist
   * released, or one about to be cached anew.
   */
  readonly #forget = (id: number): void => {
    const cached = this.#cache.get(id);
    if (cached !== undefined) {
      this.#cache.delete(id);
      this.#cacheBytes -= cached.buf.length + PAGE_CACHE_OVERHEAD_BYTES;
    }
    const written = this.#probation.get(id);
    if (written !== undefined) this.#leaveProbation(id, written);
  };

  /** Takes page `id` out of the probation part and out of the cache's byte count. */
  #leaveProbation(id: number, page: Page): void {
    this.#probation.delete(id);
    const bytes = page.buf.length + PAGE_CACHE_OVERHEAD_BYTES;
    this.#probationBytes -= bytes;
    this.#cacheBytes -= bytes;
  }

  /** Puts `page` in the main part of the cache (replacing any cached page `id`). */
  #cachePut(id: number, page: Page): void {
    this.#forget(id);
    this.#cache.set(id, page);
    this.#cacheBytes += page.buf.length + PAGE_CACHE_OVERHEAD_BYTES;
    this.#evict();
  }

  /**
   * Caches a page a commit wrote. Branch pages go to the main part: every lookup walks them.
   * A leaf goes to the probation part, a FIFO of {@link PROBATION_SHARE} of the budget: most
   * leaves a put load writes (full leaves of an append-only bucket) are never read again, and
   * in the main part they would push out pages that reads use and live seconds, long enough to
   * die in V8's old generation. Pushed out of probation within a fraction of a second, their
   * buffers die young. A leaf the next commit or a reader asks for is promoted by page().
   */
  #admitWritten(id: number, page: Page): void {
    if (page.isBranch()) {
      this.#cachePut(id, page);
      return;
    }
    this.#forget(id);
    const bytes = page.buf.length + PAGE_CACHE_OVERHEAD_BYTES;
    this.#probation.set(id, page);
    this.#probationBytes += bytes;
    this.#cacheBytes += bytes;
    const limit = Math.floor(this.#cacheLimit * PROBATION_SHARE);
    while (this.#probationBytes > limit) {
      const [oldestId, oldest] = this.#probation.entries().next().value!;
      this.#leaveProbation(oldestId, oldest);
    }
  }

  /**
   * CLOCK eviction down to the budget: the oldest page goes unless it was hit since it last came
   * round or is a branch page, in which case it moves to the back (hits cost one flag write
   * instead of a Map reinsert). Branch pages are few (one per ~100 leaves) and every lookup walks
   * them, so they stay while there are leaves to evict; after one full round without a victim the
   * oldest page goes whatever it is, which bounds the work and the bytes.
   */
  #evict(): void {
    let turns = 0;
    // The main part's share: what the probation part may hold is kept free for it.
    const limit = this.#cacheLimit - Math.floor(this.#cacheLimit * PROBATION_SHARE);
    while (this.#cacheBytes - this.#probationBytes > limit && this.#cache.size > 1) {
      const [oldestId, oldest] = this.#cache.entries().next().value!;
      this.#cache.delete(oldestId);
      if ((oldest.referenced || oldest.isBranch()) && turns++ < this.#cache.size) {
        oldest.referenced = false;
        this.#cache.set(oldestId, oldest);
        continue;
      }
      this.#cacheBytes -= oldest.buf.length + PAGE_CACHE_OVERHEAD_BYTES;
    }
  }

  /** Changes the page cache's byte budget, evicting down to it now. */
  setPageCacheBudget(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`page cache budget must be a non-negative integer, not ${bytes}`);
    }
    this.#cacheLimit = bytes;
    this.#evict();
    // Shrinks the probation part to its new share.
    const written = [...this.#probation];
    this.#probation.clear();
    this.#cacheBytes -= this.#probationBytes;
    this.#probationBytes = 0;
    for (const [id, page] of written) this.#admitWritten(id, page);
  }

  /** Bytes the page cache holds, counted as its budget counts them. */
  get pageCacheBytes(): number {
    return this.#cacheBytes;
  }

  /** Drops every cached page (tests of the read path). */
  dropCache(): void {
    this.#cache.clear();
    this.#probation.clear();
    this.#cacheBytes = 0;
    this.#probationBytes = 0;
  }

  /** Takes `count` contiguous pages from the freelist, or from the end of the file. */
  allocate(tx: Tx, count: number): Page {
    let start = this.freelist.allocate(tx.meta.txid, count);
    if (start === 0) {
      start = tx.meta.pgid;
      tx.meta.pgid += count;
    }
    const page = new Page(new Uint8Array(count * this.pageSize));
    page.id = start;
    page.overflow = count - 1;
    return page;
  }

  /**
   * Writes a transaction's dirty pages in id order, without syncing them (stageMeta and the
   * finishing steps sync). A commit still in flight is made durable first: the new pages may
   * reuse pages that its meta freed, and must not hit the disk before that meta does.
   */
  writePages(tx: Tx): void {
    this.finishCommitSync();
    this.#grow(tx.meta.pgid * this.pageSize);
    const ids = [...tx.pages.keys()].sort((a, b) => a - b);
    const ps = this.pageSize;
    let i = 0;
    while (i < ids.length) {
      // Coalesce pages that are adjacent on disk into one write.
      let j = i;
      let bytes = tx.pages.get(ids[i]!)!.buf.length;
      while (j + 1 < ids.length && bytes < WRITE_CHUNK_BYTES && j - i < IOV_MAX - 1) {
        const previous = tx.pages.get(ids[j]!)!;
        if (ids[j]! + previous.buf.length / ps !== ids[j + 1]!) break;
        j++;
        bytes += tx.pages.get(ids[j]!)!.buf.length;
      }
      // One writev per run of adjacent pages: no copy into a joint buffer.
      const buffers: Uint8Array[] = [];
      for (let k = i; k <= j; k++) buffers.push(tx.pages.get(ids[k]!)!.buf);
      const position = ids[i]! * ps;
      _writevFully(this.#fd, buffers, bytes, position);
      this.#fileSize = Math.max(this.#fileSize, position + bytes);
      i = j + 1;
    }
    for (const [id, page] of tx.pages) this.#admitWritten(id, page);
  }

  /**
   * Makes the file at least `highWaterBytes` long, growing it GROW_AHEAD_BYTES further at once
   * as bbolt's `db.grow` does, and fsyncs so that the new size is durable before pages land in it.
   */
  #grow(highWaterBytes: number): void {
    if (highWaterBytes <= this.#fileSize || this.readOnly) return;
    const target = highWaterBytes + GROW_AHEAD_BYTES;
    fs.ftruncateSync(this.#fd, target);
    if (!this.noSync) fs.fsyncSync(this.#fd);
    this.#fileSize = target;
  }

  /**
   * Makes `meta` the committed meta once the transaction's pages are written: new transactions
   * start from it, while the disk still holds the previous one until finishCommitSync() or
   * finishCommitAsync() has synced the pages, written this meta and synced it.
   */
  stageMeta(meta: Meta): void {
    assert(this.#pending === null, "a commit is already in flight");
    this.meta = { ...meta };
    this.#pending = { meta: this.meta, stage: "pages" };
  }

  /** True while a commit's meta is not yet durable. */
  commitInFlight(): boolean {
    return this.#pending !== null;
  }

  /** Finishes the commit in flight, if any, on this thread: sync, meta, sync. */
  finishCommitSync(): void {
    this.#throwIfFailed();
    const pending = this.#pending;
    if (pending === null) return;
    if (pending.stage === "pages") {
      // The pages are on disk before the meta can point at them.
      this.#sync();
      this.#writeMetaPage(pending.meta);
      pending.stage = "meta";
    }
    // The meta is on disk: the commit point.
    this.#sync();
    pending.stage = "durable";
    this.#pending = null;
  }

  /**
   * Finishes the commit in flight with both fdatasyncs awaited off the event loop. If
   * finishCommitSync() (or the next commit) finishes it meanwhile, this only returns.
   */
  async finishCommitAsync(): Promise<void> {
    const pending = this.#pending;
    if (pending === null) return;
    if (pending.stage === "pages") {
      // The pages are on disk before the meta can point at them.
      await this.#syncAsync(pending);
      if (pending.stage !== "pages") return;
      this.#writeMetaPage(pending.meta);
      pending.stage = "meta";
    }
    // The meta is on disk: the commit point.
    await this.#syncAsync(pending);
    if (pending.stage !== "meta") return;
    pending.stage = "durable";
    assert(this.#pending === pending, "a later commit finished before this one");
    this.#pending = null;
  }

  async #syncAsync(pending: _PendingCommit): Promise<void> {
    if (this.noSync) return;
    this.#syncFile ??= Deno.openSync(this.path, { read: true, write: true });
    try {
      await this.#syncFile.syncData();
    } catch (error) {
      // A synchronous finish (or close) that got there first already synced this commit.
      if (pending.stage === "durable") return;
      this.#failure ??= error as Error;
      throw error;
    }
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) {
      throw new BoltError(`${this.path}: an earlier fdatasync failed: ${this.#failure.message}`);
    }
  }

  /** Writes the meta page of `meta.txid` (not synced). */
  #writeMetaPage(meta: Meta): void {
    const page = new Page(new Uint8Array(this.pageSize));
    page.id = meta.txid % 2;
    page.flags = META_PAGE_FLAG;
    writeMeta(page, meta);
    // Check it right before it goes to disk.
    assert(readMeta(page).txid === meta.txid, "meta does not read back");
    _writeFully(this.#fd, page.buf, page.id * this.pageSize);
  }

  /** Runs check() on the state a write transaction is about to commit (strict mode). */
  strictCheck(tx: Tx): void {
    const errors = checkTx(tx);
    if (errors.length > 0) throw new BoltError("check fail: " + errors.slice(0, 10).join("; "));
  }

  #sync(): void {
    if (!this.noSync) fs.fdatasyncSync(this.#fd);
  }

  /** Reads `length` bytes at `position` of the file (snapshots, copies). */
  readAt(buf: Uint8Array, position: number): void {
    _readFully(this.#fd, buf, position);
  }

  /** Closes the file; open transactions become unusable. */
  close(): void {
    if (this.#fd < 0) return;
    if (this.#rwtx !== null) this.#rwtx.rollback();
    for (const reader of [...this.#readers]) reader.rollback();
    // A commit in flight is durable once close() returns, as every commit was before.
    if (this.#failure === null) this.finishCommitSync();
    this.#syncFile?.close();
    this.#syncFile = null;
    fs.closeSync(this.#fd);
    this.#fd = -1;
    this.#cache.clear();
  }

  /** True once close() was called. */
  isClosed(): boolean {
    return this.#fd < 0;
  }

  /** Reads the root bucket's pages and the root page of each top-level bucket. */
  #checkTopLevel(): void {
    const highWater = this.meta.pgid;
    const want = BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG;
    const visit = (page: Page, depth: number) => {
      if (page.isBranch()) {
        for (let i = 0; i < page.count; i++) {
          visit(this.#walkPage(page.branchPgid(i), highWater, want, depth + 1), depth + 1);
        }
        return;
      }
      for (let i = 0; i < page.count; i++) {
        if ((page.leafFlags(i) & BUCKET_LEAF_FLAG) === 0) continue;
        const value = page.leafValue(i);
        const root = readU64(new DataView(value.buffer, value.byteOffset, value.byteLength), 0);
        if (root !== 0) this.#walkPage(root, highWater, want, depth + 1);
      }
    };
    visit(this.#walkPage(this.meta.root, highWater, want, 0), 0);
    this.#walkBuffers = [];
  }

  #loadFreelist(): void {
    const started = performance.now();
    if (this.meta.freelist !== PGID_NO_FREELIST) {
      this.freelist.read(this.readPage(this.meta.freelist), this.meta.pgid);
    } else {
      this.freelist.readIds(this.freePageIds());
    }
    this.stats.freelistLoadMs = performance.now() - started;
    this.stats.freePageN = this.freelist.freeCount();
  }

  /**
   * Page ids below the high-water mark that no bucket of the last commit reaches (the freelist
   * of a file whose freelist is not persisted). Reads pages directly, past the cache.
   */
  freePageIds(): Uint32Array {
    const reachable = this.reachablePages(this.meta);
    let free = 0;
    for (let id = 2; id < this.meta.pgid; id++) if (reachable[id] === 0) free++;
    const ids = new Uint32Array(free);
    let k = 0;
    for (let id = 2; id < this.meta.pgid; id++) if (reachable[id] === 0) ids[k++] = id;
    return ids;
  }

  /** One byte per page below the high-water mark: 1 when reachable from `meta`. */
  reachablePages(meta: Meta): Uint8Array {
    const reachable = new Uint8Array(meta.pgid);
    reachable[0] = 1;
    reachable[1] = 1;
    const mark = (page: Page) => {
      for (let i = 0; i <= page.overflow; i++) reachable[page.id + i] = 1;
    };
    if (meta.freelist !== PGID_NO_FREELIST) {
      mark(this.#walkPage(meta.freelist, meta.pgid, FREELIST_PAGE_FLAG, 0));
    }
    this.#walkBucket(meta.root, meta.pgid, mark, 0);
    // Large overflow buffers are not worth keeping past the walk.
    this.#walkBuffers = [];
    return reachable;
  }

  #walkPage(id: number, highWater: number, want: number, depth: number): Page {
    if (id < 2 || id >= highWater) {
      throw new BoltError(
        `${this.path}: page ${id} is past the high-water mark ${highWater} or reserved`,
      );
    }
    const page = this.#cache.get(id) ?? this.#readWalkPage(id, depth);
    if ((page.flags & want) === 0) {
      throw new BoltError(
        `${this.path}: page ${id}: expected ${
          want === FREELIST_PAGE_FLAG ? "freelist" : "branch or leaf"
        } page, found ${page.type()}`,
      );
    }
    if (id + page.overflow >= highWater) {
      throw new BoltError(
        `${this.path}: page ${id} overflows past the high-water mark ${highWater}`,
      );
    }
    return page;
  }

  #walkBucket(
    root: number,
    highWater: number,
    mark: (page: Page) => void,
    depth: number,
  ): void {
    const page = this.#walkPage(root, highWater, BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG, depth);
    mark(page);
    this.#walkElements(page, highWater, mark, depth);
  }

  /** Walks the children of `page`, which the caller holds at `depth` (its buffer stays put). */
  #walkElements(
    page: Page,
    highWater: number,
    mark: (page: Page) => void,
    depth: number,
  ): void {
    if (page.isBranch()) {
      for (let i = 0; i < page.count; i++) {
        const child = this.#walkPage(
          page.branchPgid(i),
          highWater,
          BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG,
          depth + 1,
        );
        mark(child);
        this.#walkElements(child, highWater, mark, depth + 1);
      }
      return;
    }
    for (let i = 0; i < page.count; i++) {
      if ((page.leafFlags(i) & BUCKET_LEAF_FLAG) === 0) continue;
      const value = page.leafValue(i);
      if (value.length < BUCKET_HEADER_SIZE) {
        throw new BoltError(`${this.path}: bucket value too short in page ${page.id}`);
      }
      const root = readU64(new DataView(value.buffer, value.byteOffset, value.byteLength), 0);
      if (root !== 0) this.#walkBucket(root, highWater, mark, depth + 1);
      else if (value.length >= BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE) {
        // An inline bucket lives inside this page's buffer: its children go one level deeper.
        this.#walkElements(new Page(value.subarray(BUCKET_HEADER_SIZE)), highWater, mark, depth);
      }
    }
  }
}

/** Whether the element headers of leaf `page` lie in its first page (of `pageSize` bytes). */
function _flagsInHead(page: Page, pageSize: number): boolean {
  return PAGE_HEADER_SIZE + page.count * LEAF_ELEMENT_SIZE <= pageSize;
}

function _initFile(fd: number, pageSize: number): number {
  assert(
    pageSize >= 1024 && (pageSize & (pageSize - 1)) === 0,
    "page size must be a power of two >= 1024",
  );
  const buf = new Uint8Array(pageSize * 4);
  for (let i = 0; i < 2; i++) {
    const page = new Page(buf.subarray(i * pageSize, (i + 1) * pageSize));
    page.id = i;
    page.flags = META_PAGE_FLAG;
    writeMeta(page, { pageSize, flags: 0, root: 3, sequence: 0, freelist: 2, pgid: 4, txid: i });
  }
  const freelist = new Page(buf.subarray(2 * pageSize, 3 * pageSize));
  freelist.id = 2;
  freelist.flags = FREELIST_PAGE_FLAG;
  const leaf = new Page(buf.subarray(3 * pageSize));
  leaf.id = 3;
  leaf.flags = LEAF_PAGE_FLAG;
  _writeFully(fd, buf, 0);
  fs.fdatasyncSync(fd);
  return buf.length;
}

const _CANDIDATE_PAGE_SIZES = [4096, 1024, 2048, 8192, 16384, 32768, 65536];

/** Reads both metas and picks the valid one with the higher txid. */
function _readMetas(fd: number, size: number): [number, Meta] {
  const header = PAGE_HEADER_SIZE + 64;
  if (size < 1024 * 2) {
    throw new BoltError(`file is truncated: ${size} bytes is less than two pages`);
  }
  const readAt = (offset: number): Meta => {
    if (offset + header > size) {
      throw new BoltError(`file is truncated: no meta page at offset ${offset}`);
    }
    const buf = new Uint8Array(header);
    _readFully(fd, buf, offset);
    return readMeta(new Page(buf));
  };
  let pageSize = 0;
  let error0: Error | null = null;
  let meta0: Meta | null = null;
  try {
    meta0 = readAt(0);
    pageSize = meta0.pageSize;
  } catch (error) {
    error0 = error as Error;
    // Meta 0 is damaged: find the page size from meta 1 at the usual sizes.
    for (const candidate of _CANDIDATE_PAGE_SIZES) {
      try {
        if (readAt(candidate).pageSize === candidate) {
          pageSize = candidate;
          break;
        }
      } catch { /* not at this offset */ }
    }
  }
  if (pageSize === 0) pageSize = DEFAULT_PAGE_SIZE;
  if (size < pageSize * 2) {
    throw new BoltError(`file is truncated: ${size} bytes is less than two ${pageSize}-byte pages`);
  }
  let error1: Error | null = null;
  let meta1: Meta | null = null;
  try {
    meta1 = readAt(pageSize);
  } catch (error) {
    error1 = error as Error;
  }
  if (meta0 === null && meta1 === null) {
    throw new BoltError(
      `${ERR_INVALID}: meta page 0: ${error0!.message}; meta page 1: ${error1!.message}`,
    );
  }
  if (meta0 !== null && meta1 !== null) return [pageSize, meta1.txid > meta0.txid ? meta1 : meta0];
  return [pageSize, (meta0 ?? meta1)!];
}

function _readFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new BoltError(`short read at offset ${position + done}`);
    done += n;
  }
}

function _writevFully(fd: number, buffers: Uint8Array[], total: number, position: number): void {
  const written = buffers.length === 1
    ? fs.writeSync(fd, buffers[0]!, 0, buffers[0]!.length, position)
    : fs.writevSync(fd, buffers, position);
  if (written === total) return;
  // A short write: finish buffer by buffer.
  let offset = 0;
  for (const buf of buffers) {
    const end = offset + buf.length;
    if (end > written) {
      const from = Math.max(0, written - offset);
      _writeFully(fd, buf.subarray(from), position + offset + from);
    }
    offset = end;
  }
}

function _writeFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
  }
}
