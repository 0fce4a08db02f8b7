/**
 * The raft log: stable storage plus the unstable tail, with the commit and apply cursors
 * (etcd's raft/log.go).
 *
 * Invariant: `applied <= committed <= lastIndex()`, and `firstIndex() - 1 <= committed`.
 *
 * @module
 */

import type { Entry, Snapshot } from "./raftpb.ts";
import type { Storage } from "./storage.ts";
import { Unstable } from "./log_unstable.ts";
import { ErrCompacted, ErrUnavailable, raftAssert } from "./errors.ts";
import { limitSize, maxIndex, minIndex, NO_LIMIT } from "./util.ts";

/** The raft log of one node. */
export class RaftLog {
  /** Entries handed to storage by the driver. */
  readonly storage: Storage;
  /** Entries and a snapshot not yet persisted. */
  readonly unstable: Unstable;
  /** The highest index known to be committed by a quorum. */
  committed: number;
  /** The highest index the application has applied. */
  applied: number;
  /** The byte limit of committed entries handed out in one Ready. */
  readonly maxNextEntsSize: number;

  /** Opens the log over `storage`; commit and apply start at the storage's snapshot. */
  constructor(storage: Storage, maxNextEntsSize: number = NO_LIMIT) {
    this.storage = storage;
    this.maxNextEntsSize = maxNextEntsSize;
    const firstIndex = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  /**
   * Appends entries sent by a leader after (index, logTerm) if the log holds that entry
   * (Raft §5.3, the consistency check); returns the last new index, or undefined on mismatch.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    entries: Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      raftAssert(
        conflict > this.committed,
        () => `entry ${conflict} conflict with committed entry [committed(${this.committed})]`,
      );
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(minIndex(committed, lastNewIndex));
    return lastNewIndex;
  }

  /** Appends entries to the unstable tail; returns the new last index. */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    raftAssert(
      after >= this.committed,
      () => `after(${after}) is out of range [committed(${this.committed})]`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * The index of the first entry whose term differs from ours (or that we lack), 0 if all
   * match. Entries are contiguous and ascending.
   */
  findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking (etcd 3.5's findConflictByTerm): the largest index <= `index` whose term
   * is <= `term`, so a leader can skip a whole term of mismatching entries in one round.
   */
  findConflictByTerm(index: number, term: number): number {
    if (index > this.lastIndex()) return index;
    for (;;) {
      const logTerm = this.term(index);
      if (logTerm === undefined || logTerm <= term) return index;
      index--;
    }
  }

  /** A copy of the unstable entries. */
  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  /** Committed entries not yet applied (within the size limit). */
  nextEnts(): Entry[] {
    const offset = maxIndex(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= offset) return [];
    const entries = this.slice(offset, this.committed + 1, this.maxNextEntsSize);
    raftAssert(entries !== undefined, "unexpected compaction when getting unapplied entries");
    return entries;
  }

  /** True when there are committed entries to apply. */
  hasNextEnts(): boolean {
    return this.committed + 1 > maxIndex(this.applied + 1, this.firstIndex());
  }

  /** The newest snapshot: unstable if there is one, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** The first index still in the log. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** The last index in the log. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Moves the commit cursor forward (never back). */
  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return;
    raftAssert(
      toCommit <= this.lastIndex(),
      () =>
        `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
    );
    this.committed = toCommit;
  }

  /** Moves the apply cursor; the application applied everything up to i. */
  appliedTo(i: number): void {
    if (i === 0) return;
    raftAssert(
      i <= this.committed && i >= this.applied,
      () =>
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
    );
    this.applied = i;
  }

  /** The driver persisted entries up to (i, t). */
  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  /** The driver persisted the snapshot at index i. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** The term of the last entry. */
  lastTerm(): number {
    const t = this.term(this.lastIndex());
    raftAssert(t !== undefined, "unexpected error when getting the last term");
    return t;
  }

  /**
   * The term of entry i: 0 outside [firstIndex()-1, lastIndex()], undefined when storage has
   * compacted it or lacks it (etcd's ErrCompacted / ErrUnavailable).
   */
  term(i: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1;
    if (i < dummyIndex || i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof ErrCompacted || err instanceof ErrUnavailable) return undefined;
      throw err;
    }
  }

  /** The term of entry i, with 0 for a compacted entry. */
  zeroTerm(i: number): number {
    return this.term(i) ?? 0;
  }

  /** Entries from i to the end (size-limited); undefined if i was compacted. */
  entries(i: number, maxSize: number): Entry[] | undefined {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Every entry in the log. */
  allEntries(): Entry[] {
    const entries = this.entries(this.firstIndex(), NO_LIMIT);
    raftAssert(entries !== undefined, "log compacted while reading all entries");
    return entries;
  }

  /** Raft §5.4.1: a candidate's log (lastIndex, term) is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && lastIndex >= this.lastIndex());
  }

  /** True when entry i exists and has term `term`. */
  matchTerm(i: number, term: number): boolean {
    const t = this.term(i);
    return t !== undefined && t === term;
  }

  /**
   * Commits up to maxIndex only if that entry is of the current term (Raft §5.4.2: entries of
   * older terms commit only through an entry of the current term).
   */
  maybeCommit(maxIndexValue: number, term: number): boolean {
    if (maxIndexValue > this.committed && this.zeroTerm(maxIndexValue) === term) {
      this.commitTo(maxIndexValue);
      return true;
    }
    return false;
  }

  /** Replaces the log with a snapshot. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** Entries in [lo, hi), size-limited; undefined if lo was compacted. */
  slice(lo: number, hi: number, maxSize: number): Entry[] | undefined {
    raftAssert(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    const first = this.firstIndex();
    if (lo < first) return undefined;
    raftAssert(
      hi <= this.lastIndex() + 1,
      () => `slice[${lo},${hi}) out of bound [${first},${this.lastIndex()}]`,
    );
    if (lo === hi) return [];
    let entries: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      let stored: Entry[];
      try {
        stored = this.storage.entries(lo, minIndex(hi, offset), maxSize);
      } catch (err) {
        if (err instanceof ErrCompacted) return undefined;
        if (err instanceof ErrUnavailable) {
          throw new Error(
            `raft: entries[${lo}:${minIndex(hi, offset)}) is unavailable from storage`,
          );
        }
        throw err;
      }
      // Storage stopped early because of the size limit: do not add unstable entries.
      if (stored.length < minIndex(hi, offset) - lo) return stored;
      entries = stored;
    }
    if (hi > offset) {
      const unstable = this.unstable.slice(maxIndex(lo, offset), hi);
      entries = entries.length > 0 ? entries.concat(unstable) : unstable;
    }
    return limitSize(entries, maxSize);
  }
}
