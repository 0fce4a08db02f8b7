/**
 * The write-ahead log, in etcd 3.4's on-disk format.
 *
 * A WAL is a directory of segments `%016x-%016x.wal` (sequence, first raft index). Every
 * segment opens with a crc record (the CRC chain value so far), then the metadata record, then
 * (after the first) the last hard state; the first segment also holds an empty snapshot record.
 * Records then follow as raft hands them over: entries, hard states, snapshot markers.
 *
 * A WAL is either being read or being appended to: `open()` then `readAll()` (which repairs a
 * torn last write) and only then `save()`. `create()` returns a WAL ready to append.
 *
 * Durability recipe for `save()` (group commit): frame every record of the call into one
 * buffer, one write, one fdatasync, and only then resolve. Cutting to a new segment: truncate
 * and sync the old tail, take a preallocated temp file, write crc + metadata + hard state into
 * it, sync it, rename it into place, fsync the directory.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { equalBytes } from "../bytes/mod.ts";
import type { Entry, HardState } from "../raft/mod.ts";
import {
  decodeEntry,
  decodeHardState,
  encodeEntryHead,
  encodeHardState,
  encodeHardStateView,
} from "../raft/mod.ts";
import { type DecodedRecord, fileSegment, type TornTail, WalDecoder } from "./decoder.ts";
import { RecordEncoder } from "./encoder.ts";
import { assert, WalError } from "./errors.ts";
import { FilePipeline } from "./file_pipeline.ts";
import { preallocate } from "./preallocate.ts";
import {
  type DurationObserver,
  goDurationString,
  TEST_FSYNC_DELAY_MS,
  walFsyncDurationSeconds,
  type WalLogger,
  walWriteBytesTotal,
  WARN_SYNC_DURATION_SECONDS,
} from "./metrics.ts";
import { isValidSeq, parseWalName, readWalNames, searchIndex, syncDir, walName } from "./names.ts";
import { decodeWalSnapshot, encodeWalSnapshot, RecordType, type WalSnapshot } from "./walpb.ts";

/** etcd's SegmentSizeBytes: 64 * 1000 * 1000 (decimal megabytes, as etcd writes it). */
export const SEGMENT_BYTES_DEFAULT = 64 * 1000 * 1000;

/** Options for creating or opening a WAL. */
export interface WalOptions {
  /** Preallocated size of a segment; a save that passes it cuts to a new segment. */
  segmentBytes?: number;
  /** Where fsync durations are observed (default: `etcd_disk_wal_fsync_duration_seconds`). */
  histogram?: DurationObserver;
  /** Where `slow fdatasync` is logged (etcd's `wal` logger); nothing when absent. */
  logger?: WalLogger;
  /** Skip fdatasync (etcd's --unsafe-no-fsync). Tests and benchmarks only. */
  unsafeNoFsync?: boolean;
  /**
   * How a save's records reach the page cache before the fdatasync, which is always awaited
   * asynchronously so the event loop never waits on the disk. "sync" (default) copies them
   * with `writeSync`: a page-cache copy of one batch takes microseconds, while an awaited
   * `FsFile.write` costs a thread-pool round trip (measured: about 18 us against 115 us per
   * save without fsync, see bench/README-wal.md). "async" awaits `FsFile.write` instead.
   */
  writeMode?: "async" | "sync";
}

/** What `readAll()` returns. */
export interface WalContents {
  metadata: Uint8Array;
  hardState: HardState;
  entries: Entry[];
  /** Set when a torn last write was cut off: the segment, the offset kept, the backup copy. */
  repaired?: { segment: string; offset: number; brokenPath: string; reason: string };
}

interface _Segment {
  name: string;
  /** Open and locked while the WAL holds the segment; undefined once released. */
  file: Deno.FsFile | undefined;
}

const ZERO_HARD_STATE: HardState = { term: 0, vote: 0n, commit: 0 };

/**
 * Entries of one save have consecutive indexes from 1 up and terms that never decrease (Raft
 * §5.3: a log's terms only grow), as raft hands them over; a gap would read back as a hole.
 */
function _assertContiguous(entries: readonly Entry[]): void {
  // Runs on every save: the messages are built only on failure (no closure per entry).
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.index < 1) assert(false, `entry index ${entry.index} is below 1`);
    if (i === 0) continue;
    const previous = entries[i - 1]!;
    if (entry.index !== previous.index + 1) {
      assert(false, `entry ${entry.index} does not follow entry ${previous.index}`);
    }
    if (entry.term < previous.term) {
      assert(false, `entry ${entry.index} has term ${entry.term} below ${previous.term}`);
    }
  }
}

function _isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0n && hs.commit === 0;
}

/** An etcd-format write-ahead log. */
export class Wal {
  readonly #segmentBytes: number;
  readonly #histogram: DurationObserver;
  readonly #logger: WalLogger | undefined;
  readonly #unsafeNoFsync: boolean;
  readonly #syncWrites: boolean;
  #segments: _Segment[];
  #metadata: Uint8Array | undefined;
  #state: HardState = { ...ZERO_HARD_STATE };
  /** The snapshot reading starts at; undefined once read out. */
  #start: WalSnapshot | undefined;
  #encoder: RecordEncoder | undefined;
  #pipeline: FilePipeline | undefined;
  /** Index of the last entry saved (or snapshot marker, whichever is later). */
  #lastIndex = 0;
  /** Write position in the tail segment. */
  #tailOffset = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** The first write or sync failure: after it the file's state is unknown, so appends stop. */
  #failure: Error | undefined;

  private constructor(readonly dir: string, segments: _Segment[], options: WalOptions) {
    this.#segmentBytes = options.segmentBytes ?? SEGMENT_BYTES_DEFAULT;
    this.#histogram = options.histogram ?? walFsyncDurationSeconds;
    this.#logger = options.logger;
    this.#unsafeNoFsync = options.unsafeNoFsync ?? false;
    this.#syncWrites = (options.writeMode ?? "sync") === "sync";
    this.#segments = segments;
    if (!(this.#segmentBytes >= 4096)) throw new RangeError("wal: segmentBytes must be >= 4096");
    assert(segments.length > 0, "a WAL holds at least one segment");
    assert(
      isValidSeq(segments.map((s) => s.name)),
      () => `segment sequence numbers are not consecutive: ${segments.map((s) => s.name)}`,
    );
  }

  /** True when `dir` holds at least one segment. */
  static exists(dir: string): boolean {
    try {
      return readWalNames(dir).length > 0;
    } catch {
      return false;
    }
  }

  /**
   * Creates a WAL in `dir` (which must hold no segment) and returns it ready to append. The
   * first segment is written in `dir.tmp` and the directory renamed into place, so that a crash
   * never leaves a half-made WAL behind.
   */
  static async create(dir: string, metadata: Uint8Array, options: WalOptions = {}): Promise<Wal> {
    if (Wal.exists(dir)) throw new WalError("exists", `wal: ${dir} already holds a WAL`);
    const tmpDir = dir.replace(/\/+$/, "") + ".tmp";
    await Deno.remove(tmpDir, { recursive: true }).catch(_ignoreNotFound);
    await Deno.mkdir(tmpDir, { recursive: true, mode: 0o700 });
    const name = walName(0, 0);
    const file = await Deno.open(join(tmpDir, name), { read: true, write: true, create: true });
    const wal = new Wal(dir, [{ name, file }], options);
    try {
      await file.lock(true);
      // Blocks allocated where the platform can (etcd's Preallocate), else a sparse extension.
      if (!preallocate(join(tmpDir, name), wal.#segmentBytes)) {
        await file.truncate(wal.#segmentBytes);
      }
      wal.#metadata = metadata.slice();
      wal.#encoder = new RecordEncoder(0);
      wal.#encoder.append(RecordType.crc, undefined);
      wal.#encoder.append(RecordType.metadata, wal.#metadata);
      wal.#encoder.append(RecordType.snapshot, encodeWalSnapshot({ index: 0, term: 0 }));
      await wal.#writeTail(wal.#encoder.take());
      await wal.sync();
      syncDir(tmpDir);
      // Rename the directory into place while holding the lock, then persist the rename.
      await Deno.remove(dir, { recursive: true }).catch(_ignoreNotFound);
      await Deno.rename(tmpDir, dir);
      syncDir(dirname(dir.replace(/\/+$/, "")) || ".");
    } catch (err) {
      file.close();
      throw err;
    }
    wal.#pipeline = new FilePipeline(dir, wal.#segmentBytes);
    return wal;
  }

  /**
   * Opens the WAL in `dir` for reading from the snapshot `snap` and, after `readAll()`, for
   * appending. Every segment from the one holding `snap.index` on is locked.
   */
  static async open(dir: string, snap: WalSnapshot, options: WalOptions = {}): Promise<Wal> {
    const names = _selectWalFiles(dir, snap);
    const segments: _Segment[] = [];
    try {
      for (const name of names) {
        const file = await Deno.open(join(dir, name), { read: true, write: true });
        segments.push({ name, file });
        if (!(await _tryLockPatiently(file))) {
          throw new WalError("locked", `wal: ${join(dir, name)} is locked by another process`);
        }
      }
    } catch (err) {
      for (const s of segments) s.file?.close();
      throw err;
    }
    const wal = new Wal(dir, segments, options);
    wal.#start = { ...snap };
    return wal;
  }

  /**
   * Reads every record after the snapshot the WAL was opened at: the metadata, the last hard
   * state, and the entries, later ones replacing conflicting earlier ones as etcd's reader does.
   * A torn last write is cut off (a `.broken` copy of the segment is kept first); damage
   * anywhere else throws. Afterwards the WAL appends after the last whole record.
   */
  readAll(): Promise<WalContents> {
    return this.#serialize(() => this.#readAllLocked());
  }

  async #readAllLocked(): Promise<WalContents> {
    const start = this.#start;
    if (start === undefined) throw new WalError("closed", "wal: decoder not found");
    const decoder = new WalDecoder(this.#segments.map((s) => fileSegment(this.dir, s.name)));
    const result = readRecords(decoder, start);
    const contents: WalContents = {
      metadata: result.metadata ?? new Uint8Array(0),
      hardState: result.hardState,
      entries: result.entries,
    };
    // Make the tail appendable: cut off a torn write, or zero stale bytes past the end.
    const tail = this.#segments[this.#segments.length - 1]!;
    if (decoder.torn !== undefined) {
      contents.repaired = await this.#repairTail(tail, decoder.torn);
    } else {
      await this.#zeroPastEnd(tail, decoder.lastValidOffset);
    }
    this.#tailOffset = decoder.lastValidOffset;
    // Every frame is a multiple of 8 bytes, so a valid end of the log is 8-aligned.
    assert(this.#tailOffset % 8 === 0, () => `tail offset ${this.#tailOffset} is not 8-aligned`);
    await tail.file!.seek(this.#tailOffset, Deno.SeekMode.Start);
    this.#encoder = new RecordEncoder(decoder.crc);
    this.#metadata = result.metadata;
    this.#state = { ...result.hardState };
    this.#lastIndex = result.lastIndex;
    this.#start = undefined;
    this.#pipeline = new FilePipeline(this.dir, this.#segmentBytes);
    return contents;
  }

  /** Keeps a `.broken` copy, truncates to the last whole record, syncs, re-extends. */
  async #repairTail(tail: _Segment, torn: TornTail) {
    const path = join(this.dir, tail.name);
    const brokenPath = path + ".broken";
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(brokenPath, bytes, { mode: 0o600 });
    const file = tail.file!;
    await file.truncate(torn.offset);
    await this.#timedSync(file, true);
    // Preallocate again so that appends keep landing in allocated space.
    const size = Math.max(bytes.length, this.#segmentBytes);
    if (!preallocate(path, size)) await file.truncate(size);
    syncDir(this.dir);
    return { segment: tail.name, offset: torn.offset, brokenPath, reason: torn.reason };
  }

  /**
   * Zeros whatever lies past the last record: a zero length word ends the log, but unsynced
   * leftovers of a torn write may follow it, and appending over part of them would leave a
   * log that no longer reads (etcd's ZeroToEnd). Truncating and re-extending zeros the rest
   * without reading it; the sync makes that durable before anything is appended.
   */
  async #zeroPastEnd(tail: _Segment, offset: number): Promise<void> {
    const file = tail.file!;
    const size = (await file.stat()).size;
    if (size === offset) return;
    await file.truncate(offset);
    if (!preallocate(join(this.dir, tail.name), size)) await file.truncate(size);
    await this.#timedSync(file, true);
  }

  /**
   * Appends entries and the hard state in one write and one fdatasync (group commit). As in
   * etcd, the sync is skipped when there are no entries and neither term nor vote changed
   * (a commit index alone may be lost; raft recomputes it).
   *
   * `whileSyncing`, when given, runs once the bytes are written and the fdatasync has been
   * started (or right after the write when none is needed), so that CPU work of the caller
   * overlaps the disk's wait; the save resolves when both are done. It runs inside the WAL's
   * turn: it must not call the WAL. What it throws rejects the save without marking the WAL
   * failed (the write itself went fine).
   *
   * `blockingSync` makes the fdatasync a blocking call on the caller's thread (after
   * `whileSyncing` ran) instead of an awaited one on the runtime's thread pool. The disk wait
   * is the same; what it saves is the hand-off to a pool thread and back, two thread wake-ups
   * on the critical path of the save (measured in docs/performance.md, "single member, 1
   * client"). The event loop waits meanwhile, so it is for saves nothing else could overlap.
   */
  save(
    hardState: HardState,
    entries: readonly Entry[],
    whileSyncing?: () => void,
    blockingSync = false,
  ): Promise<void> {
    let thrown: { error: unknown } | undefined;
    const overlap = whileSyncing === undefined ? undefined : () => {
      try {
        whileSyncing();
      } catch (error) {
        thrown = { error };
      }
    };
    return this.#serialize(async () => {
      await this.#guarded(() => this.#saveLocked(hardState, entries, overlap, blockingSync));
      if (thrown !== undefined) throw thrown.error;
    });
  }

  /** Runs an append; a failure poisons the WAL (etcd stops the member on a WAL error). */
  async #guarded(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (!(err instanceof WalError)) this.#failure ??= err as Error;
      throw err;
    }
  }

  async #saveLocked(
    hardState: HardState,
    entries: readonly Entry[],
    overlap: (() => void) | undefined,
    blockingSync: boolean,
  ): Promise<void> {
    const encoder = this.#appendable();
    if (_isEmptyHardState(hardState) && entries.length === 0) {
      overlap?.();
      return;
    }
    const mustSync = entries.length > 0 || hardState.term !== this.#state.term ||
      hardState.vote !== this.#state.vote;
    _assertContiguous(entries);
    for (const entry of entries) {
      // The entry's fields up to Data, then Data itself: one copy of the data, into the buffer.
      encoder.appendJoined(RecordType.entry, encodeEntryHead(entry), entry.data);
      this.#lastIndex = entry.index;
    }
    if (!_isEmptyHardState(hardState)) {
      this.#state = { ...hardState };
      encoder.append(RecordType.state, encodeHardStateView(hardState));
    }
    await this.#writeTail(encoder.take());
    if (this.#tailOffset < this.#segmentBytes) {
      if (!mustSync) {
        overlap?.();
        return;
      }
      // The test-only fsync delay is a timer: such a save awaits it as any other does.
      if (blockingSync && TEST_FSYNC_DELAY_MS === 0) {
        overlap?.();
        this.#blockingSync();
        return;
      }
      const synced = this.sync();
      overlap?.();
      await synced;
      return;
    }
    await this.#cut();
    overlap?.();
  }

  /** Records that a snapshot at (index, term) was taken, and syncs. */
  saveSnapshot(snapshot: WalSnapshot): Promise<void> {
    return this.#serialize(() =>
      this.#guarded(async () => {
        const encoder = this.#appendable();
        encoder.append(RecordType.snapshot, encodeWalSnapshot(snapshot));
        await this.#writeTail(encoder.take());
        if (this.#lastIndex < snapshot.index) this.#lastIndex = snapshot.index;
        await this.sync();
      })
    );
  }

  /**
   * Test hook: swaps the tail segment's file for a read-only handle to the same file, so that
   * the next write fails as a failing disk would make it fail (the lock goes with the old
   * handle). For tests of the failure path only.
   */
  async failTailWritesForTesting(): Promise<void> {
    const tail = this.#segments[this.#segments.length - 1];
    assert(tail?.file !== undefined, "wal: no open tail segment to break");
    const readOnly = await Deno.open(join(this.dir, tail.name), { read: true });
    tail.file.close();
    tail.file = readOnly;
  }

  /** Forces an fdatasync of the tail segment. */
  sync(): Promise<void> {
    const tail = this.#segments[this.#segments.length - 1];
    if (tail?.file === undefined || this.#unsafeNoFsync) return Promise.resolve();
    return this.#timedSync(tail.file, false);
  }

  /** fdatasync of the tail segment as a blocking call (see `save`'s `blockingSync`). */
  #blockingSync(): void {
    const tail = this.#segments[this.#segments.length - 1];
    if (tail?.file === undefined || this.#unsafeNoFsync) return;
    const began = performance.now();
    tail.file.syncDataSync();
    this.#observeSync(began);
  }

  async #timedSync(file: Deno.FsFile, always: boolean): Promise<void> {
    if (this.#unsafeNoFsync && !always) return;
    const began = performance.now();
    if (TEST_FSYNC_DELAY_MS > 0) await new Promise((r) => setTimeout(r, TEST_FSYNC_DELAY_MS));
    await file.syncData();
    this.#observeSync(began);
  }

  #observeSync(began: number): void {
    const seconds = (performance.now() - began) / 1000;
    this.#histogram.observe(seconds);
    // etcd's wal.sync(): a sync over a second is the seeds' first sign of a slow disk.
    if (seconds > WARN_SYNC_DURATION_SECONDS) this.#warnSlowSync(seconds);
  }

  #warnSlowSync(seconds: number): void {
    const took = goDurationString(seconds);
    const expected = goDurationString(WARN_SYNC_DURATION_SECONDS);
    if (this.#logger?.format === "zap") {
      this.#logger.warn("slow fdatasync", { took, "expected-duration": expected });
    } else {
      this.#logger?.warn(`sync duration of ${took}, expected less than ${expected}`);
    }
  }

  async #writeTail(bytes: Uint8Array): Promise<void> {
    // Whole frames only (each a multiple of 8 bytes), appended at a frame boundary.
    assert(bytes.length % 8 === 0, () => `a write of ${bytes.length} bytes is not whole frames`);
    assert(this.#tailOffset % 8 === 0, () => `tail offset ${this.#tailOffset} is not 8-aligned`);
    const file = this.#segments[this.#segments.length - 1]!.file!;
    let written = 0;
    while (written < bytes.length) {
      const rest = bytes.subarray(written);
      written += this.#syncWrites ? file.writeSync(rest) : await file.write(rest);
    }
    assert(written === bytes.length, () => `wrote ${written} of ${bytes.length} bytes`);
    this.#tailOffset += written;
    walWriteBytesTotal.inc(written);
  }

  /** Closes the full tail and continues in a new segment (see the module comment). */
  async #cut(): Promise<void> {
    const tail = this.#segments[this.#segments.length - 1]!;
    await tail.file!.truncate(this.#tailOffset);
    await this.sync();
    const previous = parseWalName(tail.name)!;
    const name = walName(previous.seq + 1, this.#lastIndex + 1);
    // A new segment continues the sequence (its first index may be lower: raft may have
    // overwritten a suffix since the last cut).
    assert(
      parseWalName(name)?.seq === previous.seq + 1,
      () => `segment ${name} does not follow ${tail.name}`,
    );
    const temp = await this.#pipeline!.take();
    this.#segments.push({ name, file: temp.file });
    this.#tailOffset = 0;
    const encoder = this.#encoder!;
    // The new segment's crc record carries the chain on unchanged (etcd's cut).
    const chain = encoder.crc;
    encoder.append(RecordType.crc, undefined);
    assert(encoder.crc === chain, "a crc record changed the CRC chain");
    encoder.append(RecordType.metadata, this.#metadata ?? new Uint8Array(0));
    if (!_isEmptyHardState(this.#state)) {
      encoder.append(RecordType.state, encodeHardState(this.#state));
    }
    await this.#writeTail(encoder.take());
    await this.sync();
    await Deno.rename(temp.path, join(this.dir, name));
    const began = performance.now();
    syncDir(this.dir);
    this.#histogram.observe((performance.now() - began) / 1000);
  }

  /**
   * Releases the locks of segments wholly before `index`, keeping the last of them (it may hold
   * entries past `index`): with locks 1..6, releaseLockTo(4) releases 1 and 2.
   */
  releaseLockTo(index: number): void {
    if (this.#segments.length === 0) return;
    let smaller = this.#segments.length - 1;
    for (let i = 0; i < this.#segments.length; i++) {
      if (parseWalName(this.#segments[i]!.name)!.index >= index) {
        smaller = i - 1;
        break;
      }
    }
    if (smaller <= 0) return;
    for (const segment of this.#segments.slice(0, smaller)) segment.file?.close();
    this.#segments = this.#segments.slice(smaller);
  }

  /** The names of the segments this WAL holds locked, oldest first. */
  lockedSegments(): string[] {
    return this.#segments.map((s) => s.name);
  }

  /** Syncs the tail and releases every file. */
  close(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#closed) return;
      this.#closed = true;
      try {
        await this.#pipeline?.close();
        this.#pipeline = undefined;
        if (this.#encoder !== undefined && this.#failure === undefined) await this.sync();
      } finally {
        // Release the files and their locks even when the last sync failed.
        for (const segment of this.#segments) segment.file?.close();
        this.#segments = [];
      }
    });
  }

  /**
   * Reads the WAL in `dir` from `snap` without locking or repairing it, checking the CRC chain,
   * the metadata and that the snapshot is recorded (etcd's wal.Verify). Throws on a problem.
   */
  static verify(dir: string, snap: WalSnapshot): void {
    const names = _selectWalFiles(dir, snap);
    const decoder = new WalDecoder(names.map((name) => fileSegment(dir, name)));
    readRecords(decoder, snap);
  }

  /**
   * The snapshot markers of the WAL in `dir` that the last hard state has committed (index at
   * or below its commit), oldest first: the snapshots a restarting member may load (etcd's
   * ValidSnapshotEntries, used with `Snapshotter.loadNewestAvailable`). Reads all segments
   * without locking; a torn tail ends the reading.
   */
  static validSnapshotEntries(dir: string): WalSnapshot[] {
    const names = readWalNames(dir);
    const decoder = new WalDecoder(names.map((name) => fileSegment(dir, name)));
    const snapshots: WalSnapshot[] = [];
    let commit = 0;
    for (let found = decoder.next(); found !== undefined; found = decoder.next()) {
      const { record } = found;
      const data = record.data ?? new Uint8Array(0);
      if (record.type === RecordType.snapshot) snapshots.push(decodeWalSnapshot(data));
      else if (record.type === RecordType.state) commit = decodeHardState(data).commit;
      else if (record.type === RecordType.crc) {
        if (decoder.crc !== 0 && decoder.crc !== record.crc) {
          throw new WalError("crc-mismatch", `wal: crc mismatch ${_where(found)}`);
        }
        decoder.updateCrc(record.crc);
      }
    }
    return snapshots.filter((s) => s.index <= commit);
  }

  #appendable(): RecordEncoder {
    if (this.#closed) throw new WalError("closed", "wal: closed");
    if (this.#failure !== undefined) {
      throw new WalError("closed", `wal: an earlier write failed: ${this.#failure.message}`);
    }
    if (this.#encoder === undefined) {
      throw new WalError("closed", "wal: read the WAL out with readAll() before appending");
    }
    return this.#encoder;
  }

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }
}

/** What the reader collects from a decoder. */
export interface ReadResult {
  metadata: Uint8Array | undefined;
  hardState: HardState;
  entries: Entry[];
  snapshots: WalSnapshot[];
  lastIndex: number;
}

/**
 * Copies of entry data, packed into shared slabs: the decoded data is a view of a segment's
 * bytes, which the entries must not keep alive, and a copy of its own per entry (an ArrayBuffer
 * each) cost a third of the WAL read's CPU time for 100,000 small entries, most of it in the
 * collector. An entry's copy keeps its slab alive, so large data gets a copy of its own.
 */
class _EntryDataSlab {
  static readonly slabBytes = 256 * 1024;
  static readonly ownCopyBytes = _EntryDataSlab.slabBytes / 16;
  #slab = new Uint8Array(0);
  #used = 0;

  copy(data: Uint8Array): Uint8Array {
    if (data.length > _EntryDataSlab.ownCopyBytes) return data.slice();
    if (this.#used + data.length > this.#slab.length) {
      this.#slab = new Uint8Array(_EntryDataSlab.slabBytes);
      this.#used = 0;
    }
    const start = this.#used;
    this.#used += data.length;
    const view = this.#slab.subarray(start, this.#used);
    view.set(data);
    return view;
  }
}

/**
 * Reads all records from a decoder as etcd's ReadAll does: entries after `start` (a later entry
 * at an index replaces the earlier one and everything after it), the last hard state, metadata
 * that must be the same in every segment, crc records that must continue the chain, and the
 * snapshot marker for `start`, which must be present. Two differences, both refusing or
 * dropping what raft itself discarded or never wrote: an entry rewritten at or before `start`
 * drops the entries collected after it (etcd keeps them), and records whose type was damaged
 * (the CRC does not cover the type) are refused.
 */
export function readRecords(decoder: WalDecoder, start: WalSnapshot): ReadResult {
  const result: ReadResult = {
    metadata: undefined,
    hardState: { ...ZERO_HARD_STATE },
    entries: [],
    snapshots: [],
    lastIndex: 0,
  };
  let match = false;
  const slab = new _EntryDataSlab();
  for (let found = decoder.next(); found !== undefined; found = decoder.next()) {
    const { record } = found;
    const data = record.data ?? new Uint8Array(0);
    switch (record.type) {
      case RecordType.entry: {
        const entry = decodeEntry(data);
        // Entry types are 0..2 and a configuration change always carries its change; anything
        // else is another record whose type was damaged (a state record read as an entry).
        if (entry.type > 2 || (entry.type !== 0 && entry.data === undefined)) {
          throw new WalError(
            "corrupt",
            `wal: corrupt record: entry of type ${entry.type} without a valid body ${
              _where(found)
            }`,
          );
        }
        if (entry.index > start.index) {
          // Raft never rewrites a committed entry (Raft §5.4, Leader Completeness): one that
          // would is a damaged record, for instance a state record whose type bit flipped
          // (the CRC covers a record's data, not its type).
          if (entry.index <= result.hardState.commit) {
            throw new WalError(
              "corrupt",
              `wal: corrupt record: entry ${entry.index} would overwrite committed entries ` +
                `(commit ${result.hardState.commit}) ${_where(found)}`,
            );
          }
          const up = entry.index - start.index - 1;
          if (up > result.entries.length) {
            throw new WalError(
              "slice-out-of-range",
              `wal: slice bounds out of range ${_where(found)}`,
            );
          }
          result.entries.length = up;
          if (entry.data !== undefined) entry.data = slab.copy(entry.data);
          result.entries.push(entry);
        } else {
          // An entry at or before the snapshot was written after the ones collected so far,
          // so it replaced them all (raft writes an index again only to replace the log from
          // there on). etcd 3.4 skips such an entry and keeps those stale later entries,
          // handing raft a suffix it had already discarded; here they are dropped.
          result.entries.length = 0;
        }
        result.lastIndex = entry.index;
        break;
      }
      case RecordType.state:
        result.hardState = decodeHardState(data);
        // etcd writes exactly three fields; anything else is another record with a damaged type.
        if (!equalBytes(encodeHardState(result.hardState), data)) {
          throw new WalError(
            "corrupt",
            `wal: corrupt record: state record does not hold a HardState ${_where(found)}`,
          );
        }
        break;
      case RecordType.metadata:
        if (result.metadata !== undefined && !equalBytes(result.metadata, data)) {
          throw new WalError(
            "metadata-conflict",
            `wal: conflicting metadata found ${_where(found)}`,
          );
        }
        result.metadata = data.slice();
        break;
      case RecordType.crc:
        // A fresh decoder (crc 0) accepts any value; otherwise the chain must continue.
        if (decoder.crc !== 0 && decoder.crc !== record.crc) {
          throw new WalError("crc-mismatch", `wal: crc mismatch ${_where(found)}`);
        }
        decoder.updateCrc(record.crc);
        break;
      case RecordType.snapshot: {
        const snap = decodeWalSnapshot(data);
        result.snapshots.push(snap);
        if (snap.index === start.index) {
          if (snap.term !== start.term) {
            throw new WalError(
              "snapshot-mismatch",
              `wal: snapshot mismatch: term ${snap.term} at index ${snap.index}, ` +
                `expected term ${start.term} ${_where(found)}`,
            );
          }
          match = true;
        }
        if (result.lastIndex < snap.index) result.lastIndex = snap.index;
        break;
      }
      default:
        throw new WalError(
          "unexpected-record-type",
          `wal: unexpected block type ${record.type} ${_where(found)}`,
        );
    }
  }
  if (!match) {
    throw new WalError(
      "snapshot-not-found",
      `wal: snapshot not found (index ${start.index}, term ${start.term})`,
    );
  }
  return result;
}

function _where(found: DecodedRecord): string {
  return `(in ${found.segment} at offset ${found.offset})`;
}

function _selectWalFiles(dir: string, snap: WalSnapshot): string[] {
  let names: string[];
  try {
    names = readWalNames(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new WalError("file-not-found", `wal: file not found (no directory ${dir})`);
    }
    throw err;
  }
  const at = searchIndex(names, snap.index);
  if (at < 0 || !isValidSeq(names.slice(at))) {
    throw new WalError(
      "file-not-found",
      `wal: file not found (no segment sequence in ${basename(dir)} covers index ${snap.index})`,
    );
  }
  return names.slice(at);
}

/** Lock attempts before `open()` reports a WAL as locked, and the pause between them. */
const LOCK_ATTEMPTS = 10;
const LOCK_RETRY_MS = 50;

/**
 * Takes the exclusive lock, retrying for half a second: a process that forks (to spawn a
 * child) holds copies of every descriptor until the child execs, so a lock just released by
 * close() can linger for a moment (etcd notes the same window in renameWAL). A real second
 * writer holds its lock for good and is still refused.
 */
async function _tryLockPatiently(file: Deno.FsFile): Promise<boolean> {
  for (let attempt = 1; attempt <= LOCK_ATTEMPTS; attempt++) {
    if (await file.tryLock(true)) return true;
    if (attempt < LOCK_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
  }
  return false;
}

function _ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
