/**
 * A bucket (bbolt `bucket.go`): a B+tree of keys inside the file, itself stored as a value of
 * its parent bucket. A bucket value is a 16-byte header (root pgid, sequence); a small bucket
 * without sub-buckets is written "inline": root 0, and its single leaf page follows the header
 * inside the parent's value. The root bucket's header lives in the meta.
 *
 * @module
 */

import { Cursor } from "./cursor.ts";
import {
  assert,
  BoltError,
  ERR_BUCKET_EXISTS,
  ERR_BUCKET_NAME_REQUIRED,
  ERR_BUCKET_NOT_FOUND,
  ERR_INCOMPATIBLE_VALUE,
  ERR_KEY_REQUIRED,
  ERR_KEY_TOO_LARGE,
  ERR_TX_CLOSED,
  ERR_TX_NOT_WRITABLE,
  ERR_VALUE_TOO_LARGE,
} from "./errors.ts";
import { Node } from "./node.ts";
import {
  BRANCH_PAGE_FLAG,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE_FLAG,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  Page,
  PAGE_HEADER_SIZE,
  readU64,
  writeU64,
} from "./page.ts";
import { equalBytes } from "../bytes/mod.ts";
import type { Tx } from "./tx.ts";

/** bbolt's default fill percent of split pages. */
export const DEFAULT_FILL_PERCENT = 0.5;

/** Page statistics of a bucket and its sub-buckets (bbolt's BucketStats). */
export interface BucketStats {
  branchPageN: number;
  branchOverflowN: number;
  leafPageN: number;
  leafOverflowN: number;
  keyN: number;
  depth: number;
  branchInuse: number;
  leafInuse: number;
  bucketN: number;
  inlineBucketN: number;
  inlineBucketInuse: number;
}

/** A latin1 string of the bytes: a Map key that sorts and compares like the bytes. */
export function bytesToKey(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** A collection of keys (and nested buckets) inside a transaction. */
export class Bucket {
  readonly tx: Tx;
  root = 0;
  sequence = 0;
  /** Fill percent used when this bucket's nodes split (0.1 .. 1.0). */
  fillPercent = DEFAULT_FILL_PERCENT;
  /** The inline page, for a bucket stored inside its parent's value. */
  page: Page | null = null;
  rootNode: Node | null = null;
  /** Materialised nodes by page id. */
  readonly nodes = new Map<number, Node>();
  readonly #buckets = new Map<string, Bucket>();
  #lookupCursor: Cursor | undefined;

  constructor(tx: Tx) {
    this.tx = tx;
  }

  /**
   * The cursor of this bucket's own lookups (get, put, delete): one per bucket rather than one
   * per call, since a write transaction puts into the same bucket thousands of times. The
   * lookups are synchronous and keep nothing of it but the keys and values they return.
   */
  #ownCursor(): Cursor {
    return this.#lookupCursor ??= new Cursor(this);
  }

  /** A new cursor over this bucket. */
  cursor(): Cursor {
    this.tx.stats.cursorCount++;
    return new Cursor(this);
  }

  /** The nested bucket `name`, or null. */
  bucket(name: Uint8Array): Bucket | null {
    const cacheKey = bytesToKey(name);
    const cached = this.#buckets.get(cacheKey);
    if (cached !== undefined) return cached;
    const c = this.cursor();
    const key = c._seek(name);
    if (key === null || !equalBytes(key, name) || (c.flags & BUCKET_LEAF_FLAG) === 0) return null;
    const child = this.#openBucket(c._rawValue());
    this.#buckets.set(cacheKey, child);
    return child;
  }

  #openBucket(value: Uint8Array): Bucket {
    const child = new Bucket(this.tx);
    assert(value.length >= BUCKET_HEADER_SIZE, "bucket value shorter than its header");
    const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    child.root = readU64(dv, 0);
    child.sequence = readU64(dv, 8);
    if (child.root === 0) child.page = new Page(value.subarray(BUCKET_HEADER_SIZE));
    return child;
  }

  #checkWritable(): void {
    if (this.tx.closed) throw new BoltError(ERR_TX_CLOSED);
    if (!this.tx.writable) throw new BoltError(ERR_TX_NOT_WRITABLE);
  }

  /** Creates the nested bucket `name`; throws if it exists. */
  createBucket(name: Uint8Array): Bucket {
    this.#checkWritable();
    if (name.length === 0) throw new BoltError(ERR_BUCKET_NAME_REQUIRED);
    const c = this.cursor();
    const key = c._seek(name);
    if (key !== null && equalBytes(key, name)) {
      throw new BoltError(
        (c.flags & BUCKET_LEAF_FLAG) !== 0 ? ERR_BUCKET_EXISTS : ERR_INCOMPATIBLE_VALUE,
      );
    }
    // An empty inline bucket: header (root 0, sequence 0) and an empty leaf page.
    const value = new Uint8Array(BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE);
    new Page(value.subarray(BUCKET_HEADER_SIZE)).flags = LEAF_PAGE_FLAG;
    const stored = name.slice();
    c._node().put(stored, stored, value, 0, BUCKET_LEAF_FLAG);
    // A bucket that gains a sub-bucket can no longer be inline: drop the inline page view.
    this.page = null;
    return this.bucket(name)!;
  }

  /** Returns the nested bucket `name`, creating it when missing. */
  createBucketIfNotExists(name: Uint8Array): Bucket {
    const existing = this.bucket(name);
    if (existing !== null) return existing;
    return this.createBucket(name);
  }

  /** Deletes the nested bucket `name` and everything in it. */
  deleteBucket(name: Uint8Array): void {
    this.#checkWritable();
    const c = this.cursor();
    const key = c._seek(name);
    if (key === null || !equalBytes(key, name)) throw new BoltError(ERR_BUCKET_NOT_FOUND);
    if ((c.flags & BUCKET_LEAF_FLAG) === 0) throw new BoltError(ERR_INCOMPATIBLE_VALUE);
    const child = this.bucket(name)!;
    const nested: Uint8Array[] = [];
    child.forEach((k, v) => {
      if (v === null) nested.push(k.slice());
    });
    for (const k of nested) child.deleteBucket(k);
    this.#buckets.delete(bytesToKey(name));
    child.nodes.clear();
    child.rootNode = null;
    child.free();
    c._node().del(key);
  }

  /** The value of `key`, or undefined when absent or a nested bucket. */
  get(key: Uint8Array): Uint8Array | undefined {
    const c = this.#ownCursor();
    const k = c._seek(key);
    if (k === null || (c.flags & BUCKET_LEAF_FLAG) !== 0 || !equalBytes(k, key)) return undefined;
    return c.value!;
  }

  /** Sets `key` to `value` (both are copied). */
  put(key: Uint8Array, value: Uint8Array): void {
    this.#put(key.slice(), value.slice());
  }

  /**
   * Sets `key` to `value` without copying them: the bucket keeps both arrays until the commit
   * writes them, so the caller hands them over and must never change them afterwards. For
   * buffers encoded just for this put (the mvcc store's revision keys and KeyValues), where a
   * copy would only add garbage: one malloc'd value buffer and two objects per write.
   */
  putOwned(key: Uint8Array, value: Uint8Array): void {
    this.#put(key, value);
  }

  #put(key: Uint8Array, value: Uint8Array): void {
    this.#checkWritable();
    if (key.length === 0) throw new BoltError(ERR_KEY_REQUIRED);
    if (key.length > MAX_KEY_SIZE) throw new BoltError(ERR_KEY_TOO_LARGE);
    if (value.length > MAX_VALUE_SIZE) throw new BoltError(ERR_VALUE_TOO_LARGE);
    const c = this.#ownCursor();
    const k = c._seek(key);
    if (k !== null && equalBytes(k, key) && (c.flags & BUCKET_LEAF_FLAG) !== 0) {
      throw new BoltError(ERR_INCOMPATIBLE_VALUE);
    }
    c._node().put(key, key, value, 0, 0);
  }

  /** Removes `key` if present. */
  delete(key: Uint8Array): void {
    this.#checkWritable();
    const c = this.#ownCursor();
    const k = c._seek(key);
    if (k === null || !equalBytes(k, key)) return;
    if ((c.flags & BUCKET_LEAF_FLAG) !== 0) throw new BoltError(ERR_INCOMPATIBLE_VALUE);
    c._node().del(key);
  }

  /** Sets the bucket's sequence number. */
  setSequence(value: number): void {
    this.#checkWritable();
    // Materialise the root so that the changed header is written on commit.
    if (this.rootNode === null) this.node(this.root, null);
    this.sequence = value;
  }

  /** Increments and returns the bucket's sequence number. */
  nextSequence(): number {
    this.setSequence(this.sequence + 1);
    return this.sequence;
  }

  /** Calls `fn` for every key in order; `value` is null for a nested bucket. */
  forEach(fn: (key: Uint8Array, value: Uint8Array | null) => void): void {
    const c = this.cursor();
    for (let k = c.first(); k !== null; k = c.next()) fn(k, c.value);
  }

  /** The page or node for `pgid` in this bucket (a node when this tx changed it). */
  pageNode(pgid: number): [Page | null, Node | null] {
    const node = this.nodeAt(pgid);
    return node !== null ? [null, node] : [this.pageAt(pgid), null];
  }

  /**
   * The materialised node of `pgid`, or null when there is only its page (`pageAt`). Half of
   * `pageNode` without the pair, for the cursor's search, which runs on every put.
   */
  nodeAt(pgid: number): Node | null {
    if (this.root === 0) {
      assert(pgid === 0, () => `inline bucket non-zero page access: ${pgid} != 0`);
      return this.rootNode;
    }
    return this.nodes.get(pgid) ?? null;
  }

  /** The page of `pgid`, for when `nodeAt` gave null. */
  pageAt(pgid: number): Page {
    if (this.root === 0) return this.page!;
    return this.tx.page(pgid);
  }

  /** Materialises the node of `pgid` under `parent`. */
  node(pgid: number, parent: Node | null): Node {
    const existing = this.nodes.get(pgid);
    if (existing !== undefined) return existing;
    const node = new Node(this, parent);
    if (parent === null) this.rootNode = node;
    else parent.children.push(node);
    const page = this.page ?? this.tx.page(pgid);
    node.read(page);
    this.nodes.set(pgid, node);
    this.tx.stats.nodeCount++;
    return node;
  }

  /** Calls `fn` for each page of this bucket's committed tree with its depth. */
  forEachPage(fn: (page: Page, depth: number) => void): void {
    if (this.page !== null && this.root === 0) {
      fn(this.page, 0);
      return;
    }
    this.#forEachPage(this.root, 0, fn);
  }

  #forEachPage(pgid: number, depth: number, fn: (page: Page, depth: number) => void) {
    const page = this.tx.page(pgid);
    fn(page, depth);
    if ((page.flags & BRANCH_PAGE_FLAG) !== 0) {
      for (let i = 0; i < page.count; i++) this.#forEachPage(page.branchPgid(i), depth + 1, fn);
    }
  }

  #forEachPageNode(pgid: number, fn: (page: Page | null, node: Node | null) => void) {
    const [page, node] = this.pageNode(pgid);
    fn(page, node);
    if (page !== null) {
      if ((page.flags & BRANCH_PAGE_FLAG) !== 0) {
        for (let i = 0; i < page.count; i++) this.#forEachPageNode(page.branchPgid(i), fn);
      }
    } else if (!node!.isLeaf) {
      for (const inode of node!.inodes) this.#forEachPageNode(inode.pgid, fn);
    }
  }

  /** Merges underfull nodes after deletes, in this bucket and its open sub-buckets. */
  rebalance(): void {
    // A node merged away during this loop is no longer in `nodes` and must be skipped.
    for (const node of [...this.nodes.values()]) {
      if (this.nodes.get(node.pgid) === node) node.rebalance();
    }
    for (const child of this.#buckets.values()) child.rebalance();
  }

  /** Writes changed nodes to new pages and updates the headers of sub-buckets. */
  spill(): void {
    for (const [name, child] of this.#buckets) {
      let value: Uint8Array;
      if (child.#inlineable()) {
        child.free();
        value = child.#writeInline();
      } else {
        child.spill();
        value = new Uint8Array(BUCKET_HEADER_SIZE);
        const dv = new DataView(value.buffer);
        writeU64(dv, 0, child.root);
        writeU64(dv, 8, child.sequence);
      }
      // Nothing changed in a bucket with no materialised root.
      if (child.rootNode === null) continue;
      const key = Uint8Array.from(name, (ch) => ch.charCodeAt(0));
      const c = this.cursor();
      const found = c._seek(key);
      assert(found !== null && equalBytes(found, key), () => `misplaced bucket header: ${name}`);
      assert((c.flags & BUCKET_LEAF_FLAG) !== 0, "unexpected bucket header flag");
      c._node().put(key, key, value, 0, BUCKET_LEAF_FLAG);
    }
    if (this.rootNode === null) return;
    this.rootNode.spill();
    this.rootNode = this.rootNode.root();
    assert(this.rootNode.pgid < this.tx.meta.pgid, "root pgid above high water mark");
    this.root = this.rootNode.pgid;
  }

  #inlineable(): boolean {
    const node = this.rootNode;
    if (node === null || !node.isLeaf) return false;
    let size = PAGE_HEADER_SIZE;
    const max = this.tx.db.pageSize / 4;
    for (const inode of node.inodes) {
      size += LEAF_ELEMENT_SIZE + inode.key.length + inode.value.length;
      if ((inode.flags & BUCKET_LEAF_FLAG) !== 0 || size > max) return false;
    }
    return true;
  }

  #writeInline(): Uint8Array {
    const node = this.rootNode!;
    const value = new Uint8Array(BUCKET_HEADER_SIZE + node.size());
    const dv = new DataView(value.buffer);
    writeU64(dv, 0, this.root);
    writeU64(dv, 8, this.sequence);
    node.write(new Page(value.subarray(BUCKET_HEADER_SIZE)));
    return value;
  }

  /** Frees every page of this bucket (it becomes inline or is deleted). */
  free(): void {
    if (this.root === 0) return;
    const tx = this.tx;
    this.#forEachPageNode(this.root, (page, node) => {
      if (page !== null) tx.freePage(page.id);
      else node!.free();
    });
    this.root = 0;
  }

  /** Page statistics of this bucket and its sub-buckets (bbolt's Bucket.Stats). */
  stats(): BucketStats {
    const s: BucketStats = {
      branchPageN: 0,
      branchOverflowN: 0,
      leafPageN: 0,
      leafOverflowN: 0,
      keyN: 0,
      depth: 0,
      branchInuse: 0,
      leafInuse: 0,
      bucketN: 1,
      inlineBucketN: 0,
      inlineBucketInuse: 0,
    };
    if (this.root === 0) s.inlineBucketN = 1;
    const nested: Uint8Array[] = [];
    this.forEachPage((page, depth) => {
      const used = PAGE_HEADER_SIZE + _elementsInuse(page);
      if (page.isLeaf()) {
        s.keyN += page.count;
        if (this.root === 0) s.inlineBucketInuse += used;
        else {
          s.leafPageN++;
          s.leafInuse += used;
          s.leafOverflowN += page.overflow;
        }
        for (let i = 0; i < page.count; i++) {
          if ((page.leafFlags(i) & BUCKET_LEAF_FLAG) !== 0) nested.push(page.key(i));
        }
      } else if (page.isBranch()) {
        s.branchPageN++;
        s.branchInuse += used;
        s.branchOverflowN += page.overflow;
      }
      if (depth + 1 > s.depth) s.depth = depth + 1;
    });
    for (const name of nested) {
      const child = this.bucket(name);
      if (child === null) continue;
      const c = child.stats();
      for (const field of Object.keys(s) as (keyof BucketStats)[]) {
        if (field === "depth") s.depth = Math.max(s.depth, c.depth + 1);
        else s[field] += c[field];
      }
    }
    return s;
  }
}

function _elementsInuse(page: Page): number {
  if (page.count === 0) return 0;
  const last = page.count - 1;
  // Elements are followed by their data in order; the last element's data ends the used area.
  const k = page.key(last);
  const end = page.isLeaf()
    ? k.byteOffset + k.length + page.leafValue(last).length
    : k.byteOffset + k.length;
  return end - page.buf.byteOffset - PAGE_HEADER_SIZE;
}
