/**
 * The object-per-revision key index that the packed {@link KeyIndex} of `key_index.ts` replaced,
 * kept as the reference model of `key_index_test.ts` (tests only).
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

import { type Revision, revisionGreater, revisionId } from "./revision.ts";

/** Revisions kept by a compaction, keyed by {@link revisionId}. */
type RevisionSet = Map<string, Revision>;

/** One life of a key: from its creation to its deletion (or until now). */
interface Generation {
  /** Number of puts in this generation, counting the ones compacted away. */
  ver: number;
  /** The revision of the put that created the key in this generation. */
  created: Revision;
  /** Revisions in ascending order; the last one is the tombstone in a closed generation. */
  revs: Revision[];
}

/** What a read at a revision finds for a key. */
interface KeyAtRevision {
  modified: Revision;
  created: Revision;
  version: number;
}

const _ZERO: Revision = { main: 0, sub: 0 };

/** The history of one key. */
export class ReferenceKeyIndex {
  modified: Revision = _ZERO;
  generations: Generation[] = [];

  constructor(readonly key: Uint8Array, readonly keyString: string) {}

  /** Records a put at {main, sub}, which must be later than every revision recorded so far. */
  put(main: number, sub: number): void {
    const rev = { main, sub };
    if (!revisionGreater(rev, this.modified)) {
      throw new Error(
        `keyIndex.put: revision ${main}.${sub} is not after ${this.modified.main}.${this.modified.sub}`,
      );
    }
    if (this.generations.length === 0) this.generations.push(_newGeneration());
    const g = this.generations[this.generations.length - 1]!;
    if (g.revs.length === 0) g.created = rev;
    g.revs.push(rev);
    g.ver++;
    this.modified = rev;
  }

  /** Seeds an empty index with the newest live version found on disk (restore). */
  restore(created: Revision, modified: Revision, version: number): void {
    if (this.generations.length !== 0) throw new Error("keyIndex.restore on a non-empty index");
    this.modified = modified;
    this.generations.push({ created, ver: version, revs: [modified] });
  }

  /**
   * Records a tombstone at {main, sub} and opens a new empty generation. Returns false (and
   * changes nothing) when the key is not live, as etcd's ErrRevisionNotFound.
   */
  tombstone(main: number, sub: number): boolean {
    if (this.isEmpty()) throw new Error("keyIndex.tombstone on an empty index");
    if (this.generations[this.generations.length - 1]!.revs.length === 0) return false;
    this.put(main, sub);
    this.generations.push(_newGeneration());
    return true;
  }

  /** The version of the key visible at main revision `atRev`, or undefined if none. */
  get(atRev: number): KeyAtRevision | undefined {
    if (this.isEmpty()) throw new Error("keyIndex.get on an empty index");
    const g = this.#findGeneration(atRev);
    if (g === undefined || g.revs.length === 0) return undefined;
    for (let i = g.revs.length - 1; i >= 0; i--) {
      const rev = g.revs[i]!;
      if (rev.main <= atRev) {
        return { modified: rev, created: g.created, version: g.ver - (g.revs.length - i - 1) };
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
    const since: Revision = { main: rev, sub: 0 };
    let gi = this.generations.length - 1;
    for (; gi > 0; gi--) {
      const g = this.generations[gi]!;
      if (g.revs.length === 0) continue;
      if (revisionGreater(since, g.created)) break;
    }
    const revs: Revision[] = [];
    let last = 0;
    for (; gi < this.generations.length; gi++) {
      for (const r of this.generations[gi]!.revs) {
        if (revisionGreater(since, r)) continue;
        if (r.main === last) {
          revs[revs.length - 1] = r;
          continue;
        }
        revs.push(r);
        last = r.main;
      }
    }
    return revs;
  }

  /** Compacts at main revision `atRev`, adding the kept revisions to `available`. */
  compact(atRev: number, available: RevisionSet): void {
    if (this.isEmpty()) throw new Error("keyIndex.compact on an empty index");
    let [genIdx, revIdx] = this.#doCompact(atRev, available);
    const g = this.generations[genIdx]!;
    if (g.revs.length > 0) {
      if (revIdx !== -1) g.revs = g.revs.slice(revIdx);
      // A generation left with only its tombstone is over: drop it and its tombstone.
      if (g.revs.length === 1 && genIdx !== this.generations.length - 1) {
        available.delete(revisionId(g.revs[0]!));
        genIdx++;
      }
    }
    this.generations = this.generations.slice(genIdx);
  }

  /** Adds to `available` the revisions a compaction at `atRev` would keep, changing nothing. */
  keep(atRev: number, available: RevisionSet): void {
    if (this.isEmpty()) return;
    const [genIdx, revIdx] = this.#doCompact(atRev, available);
    const g = this.generations[genIdx]!;
    if (
      g.revs.length > 0 && revIdx === g.revs.length - 1 && genIdx !== this.generations.length - 1
    ) {
      available.delete(revisionId(g.revs[revIdx]!));
    }
  }

  /** True when the key has no revision left (only one empty generation). */
  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.revs.length === 0;
  }

  #doCompact(atRev: number, available: RevisionSet): [number, number] {
    let genIdx = 0;
    // Find the first generation that holds atRev or was created after it.
    while (genIdx < this.generations.length - 1) {
      const g = this.generations[genIdx]!;
      const tomb = g.revs[g.revs.length - 1]!.main;
      if (tomb > atRev) break;
      genIdx++;
    }
    const g = this.generations[genIdx]!;
    let revIdx = -1;
    for (let i = g.revs.length - 1; i >= 0; i--) {
      const rev = g.revs[i]!;
      if (rev.main <= atRev) {
        available.set(revisionId(rev), rev);
        revIdx = i;
        break;
      }
    }
    return [genIdx, revIdx];
  }

  #findGeneration(rev: number): Generation | undefined {
    const last = this.generations.length - 1;
    for (let cg = last; cg >= 0; cg--) {
      const g = this.generations[cg]!;
      if (g.revs.length === 0) continue;
      if (cg !== last) {
        const tomb = g.revs[g.revs.length - 1]!.main;
        if (tomb <= rev) return undefined;
      }
      if (g.revs[0]!.main <= rev) return g;
    }
    return undefined;
  }
}

function _newGeneration(): Generation {
  return { ver: 0, created: _ZERO, revs: [] };
}
