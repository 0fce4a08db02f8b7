/**
 * A cursor over a bucket (bbolt `cursor.go`): a stack of references from the bucket's root to
 * a leaf element, each a page (not yet materialised) or a node (changed in this transaction).
 *
 * A move returns the key or null at the end; the value of the current element is then in
 * `value` (null for a nested bucket) and its flags in `flags`. Keys and values are views into
 * page buffers: no copy is made on the read path.
 *
 * @module
 */

import type { Bucket } from "./bucket.ts";
import { assert, BoltError } from "./errors.ts";
import type { Node } from "./node.ts";
import { BRANCH_PAGE_FLAG, BUCKET_LEAF_FLAG, LEAF_PAGE_FLAG, type Page } from "./page.ts";
import { compareBytes } from "../bytes/mod.ts";

interface _ElemRef {
  page: Page | null;
  node: Node | null;
  index: number;
}

function _count(ref: _ElemRef): number {
  return ref.node !== null ? ref.node.inodes.length : ref.page!.count;
}

/** Compares the key of element `index` of `ref` with `key` (as `compareBytes`). */
function _compareAt(ref: _ElemRef, index: number, key: Uint8Array): number {
  return ref.node !== null
    ? compareBytes(ref.node.inodes[index]!.key, key)
    : ref.page!.compareKey(index, key);
}

function _isLeaf(ref: _ElemRef): boolean {
  return ref.node !== null ? ref.node.isLeaf : ref.page!.isLeaf();
}

/** Iterates over the keys of one bucket in byte order. */
export class Cursor {
  readonly bucket: Bucket;
  /** Value of the current element; null for a nested bucket or when off the end. */
  value: Uint8Array | null = null;
  /** Leaf flags of the current element (BUCKET_LEAF_FLAG for a nested bucket). */
  flags = 0;
  #stack: _ElemRef[] = [];
  /**
   * The references made so far, by depth, reused by later moves: a cursor that searches
   * again (a bucket's own cursor, once per put) makes no new ones.
   */
  readonly #refs: _ElemRef[] = [];

  constructor(bucket: Bucket) {
    this.bucket = bucket;
  }

  /** Moves to the first key; returns it, or null if the bucket is empty. */
  first(): Uint8Array | null {
    this.#stack.length = 0;
    this.#pushPageNode(this.bucket.root);
    this.#first();
    if (_count(this.#top()) === 0) return this.#next();
    return this.#keyValue();
  }

  /** Moves to the last key; returns it, or null if the bucket is empty. */
  last(): Uint8Array | null {
    this.#stack.length = 0;
    this.#pushPageNode(this.bucket.root);
    const ref = this.#top();
    ref.index = _count(ref) - 1;
    this.#last();
    // Deletes can empty the last leaf node before the commit rebalances it away; step back
    // to the last leaf that holds a key (bbolt 1.3.6 returns nil here instead).
    if (_count(this.#top()) === 0) return this.prev();
    return this.#keyValue();
  }

  /** Moves to the next key; returns it, or null at the end. */
  next(): Uint8Array | null {
    return this.#next();
  }

  /** Moves to the previous key; returns it, or null before the start. */
  prev(): Uint8Array | null {
    const stack = this.#stack;
    for (;;) {
      // Climb to the nearest level that has an element before the current one.
      while (stack.length > 0) {
        const ref = stack[stack.length - 1]!;
        if (ref.index > 0) {
          ref.index--;
          break;
        }
        stack.pop();
      }
      if (stack.length === 0) return this.#clear();
      this.#last();
      // A leaf node emptied by deletes in this write transaction is still in the tree until
      // the commit rebalances it; _last() left its index at -1, so the next climb leaves it.
      // This mirrors _next(), which skips empty leaves since boltdb/bolt#450; bbolt 1.3.6's
      // prev() does not, and stopped here as if the bucket began after the empty leaf.
      if (_count(this.#top()) === 0) continue;
      return this.#keyValue();
    }
  }

  /** Moves to `seek` or, when absent, to the next key after it; null if none. */
  seek(seek: Uint8Array): Uint8Array | null {
    this._seek(seek);
    const ref = this.#top();
    if (ref.index >= _count(ref)) return this.#next();
    return this.#keyValue();
  }

  /** Positions on `seek` or where it would go, without skipping to the next leaf. */
  _seek(seek: Uint8Array): Uint8Array | null {
    this.#stack.length = 0;
    this.#search(seek, this.bucket.root);
    return this.#keyValue();
  }

  /** The node of the current leaf, materialising the path from the root. */
  _node(): Node {
    assert(this.#stack.length > 0, "accessing a node with a zero-length cursor stack");
    const top = this.#top();
    if (top.node !== null && top.node.isLeaf) return top.node;
    const root = this.#stack[0]!;
    let node = root.node ?? this.bucket.node(root.page!.id, null);
    for (let i = 0; i < this.#stack.length - 1; i++) node = node.childAt(this.#stack[i]!.index);
    assert(node.isLeaf, "expected leaf node");
    return node;
  }

  #top(): _ElemRef {
    return this.#stack[this.#stack.length - 1]!;
  }

  #pushPageNode(pgid: number): _ElemRef {
    const node = this.bucket.nodeAt(pgid);
    const page = node === null ? this.bucket.pageAt(pgid) : null;
    const depth = this.#stack.length;
    let ref = this.#refs[depth];
    if (ref === undefined) {
      ref = { page, node, index: 0 };
      this.#refs.push(ref);
    } else {
      ref.page = page;
      ref.node = node;
      ref.index = 0;
    }
    this.#stack.push(ref);
    return ref;
  }

  #childPgid(ref: _ElemRef): number {
    // Only leaves can be empty inside a transaction (branches lose elements only while the
    // commit rebalances), so a branch index is always in range.
    assert(ref.index >= 0, "cursor: negative branch index");
    assert(ref.index < _count(ref), "cursor: branch index past the end");
    return ref.node !== null ? ref.node.inodes[ref.index]!.pgid : ref.page!.branchPgid(ref.index);
  }

  #first(): void {
    for (;;) {
      const ref = this.#top();
      if (_isLeaf(ref)) return;
      this.#pushPageNode(this.#childPgid(ref));
    }
  }

  #last(): void {
    for (;;) {
      const ref = this.#top();
      if (_isLeaf(ref)) return;
      const child = this.#pushPageNode(this.#childPgid(ref));
      child.index = _count(child) - 1;
    }
  }

  #next(): Uint8Array | null {
    const stack = this.#stack;
    for (;;) {
      let i = stack.length - 1;
      for (; i >= 0; i--) {
        const ref = stack[i]!;
        if (ref.index < _count(ref) - 1) {
          ref.index++;
          break;
        }
      }
      if (i === -1) return this.#clear();
      stack.length = i + 1;
      this.#first();
      if (_count(this.#top()) === 0) continue;
      return this.#keyValue();
    }
  }

  #search(key: Uint8Array, pgid: number): void {
    const ref = this.#pushPageNode(pgid);
    if (ref.page !== null && (ref.page.flags & (BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG)) === 0) {
      throw new BoltError(`invalid page type: ${ref.page.id}: ${ref.page.flags}`);
    }
    const count = _count(ref);
    // Index of the first element >= key. The mvcc store's revision keys only grow, so most
    // writes land after the last element: one comparison settles those instead of a binary
    // search over a leaf that a large DeleteRange grows to 100,000 elements before it splits.
    let lo = 0;
    let hi = count;
    if (count > 0 && _compareAt(ref, count - 1, key) < 0) lo = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (_compareAt(ref, mid, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (_isLeaf(ref)) {
      ref.index = lo;
      return;
    }
    const exact = lo < count && _compareAt(ref, lo, key) === 0;
    if (!exact && lo > 0) lo--;
    ref.index = lo;
    this.#search(key, this.#childPgid(ref));
  }

  #keyValue(): Uint8Array | null {
    const ref = this.#top();
    if (_count(ref) === 0 || ref.index >= _count(ref)) return this.#clear();
    let key: Uint8Array;
    if (ref.node !== null) {
      const inode = ref.node.inodes[ref.index]!;
      key = inode.key;
      this.flags = inode.flags;
      this.value = inode.value;
    } else {
      const page = ref.page!;
      key = page.key(ref.index);
      this.flags = page.leafFlags(ref.index);
      this.value = page.leafValue(ref.index);
    }
    if ((this.flags & BUCKET_LEAF_FLAG) !== 0) this.value = null;
    return key;
  }

  /** The raw value (the bucket header for a nested bucket) of the current element. */
  _rawValue(): Uint8Array {
    const ref = this.#top();
    return ref.node !== null ? ref.node.inodes[ref.index]!.value : ref.page!.leafValue(ref.index);
  }

  #clear(): null {
    this.value = null;
    this.flags = 0;
    return null;
  }
}
