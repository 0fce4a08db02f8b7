/**
 * The proxy's serializable-read cache (etcd's proxy/grpcproxy/cache): range responses by
 * request, least recently used first out, with a reverse index of key intervals so that a
 * write through the proxy drops every cached range it may have changed.
 *
 * Every range the proxy forwards is stored as if it were serializable; only serializable
 * requests are answered from the cache (a linearizable read always goes to the cluster). A
 * request at a revision below the last compaction through the proxy fails with
 * `ErrCompacted`, as etcd's does.
 *
 * Two differences from etcd 3.4, both fixes: a `\0` range end (all keys from `key`) is an
 * interval to the end of the keyspace (etcd's affine interval made it empty, so such ranges were
 * never invalidated); and ranges at the current revision are still cached after a compaction
 * (etcd compared revision 0 with the compacted revision and stopped caching them).
 *
 * @module
 */

import { etcdserverpb, longToBigint } from "../etcdserverpb/mod.ts";
import type { RangeRequest, RangeResponse } from "../etcdserverpb/mod.ts";
import { asBytes } from "./namespace.ts";

/** etcd's cache.DefaultMaxEntries. */
export const CACHE_ENTRIES_MAX = 2048;

/** A key interval as latin1 strings (byte order); `end` undefined is unbounded. */
interface _Interval {
  begin: string;
  end: string | undefined;
}

function _latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return text;
}

/** The interval a key and range end name: a point, a range, or from key to the end. */
function _interval(key: Uint8Array, end: Uint8Array): _Interval {
  const begin = _latin1(key);
  if (end.length === 0) return { begin, end: begin + "\0" };
  if (end.length === 1 && end[0] === 0) return { begin, end: undefined };
  return { begin, end: _latin1(end) };
}

function _overlaps(a: _Interval, b: _Interval): boolean {
  const aBeforeB = a.end !== undefined && a.end <= b.begin;
  const bBeforeA = b.end !== undefined && b.end <= a.begin;
  return !aBeforeB && !bBeforeA;
}

/** What `get` finds. */
export type CacheLookup =
  | { kind: "hit"; response: RangeResponse }
  | { kind: "compacted" }
  | { kind: "miss" };

/** The range cache. */
export class RangeCache {
  readonly #entriesMax: number;
  /** Encoded request -> response, in least-recently-used order. */
  readonly #lru = new Map<string, RangeResponse>();
  /** Reverse index: each cached interval and the requests cached under it. */
  readonly #ranges = new Map<string, { interval: _Interval; keys: Set<string> }>();
  #compactedRevision = -1n;

  constructor(entriesMax = CACHE_ENTRIES_MAX) {
    if (!(entriesMax > 0)) throw new RangeError("cache needs room for one entry");
    this.#entriesMax = entriesMax;
  }

  /** Cached responses. */
  get size(): number {
    return this.#lru.size;
  }

  /** The cache key of a request: its encoding with `serializable` set. */
  static keyOf(request: RangeRequest): string {
    return _latin1(
      etcdserverpb.RangeRequest.encode({ ...request, serializable: true }).finish(),
    );
  }

  /** Stores the response of a forwarded range. */
  add(request: RangeRequest, response: RangeResponse): void {
    const key = RangeCache.keyOf(request);
    const revision = longToBigint(request.revision ?? 0);
    if (revision !== 0n && revision <= this.#compactedRevision) return;
    this.#lru.delete(key);
    this.#lru.set(key, response);
    while (this.#lru.size > this.#entriesMax) {
      const oldest = this.#lru.keys().next().value as string;
      this.#lru.delete(oldest);
    }
    // A range at a fixed revision never changes, so no write needs to find it.
    if (revision !== 0n) return;
    const interval = _interval(asBytes(request.key), asBytes(request.rangeEnd));
    const id = `${interval.begin}\u0100${interval.end ?? ""}`;
    const indexed = this.#ranges.get(id) ?? { interval, keys: new Set<string>() };
    indexed.keys.add(key);
    this.#ranges.set(id, indexed);
  }

  /** Looks a serializable request up. */
  get(request: RangeRequest): CacheLookup {
    const key = RangeCache.keyOf(request);
    const revision = longToBigint(request.revision ?? 0);
    if (revision > 0n && revision < this.#compactedRevision) {
      this.#lru.delete(key);
      return { kind: "compacted" };
    }
    const response = this.#lru.get(key);
    if (response === undefined) return { kind: "miss" };
    this.#lru.delete(key);
    this.#lru.set(key, response);
    return { kind: "hit", response };
  }

  /** Drops every cached range that intersects `[key, end)` (a point when `end` is empty). */
  invalidate(key: Uint8Array | null | undefined, end: Uint8Array | null | undefined): void {
    const written = _interval(asBytes(key), asBytes(end));
    for (const [id, { interval, keys }] of this.#ranges) {
      if (!_overlaps(interval, written)) continue;
      for (const cached of keys) this.#lru.delete(cached);
      this.#ranges.delete(id);
    }
  }

  /** Records a compaction: older revisions answer `compacted` from now on. */
  compact(revision: bigint): void {
    if (revision > this.#compactedRevision) this.#compactedRevision = revision;
  }
}
