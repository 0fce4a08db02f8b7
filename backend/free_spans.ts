/**
 * The interface shared by the two free-page sets (hashmap and array). A free set knows only
 * which page ids are free; the pending pages of transactions and their release live in
 * `freelist.ts`, which drives either set through this interface.
 *
 * @module
 */

/** The choice of free-page set, as etcd's `--experimental-backend-bbolt-freelist-type`. */
export type FreelistType = "map" | "array";

/** A set of free page ids that hands out runs of contiguous pages. */
export interface FreeSpans {
  /** Which implementation this is. */
  readonly type: FreelistType;
  /** Number of free pages. */
  count(): number;
  /** Removes a run of `n` contiguous free pages and returns its first id, or 0 if none. */
  allocate(n: number): number;
  /** Adds the run [start, start + n) to the free set, merging it with free neighbours. */
  releaseSpan(start: number, n: number): void;
  /** Adds sorted, distinct page ids (none free yet) to the free set. */
  releaseSorted(ids: ArrayLike<number>): void;
  /** Replaces the whole set with sorted, distinct page ids. */
  init(ids: ArrayLike<number>): void;
  /** All free page ids in ascending order. */
  ids(): Uint32Array;
  /** Span length -> number of spans of that length (for the inspector). */
  spanHistogram(): Map<number, number>;
}

/** The largest page id the free sets hold (ids are stored as u32: 16 TiB at 4 KiB pages). */
export const MAX_FREE_PGID = 0xfffffffe;
