/**
 * The wait registry: a proposer registers a request ID before proposing, and the apply loop
 * triggers that ID with the result once the entry is applied (etcd's `pkg/wait`).
 *
 * IDs are bigint because etcd's request IDs are 64-bit (member ID bits + a counter). Every
 * pending waiter is bounded by `maxPending`: a proposer that would exceed it is refused rather
 * than queued without limit.
 *
 * @module
 */

/** A registered waiter: resolves with the apply result or rejects on `cancelAll`. */
interface _Waiter {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  /** When `sweep` gives up on it (ms, the clock given to `sweep`); Infinity: never. */
  deadlineMs: number;
}

/**
 * The ID of the entry that keeps `#waiters` from emptying: no request has it (IDs are
 * unsigned). A `Map` that empties is given a new hash table by V8, and a long-lived map's
 * tables are allocated in the old generation: with one client the map emptied on every
 * request (docs/performance.md, "GC pauses in the 1-client rows"). Kept non-empty, it
 * reallocates its table only when deleted entries fill it, about every other request then.
 */
const _KEEPER_ID = -1n;
const _KEEPER: _Waiter = { resolve() {}, reject() {}, deadlineMs: Infinity };

/** Request ID -> waiter; triggered at most once per ID. */
export class Wait {
  /** The keeper first (it is never removed), then the waiters in the order registered. */
  readonly #waiters = new Map<bigint, _Waiter>([[_KEEPER_ID, _KEEPER]]);
  readonly #maxPending: number;

  /** Makes an empty registry that holds at most `maxPending` waiters at once. */
  constructor(maxPending = 1_000_000) {
    if (!(maxPending > 0)) throw new RangeError("maxPending must be positive");
    this.#maxPending = maxPending;
  }

  /** The number of waiters not yet triggered. */
  get size(): number {
    return this.#waiters.size - 1;
  }

  /**
   * Registers `id`; the promise settles when `trigger(id, ...)`, `fail`, `cancelAll` or, past
   * `deadlineMs`, `sweep` runs. One sweep timer replaces a timer per request: registrations
   * come in deadline order when every request has the same timeout, so a sweep stops at the
   * first live one.
   */
  register<T>(id: bigint, deadlineMs = Infinity): Promise<T> {
    if (id < 0n) throw new RangeError(`wait: negative request ID ${id}`);
    if (this.#waiters.has(id)) throw new Error(`wait: duplicate request ID ${id.toString(16)}`);
    if (this.size >= this.#maxPending) throw new Error("wait: too many pending requests");
    // No executor closure (and its context) per request, as `new Promise` would make.
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.#waiters.set(id, { resolve: resolve as (value: unknown) => void, reject, deadlineMs });
    return promise;
  }

  /** Rejects, with `reason`, the waiters registered first whose deadline is before `nowMs`. */
  sweep(nowMs: number, reason: unknown): number {
    const expired: _Waiter[] = [];
    for (const [id, waiter] of this.#waiters) {
      if (waiter === _KEEPER) continue;
      if (waiter.deadlineMs > nowMs) break;
      this.#waiters.delete(id);
      expired.push(waiter);
    }
    for (const waiter of expired) waiter.reject(reason);
    return expired.length;
  }

  /** Whether `id` is registered and not yet triggered. */
  isRegistered(id: bigint): boolean {
    return id !== _KEEPER_ID && this.#waiters.has(id);
  }

  /** Resolves the waiter of `id` (if any) with `value`; returns whether one was waiting. */
  trigger(id: bigint, value: unknown): boolean {
    const waiter = this.#waiters.get(id);
    if (waiter === undefined || waiter === _KEEPER) return false;
    this.#waiters.delete(id);
    waiter.resolve(value);
    return true;
  }

  /** Rejects the waiter of `id` (if any); used when a proposal is dropped or times out. */
  fail(id: bigint, reason: unknown): boolean {
    const waiter = this.#waiters.get(id);
    if (waiter === undefined || waiter === _KEEPER) return false;
    this.#waiters.delete(id);
    waiter.reject(reason);
    return true;
  }

  /** Rejects every waiter, e.g. when the server stops. */
  cancelAll(reason: unknown): void {
    const waiters = [...this.#waiters.values()].filter((waiter) => waiter !== _KEEPER);
    this.#waiters.clear();
    this.#waiters.set(_KEEPER_ID, _KEEPER);
    for (const waiter of waiters) waiter.reject(reason);
  }
}

/**
 * Waits for an index to be reached (etcd's `wait.WaitTime`, used for "applied >= readIndex").
 * Waiters are kept sorted by the index they wait for, so `trigger` only touches ready ones.
 */
export class WaitIndex {
  #reached = 0;
  /** Pending waiters, sorted by index ascending. */
  readonly #pending: { index: number; resolve: () => void }[] = [];

  /** The highest index triggered so far. */
  get reached(): number {
    return this.#reached;
  }

  /** Resolves once `trigger(i)` has run with some `i >= index`. */
  wait(index: number): Promise<void> {
    if (index <= this.#reached) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Most waits arrive in increasing order: search from the back.
      let at = this.#pending.length;
      while (at > 0 && this.#pending[at - 1]!.index > index) at--;
      this.#pending.splice(at, 0, { index, resolve });
    });
  }

  /** Records that `index` is reached and wakes every waiter at or below it. */
  trigger(index: number): void {
    if (index <= this.#reached) return;
    this.#reached = index;
    let count = 0;
    while (count < this.#pending.length && this.#pending[count]!.index <= index) count++;
    if (count === 0) return;
    const ready = this.#pending.splice(0, count);
    for (const waiter of ready) waiter.resolve();
  }
}
