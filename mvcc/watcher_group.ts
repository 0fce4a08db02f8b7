/**
 * Watchers and the groups that find them by key (etcd `mvcc/watcher_group.go`).
 *
 * A group indexes single-key watchers by key and range watchers by interval
 * (`interval_index.ts`); a range end of "" means "every key from `key` on".
 *
 * @module
 */

import { IntervalIndex } from "./interval_index.ts";
import type { Event } from "./mvccpb.ts";

/** The most distinct revisions sent to a catching-up watcher in one response (etcd: 1000). */
export const WATCH_BATCH_REVISIONS_MAX = 1000;

/** Which events a watcher drops (etcd `WatchCreateRequest.FilterType`). */
export const FilterType = { NOPUT: 0, NODELETE: 1 } as const;
/** Which events a watcher drops: 0 NOPUT, 1 NODELETE. */
export type FilterType = (typeof FilterType)[keyof typeof FilterType];

/** The receiving end of a watcher: a stream's bounded queue. */
export interface WatchSink {
  /** Queues `response` if there is room; false when the queue is full (never blocks). */
  trySend(response: WatchResponse, prevKv: boolean): boolean;
  /**
   * Queues one entry that carries the same events to every watcher in `watchers` (all of the
   * sink, all with the same `prevKv`, none with filters): one slot of the bounded queue, and
   * one encoding of the events for all of them. False when the queue is full.
   */
  trySendShared(watchers: readonly Watcher[], response: WatchResponse, prevKv: boolean): boolean;
}

/** What a watch stream yields (etcd `mvcc.WatchResponse`). */
export interface WatchResponse {
  watchId: number;
  /** Events in revision order; empty for a progress notification or a compaction notice. */
  events: Event[];
  /** The store revision the response was produced at. */
  revision: number;
  /** Non-zero when the watcher was cancelled because its start revision was compacted. */
  compactRevision: number;
}

/** One watcher: a key or range, the next revision it wants, its filters and its sink. */
export class Watcher {
  /** The first revision the watcher has not seen yet. */
  minRev: number;
  /** Set while the sink was full and the pending batch waits among the victims. */
  victim = false;
  /** Set once the watcher was told its start revision was compacted (it is then gone). */
  compacted = false;
  /** Set once cancelled. */
  cancelled = false;

  constructor(
    readonly id: number,
    readonly keyString: string,
    /** Undefined: single key; "": from key on; otherwise the exclusive end. */
    readonly endString: string | undefined,
    startRev: number,
    readonly filters: readonly FilterType[],
    readonly prevKv: boolean,
    readonly sink: WatchSink,
  ) {
    this.minRev = startRev;
  }

  /** True when the watcher drops no event: it can share a response with others. */
  get unfiltered(): boolean {
    return this.filters.length === 0;
  }

  /** True when the watcher covers a range rather than one key. */
  get isRange(): boolean {
    return this.endString !== undefined;
  }

  /** True when `keyString` is in the watcher's key or range. */
  matches(keyString: string): boolean {
    if (this.endString === undefined) return keyString === this.keyString;
    if (keyString < this.keyString) return false;
    return this.endString === "" || keyString < this.endString;
  }

  /**
   * Sends after filtering; a response whose events were all filtered out counts as sent.
   * Returns false when the sink is full.
   */
  send(response: WatchResponse): boolean {
    const progress = response.events.length === 0;
    if (this.filters.length > 0 && !progress) {
      const events = response.events.filter((ev) => !this.#filtered(ev));
      if (events.length === 0) return true;
      response = { ...response, events };
    }
    return this.sink.trySend(response, this.prevKv);
  }

  #filtered(ev: Event): boolean {
    for (const filter of this.filters) {
      if (filter === FilterType.NOPUT && ev.type === 0) return true;
      if (filter === FilterType.NODELETE && ev.type === 1) return true;
    }
    return false;
  }
}

/** The events pending for one watcher, at most {@link WATCH_BATCH_REVISIONS_MAX} revisions. */
export class EventBatch {
  readonly events: Event[] = [];
  /** Distinct revisions seen so far. */
  revs = 0;
  /** The first revision left out because the batch was full (0: none). */
  moreRev = 0;

  /** A batch holding `events`, which are all of one revision. */
  static ofRevision(events: readonly Event[]): EventBatch {
    const batch = new EventBatch();
    for (const ev of events) batch.events.push(ev);
    batch.revs = events.length > 0 ? 1 : 0;
    return batch;
  }

  add(ev: Event): void {
    if (this.revs > WATCH_BATCH_REVISIONS_MAX) return;
    if (this.events.length === 0) {
      this.revs = 1;
      this.events.push(ev);
      return;
    }
    const lastRev = this.events[this.events.length - 1]!.kv.modRevision;
    if (ev.kv.modRevision > lastRev) {
      this.revs++;
      if (this.revs > WATCH_BATCH_REVISIONS_MAX) {
        this.moreRev = ev.kv.modRevision;
        return;
      }
    }
    this.events.push(ev);
  }
}

/** Pending batches by watcher. */
export type WatcherBatch = Map<Watcher, EventBatch>;

/**
 * A set of watchers, found by key: single-key watchers in a map by key, range watchers in an
 * interval index (etcd's `watcherGroup`: `keyWatchers` and `ranges`).
 */
export class WatcherGroup {
  readonly watchers = new Set<Watcher>();
  readonly #byKey = new Map<string, Set<Watcher>>();
  readonly #ranges = new IntervalIndex<Watcher>();

  get size(): number {
    return this.watchers.size;
  }

  add(w: Watcher): void {
    this.watchers.add(w);
    if (w.isRange) {
      this.#ranges.add(w.keyString, w.endString!, w);
      return;
    }
    let set = this.#byKey.get(w.keyString);
    if (set === undefined) {
      set = new Set();
      this.#byKey.set(w.keyString, set);
    }
    set.add(w);
  }

  /** Removes `w`; false when it was not in the group. */
  delete(w: Watcher): boolean {
    if (!this.watchers.delete(w)) return false;
    if (w.isRange) {
      this.#ranges.delete(w.keyString, w.endString!, w);
      return true;
    }
    const set = this.#byKey.get(w.keyString);
    set?.delete(w);
    if (set !== undefined && set.size === 0) this.#byKey.delete(w.keyString);
    return true;
  }

  has(w: Watcher): boolean {
    return this.watchers.has(w);
  }

  /** True when some watcher of the group covers `keyString`. */
  contains(keyString: string): boolean {
    if (this.#byKey.has(keyString)) return true;
    let found = false;
    this.#ranges.forEachCovering(keyString, () => (found = true));
    return found;
  }

  /** The watchers that cover `keyString`. */
  watchersFor(keyString: string): Watcher[] {
    const found: Watcher[] = [];
    const set = this.#byKey.get(keyString);
    if (set !== undefined) { for (const w of set) found.push(w); }
    this.#ranges.forEachCovering(keyString, (watchers) => {
      for (const w of watchers) found.push(w);
    });
    return found;
  }

  /** Maps each watcher to the events it has not seen (etcd `newWatcherBatch`). */
  batch(events: Event[], keyStrings: string[]): WatcherBatch {
    const batches: WatcherBatch = new Map();
    if (this.watchers.size === 0) return batches;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      for (const w of this.watchersFor(keyStrings[i]!)) {
        if (ev.kv.modRevision < w.minRev) continue; // do not notify twice
        let eb = batches.get(w);
        if (eb === undefined) {
          eb = new EventBatch();
          batches.set(w, eb);
        }
        eb.add(ev);
      }
    }
    return batches;
  }
}
