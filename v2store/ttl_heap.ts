/**
 * The heap of nodes with a TTL, ordered by expire time (etcd's ttlKeyHeap). The sift steps
 * are those of Go's `container/heap`, so that nodes with equal expire times leave in the same
 * order as on an etcd member that saw the same operations.
 *
 * @module
 */

/** What the heap holds: an expire time and the slot the heap keeps for it. */
export interface HeapItem {
  expireTime: bigint;
  /** The position in the heap, -1 when not in it. */
  heapIndex: number;
}

/** A binary min-heap of nodes by expire time. */
export class TtlHeap<T extends HeapItem> {
  readonly #items: T[] = [];

  /** How many nodes have a TTL. */
  get length(): number {
    return this.#items.length;
  }

  /** The node that expires first, if any. */
  top(): T | undefined {
    return this.#items[0];
  }

  /** Adds a node (it must not be in the heap). */
  push(item: T): void {
    if (item.heapIndex !== -1) throw new Error("v2store: node already in the TTL heap");
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(this.#items.length - 1);
  }

  /** Removes and returns the node that expires first. */
  pop(): T | undefined {
    const n = this.#items.length - 1;
    if (n < 0) return undefined;
    this.#swap(0, n);
    this.#down(0, n);
    return this.#removeLast();
  }

  /** Removes a node if it is in the heap. */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0 || this.#items[i] !== item) return;
    const n = this.#items.length - 1;
    if (n !== i) {
      this.#swap(i, n);
      if (!this.#down(i, n)) this.#up(i);
    }
    this.#removeLast();
  }

  /** Re-sorts a node whose expire time changed (etcd removes and pushes it again). */
  update(item: T): void {
    if (item.heapIndex < 0 || this.#items[item.heapIndex] !== item) return;
    this.remove(item);
    this.push(item);
  }

  #removeLast(): T {
    const item = this.#items.pop()!;
    item.heapIndex = -1;
    return item;
  }

  #less(i: number, j: number): boolean {
    return this.#items[i]!.expireTime < this.#items[j]!.expireTime;
  }

  #swap(i: number, j: number): void {
    const a = this.#items[i]!;
    const b = this.#items[j]!;
    this.#items[i] = b;
    this.#items[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
  }

  #up(start: number): void {
    let j = start;
    for (;;) {
      const i = Math.floor((j - 1) / 2);
      if (i === j || i < 0 || !this.#less(j, i)) break;
      this.#swap(i, j);
      j = i;
    }
  }

  #down(start: number, n: number): boolean {
    let i = start;
    for (;;) {
      const j1 = 2 * i + 1;
      if (j1 >= n) break;
      let j = j1;
      const j2 = j1 + 1;
      if (j2 < n && this.#less(j2, j1)) j = j2;
      if (!this.#less(j, i)) break;
      this.#swap(i, j);
      i = j;
    }
    return i > start;
  }
}
