/**
 * The log storage interface raft reads its stable log through, and `MemoryStorage`, the
 * in-memory implementation the server fills from the WAL on restart (etcd's raft/storage.go).
 *
 * Layout of MemoryStorage: `#entries[0]` is a dummy entry holding the index and term of the
 * last compacted entry (the snapshot's), so `firstIndex() = #entries[0].index + 1` and
 * `lastIndex() = #entries[0].index + #entries.length - 1`.
 *
 * @module
 */

import {
  type ConfState,
  emptyConfState,
  emptyHardState,
  emptySnapshot,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
} from "./raftpb.ts";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, raftAssert } from "./errors.ts";
import { limitSize } from "./util.ts";

/** The persisted state raft starts from. */
export interface InitialState {
  /** Term, vote and commit index as last saved. */
  hardState: HardState;
  /** The configuration of the stored snapshot. */
  confState: ConfState;
}

/**
 * Read access to the stable log. Methods throw `ErrCompacted` for an index before the first
 * available one and `ErrUnavailable` for one after the last.
 */
export interface Storage {
  /** The saved HardState and ConfState. */
  initialState(): InitialState;
  /** Entries in [lo, hi), at most `maxSize` bytes but at least one entry if any. */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /** The term of entry i, for i in [firstIndex()-1, lastIndex()]. */
  term(i: number): number;
  /** The index of the last entry in the log. */
  lastIndex(): number;
  /** The index of the first entry that may be read (older ones are in the snapshot). */
  firstIndex(): number;
  /** The most recent snapshot (may throw ErrSnapshotTemporarilyUnavailable). */
  snapshot(): Snapshot;
}

/**
 * Copies entry data into shared slabs. An entry's data usually arrives as a view into a larger
 * buffer (a network read, a pooled protobuf buffer, a WAL read) that the view keeps alive whole:
 * measured with 100,000 entries in the log, 134 MiB of 8 KiB buffers held about 300 bytes each.
 * Entries are compacted in index order, so a slab is released soon after its last entry.
 */
class _EntryDataArena {
  /** Bytes of one slab; larger data gets an exact copy of its own. */
  static readonly slabBytes = 256 * 1024;
  static readonly ownCopyBytes = _EntryDataArena.slabBytes / 8;
  #slab = new Uint8Array(0);
  #used = 0;

  copy(data: Uint8Array): Uint8Array {
    if (data.length === 0) return new Uint8Array(0);
    if (data.length > _EntryDataArena.ownCopyBytes) return data.slice();
    if (this.#used + data.length > this.#slab.length) {
      this.#slab = new Uint8Array(_EntryDataArena.slabBytes);
      this.#used = 0;
    }
    const view = this.#slab.subarray(this.#used, this.#used + data.length);
    view.set(data);
    this.#used += data.length;
    return view;
  }
}

/** An in-memory Storage, written by the driver after each Ready. */
export class MemoryStorage implements Storage {
  #hardState: HardState = emptyHardState();
  #snapshot: Snapshot = emptySnapshot();
  #entries: Entry[] = [{ term: 0, index: 0, type: EntryType.EntryNormal }];
  readonly #arena = new _EntryDataArena();

  /** The saved HardState and the ConfState of the saved snapshot. */
  initialState(): InitialState {
    return { hardState: { ...this.#hardState }, confState: this.#snapshot.metadata.confState };
  }

  /** Saves the current HardState. */
  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** Entries in [lo, hi), limited by `maxSize` bytes. */
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.#entries[0]!.index;
    if (lo <= offset) throw new ErrCompacted();
    raftAssert(
      hi <= this.lastIndex() + 1,
      () => `entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`,
    );
    // Only the dummy entry is left: nothing can be read.
    if (this.#entries.length === 1) throw new ErrUnavailable();
    return limitSize(this.#entries.slice(lo - offset, hi - offset), maxSize);
  }

  /** The term of entry i. */
  term(i: number): number {
    const offset = this.#entries[0]!.index;
    if (i < offset) throw new ErrCompacted();
    const entry = this.#entries[i - offset];
    if (entry === undefined) throw new ErrUnavailable();
    return entry.term;
  }

  /** The index of the last entry. */
  lastIndex(): number {
    return this.#entries[0]!.index + this.#entries.length - 1;
  }

  /** The index of the first readable entry. */
  firstIndex(): number {
    return this.#entries[0]!.index + 1;
  }

  /** The current snapshot. */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the contents with a snapshot (when a follower receives one). */
  applySnapshot(snapshot: Snapshot): void {
    if (this.#snapshot.metadata.index >= snapshot.metadata.index) throw new ErrSnapOutOfDate();
    this.#snapshot = snapshot;
    this.#entries = [{
      term: snapshot.metadata.term,
      index: snapshot.metadata.index,
      type: EntryType.EntryNormal,
    }];
  }

  /**
   * Records a snapshot of the state machine at applied index i (with the ConfState as of i and
   * the application's data); the log is not compacted here, see `compact`.
   */
  createSnapshot(i: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.#snapshot.metadata.index) throw new ErrSnapOutOfDate();
    const offset = this.#entries[0]!.index;
    raftAssert(
      i <= this.lastIndex(),
      () => `snapshot ${i} is out of bound lastindex(${this.lastIndex()})`,
    );
    this.#snapshot = {
      data,
      metadata: {
        index: i,
        term: this.#entries[i - offset]!.term,
        confState: confState ?? this.#snapshot.metadata.confState ?? emptyConfState(),
      },
    };
    return this.#snapshot;
  }

  /** Discards entries up to and including `compactIndex`; the caller must not compact past the
   * applied index. */
  compact(compactIndex: number): void {
    const offset = this.#entries[0]!.index;
    if (compactIndex <= offset) throw new ErrCompacted();
    raftAssert(
      compactIndex <= this.lastIndex(),
      () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`,
    );
    const at = compactIndex - offset;
    const kept = this.#entries.slice(at);
    kept[0] = { term: kept[0]!.term, index: kept[0]!.index, type: EntryType.EntryNormal };
    this.#entries = kept;
  }

  /** Appends entries, truncating any conflicting suffix; entries must be contiguous with the
   * log (their first index at most lastIndex()+1). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    // Entries wholly before the compacted point are already in the snapshot.
    if (last < first) return;
    if (first > entries[0]!.index) entries = entries.slice(first - entries[0]!.index);
    const offset = entries[0]!.index - this.#entries[0]!.index;
    raftAssert(
      this.#entries.length >= offset,
      () => `missing log entry [last: ${this.lastIndex()}, append at: ${entries[0]!.index}]`,
    );
    if (this.#entries.length > offset) this.#entries.length = offset;
    // Stored entries are copies whose data lives in the arena (see _EntryDataArena).
    for (const e of entries) {
      const stored: Entry = { term: e.term, index: e.index, type: e.type };
      if (e.data !== undefined) stored.data = this.#arena.copy(e.data);
      this.#entries.push(stored);
    }
  }
}
