/**
 * The in-memory index from a key to the revisions of its versions (etcd `mvcc/key_index.go`,
 * `index.go`).
 *
 * A key's history is a list of generations. A generation runs from the put that (re)creates the
 * key to the tombstone that deletes it; the last generation is the live one and is empty when the
 * key is deleted. For example put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0) gives
 * generations {1.0, 2.0, 3.0(t)}, {4.0, 5.0(t)}, {} and modified 5.0.
 *
 * Compacting at revision R drops every revision <= R except the newest one at or below R in each
 * generation (that one still answers reads at R); a generation whose only remaining revision is
 * its tombstone is dropped; a key whose generations are all gone leaves the index.
 *
 * @module
 */

import { BTree } from "./_btree.ts";
import { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
import { type Revision, revisionId } from "./revision.ts";

/** Revisions kept by a compaction, keyed by {@link revisionId}. */
export type RevisionSet = Map<string, Revision>;

/** One life of a key: from its creation to its deletion (or until now). */
export interface Generation {
  /** Number of puts in this generation, counting the ones compacted away. */
  ver: number;
  /** The revision of the put that created the key in this generation. */
  created: Revision;
  /** Revisions in ascending order; the last one is the tombstone in a closed generation. */
  revs: Revision[];
}

/** What a read at a revision finds for a key. */
export interface KeyAtRevision {
  modified: Revision;
  created: Revision;
  version: number;
}

// Layout of a generation inside KeyIndex's history array: a header of four numbers, then
// `count` pairs (main, sub) in ascending order.
const _VER = 0;
const _CREATED_MAIN = 1;
const _CREATED_SUB = 2;
const _COUNT = 3;
const _HEADER = 4;
/**
 * Up to this many numbers the history array is copied to its exact size on every append (V8 grows
 * a pushed array by half plus 16 slots, which would triple a one-revision key); past it, pushes
 * amortize the growth of keys with a long history.
 */
const _EXACT_SIZE_MAX = 64;

/**
 * The history of one key, packed for memory: the key is its latin1 string (one byte per key
 * byte, shared with the tree) and every generation lives in one plain array of small integers
 * (`[ver, createdMain, createdSub, count, main0, sub0, ...]` per generation, the live one last).
 * A key with one revision costs about 190 bytes of heap: this object, the string and the array;
 * the object-per-revision form cost about 780, and its key bytes pinned the request buffers.
 */
export class KeyIndex {
  #h: number[] = [];
  /** Offset of the last generation's header in #h, or -1 while #h is empty. */
  #last = -1;

  constructor(readonly keyString: string) {}

  /** The key's bytes (a fresh copy: the index keeps only the string). */
  get key(): Uint8Array {
    return keyStringToBytes(this.keyString);
  }

  /** The revision of the last put or tombstone (0.0 when none). */
  get modified(): Revision {
    const h = this.#h;
    const last = this.#last;
    if (last < 0) return { main: 0, sub: 0 };
    // The live generation ends the array; when it is empty, the tombstone that closed the
    // previous one sits right before its header.
    if (h[last + _COUNT]! > 0) return { main: h[h.length - 2]!, sub: h[h.length - 1]! };
    if (last > 0) return { main: h[last - 2]!, sub: h[last - 1]! };
    return { main: 0, sub: 0 };
  }

  /** The generations, unpacked (tests and diagnostics). */
  get generations(): Generation[] {
    const h = this.#h;
    const generations: Generation[] = [];
    for (let off = 0; off < h.length; off = this.#nextGeneration(off)) {
      const revs: Revision[] = [];
      for (let i = 0; i < h[off + _COUNT]!; i++) {
        revs.push({ main: h[off + _HEADER + 2 * i]!, sub: h[off + _HEADER + 2 * i + 1]! });
      }
      generations.push({
        ver: h[off + _VER]!,
        created: { main: h[off + _CREATED_MAIN]!, sub: h[off + _CREATED_SUB]! },
        revs,
      });
    }
    return generations;
  }

  /** Records a put at {main, sub}, which must be later than every revision recorded so far. */
  put(main: number, sub: number): void {
    const modified = this.modified;
    if (main < modified.main || (main === modified.main && sub <= modified.sub)) {
      throw new Error(
        `keyIndex.put: revision ${main}.${sub} is not after ${modified.main}.${modified.sub}`,
      );
    }
    if (this.#h.length === 0) {
      this.#append([0, 0, 0, 0]);
      this.#last = 0;
    }
    const off = this.#last;
    const h = this.#h;
    if (h[off + _COUNT] === 0) {
      h[off + _CREATED_MAIN] = main;
      h[off + _CREATED_SUB] = sub;
    }
    h[off + _VER]!++;
    h[off + _COUNT]!++;
    this.#append([main, sub]);
  }

  /** Seeds an empty index with the newest live version found on disk (restore). */
  restore(created: Revision, modified: Revision, version: number): void {
    if (this.#h.length !== 0) throw new Error("keyIndex.restore on a non-empty index");
    this.#h = [version, created.main, created.sub, 1, modified.main, modified.sub];
    this.#last = 0;
  }

  /**
   * Records a tombstone at {main, sub} and opens a new empty generation. Returns false (and
   * changes nothing) when the key is not live, as etcd's ErrRevisionNotFound.
   */
  tombstone(main: number, sub: number): boolean {
    if (this.isEmpty()) throw new Error("keyIndex.tombstone on an empty index");
    if (!this.live()) return false;
    this.put(main, sub);
    const at = this.#h.length;
    this.#append([0, 0, 0, 0]);
    this.#last = at;
    return true;
  }

  /** True when the last generation holds a revision: the key exists now. */
  live(): boolean {
    const h = this.#h;
    return h.length > 0 && h[this.#lastGeneration() + _COUNT]! > 0;
  }

  /** The version of the key visible at main revision `atRev`, or undefined if none. */
  get(atRev: number): KeyAtRevision | undefined {
    if (this.isEmpty()) throw new Error("keyIndex.get on an empty index");
    const off = this.#findGeneration(atRev);
    if (off === -1) return undefined;
    const h = this.#h;
    const count = h[off + _COUNT]!;
    for (let i = count - 1; i >= 0; i--) {
      const at = off + _HEADER + 2 * i;
      if (h[at]! <= atRev) {
        return {
          modified: { main: h[at]!, sub: h[at + 1]! },
          created: { main: h[off + _CREATED_MAIN]!, sub: h[off + _CREATED_SUB]! },
          version: h[off + _VER]! - (count - i - 1),
        };
      }
    }
    return undefined;
  }

  /**
   * Revisions at or after main revision `rev`, keeping only the one with the largest sub
   * revision where several share a main revision (etcd `keyIndex.since`).
   */
  since(rev: number): Revision[] {
    if (this.isEmpty()) throw new Error("keyIndex.since on an empty index");
    // Generations are in revision order, so filtering every revision equals etcd's walk from the
    // last generation created before `rev`.
    const h = this.#h;
    const revs: Revision[] = [];
    let last = 0;
    for (let off = 0; off < h.length; off = this.#nextGeneration(off)) {
      const end = off + _HEADER + 2 * h[off + _COUNT]!;
      for (let at = off + _HEADER; at < end; at += 2) {
        const main = h[at]!;
        if (main < rev) continue;
        const r = { main, sub: h[at + 1]! };
        if (main === last) revs[revs.length - 1] = r;
        else revs.push(r);
        last = main;
      }
    }
    return revs;
  }

  /** Compacts at main revision `atRev`, adding the kept revisions to `available`. */
  compact(atRev: number, available: RevisionSet): void {
    if (this.isEmpty()) throw new Error("keyIndex.compact on an empty index");
    const h = this.#h;
    let [off, revIdx] = this.#doCompact(atRev, available);
    let dropPairs = 0;
    const count = h[off + _COUNT]!;
    if (count > 0) {
      if (revIdx !== -1) dropPairs = revIdx;
      // A generation left with only its tombstone is over: drop it and its tombstone.
      if (count - dropPairs === 1 && off !== this.#lastGeneration()) {
        const at = off + _HEADER + 2 * dropPairs;
        available.delete(revisionId({ main: h[at]!, sub: h[at + 1]! }));
        off = this.#nextGeneration(off);
        dropPairs = 0;
      }
    }
    if (off === 0 && dropPairs === 0) return;
    // Rebuild at the exact size: the header of the first kept generation, its kept pairs, the rest.
    const first = h.slice(off, off + _HEADER);
    first[_COUNT] = h[off + _COUNT]! - dropPairs;
    this.#h = first.concat(h.slice(off + _HEADER + 2 * dropPairs));
    this.#last = this.#scanLastGeneration();
  }

  /** Adds to `available` the revisions a compaction at `atRev` would keep, changing nothing. */
  keep(atRev: number, available: RevisionSet): void {
    if (this.isEmpty()) return;
    const h = this.#h;
    const [off, revIdx] = this.#doCompact(atRev, available);
    const count = h[off + _COUNT]!;
    if (count > 0 && revIdx === count - 1 && off !== this.#lastGeneration()) {
      const at = off + _HEADER + 2 * revIdx;
      available.delete(revisionId({ main: h[at]!, sub: h[at + 1]! }));
    }
  }

  /** True when the key has no revision left (only one empty generation). */
  isEmpty(): boolean {
    const h = this.#h;
    return h.length === _HEADER && h[_COUNT] === 0;
  }

  /**
   * Finds the first generation that holds `atRev` or was created after it, and in it the newest
   * revision at or below `atRev` (added to `available`). Returns [generation offset, pair index
   * or -1].
   */
  #doCompact(atRev: number, available: RevisionSet): [number, number] {
    const h = this.#h;
    const lastOff = this.#lastGeneration();
    let off = 0;
    while (off < lastOff) {
      const tomb = h[off + _HEADER + 2 * (h[off + _COUNT]! - 1)]!;
      if (tomb > atRev) break;
      off = this.#nextGeneration(off);
    }
    for (let i = h[off + _COUNT]! - 1; i >= 0; i--) {
      const at = off + _HEADER + 2 * i;
      if (h[at]! <= atRev) {
        const rev = { main: h[at]!, sub: h[at + 1]! };
        available.set(revisionId(rev), rev);
        return [off, i];
      }
    }
    return [off, -1];
  }

  /**
   * The generation visible at `rev` (its offset), or -1: the newest non-empty generation whose
   * first revision is at or below `rev`, unless its tombstone is too.
   */
  #findGeneration(rev: number): number {
    const h = this.#h;
    let found = -1;
    let foundNext = -1;
    for (let off = 0; off < h.length;) {
      const next = this.#nextGeneration(off);
      if (h[off + _COUNT]! > 0) {
        if (h[off + _HEADER]! > rev) break;
        found = off;
        foundNext = next;
      }
      off = next;
    }
    if (found === -1) return -1;
    if (foundNext < h.length) {
      const tomb = h[foundNext - 2]!;
      if (tomb <= rev) return -1;
    }
    return found;
  }

  #nextGeneration(off: number): number {
    return off + _HEADER + 2 * this.#h[off + _COUNT]!;
  }

  #lastGeneration(): number {
    return this.#last;
  }

  #scanLastGeneration(): number {
    const h = this.#h;
    if (h.length === 0) return -1;
    let off = 0;
    for (let next = this.#nextGeneration(0); next < h.length; next = this.#nextGeneration(off)) {
      off = next;
    }
    return off;
  }

  #append(numbers: number[]): void {
    if (this.#h.length + numbers.length <= _EXACT_SIZE_MAX) {
      this.#h = this.#h.concat(numbers);
      return;
    }
    for (const n of numbers) this.#h.push(n);
  }
}

function _compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The result of {@link TreeIndex.revisions}. */
export interface IndexRangeResult {
  /** Up to `limit` keys that exist at the revision, in key order. */
  keys: KeyIndex[];
  /** The revision of each key in `keys`. */
  revs: Revision[];
  /** How many keys in the range exist at the revision, ignoring the limit. */
  total: number;
}

/**
 * The index of all keys, ordered bytewise, over `sorted-btree`. A range end of `undefined` means
 * the single key, an empty end means every key from `key` on, otherwise `[key, end)`.
 */
export class TreeIndex {
  readonly #tree = new BTree<string, KeyIndex>(undefined, _compareStrings);

  /** Number of keys in the index (live or with history). */
  get size(): number {
    return this.#tree.size;
  }

  /** Records a put of `key` at `rev`. */
  put(key: Uint8Array, rev: Revision): void {
    const keyString = bytesToKeyString(key);
    let ki = this.#tree.get(keyString);
    if (ki === undefined) {
      ki = new KeyIndex(keyString);
      this.#tree.set(keyString, ki);
    }
    ki.put(rev.main, rev.sub);
  }

  /** Records a tombstone of `key` at `rev`; false when the key is not live. */
  tombstone(key: Uint8Array, rev: Revision): boolean {
    const ki = this.#tree.get(bytesToKeyString(key));
    if (ki === undefined) return false;
    return ki.tombstone(rev.main, rev.sub);
  }

  /** The state of `key` at main revision `atRev`, or undefined when it does not exist then. */
  get(key: Uint8Array, atRev: number): KeyAtRevision | undefined {
    const ki = this.#tree.get(bytesToKeyString(key));
    if (ki === undefined) return undefined;
    return ki.get(atRev);
  }

  /** The key's index entry, if any (restore). */
  keyIndex(keyString: string): KeyIndex | undefined {
    return this.#tree.get(keyString);
  }

  /** Inserts a key index built elsewhere (restore). */
  insert(ki: KeyIndex): void {
    this.#tree.set(ki.keyString, ki);
  }

  /** Keys of the range that exist at `atRev` with their revisions; `limit <= 0` is no limit. */
  revisions(
    key: Uint8Array,
    end: Uint8Array | undefined,
    atRev: number,
    limit = 0,
  ): IndexRangeResult {
    const result: IndexRangeResult = { keys: [], revs: [], total: 0 };
    this.visit(key, end, (ki) => {
      const found = ki.get(atRev);
      if (found === undefined) return;
      result.total++;
      if (limit > 0 && result.keys.length >= limit) return;
      result.keys.push(ki);
      result.revs.push(found.modified);
    });
    return result;
  }

  /** Revisions at or after `rev` of the keys in the range, sorted by revision. */
  rangeSince(key: Uint8Array, end: Uint8Array | undefined, rev: number): Revision[] {
    const revs: Revision[] = [];
    this.visit(key, end, (ki) => {
      for (const r of ki.since(rev)) revs.push(r);
    });
    if (end !== undefined) revs.sort((a, b) => a.main - b.main || a.sub - b.sub);
    return revs;
  }

  /** Calls `visitor` for every key index in the range, in key order. */
  visit(key: Uint8Array, end: Uint8Array | undefined, visitor: (ki: KeyIndex) => void): void {
    const low = bytesToKeyString(key);
    if (end === undefined) {
      const ki = this.#tree.get(low);
      if (ki !== undefined) visitor(ki);
      return;
    }
    if (end.length === 0) {
      const max = this.#tree.maxKey();
      if (max === undefined || max < low) return;
      this.#tree.forRange(low, max, true, (_k, ki) => {
        visitor(ki);
      });
      return;
    }
    const high = bytesToKeyString(end);
    if (high <= low) return;
    this.#tree.forRange(low, high, false, (_k, ki) => {
      visitor(ki);
    });
  }

  /** Compacts every key at `rev`; returns the revisions that must stay in the backend. */
  compact(rev: number): RevisionSet {
    const available: RevisionSet = new Map();
    const emptied: string[] = [];
    this.#tree.forEach((ki, keyString) => {
      ki.compact(rev, available);
      if (ki.isEmpty()) emptied.push(keyString);
    });
    for (const keyString of emptied) {
      const deleted = this.#tree.delete(keyString);
      if (!deleted) throw new Error("treeIndex.compact: failed to delete an emptied key");
    }
    return available;
  }

  /** The revisions a compaction at `rev` would keep (for HashKV), changing nothing. */
  keep(rev: number): RevisionSet {
    const available: RevisionSet = new Map();
    this.#tree.forEach((ki) => ki.keep(rev, available));
    return available;
  }

  /** All key indexes in key order (tests). */
  all(): KeyIndex[] {
    return this.#tree.valuesArray();
  }
}
