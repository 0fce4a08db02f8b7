/**
 * etcd's `pkg/contention.TimeoutDetector`: remembers when an event for each ID was last seen
 * and reports when the gap to the next one exceeds a bound. The leader observes every
 * heartbeat it sends; a gap over twice the heartbeat interval means the leader could not send
 * on time (in etcd's words, it is "overloaded likely from slow disk").
 *
 * @module
 */

/** Gaps between events per ID, against a bound. */
export class TimeoutDetector {
  readonly #maxMs: number;
  readonly #now: () => number;
  readonly #lastMs = new Map<bigint, number>();

  constructor(maxMs: number, now: () => number = () => performance.now()) {
    if (!(maxMs > 0)) throw new RangeError("timeout detector: the bound must be positive");
    this.#maxMs = maxMs;
    this.#now = now;
  }

  /** Forgets every ID (a new term of leadership starts from scratch). */
  reset(): void {
    this.#lastMs.clear();
  }

  /**
   * Records an event for `id`. Returns the milliseconds by which the gap since the previous
   * one exceeded the bound, or 0 when it did not (or there was no previous one).
   */
  observe(id: bigint): number {
    const now = this.#now();
    const last = this.#lastMs.get(id);
    this.#lastMs.set(id, now);
    if (last === undefined) return 0;
    const exceedMs = now - last - this.#maxMs;
    return exceedMs > 0 ? exceedMs : 0;
  }
}
