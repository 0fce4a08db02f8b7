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
import { entrySize, NO_LIMIT } from "./util.ts";

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

  /**
   * Copies `data` and returns the buffer that holds the copy; the copy starts at
   * {@link copiedAt} in it.
   */
  copy(data: Uint8Array): Uint8Array {
    if (data.length > _EntryDataArena.ownCopyBytes) {
      this.copiedAt = 0;
      return data.slice();
    }
    if (this.#used + data.length > this.#slab.length) {
      this.#slab = new Uint8Array(_EntryDataArena.slabBytes);
      this.#used = 0;
    }
    this.#slab.set(data, this.#used);
    this.copiedAt = this.#used;
    this.#used += data.length;
    return this.#slab;
  }

  /** Where the last {@link copy} put its bytes in the buffer it returned. */
  copiedAt = 0;
}

/** `#dataLengths` of an entry without data (`data` undefined, not an empty array). */
const _NO_DATA = -1;

/**
 * An in-memory Storage, written by the driver after each Ready.
 *
 * The log is kept in columns, one array per field, rather than as one Entry object per entry:
 * between two snapshots it holds up to `--snapshot-count` entries (100,000 by default), and an
 * Entry object with a view of its data costs about 190 bytes of JavaScript heap on top of the
 * data (measured: 48 bytes the object, about 105 the Uint8Array view), against about 25 bytes
 * in columns. `entries()` builds the Entry objects of what it returns; they are short-lived.
 * Column position p holds log index `#entryIndexes0 + p`; position 0 is the dummy entry.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = emptyHardState();
  #snapshot: Snapshot = emptySnapshot();
  /** The index of the dummy entry at position 0 (the last compacted entry's). */
  #offset = 0;
  #terms: number[] = [0];
  #types: EntryType[] = [EntryType.EntryNormal];
  /** The buffer holding each entry's data (a slab of the arena or an own copy). */
  #dataBuffers: (Uint8Array | undefined)[] = [undefined];
  #dataOffsets: number[] = [0];
  /** Length of each entry's data, or {@link _NO_DATA}. */
  #dataLengths: number[] = [_NO_DATA];
  readonly #arena = new _EntryDataArena();

  /** The saved HardState and the ConfState of the saved snapshot. */
  initialState(): InitialState {
    return { hardState: { ...this.#hardState }, confState: this.#snapshot.metadata.confState };
  }

  /** Saves the current HardState. */
  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** Entries in [lo, hi), limited by `maxSize` bytes (at least one entry). */
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.#offset;
    if (lo <= offset) throw new ErrCompacted();
    raftAssert(
      hi <= this.lastIndex() + 1,
      () => `entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`,
    );
    // Only the dummy entry is left: nothing can be read.
    if (this.#terms.length === 1) throw new ErrUnavailable();
    const out: Entry[] = [];
    let size = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.#entryAt(index - offset);
      // The first entry is returned whatever its size, as etcd's limitSize does.
      if (maxSize < NO_LIMIT) {
        size += entrySize(entry);
        if (size > maxSize && out.length > 0) break;
      }
      out.push(entry);
    }
    return out;
  }

  /** The entry at column position `at`, with a view of its data. */
  #entryAt(at: number): Entry {
    const length = this.#dataLengths[at]!;
    const start = this.#dataOffsets[at]!;
    // Every field present, `data` too when nil: one hidden class for all entries.
    return {
      term: this.#terms[at]!,
      index: this.#offset + at,
      type: this.#types[at]!,
      data: length === _NO_DATA
        ? undefined
        : this.#dataBuffers[at]!.subarray(start, start + length),
    };
  }

  /** The term of entry i. */
  term(i: number): number {
    const offset = this.#offset;
    if (i < offset) throw new ErrCompacted();
    const term = this.#terms[i - offset];
    if (term === undefined) throw new ErrUnavailable();
    return term;
  }

  /** The index of the last entry. */
  lastIndex(): number {
    return this.#offset + this.#terms.length - 1;
  }

  /** The index of the first readable entry. */
  firstIndex(): number {
    return this.#offset + 1;
  }

  /** The current snapshot. */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the contents with a snapshot (when a follower receives one). */
  applySnapshot(snapshot: Snapshot): void {
    if (this.#snapshot.metadata.index >= snapshot.metadata.index) throw new ErrSnapOutOfDate();
    this.#snapshot = snapshot;
    this.#offset = snapshot.metadata.index;
    this.#terms = [snapshot.metadata.term];
    this.#types = [EntryType.EntryNormal];
    this.#dataBuffers = [undefined];
    this.#dataOffsets = [0];
    this.#dataLengths = [_NO_DATA];
  }

  /**
   * Records a snapshot of the state machine at applied index i (with the ConfState as of i and
   * the application's data); the log is not compacted here, see `compact`.
   */
  createSnapshot(i: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.#snapshot.metadata.index) throw new ErrSnapOutOfDate();
    raftAssert(
      i <= this.lastIndex(),
      () => `snapshot ${i} is out of bound lastindex(${this.lastIndex()})`,
    );
    this.#snapshot = {
      data,
      metadata: {
        index: i,
        term: this.#terms[i - this.#offset]!,
        confState: confState ?? this.#snapshot.metadata.confState ?? emptyConfState(),
      },
    };
    return this.#snapshot;
  }

  /** Discards entries up to and including `compactIndex`; the caller must not compact past the
   * applied index. */
  compact(compactIndex: number): void {
    const offset = this.#offset;
    if (compactIndex <= offset) throw new ErrCompacted();
    raftAssert(
      compactIndex <= this.lastIndex(),
      () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`,
    );
    const at = compactIndex - offset;
    // The compacted entry becomes the dummy: its term stays, its type and data go.
    this.#offset = compactIndex;
    this.#terms = this.#terms.slice(at);
    this.#types = this.#types.slice(at);
    this.#types[0] = EntryType.EntryNormal;
    this.#dataBuffers = this.#dataBuffers.slice(at);
    this.#dataBuffers[0] = undefined;
    this.#dataOffsets = this.#dataOffsets.slice(at);
    this.#dataOffsets[0] = 0;
    this.#dataLengths = this.#dataLengths.slice(at);
    this.#dataLengths[0] = _NO_DATA;
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
    const at = entries[0]!.index - this.#offset;
    raftAssert(
      this.#terms.length >= at,
      () => `missing log entry [last: ${this.lastIndex()}, append at: ${entries[0]!.index}]`,
    );
    if (this.#terms.length > at) this.#truncate(at);
    // The data is copied into the arena (see _EntryDataArena), never kept as given.
    for (const e of entries) {
      raftAssert(
        e.index === this.#offset + this.#terms.length,
        () => `entry ${e.index} is not contiguous with last index ${this.lastIndex()}`,
      );
      this.#terms.push(e.term);
      this.#types.push(e.type);
      if (e.data === undefined) {
        this.#dataBuffers.push(undefined);
        this.#dataOffsets.push(0);
        this.#dataLengths.push(_NO_DATA);
      } else {
        this.#dataBuffers.push(this.#arena.copy(e.data));
        this.#dataOffsets.push(this.#arena.copiedAt);
        this.#dataLengths.push(e.data.length);
      }
    }
  }

  /** Drops the entries from column position `at` on. */
  #truncate(at: number): void {
    this.#terms.length = at;
    this.#types.length = at;
    this.#dataBuffers.length = at;
    this.#dataOffsets.length = at;
    this.#dataLengths.length = at;
  }
}
