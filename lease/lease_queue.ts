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
  private readonly _heap: _Entry[] = [];
  private readonly _byId = new Map<bigint, _Entry>();

  get size(): number {
    return this._heap.length;
  }

  /** Sets the time of `id`, adding it if absent. */
  registerOrUpdate(id: bigint, timeMs: number): void {
    const entry = this._byId.get(id);
    if (entry === undefined) {
      const fresh = { id, timeMs, index: this._heap.length };
      this._heap.push(fresh);
      this._byId.set(id, fresh);
      this._up(fresh.index);
      return;
    }
    const older = entry.timeMs;
    entry.timeMs = timeMs;
    if (timeMs < older) this._up(entry.index);
    else this._down(entry.index);
  }

  /** The earliest entry, if any. */
  peek(): { id: bigint; timeMs: number } | undefined {
    return this._heap[0];
  }

  /** Removes `id` if present. */
  remove(id: bigint): void {
    const entry = this._byId.get(id);
    if (entry === undefined) return;
    this._byId.delete(id);
    const last = this._heap.pop()!;
    if (last === entry) return;
    this._heap[entry.index] = last;
    last.index = entry.index;
    this._up(last.index);
    this._down(last.index);
  }

  /** Removes everything. */
  clear(): void {
    this._heap.length = 0;
    this._byId.clear();
  }

  private _up(i: number): void {
    const heap = this._heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.timeMs <= heap[i]!.timeMs) return;
      this._swap(i, parent);
      i = parent;
    }
  }

  private _down(i: number): void {
    const heap = this._heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left]!.timeMs < heap[least]!.timeMs) least = left;
      if (right < heap.length && heap[right]!.timeMs < heap[least]!.timeMs) least = right;
      if (least === i) return;
      this._swap(i, least);
      i = least;
    }
  }

  private _swap(a: number, b: number): void {
    const heap = this._heap;
    const ea = heap[a]!;
    const eb = heap[b]!;
    heap[a] = eb;
    heap[b] = ea;
    ea.index = b;
    eb.index = a;
  }
}
