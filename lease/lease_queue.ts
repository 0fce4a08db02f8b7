/**
 * A min-heap of lease expiry times with one entry per lease, updated in place (etcd
 * `lease/lease_queue.go` and its `LeaseExpiredNotifier`). Renewals move an entry rather than
 * adding one, so the heap never holds more entries than there are leases.
 *
 * @module
 */

interface _Entry {
  id: bigint;
  timeMs: number;
  index: number;
}

/** Expiry times by lease, earliest first. */
export class LeaseQueue {
  readonly #heap: _Entry[] = [];
  readonly #byId = new Map<bigint, _Entry>();

  get size(): number {
    return this.#heap.length;
  }

  /** Sets the time of `id`, adding it if absent. */
  registerOrUpdate(id: bigint, timeMs: number): void {
    const entry = this.#byId.get(id);
    if (entry === undefined) {
      const fresh = { id, timeMs, index: this.#heap.length };
      this.#heap.push(fresh);
      this.#byId.set(id, fresh);
      this.#up(fresh.index);
      return;
    }
    const older = entry.timeMs;
    entry.timeMs = timeMs;
    if (timeMs < older) this.#up(entry.index);
    else this.#down(entry.index);
  }

  /** The earliest entry, if any. */
  peek(): { id: bigint; timeMs: number } | undefined {
    return this.#heap[0];
  }

  /** Removes `id` if present. */
  remove(id: bigint): void {
    const entry = this.#byId.get(id);
    if (entry === undefined) return;
    this.#byId.delete(id);
    const last = this.#heap.pop()!;
    if (last === entry) return;
    this.#heap[entry.index] = last;
    last.index = entry.index;
    this.#up(last.index);
    this.#down(last.index);
  }

  /** Removes everything. */
  clear(): void {
    this.#heap.length = 0;
    this.#byId.clear();
  }

  #up(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.timeMs <= heap[i]!.timeMs) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left]!.timeMs < heap[least]!.timeMs) least = left;
      if (right < heap.length && heap[right]!.timeMs < heap[least]!.timeMs) least = right;
      if (least === i) return;
      this.#swap(i, least);
      i = least;
    }
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap;
    const ea = heap[a]!;
    const eb = heap[b]!;
    heap[a] = eb;
    heap[b] = ea;
    ea.index = b;
    eb.index = a;
  }
}
