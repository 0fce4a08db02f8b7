/**
 * Watches of the v2 store (etcd's watcherHub, EventHistory, eventQueue and watcher): the last
 * 1000 events in a ring, so that a watch from a past index is answered from history; a
 * watch from an index older than the ring fails with EcodeEventIndexCleared; other watches
 * wait for the next matching event. A watcher that does not take its events (100 queued)
 * is dropped, as etcd drops one whose channel is full.
 *
 * @module
 */

import { cloneEvent, eventIndex, type V2Event } from "./event.ts";
import { EcodeEventIndexCleared, V2Error } from "./errors.ts";
import { cleanPath } from "./path.ts";

/** etcd's event history capacity. */
export const EVENT_HISTORY_CAPACITY = 1000;
/** etcd's watcher channel buffer. */
const _WATCHER_BUFFER = 100;

/** The ring of past events, as etcd saves it (`Queue`, `StartIndex`, `LastIndex`). */
export class EventHistory {
  events: (V2Event | null)[];
  size = 0;
  front = 0;
  back = 0;
  readonly capacity: number;
  startIndex = 0;
  lastIndex = 0;

  /** An empty history of `capacity` events. */
  constructor(capacity: number) {
    this.capacity = capacity;
    this.events = new Array<V2Event | null>(capacity).fill(null);
  }

  /** Appends an event, dropping the oldest when full. */
  add(e: V2Event): void {
    this.events[this.back] = e;
    this.back = (this.back + 1) % this.capacity;
    if (this.size === this.capacity) this.front = (this.front + 1) % this.capacity;
    else this.size++;
    this.lastIndex = eventIndex(e);
    this.startIndex = eventIndex(this.events[this.front]!);
  }

  /**
   * The first event at or after `index` that a watch of `key` sees, undefined if none yet.
   * Throws EcodeEventIndexCleared when `index` is older than the history.
   */
  scan(key: string, recursive: boolean, index: number): V2Event | undefined {
    if (index < this.startIndex) {
      throw new V2Error(
        EcodeEventIndexCleared,
        `the requested history has been cleared [${this.startIndex}/${index}]`,
        0,
      );
    }
    if (index > this.lastIndex) return undefined;
    const offset = index - this.startIndex;
    let i = (this.front + offset) % this.capacity;
    const prefix = _dirPrefix(key);
    for (;;) {
      const e = this.events[i]!;
      if (e.refresh !== true && _matches(e, key, recursive, prefix)) return e;
      i = (i + 1) % this.capacity;
      if (i === this.back) return undefined;
    }
  }

  /** A copy (the events are shared, as etcd's clone shares them). */
  clone(): EventHistory {
    const copy = new EventHistory(this.capacity);
    copy.events = [...this.events];
    copy.size = this.size;
    copy.front = this.front;
    copy.back = this.back;
    copy.startIndex = this.startIndex;
    copy.lastIndex = this.lastIndex;
    return copy;
  }
}

function _dirPrefix(key: string): string {
  const clean = cleanPath(key);
  return clean.endsWith("/") ? clean : clean + "/";
}

function _matches(e: V2Event, key: string, recursive: boolean, prefix: string): boolean {
  if (e.node.key === key) return true;
  if (recursive && e.node.key.startsWith(prefix)) return true;
  // A deleted or expired directory ends the watches of everything under it.
  const deleted = e.action === "delete" || e.action === "expire";
  return deleted && e.prevNode?.dir === true && key.startsWith(e.prevNode.key);
}

/** One watch: events are queued until taken with `next()`. */
export class Watcher {
  readonly recursive: boolean;
  readonly stream: boolean;
  readonly sinceIndex: number;
  /** The store index when the watch was made. */
  readonly startIndex: number;
  removed = false;
  /** Set once no more events will come (removed, or a one-shot watch fired). */
  closed = false;
  #queue: V2Event[] = [];
  #wake: (() => void) | undefined;
  #unlink: () => void = () => {};

  constructor(recursive: boolean, stream: boolean, sinceIndex: number, startIndex: number) {
    this.recursive = recursive;
    this.stream = stream;
    this.sinceIndex = sinceIndex;
    this.startIndex = startIndex;
  }

  /** Sets how the hub forgets this watcher. */
  setUnlink(unlink: () => void): void {
    this.#unlink = unlink;
  }

  /**
   * The next event, or undefined once the watcher is closed and drained. `signal` ends the
   * wait early (with undefined).
   */
  async next(signal?: AbortSignal): Promise<V2Event | undefined> {
    while (this.#queue.length === 0) {
      if (this.closed || signal?.aborted === true) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
      this.#wake = undefined;
    }
    return this.#queue.shift();
  }

  /** Stops the watch (etcd's Watcher.Remove). */
  remove(): void {
    this.#unlink();
    this.closed = true;
    this.#wake?.();
  }

  /** Queues an event; false when the watcher does not want it. */
  notify(e: V2Event, originalPath: boolean, deleted: boolean): boolean {
    if (!(this.recursive || originalPath || deleted) || eventIndex(e) < this.sinceIndex) {
      return false;
    }
    if (this.#queue.length >= _WATCHER_BUFFER) {
      this.#unlink(); // etcd drops a watcher whose buffer is full
      return true;
    }
    this.deliver(e);
    return true;
  }

  /** Puts an event in the queue and wakes the reader. */
  deliver(e: V2Event): void {
    this.#queue.push(e);
    this.#wake?.();
  }
}

/** The watchers by key, and the event history. */
export class WatcherHub {
  history: EventHistory;
  readonly #watchers = new Map<string, Set<Watcher>>();
  #count = 0;

  /** A hub with a history of `capacity` events. */
  constructor(capacity: number) {
    this.history = new EventHistory(capacity);
  }

  /** How many watchers wait. */
  get count(): number {
    return this.#count;
  }

  /**
   * Starts a watch of `key` from `index` (the store is at `storeIndex`). A matching event in
   * history is delivered at once and the watcher is not registered.
   */
  watch(
    key: string,
    options: { recursive: boolean; stream: boolean; index: number; storeIndex: number },
  ): Watcher {
    let event: V2Event | undefined;
    try {
      event = this.history.scan(key, options.recursive, options.index);
    } catch (error) {
      if (error instanceof V2Error) error.index = options.storeIndex;
      throw error;
    }
    const w = new Watcher(options.recursive, options.stream, options.index, options.storeIndex);
    if (event !== undefined) {
      const copy = cloneEvent(event);
      copy.etcdIndex = options.storeIndex;
      w.deliver(copy);
      // A one-shot watch is done; etcd leaves a stream watch answered from history
      // unregistered too.
      w.closed = !options.stream;
      return w;
    }
    let set = this.#watchers.get(key);
    if (set === undefined) {
      set = new Set();
      this.#watchers.set(key, set);
    }
    set.add(w);
    this.#count++;
    const watchers = set;
    w.setUnlink(() => {
      if (w.removed) return;
      w.removed = true;
      watchers.delete(w);
      this.#count--;
      if (watchers.size === 0 && this.#watchers.get(key) === watchers) this.#watchers.delete(key);
    });
    return w;
  }

  /** Records an event in history without notifying (a refresh). */
  add(e: V2Event): void {
    this.history.add(e);
  }

  /** Records an event and notifies the watchers of its key and of every parent. */
  notify(e: V2Event): void {
    this.history.add(e);
    const segments = e.node.key.split("/");
    let current = "/";
    for (const segment of segments) {
      current = cleanPath(current + "/" + segment);
      this.notifyWatchers(e, current, false);
    }
  }

  /** Notifies the watchers of exactly `nodePath`. */
  notifyWatchers(e: V2Event, nodePath: string, deleted: boolean): void {
    const set = this.#watchers.get(nodePath);
    if (set === undefined) return;
    const originalPath = e.node.key === nodePath;
    for (const w of [...set]) {
      if (!originalPath && _isHidden(nodePath, e.node.key)) continue;
      if (!w.notify(e, originalPath, deleted)) continue;
      if (!w.stream && !w.removed) {
        w.removed = true;
        set.delete(w);
        this.#count--;
        w.closed = true;
      }
    }
    if (set.size === 0 && this.#watchers.get(nodePath) === set) this.#watchers.delete(nodePath);
  }

  /** A copy holding the history only (what a snapshot saves). */
  clone(): WatcherHub {
    const copy = new WatcherHub(this.history.capacity);
    copy.history = this.history.clone();
    return copy;
  }
}

/** Whether `keyPath`, seen from a watch of `watchPath`, is under a hidden (`_`) component. */
function _isHidden(watchPath: string, keyPath: string): boolean {
  if (watchPath.length > keyPath.length) return false;
  const after = cleanPath("/" + keyPath.slice(watchPath.length));
  return after.includes("/_");
}
