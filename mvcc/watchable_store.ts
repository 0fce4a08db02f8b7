/**
 * The store with watchers (etcd `mvcc/watchable_store.go`, `watcher.go`).
 *
 * Watchers live in one of three places:
 * - synced: they have seen every revision up to the current one; each write transaction's
 *   events are pushed to them as it ends;
 * - unsynced: they started in the past (or fell behind) and catch up from the `key` bucket in
 *   bounded batches on a timer;
 * - victims: their stream's queue was full; the pending batch is kept aside and retried on a
 *   timer and whenever a stream is drained.
 * Sending never waits, so a slow consumer never holds up a writer: its watchers turn victims,
 * then unsynced, and catch up from disk later.
 *
 * A watcher whose next revision has been compacted receives one response carrying the
 * compacted revision and is removed.
 *
 * @module
 */

import { WatchStreamFullError } from "./errors.ts";
import { EmptyWatcherRangeError, WatcherDuplicateIdError, WatcherNotExistError } from "./errors.ts";
import { bytesToKeyString } from "./key_bytes.ts";
import { KEY_BUCKET, KvStore, type StoreOptions } from "./kvstore.ts";
import {
  debuggingMvccPendingEventsTotal,
  debuggingMvccWatchStreamTotal,
  reportEventsReceived,
} from "./metrics.ts";
import { decodeKeyValue, type Event, EventType, type KeyValue } from "./mvccpb.ts";
import { bytesToRevision, isTombstoneKey, revisionToBytes } from "./revision.ts";
import {
  EventBatch,
  type FilterType,
  Watcher,
  type WatcherBatch,
  WatcherGroup,
  type WatchResponse,
  type WatchSink,
} from "./watcher_group.ts";

/** Responses a stream queues before its watchers turn victims (etcd `chanBufLen`). */
export const WATCH_STREAM_QUEUE_MAX = 128;
/** Unsynced watchers caught up per round (etcd `maxWatchersPerSync`). */
export const WATCHERS_PER_SYNC_MAX = 512;
/** Watchers one stream may hold. */
export const WATCHERS_PER_STREAM_MAX = 100_000;
/** Rows of the key bucket read per catch-up round. */
const _SYNC_ROWS_MAX = 10_000;

/** Options of {@link WatchableStore}. */
export interface WatchableStoreOptions extends StoreOptions {
  /** Pause between catch-up rounds of unsynced watchers (etcd: 100 ms). */
  syncIntervalMs?: number;
  /** Pause between retries of victims (etcd: 10 ms). */
  victimIntervalMs?: number;
}

/** What {@link WatchStream.watch} takes. */
export interface WatchOptions {
  /** The watch ID; allocated by the stream when absent (etcd `AutoWatchID`). */
  id?: number;
  key: Uint8Array;
  /** Undefined: only `key`; empty: every key from `key` on; otherwise `[key, end)`. */
  end?: Uint8Array;
  /** The first revision wanted; 0 or absent: the next one. */
  startRev?: number;
  filters?: readonly FilterType[];
  /** Fill `prevKv` in events (read back at revision - 1). */
  prevKv?: boolean;
}

/** A key-value store whose changes can be watched. */
export class WatchableStore extends KvStore {
  readonly #synced = new WatcherGroup();
  readonly #unsynced = new WatcherGroup();
  #victims: WatcherBatch[] = [];
  readonly #syncIntervalMs: number;
  readonly #victimIntervalMs: number;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #victimTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(
    backend: ConstructorParameters<typeof KvStore>[0],
    options: WatchableStoreOptions = {},
  ) {
    super(backend, options);
    this.#syncIntervalMs = options.syncIntervalMs ?? 100;
    this.#victimIntervalMs = options.victimIntervalMs ?? 10;
  }

  /** Opens a stream that carries the responses of many watchers. */
  newWatchStream(): WatchStream {
    return new WatchStream(this);
  }

  /** All watchers and the slow ones (unsynced or waiting on a full stream), for the metrics. */
  protected override watcherGauges(): { total: number; slow: number } {
    const { synced, unsynced, victims } = this.watcherCounts();
    return { total: synced + unsynced + victims, slow: unsynced + victims };
  }

  /** Counts of watchers by state (tests, metrics). */
  watcherCounts(): { synced: number; unsynced: number; victims: number } {
    let victims = 0;
    for (const batch of this.#victims) victims += batch.size;
    return { synced: this.#synced.size, unsynced: this.#unsynced.size, victims };
  }

  /**
   * Replaces the backend (see {@link KvStore.restore}); every synced watcher becomes unsynced and
   * catches up from the new data (etcd `watchableStore.Restore`).
   */
  override restore(backend: ConstructorParameters<typeof KvStore>[0]): void {
    super.restore(backend);
    for (const w of [...this.#synced.watchers]) {
      this.#synced.delete(w);
      this.#unsynced.add(w);
    }
    if (this.#unsynced.size > 0) this.#scheduleSync(0);
  }

  override close(): void {
    this.#stopped = true;
    if (this.#syncTimer !== undefined) clearTimeout(this.#syncTimer);
    if (this.#victimTimer !== undefined) clearTimeout(this.#victimTimer);
    this.#syncTimer = undefined;
    this.#victimTimer = undefined;
    super.close();
  }

  /** @internal Registers a watcher in the right group. */
  _addWatcher(w: Watcher, startRev: number): void {
    const synced = startRev === 0 || startRev > this.rev;
    if (synced) {
      w.minRev = Math.max(this.rev + 1, startRev);
      this.#synced.add(w);
    } else {
      this.#unsynced.add(w);
      this.#scheduleSync(0);
    }
  }

  /** @internal Removes a watcher wherever it is. */
  _removeWatcher(w: Watcher): void {
    w.cancelled = true;
    if (this.#unsynced.delete(w) || this.#synced.delete(w) || w.compacted) return;
    for (const batch of this.#victims) if (batch.delete(w)) return;
  }

  /** @internal Sends a progress notification to a synced watcher. */
  _progress(w: Watcher): void {
    if (!this.#synced.has(w)) return;
    // A full queue means events are on their way; no progress notice needed then.
    w.send({ watchId: w.id, events: [], revision: this.rev, compactRevision: 0 });
  }

  /** @internal A stream made room in its queue: retry victims soon. */
  _kickVictims(): void {
    if (this.#victims.length > 0) this.#scheduleVictims(0);
  }

  protected override onWriteEnd(rev: number, changes: KeyValue[]): void {
    if (this.#synced.size === 0) return;
    const events: Event[] = [];
    const keyStrings: string[] = [];
    for (const change of changes) {
      if (change.createRevision === 0) {
        events.push({ type: EventType.DELETE, kv: { ...change, modRevision: rev } });
      } else {
        events.push({ type: EventType.PUT, kv: change });
      }
      keyStrings.push(bytesToKeyString(change.key));
    }
    this.#notify(rev, events, keyStrings);
  }

  /**
   * Hands one revision's events to the synced watchers that want them. Unfiltered watchers that
   * want all of the events share one queue entry per stream (and so one encoding of the
   * events); the others get a response of their own. A full stream turns its watchers victims.
   */
  #notify(rev: number, events: Event[], keyStrings: string[]): void {
    const victims: WatcherBatch = new Map();
    const shared = new _SharedGroups();
    if (events.length === 1) {
      // The common case (one put or delete): no per-watcher batch is needed.
      for (const w of this.#synced.watchersFor(keyStrings[0]!)) {
        if (rev < w.minRev) continue; // a watcher that starts at a future revision
        if (w.unfiltered) shared.add(w);
        else this.#sendOwn(w, EventBatch.ofRevision(events), rev, victims);
      }
    } else {
      for (const [w, eb] of this.#synced.batch(events, keyStrings)) {
        if (eb.revs !== 1) throw new Error("mvcc: several revisions in one notification");
        if (w.unfiltered && eb.events.length === events.length) shared.add(w);
        else this.#sendOwn(w, eb, rev, victims);
      }
    }
    const response: WatchResponse = { watchId: -1, events, revision: rev, compactRevision: 0 };
    for (const group of shared.groups()) {
      const sink = group[0]!.sink;
      if (sink.trySendShared(group, response, group[0]!.prevKv)) continue;
      for (const w of group) this.#park(w, EventBatch.ofRevision(events), rev, victims);
    }
    this.#addVictims(victims);
  }

  /** Sends a synced watcher its own batch of revision `rev`; parks it when the stream is full. */
  #sendOwn(w: Watcher, eb: EventBatch, rev: number, victims: WatcherBatch): void {
    if (w.send({ watchId: w.id, events: eb.events, revision: rev, compactRevision: 0 })) return;
    this.#park(w, eb, rev, victims);
  }

  /** The stream is full: the batch waits among the victims, the watcher leaves the synced group. */
  #park(w: Watcher, eb: EventBatch, rev: number, victims: WatcherBatch): void {
    w.minRev = rev + 1;
    w.victim = true;
    victims.set(w, eb);
    this.#synced.delete(w);
  }

  #addVictims(victims: WatcherBatch): void {
    if (victims.size === 0) return;
    this.#victims.push(victims);
    this.#scheduleVictims(this.#victimIntervalMs);
  }

  /**
   * Catches up one round of unsynced watchers from the backend (etcd `syncWatchers`); returns
   * how many remain unsynced. Public for deterministic tests; normally driven by a timer.
   */
  syncWatchers(): number {
    if (this.#unsynced.size === 0) return 0;
    const curRev = this.rev;
    const compactRev = this.compactRev;
    const chosen = this.#chooseUnsynced(curRev, compactRev);
    if (chosen.group.size === 0) return this.#unsynced.size;
    const { events, keyStrings, upTo } = this.#readEvents(chosen.group, chosen.minRev, curRev);
    const batches = chosen.group.batch(events, keyStrings);
    const victims: WatcherBatch = new Map();
    for (const w of chosen.group.watchers) {
      w.minRev = upTo + 1;
      const eb = batches.get(w);
      if (eb === undefined) {
        if (upTo === curRev) this.#moveToSynced(w);
        continue;
      }
      if (eb.moreRev !== 0) w.minRev = eb.moreRev;
      if (!w.send({ watchId: w.id, events: eb.events, revision: curRev, compactRevision: 0 })) {
        w.victim = true;
        victims.set(w, eb);
        this.#unsynced.delete(w);
        continue;
      }
      if (eb.moreRev === 0 && upTo === curRev) this.#moveToSynced(w);
    }
    this.#addVictims(victims);
    return this.#unsynced.size;
  }

  #moveToSynced(w: Watcher): void {
    this.#unsynced.delete(w);
    this.#synced.add(w);
  }

  /** Picks up to {@link WATCHERS_PER_SYNC_MAX} watchers; tells and drops compacted ones. */
  #chooseUnsynced(
    curRev: number,
    compactRev: number,
  ): { group: WatcherGroup; minRev: number } {
    const group = new WatcherGroup();
    let minRev = Number.MAX_SAFE_INTEGER;
    for (const w of [...this.#unsynced.watchers]) {
      if (group.size >= WATCHERS_PER_SYNC_MAX) break;
      if (w.minRev > curRev) {
        // Nothing to catch up (etcd panics here outside a restore; a server must not).
        this.#moveToSynced(w);
        continue;
      }
      if (w.minRev < compactRev) {
        const sent = w.sink.trySend(
          // etcd leaves the revision of this response at 0.
          { watchId: w.id, events: [], revision: 0, compactRevision: compactRev },
          false,
        );
        if (sent) {
          w.compacted = true;
          this.#unsynced.delete(w);
        }
        continue; // retried next round when the queue was full
      }
      group.add(w);
      if (w.minRev < minRev) minRev = w.minRev;
    }
    return { group, minRev };
  }

  /**
   * Reads the revisions from `minRev` on, bounded to whole revisions of at most about
   * {@link _SYNC_ROWS_MAX} rows; returns the events the group wants and the last revision read.
   */
  #readEvents(
    group: WatcherGroup,
    minRev: number,
    curRev: number,
  ): { events: Event[]; keyStrings: string[]; upTo: number } {
    const tx = this.backend.readTx();
    const low = revisionToBytes({ main: minRev, sub: 0 });
    const high = revisionToBytes({ main: curRev + 1, sub: 0 });
    let { keys, values } = tx.unsafeRange(KEY_BUCKET, low, high, _SYNC_ROWS_MAX);
    let upTo = curRev;
    if (keys.length >= _SYNC_ROWS_MAX) {
      // Stop before the last (possibly partial) revision, unless that is the only one.
      const lastMain = bytesToRevision(keys[keys.length - 1]!).main;
      if (lastMain > minRev) {
        upTo = lastMain - 1;
        let n = keys.length;
        while (n > 0 && bytesToRevision(keys[n - 1]!).main > upTo) n--;
        keys = keys.slice(0, n);
        values = values.slice(0, n);
      } else {
        const all = tx.unsafeRange(
          KEY_BUCKET,
          low,
          revisionToBytes({ main: minRev + 1, sub: 0 }),
          0,
        );
        keys = all.keys;
        values = all.values;
        upTo = minRev;
      }
    }
    const events: Event[] = [];
    const keyStrings: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const kv = decodeKeyValue(values[i]!.slice());
      const keyString = bytesToKeyString(kv.key);
      if (!group.contains(keyString)) continue;
      const revKey = keys[i]!;
      if (isTombstoneKey(revKey)) {
        kv.modRevision = bytesToRevision(revKey).main;
        events.push({ type: EventType.DELETE, kv });
      } else {
        events.push({ type: EventType.PUT, kv });
      }
      keyStrings.push(keyString);
    }
    return { events, keyStrings, upTo };
  }

  /**
   * Retries the parked batches (etcd `moveVictims`); returns how many were delivered. Public for
   * deterministic tests; normally driven by a timer and by streams being drained.
   */
  moveVictims(): number {
    const victims = this.#victims;
    this.#victims = [];
    let moved = 0;
    const stillBlocked: WatcherBatch = new Map();
    for (const batch of victims) {
      for (const [w, eb] of batch) {
        if (w.cancelled) continue;
        // The watcher has seen everything before w.minRev.
        const rev = w.minRev - 1;
        if (!w.send({ watchId: w.id, events: eb.events, revision: rev, compactRevision: 0 })) {
          stillBlocked.set(w, eb);
          continue;
        }
        moved++;
        w.victim = false;
        if (eb.moreRev !== 0) w.minRev = eb.moreRev;
        if (w.minRev <= this.rev) this.#unsynced.add(w);
        else this.#synced.add(w);
      }
    }
    if (stillBlocked.size > 0) this.#victims.push(stillBlocked);
    if (this.#unsynced.size > 0) this.#scheduleSync(0);
    if (this.#victims.length > 0) this.#scheduleVictims(this.#victimIntervalMs);
    return moved;
  }

  #scheduleSync(delayMs: number): void {
    if (this.#stopped || this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (this.#stopped) return;
      const before = this.#unsynced.size;
      const start = performance.now();
      const left = this.syncWatchers();
      if (left === 0) return;
      // More work pending: go on at once if progress was made (yielding as long as the round
      // took), otherwise wait the interval.
      const took = performance.now() - start;
      this.#scheduleSync(
        left < before ? Math.min(took, this.#syncIntervalMs) : this.#syncIntervalMs,
      );
    }, delayMs);
  }

  #scheduleVictims(delayMs: number): void {
    if (this.#stopped || this.#victimTimer !== undefined) return;
    this.#victimTimer = setTimeout(() => {
      this.#victimTimer = undefined;
      if (!this.#stopped) this.moveVictims();
    }, delayMs);
  }
}

/** Unfiltered watchers of one notification, grouped by stream and by `prevKv`. */
class _SharedGroups {
  readonly #bySink = new Map<WatchSink, { plain?: Watcher[]; prev?: Watcher[] }>();

  add(w: Watcher): void {
    let entry = this.#bySink.get(w.sink);
    if (entry === undefined) {
      entry = {};
      this.#bySink.set(w.sink, entry);
    }
    if (w.prevKv) (entry.prev ??= []).push(w);
    else (entry.plain ??= []).push(w);
  }

  *groups(): Generator<Watcher[]> {
    for (const { plain, prev } of this.#bySink.values()) {
      if (plain !== undefined) yield plain;
      if (prev !== undefined) yield prev;
    }
  }
}

/**
 * One slot of a stream's queue: a response to one watcher, or (`watchers` set) the same events
 * to several watchers of the stream, handed out one watcher at a time by `poll()`.
 */
interface _Queued {
  response: WatchResponse;
  prevKv: boolean;
  watchers?: readonly Watcher[];
  /** Index of the next watcher of `watchers` to hand out. */
  at: number;
  /** The events with `prevKv` filled, read once for every watcher of the slot. */
  filled?: Event[];
}

/**
 * Many watchers sharing one bounded queue of responses (etcd `WatchStream`). The gRPC Watch
 * handler drives it: `watch`, `cancel`, `requestProgress`, and reads responses with `next()`.
 */
export class WatchStream implements WatchSink {
  readonly #watchers = new Map<number, Watcher>();
  readonly #queue: _Queued[] = [];
  #nextId = 0;
  #closed = false;
  #waiter: ((response: WatchResponse | undefined) => void) | undefined;

  readonly #store: WatchableStore;

  constructor(store: WatchableStore) {
    this.#store = store;
    debuggingMvccWatchStreamTotal.inc();
  }

  /** Creates a watcher; returns its ID. Throws on a duplicate ID or an empty range. */
  watch(options: WatchOptions): number {
    const { key, end } = options;
    const keyString = bytesToKeyString(key);
    const endString = end === undefined ? undefined : bytesToKeyString(end);
    if (endString !== undefined && endString !== "" && keyString >= endString) {
      throw new EmptyWatcherRangeError();
    }
    if (this.#closed) throw new EmptyWatcherRangeError();
    if (this.#watchers.size >= WATCHERS_PER_STREAM_MAX) throw new WatchStreamFullError();
    let id = options.id ?? -1;
    if (id < 0) {
      while (this.#watchers.has(this.#nextId)) this.#nextId++;
      id = this.#nextId++;
    } else if (this.#watchers.has(id)) {
      throw new WatcherDuplicateIdError();
    }
    const startRev = Math.max(0, options.startRev ?? 0);
    const w = new Watcher(
      id,
      keyString,
      endString,
      startRev,
      options.filters ?? [],
      options.prevKv ?? false,
      this,
    );
    this.#watchers.set(id, w);
    this.#store._addWatcher(w, startRev);
    return id;
  }

  /** Cancels a watcher; queued responses of it are dropped. */
  cancel(id: number): void {
    const w = this.#watchers.get(id);
    if (w === undefined) throw new WatcherNotExistError();
    this.#store._removeWatcher(w);
    this.#watchers.delete(id);
    // Its own responses leave the queue; in shared slots it is skipped (it is cancelled).
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const item = this.#queue[i]!;
      if (item.watchers !== undefined || item.response.watchId !== id) continue;
      this.#queue.splice(i, 1);
      debuggingMvccPendingEventsTotal.dec(item.response.events.length);
    }
    this.#store._kickVictims();
  }

  /** Asks for a progress notification of a synced watcher (none when it is catching up). */
  requestProgress(id: number): void {
    const w = this.#watchers.get(id);
    if (w !== undefined) this.#store._progress(w);
  }

  /** The store's current revision. */
  rev(): number {
    return this.#store.rev;
  }

  /** Number of responses waiting. */
  get pending(): number {
    return this.#queue.length;
  }

  /** IDs of the stream's watchers. */
  ids(): number[] {
    return [...this.#watchers.keys()];
  }

  /** @internal The store's side: queue a response unless the queue is full. */
  trySend(response: WatchResponse, prevKv: boolean): boolean {
    if (this.#closed) return true;
    if (this.#queue.length >= WATCH_STREAM_QUEUE_MAX) return false;
    this.#queue.push({ response, prevKv, at: 0 });
    debuggingMvccPendingEventsTotal.inc(response.events.length);
    this.#wakeSoon();
    return true;
  }

  /** @internal The store's side: one slot carrying the same events to several watchers. */
  trySendShared(watchers: readonly Watcher[], response: WatchResponse, prevKv: boolean): boolean {
    if (this.#closed) return true;
    if (this.#queue.length >= WATCH_STREAM_QUEUE_MAX) return false;
    if (watchers.length === 0) return true;
    for (const w of watchers) {
      if (w.sink !== this) throw new Error("mvcc: a shared response for another stream's watcher");
    }
    this.#queue.push({ response, prevKv, watchers, at: 0 });
    debuggingMvccPendingEventsTotal.inc(response.events.length * watchers.length);
    this.#wakeSoon();
    return true;
  }

  #wakeSoon(): void {
    // Hand over after the writer is done, never from inside its transaction.
    if (this.#waiter !== undefined && this.#queue.length === 1) queueMicrotask(() => this.#wake());
  }

  #wake(): void {
    if (this.#waiter === undefined || this.#queue.length === 0) return;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter(this.poll());
  }

  /** Takes the next response if one is waiting. */
  poll(): WatchResponse | undefined {
    while (true) {
      const item = this.#queue[0];
      if (item === undefined) return undefined;
      if (item.watchers === undefined) {
        this.#dequeue();
        // etcd's ReportEventReceived: the events left the store for the client's stream.
        reportEventsReceived(item.response.events.length);
        // A compaction notice ends the watcher; its ID becomes free again.
        if (item.response.compactRevision !== 0) this.#watchers.delete(item.response.watchId);
        return this.#finish(item);
      }
      const response = this.#nextShared(item);
      if (response !== undefined) return response;
    }
  }

  /** The response of the next live watcher of a shared slot; removes the slot when done. */
  #nextShared(item: _Queued): WatchResponse | undefined {
    const watchers = item.watchers!;
    const count = item.response.events.length;
    while (item.at < watchers.length) {
      const w = watchers[item.at++]!;
      if (item.at === watchers.length) this.#dequeue();
      if (w.cancelled) {
        debuggingMvccPendingEventsTotal.dec(count);
        continue;
      }
      reportEventsReceived(count);
      const events = item.prevKv
        ? (item.filled ??= this.#withPrevKv(item.response.events))
        : item.response.events;
      return { watchId: w.id, events, revision: item.response.revision, compactRevision: 0 };
    }
    return undefined;
  }

  /** Removes the head of the queue; a freed slot lets victims be retried. */
  #dequeue(): void {
    this.#queue.shift();
    this.#store._kickVictims();
  }

  /** Waits for the next response; undefined once the stream is closed. */
  next(): Promise<WatchResponse | undefined> {
    const ready = this.poll();
    if (ready !== undefined || this.#closed) return Promise.resolve(ready);
    if (this.#waiter !== undefined) throw new Error("mvcc: one reader per watch stream");
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Cancels every watcher and ends `next()`. */
  close(): void {
    if (this.#closed) return;
    debuggingMvccWatchStreamTotal.dec();
    for (const w of this.#watchers.values()) this.#store._removeWatcher(w);
    this.#watchers.clear();
    for (const item of this.#queue) {
      const receivers = item.watchers === undefined ? 1 : item.watchers.length - item.at;
      debuggingMvccPendingEventsTotal.dec(item.response.events.length * receivers);
    }
    this.#queue.length = 0;
    this.#closed = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(undefined);
  }

  /** Fills `prevKv` from the store at revision - 1 when the watcher asked for it. */
  #finish(item: _Queued): WatchResponse {
    if (!item.prevKv || item.response.events.length === 0) return item.response;
    return { ...item.response, events: this.#withPrevKv(item.response.events) };
  }

  #withPrevKv(events: readonly Event[]): Event[] {
    return events.map((ev) => {
      try {
        const prev = this.#store.range(ev.kv.key, undefined, { rev: ev.kv.modRevision - 1 });
        const prevKv = prev.kvs[0];
        return prevKv === undefined ? ev : { ...ev, prevKv };
      } catch {
        return ev; // compacted since: etcd sends the event without prev_kv
      }
    });
  }
}
