/**
 * The unstable part of the raft log: entries and a snapshot not yet handed to storage
 * (etcd's raft/log_unstable.go). `entries[i]` has index `offset + i`; `offset` may be below the
 * storage's last index, in which case these entries replace the stored ones from there on.
 *
 * @module
 */

import type { Entry, Snapshot } from "./raftpb.ts";
import { raftAssert } from "./errors.ts";

/** Entries and a snapshot waiting to be persisted. */
export class Unstable {
  /** An incoming snapshot, not yet persisted. */
  snapshot: Snapshot | undefined = undefined;
  /** Entries not yet persisted. */
  entries: Entry[] = [];
  /** The index of `entries[0]`. */
  offset: number;

  /** Starts empty, with the first unstable index at `offset`. */
  constructor(offset: number) {
    this.offset = offset;
  }

  /** The index of the first entry if there is an unstable snapshot. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** The last index if there are unstable entries or a snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length !== 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  /** The term of entry i if this part of the log knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
        return this.snapshot.metadata.term;
      }
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]?.term;
  }

  /** Forgets entries up to i once they are stable, if entry i still has term t (a newer
   * leader may have replaced it meanwhile). */
  stableTo(i: number, t: number): void {
    const term = this.maybeTerm(i);
    if (term === undefined) return;
    if (term === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  /** Forgets the snapshot once it is stable. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
    }
  }

  /** Replaces everything with a snapshot. */
  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends entries, truncating any unstable entries at or after the first new index. */
  truncateAndAppend(entries: Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      // Copy rather than push: a previous Ready may still hold the old array.
      this.entries = this.entries.concat(entries);
    } else if (after <= this.offset) {
      // The new entries replace all unstable ones (and part of storage's log).
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.slice(this.offset, after).concat(entries);
    }
  }

  /** A copy of entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    raftAssert(lo <= hi, () => `invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    raftAssert(
      lo >= this.offset && hi <= upper,
      () => `unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
