/**
 * The in-memory form of a page that a write transaction changes (bbolt `node.go`): a sorted
 * list of inodes that splits into pages on spill and merges with a sibling on rebalance.
 * Keys and values point into the page buffers they were read from (no copy); page buffers are
 * never written after they are read, so the views stay valid.
 *
 * @module
 */

import type { Bucket } from "./bucket.ts";
import { assert } from "./errors.ts";
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE_FLAG,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE_FLAG,
  MIN_KEYS_PER_PAGE,
  Page,
  PAGE_HEADER_SIZE,
  writeU64,
} from "./page.ts";
import { compareBytes } from "../bytes/mod.ts";

/** One element of a node: a key with a value (leaf) or a child page id (branch). */
export interface Inode {
  flags: number;
  pgid: number;
  key: Uint8Array;
  value: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** A materialised page of a bucket's B+tree. */
export class Node {
  readonly bucket: Bucket;
  isLeaf = false;
  unbalanced = false;
  spilled = false;
  /** The key under which the parent refers to this node (its first key when read). */
  key: Uint8Array | null = null;
  pgid = 0;
  /** Overflow count of the page this node was read from (freed with it, without a read). */
  overflow = 0;
  parent: Node | null;
  children: Node[] = [];
  inodes: Inode[] = [];

  constructor(bucket: Bucket, parent: Node | null) {
    this.bucket = bucket;
    this.parent = parent;
  }

  /** The top of this node's tree. */
  root(): Node {
    return this.parent === null ? this : this.parent.root();
  }

  minKeys(): number {
    return this.isLeaf ? 1 : 2;
  }

  pageElementSize(): number {
    return this.isLeaf ? LEAF_ELEMENT_SIZE : BRANCH_ELEMENT_SIZE;
  }

  /** Bytes this node takes when written as a page. */
  size(): number {
    let size = PAGE_HEADER_SIZE;
    const elsize = this.pageElementSize();
    for (const inode of this.inodes) size += elsize + inode.key.length + inode.value.length;
    return size;
  }

  /** True when size() < v, stopping early. */
  sizeLessThan(v: number): boolean {
    return this.#sizeFromLessThan(0, v);
  }

  /** True when the elements from `start` on would make a page smaller than `v` bytes. */
  #sizeFromLessThan(start: number, v: number): boolean {
    let size = PAGE_HEADER_SIZE;
    const elsize = this.pageElementSize();
    for (let i = start; i < this.inodes.length; i++) {
      const inode = this.inodes[i]!;
      size += elsize + inode.key.length + inode.value.length;
      if (size >= v) return false;
    }
    return true;
  }

  childAt(index: number): Node {
    assert(!this.isLeaf, () => `invalid childAt(${index}) on a leaf node`);
    return this.bucket.node(this.inodes[index]!.pgid, this);
  }

  childIndex(child: Node): number {
    return this.#search(child.key!);
  }

  numChildren(): number {
    return this.inodes.length;
  }

  nextSibling(): Node | null {
    if (this.parent === null) return null;
    const index = this.parent.childIndex(this);
    if (index >= this.parent.numChildren() - 1) return null;
    return this.parent.childAt(index + 1);
  }

  prevSibling(): Node | null {
    if (this.parent === null) return null;
    const index = this.parent.childIndex(this);
    if (index === 0) return null;
    return this.parent.childAt(index - 1);
  }

  /** Index of the first inode whose key is >= key. */
  #search(key: Uint8Array): number {
    const inodes = this.inodes;
    let lo = 0;
    let hi = inodes.length;
    // Appends (growing revision keys) are settled by comparing with the last key alone.
    if (hi > 0 && compareBytes(inodes[hi - 1]!.key, key) < 0) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(inodes[mid]!.key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts or replaces the inode found under `oldKey` with (newKey, value, pgid, flags). */
  put(oldKey: Uint8Array, newKey: Uint8Array, value: Uint8Array, pgid: number, flags: number) {
    assert(oldKey.length > 0, "put: zero-length old key");
    assert(newKey.length > 0, "put: zero-length new key");
    const index = this.#search(oldKey);
    const exact = index < this.inodes.length &&
      compareBytes(this.inodes[index]!.key, oldKey) === 0;
    const inode: Inode = { flags, pgid, key: newKey, value };
    if (exact) this.inodes[index] = inode;
    // Appending is the common case (revision keys only grow): push allocates no result array.
    else if (index === this.inodes.length) this.inodes.push(inode);
    else this.inodes.splice(index, 0, inode);
  }

  /** Removes the inode with `key`, if present, and marks the node for rebalancing. */
  del(key: Uint8Array): void {
    const index = this.#search(key);
    if (index >= this.inodes.length || compareBytes(this.inodes[index]!.key, key) !== 0) return;
    this.inodes.splice(index, 1);
    this.unbalanced = true;
  }

  /** Fills this node from a page. */
  read(page: Page): void {
    this.pgid = page.id;
    this.overflow = page.overflow;
    this.isLeaf = page.isLeaf();
    const count = page.count;
    const inodes: Inode[] = new Array(count);
    for (let i = 0; i < count; i++) {
      if (this.isLeaf) {
        inodes[i] = {
          flags: page.leafFlags(i),
          pgid: 0,
          key: page.key(i),
          value: page.leafValue(i),
        };
      } else {
        inodes[i] = { flags: 0, pgid: page.branchPgid(i), key: page.key(i), value: EMPTY };
      }
      assert(inodes[i]!.key.length > 0, "read: zero-length inode key");
    }
    this.inodes = inodes;
    this.key = count > 0 ? inodes[0]!.key : null;
  }

  /** Writes this node's elements into `page` (whose buffer must hold size() bytes). */
  write(page: Page): void {
    page.flags = this.isLeaf ? LEAF_PAGE_FLAG : BRANCH_PAGE_FLAG;
    assert(this.inodes.length < 0xffff, () => `inode overflow: ${this.inodes.length}`);
    page.count = this.inodes.length;
    if (this.inodes.length === 0) return;
    const buf = page.buf;
    const dv = page.dv;
    const elsize = this.pageElementSize();
    let data = PAGE_HEADER_SIZE + elsize * this.inodes.length;
    for (let i = 0; i < this.inodes.length; i++) {
      const inode = this.inodes[i]!;
      const elem = PAGE_HEADER_SIZE + i * elsize;
      assert(inode.key.length > 0, "write: zero-length inode key");
      if (this.isLeaf) {
        dv.setUint32(elem, inode.flags, true);
        dv.setUint32(elem + 4, data - elem, true);
        dv.setUint32(elem + 8, inode.key.length, true);
        dv.setUint32(elem + 12, inode.value.length, true);
      } else {
        dv.setUint32(elem, data - elem, true);
        dv.setUint32(elem + 4, inode.key.length, true);
        writeU64(dv, elem + 8, inode.pgid);
        assert(inode.pgid !== this.pgid, "write: circular dependency");
      }
      buf.set(inode.key, data);
      data += inode.key.length;
      if (inode.value.length > 0) {
        buf.set(inode.value, data);
        data += inode.value.length;
      }
    }
    assert(data <= buf.length, "write: node larger than its page buffer");
  }

  /**
   * Breaks this node into nodes that each fit a page at the bucket's fill percent, cutting
   * where bbolt's split/splitTwo cut. bbolt re-slices the remaining elements after each cut,
   * which is free in Go; a JavaScript slice copies, which made splitting a node of n elements
   * O(n^2 / elements per page) (the 100,000 tombstones of one DeleteRange land in one leaf).
   * So the cuts are found first and each element is copied once.
   */
  split(pageSize: number): Node[] {
    const cuts = this.#splitPoints(pageSize);
    if (cuts.length === 0) return [this];
    if (this.parent === null) {
      // A split root gets a new parent branch.
      this.parent = new Node(this.bucket, null);
      this.parent.children.push(this);
    }
    const all = this.inodes;
    const nodes: Node[] = [this];
    for (let i = 0; i < cuts.length; i++) {
      const next = new Node(this.bucket, this.parent);
      next.isLeaf = this.isLeaf;
      this.parent.children.push(next);
      next.inodes = all.slice(cuts[i]!, cuts[i + 1] ?? all.length);
      nodes.push(next);
      this.bucket.tx.stats.split++;
    }
    this.inodes = all.slice(0, cuts[0]!);
    return nodes;
  }

  /** The indexes bbolt's splitTwo would cut at, one after another, in increasing order. */
  #splitPoints(pageSize: number): number[] {
    let fill = this.bucket.fillPercent;
    if (fill < 0.1) fill = 0.1;
    if (fill > 1) fill = 1;
    const threshold = Math.floor(pageSize * fill);
    const cuts: number[] = [];
    let start = 0;
    while (
      this.inodes.length - start > MIN_KEYS_PER_PAGE * 2 &&
      !this.#sizeFromLessThan(start, pageSize)
    ) {
      const cut = start + this.#splitIndex(start, threshold);
      assert(cut > start, "split: a cut must leave elements before it");
      assert(this.inodes.length - cut >= MIN_KEYS_PER_PAGE, "split: a cut must leave a page");
      cuts.push(cut);
      start = cut;
    }
    return cuts;
  }

  /** bbolt's splitIndex over the elements from `start` on: the cut, relative to `start`. */
  #splitIndex(start: number, threshold: number): number {
    let size = PAGE_HEADER_SIZE;
    let index = 0;
    const elsize = this.pageElementSize();
    const count = this.inodes.length - start;
    for (let i = 0; i < count - MIN_KEYS_PER_PAGE; i++) {
      index = i;
      const inode = this.inodes[start + i]!;
      const elementSize = elsize + inode.key.length + inode.value.length;
      if (i >= MIN_KEYS_PER_PAGE && size + elementSize > threshold) break;
      size += elementSize;
    }
    return index;
  }

  /** Writes this node and its children to freshly allocated pages (bottom-up). */
  spill(): void {
    const tx = this.bucket.tx;
    if (this.spilled) return;
    // Spilling a child may add siblings (by split), so the length is re-read each turn.
    this.children.sort((a, b) => compareBytes(a.inodes[0]!.key, b.inodes[0]!.key));
    for (let i = 0; i < this.children.length; i++) this.children[i]!.spill();
    this.children = [];

    const pageSize = tx.db.pageSize;
    for (const node of this.split(pageSize)) {
      // The old page goes to the pending list of this transaction.
      if (node.pgid > 0) {
        tx.freePage(node.pgid, node.overflow);
        node.pgid = 0;
      }
      const page = tx.allocate(Math.ceil(node.size() / pageSize));
      node.pgid = page.id;
      node.overflow = page.overflow;
      node.write(page);
      node.spilled = true;
      if (node.parent !== null) {
        const key = node.key ?? node.inodes[0]!.key;
        node.parent.put(key, node.inodes[0]!.key, EMPTY, node.pgid, 0);
        node.key = node.inodes[0]!.key;
        assert(node.key.length > 0, "spill: zero-length node key");
      }
      tx.stats.spill++;
    }
    // A split root created a new parent, which must be spilled as well.
    if (this.parent !== null && this.parent.pgid === 0) {
      this.children = [];
      this.parent.spill();
    }
  }

  /** Merges an underfull node into a sibling, or removes it when empty (after deletes). */
  rebalance(): void {
    if (!this.unbalanced) return;
    this.unbalanced = false;
    const bucket = this.bucket;
    bucket.tx.stats.rebalance++;
    const threshold = bucket.tx.db.pageSize / 4;
    if (this.size() > threshold && this.inodes.length > this.minKeys()) return;

    if (this.parent === null) {
      // A root branch with one child collapses into that child.
      if (!this.isLeaf && this.inodes.length === 1) {
        const child = bucket.node(this.inodes[0]!.pgid, this);
        this.isLeaf = child.isLeaf;
        this.inodes = child.inodes;
        this.children = child.children;
        for (const inode of this.inodes) {
          const moved = bucket.nodes.get(inode.pgid);
          if (moved !== undefined) moved.parent = this;
        }
        child.parent = null;
        bucket.nodes.delete(child.pgid);
        child.free();
      }
      return;
    }

    if (this.numChildren() === 0) {
      const parent = this.parent;
      parent.del(this.key!);
      parent.removeChild(this);
      bucket.nodes.delete(this.pgid);
      this.free();
      parent.rebalance();
      return;
    }

    assert(this.parent.numChildren() > 1, "parent must have at least 2 children");
    const useNextSibling = this.parent.childIndex(this) === 0;
    const target = useNextSibling ? this.nextSibling()! : this.prevSibling()!;
    // Merge the right node of the pair into the left one.
    const [left, right] = useNextSibling ? [this as Node, target] : [target, this as Node];
    for (const inode of right.inodes) {
      const child = bucket.nodes.get(inode.pgid);
      if (child !== undefined && !right.isLeaf) {
        child.parent!.removeChild(child);
        child.parent = left;
        left.children.push(child);
      }
    }
    left.inodes = left.inodes.concat(right.inodes);
    const parent = this.parent;
    parent.del(right.key!);
    parent.removeChild(right);
    bucket.nodes.delete(right.pgid);
    right.free();
    parent.rebalance();
  }

  removeChild(target: Node): void {
    const index = this.children.indexOf(target);
    if (index >= 0) this.children.splice(index, 1);
  }

  /** Frees this node's page into the transaction's pending list. */
  free(): void {
    if (this.pgid !== 0) {
      this.bucket.tx.freePage(this.pgid, this.overflow);
      this.pgid = 0;
    }
  }
}
