/**
 * The ordered map under the key index: a B+ tree from key strings (latin1, so string order is
 * byte order) to values, written for the index's access pattern rather than taken from
 * `sorted-btree`:
 *
 * - a write to a key that exists descends once: {@link KeyTree.find} remembers where the key
 *   sits and {@link KeyTree.replaceFound} overwrites its value there (the index's histories are
 *   immutable numbers and strings, so over `sorted-btree` a put descended twice: to read the
 *   history, then to store the new one);
 * - entries leave the tree only in {@link KeyTree.editAll} (compaction, which visits every key
 *   anyway): when any leave, the tree is rebuilt from the survivors in nodes 3/4 full, so there is
 *   no merging or borrowing between nodes to get wrong.
 *
 * Leaves hold parallel arrays of keys and values; a branch holds its children and, per child,
 * a bound: a key at or below every key in that child and above every key in the child before it
 * (the child's first key, or a smaller key that was then inserted into the first child).
 *
 * @module
 */

/** Most entries in a leaf, or children in a branch: a node splits when it grows past this. */
const _NODE_ENTRIES_MAX = 64;
/** Entries per leaf, and children per branch, when the tree is rebuilt (3/4 full: room to grow). */
const _NODE_ENTRIES_REBUILT = 48;

class _Leaf<V> {
  constructor(public keys: string[], public values: V[]) {}
}

class _Branch<V> {
  constructor(public keys: string[], public children: _Node<V>[]) {}
}

type _Node<V> = _Leaf<V> | _Branch<V>;

/** The first index in sorted `keys` whose key is at or above `key` (keys.length if none). */
function _lowerBound(keys: string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid]! < key) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The child of a branch whose range holds `key`: the last whose lower bound is <= key, or 0. */
function _route(keys: string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid]! <= key) low = mid + 1;
    else high = mid;
  }
  return low === 0 ? 0 : low - 1;
}

/** An ordered map from key strings to values (see the module comment). */
export class KeyTree<V> {
  #root: _Node<V> = new _Leaf<V>([], []);
  #size = 0;
  /**
   * Where the last successful {@link find} found its key; undefined after a change to the tree's
   * shape (set, editAll), so that while it is set the slot still holds that key.
   */
  #foundLeaf: _Leaf<V> | undefined;
  #foundAt = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The value of `key`, or undefined; remembers where it is for {@link replaceFound}. */
  find(key: string): V | undefined {
    // The store reads a key, then writes it: the second find is the first one's slot again.
    const leaf = this.#foundLeaf;
    if (leaf !== undefined && leaf.keys[this.#foundAt] === key) return leaf.values[this.#foundAt];
    let node = this.#root;
    while (node instanceof _Branch) node = node.children[_route(node.keys, key)]!;
    const at = _lowerBound(node.keys, key);
    if (at === node.keys.length || node.keys[at] !== key) {
      this.#foundLeaf = undefined;
      return undefined;
    }
    this.#foundLeaf = node;
    this.#foundAt = at;
    return node.values[at];
  }

  /**
   * Overwrites the value of `key`, which the last call of {@link find} found, with no change to
   * the tree in between (asserted).
   */
  replaceFound(key: string, value: V): void {
    const leaf = this.#foundLeaf;
    if (leaf === undefined || leaf.keys[this.#foundAt] !== key) {
      throw new Error("KeyTree.replaceFound: the key was not found by the last find()");
    }
    leaf.values[this.#foundAt] = value;
  }

  /** Sets the value of `key`, adding the key when it is not in the tree. */
  set(key: string, value: V): void {
    this.#foundLeaf = undefined;
    const right = this.#insert(this.#root, key, value);
    if (right === undefined) return;
    // The root split: a new root over the two halves.
    const left = this.#root;
    this.#root = new _Branch<V>([left.keys[0]!, right.keys[0]!], [left, right]);
  }

  /**
   * Calls `visit` for each entry from `low` on, in key order, up to `high` (included when
   * `includeHigh`) or to the end when `high` is undefined. `visit` must not change the tree.
   */
  forRange(
    low: string,
    high: string | undefined,
    includeHigh: boolean,
    visit: (key: string, value: V) => void,
  ): void {
    this.#walk(this.#root, { low, high, includeHigh, visit, replace: false });
  }

  /**
   * Replaces the value of each entry of the range (as in {@link forRange}) by what `edit`
   * returns for it. `edit` must not change the tree.
   */
  editRange(
    low: string,
    high: string | undefined,
    includeHigh: boolean,
    edit: (key: string, value: V) => V,
  ): void {
    this.#walk(this.#root, { low, high, includeHigh, visit: edit, replace: true });
  }

  /** Calls `visit` for every entry, in key order. `visit` must not change the tree. */
  forEach(visit: (key: string, value: V) => void): void {
    this.#walk(this.#root, { low: "", high: undefined, includeHigh: false, visit, replace: false });
  }

  /**
   * Replaces each value by what `edit` returns for it, in key order; an entry for which it
   * returns undefined leaves the tree. `edit` must not change the tree.
   */
  editAll(edit: (key: string, value: V) => V | undefined): void {
    this.#foundLeaf = undefined;
    const leaves: _Leaf<V>[] = [];
    this.#collectLeaves(this.#root, leaves);
    let removed = 0;
    for (const leaf of leaves) {
      const { keys, values } = leaf;
      // Survivors move down over the removed entries, in order.
      let kept = 0;
      for (let i = 0; i < keys.length; i++) {
        const next = edit(keys[i]!, values[i]!);
        if (next === undefined) continue;
        keys[kept] = keys[i]!;
        values[kept] = next;
        kept++;
      }
      removed += keys.length - kept;
      keys.length = kept;
      values.length = kept;
    }
    if (removed === 0) return;
    this.#size -= removed;
    this.#root = _build(leaves);
  }

  /** The largest key, or undefined when the tree is empty. */
  maxKey(): string | undefined {
    let node = this.#root;
    while (node instanceof _Branch) node = node.children[node.children.length - 1]!;
    return node.keys[node.keys.length - 1];
  }

  /** Checks the tree's order and counts (tests). */
  check(): void {
    let count = 0;
    let previous: string | undefined;
    this.forEach((key) => {
      if (previous !== undefined && !(previous < key)) {
        throw new Error(`KeyTree: keys out of order at ${JSON.stringify(key)}`);
      }
      previous = key;
      count++;
    });
    if (count !== this.#size) throw new Error(`KeyTree: ${count} entries, size ${this.#size}`);
    this.#checkNode(this.#root, undefined, undefined);
  }

  /** Inserts or overwrites in the subtree of `node`; returns the new right sibling if it split. */
  #insert(node: _Node<V>, key: string, value: V): _Node<V> | undefined {
    if (node instanceof _Leaf) {
      const at = _lowerBound(node.keys, key);
      if (at < node.keys.length && node.keys[at] === key) {
        node.values[at] = value;
        return undefined;
      }
      node.keys.splice(at, 0, key);
      node.values.splice(at, 0, value);
      this.#size++;
      if (node.keys.length <= _NODE_ENTRIES_MAX) return undefined;
      const half = node.keys.length >>> 1;
      return new _Leaf<V>(node.keys.splice(half), node.values.splice(half));
    }
    const c = _route(node.keys, key);
    // A key below every key of the tree goes to the first child, whose bound it becomes.
    if (key < node.keys[c]!) node.keys[c] = key;
    const right = this.#insert(node.children[c]!, key, value);
    if (right === undefined) return undefined;
    node.keys.splice(c + 1, 0, right.keys[0]!);
    node.children.splice(c + 1, 0, right);
    if (node.children.length <= _NODE_ENTRIES_MAX) return undefined;
    const half = node.children.length >>> 1;
    return new _Branch<V>(node.keys.splice(half), node.children.splice(half));
  }

  /** Visits the range of `range` in the subtree of `node`; false once past its end. */
  #walk(node: _Node<V>, range: _Range<V>): boolean {
    if (node instanceof _Branch) {
      for (let c = _route(node.keys, range.low); c < node.children.length; c++) {
        if (!this.#walk(node.children[c]!, range)) return false;
      }
      return true;
    }
    const { high, includeHigh, visit, replace } = range;
    const { keys, values } = node;
    for (let i = _lowerBound(keys, range.low); i < keys.length; i++) {
      const key = keys[i]!;
      if (high !== undefined && (key > high || (key === high && !includeHigh))) return false;
      const result = visit(key, values[i]!);
      if (replace) values[i] = result as V;
    }
    return true;
  }

  #collectLeaves(node: _Node<V>, leaves: _Leaf<V>[]): void {
    if (node instanceof _Leaf) {
      leaves.push(node);
      return;
    }
    for (const child of node.children) this.#collectLeaves(child, leaves);
  }

  #checkNode(node: _Node<V>, low: string | undefined, high: string | undefined): void {
    const keys = node.keys;
    for (const key of keys) {
      if ((low !== undefined && key < low) || (high !== undefined && key >= high)) {
        throw new Error(`KeyTree: key ${JSON.stringify(key)} outside its parent's bounds`);
      }
    }
    if (node instanceof _Leaf) {
      if (node.values.length !== keys.length) throw new Error("KeyTree: keys and values differ");
      return;
    }
    if (node.children.length !== keys.length || keys.length === 0) {
      throw new Error("KeyTree: a branch's bounds and children differ");
    }
    for (let c = 0; c < keys.length; c++) {
      this.#checkNode(node.children[c]!, keys[c], keys[c + 1] ?? high);
    }
  }
}

/** A tree of nodes {@link _NODE_ENTRIES_REBUILT} full over the entries of `leaves`, in order. */
function _build<V>(leaves: _Leaf<V>[]): _Node<V> {
  const keys: string[] = [];
  const values: V[] = [];
  for (const leaf of leaves) {
    for (let i = 0; i < leaf.keys.length; i++) {
      keys.push(leaf.keys[i]!);
      values.push(leaf.values[i]!);
    }
  }
  if (keys.length === 0) return new _Leaf<V>([], []);
  let level: _Node<V>[] = [];
  for (let at = 0; at < keys.length; at += _NODE_ENTRIES_REBUILT) {
    const end = at + _NODE_ENTRIES_REBUILT;
    level.push(new _Leaf<V>(keys.slice(at, end), values.slice(at, end)));
  }
  while (level.length > 1) {
    const up: _Node<V>[] = [];
    for (let at = 0; at < level.length; at += _NODE_ENTRIES_REBUILT) {
      const children = level.slice(at, at + _NODE_ENTRIES_REBUILT);
      up.push(new _Branch<V>(children.map((child) => child.keys[0]!), children));
    }
    level = up;
  }
  return level[0]!;
}

interface _Range<V> {
  low: string;
  high: string | undefined;
  includeHigh: boolean;
  /** Called per entry; returns the entry's new value when `replace`. */
  visit: (key: string, value: V) => V | void;
  replace: boolean;
}
