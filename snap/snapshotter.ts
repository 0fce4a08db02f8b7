/**
 * Snap files: `%016x-%016x.snap` (term, index) in the snap directory, each a snappb.Snapshot
 * envelope around a marshalled raftpb.Snapshot, checked by CRC-32C (etcd's
 * etcdserver/api/snap). Loading takes the newest file that reads back whole; a file that does
 * not is renamed `.broken` and the one before it is tried.
 *
 * Saving writes `NAME.tmp`, fsyncs it, renames it into place and fsyncs the directory, so a
 * crash leaves either no file or a whole one (etcd writes the final name directly).
 *
 * @module
 */

import { join } from "node:path";
import { decodeSnapshot, encodeSnapshot, type Snapshot } from "../raft/mod.ts";
import { crc32c } from "../checksum/mod.ts";
import { decodeSnapEnvelope, encodeSnapEnvelope } from "./snappb.ts";
import {
  debuggingSnapSaveMarshallingDurationSeconds,
  debuggingSnapSaveTotalDurationSeconds,
  snapDbFsyncDurationSeconds,
  snapDbSaveTotalDurationSeconds,
  snapFsyncDurationSeconds,
} from "./metrics.ts";

const SNAP_SUFFIX = ".snap";
const SNAP_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/** What went wrong, for callers that branch on it. */
export type SnapErrorCode =
  | "no-snapshot"
  | "empty-snapshot"
  | "crc-mismatch"
  | "corrupt"
  | "no-db-snapshot";

/** An error from the snapshotter; messages begin with etcd's strings. */
export class SnapError extends Error {
  constructor(readonly code: SnapErrorCode, message: string) {
    super(message);
    this.name = "SnapError";
  }
}

/** The position of a snapshot, as the WAL records it. */
export interface SnapPosition {
  index: number;
  term: number;
}

function _hex16(value: number): string {
  return value.toString(16).padStart(16, "0");
}

/** The file name of the snap file for (term, index). */
export function snapName(term: number, index: number): string {
  return `${_hex16(term)}-${_hex16(index)}${SNAP_SUFFIX}`;
}

/** Parses a snap file name into (term, index), or undefined for any other file. */
export function parseSnapName(name: string): { term: number; index: number } | undefined {
  const match = SNAP_NAME.exec(name);
  if (match === null) return undefined;
  return { term: Number.parseInt(match[1]!, 16), index: Number.parseInt(match[2]!, 16) };
}

/** Encodes a raft snapshot into the bytes of a snap file. */
export function encodeSnapFile(snapshot: Snapshot): Uint8Array {
  const data = encodeSnapshot(snapshot);
  return encodeSnapEnvelope({ crc: crc32c(data), data });
}

/** Decodes the bytes of a snap file, checking its CRC; `path` is for messages. */
export function decodeSnapFile(bytes: Uint8Array, path: string): Snapshot {
  if (bytes.length === 0) throw new SnapError("empty-snapshot", `snap: empty snapshot (${path})`);
  let envelope;
  try {
    envelope = decodeSnapEnvelope(bytes);
  } catch (err) {
    throw new SnapError(
      "corrupt",
      `snap: corrupted snapshot file ${path}: ${(err as Error).message}`,
    );
  }
  if (envelope.data === undefined || envelope.data.length === 0 || envelope.crc === 0) {
    throw new SnapError("empty-snapshot", `snap: empty snapshot (${path})`);
  }
  const crc = crc32c(envelope.data);
  if (crc !== envelope.crc) {
    throw new SnapError(
      "crc-mismatch",
      `snap: crc mismatch in ${path} (recorded ${envelope.crc.toString(16)}, computed ${
        crc.toString(16)
      })`,
    );
  }
  try {
    return decodeSnapshot(envelope.data);
  } catch (err) {
    throw new SnapError(
      "corrupt",
      `snap: corrupted snapshot file ${path}: ${(err as Error).message}`,
    );
  }
}

/** Reads and checks one snap file. */
export function readSnapFile(path: string): Snapshot {
  return decodeSnapFile(Deno.readFileSync(path), path);
}

/** Fsyncs a directory so that a rename in it survives a crash. */
export function syncDirectory(dir: string): void {
  const handle = Deno.openSync(dir, { read: true });
  try {
    handle.syncSync();
  } finally {
    handle.close();
  }
}

/** Options for a Snapshotter. */
export interface SnapshotterOptions {
  /**
   * Where `.snap.db` files go (default: `dir`). With `--snap-dir` on another disk this stays
   * the db's directory, because a received `.snap.db` is renamed onto the db.
   */
  dbDir?: string;
}

/** Saves and loads the raft snapshots of one member. */
export class Snapshotter {
  /** The directory of `.snap.db` files. */
  readonly dbDir: string;

  constructor(readonly dir: string, options: SnapshotterOptions = {}) {
    this.dbDir = options.dbDir ?? dir;
  }

  /** Writes a snap file for a non-empty snapshot (index > 0) durably. */
  async saveSnap(snapshot: Snapshot): Promise<void> {
    if (snapshot.metadata.index === 0) return;
    const began = performance.now();
    const bytes = encodeSnapFile(snapshot);
    debuggingSnapSaveMarshallingDurationSeconds.observe((performance.now() - began) / 1000);
    const path = join(this.dir, snapName(snapshot.metadata.term, snapshot.metadata.index));
    const tmpPath = path + ".tmp";
    const file = await Deno.open(tmpPath, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o666,
    });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      const syncing = performance.now();
      await file.sync();
      snapFsyncDurationSeconds.observe((performance.now() - syncing) / 1000);
    } finally {
      file.close();
    }
    await Deno.rename(tmpPath, path);
    syncDirectory(this.dir);
    debuggingSnapSaveTotalDurationSeconds.observe((performance.now() - began) / 1000);
  }

  /** The newest snapshot that reads back whole. */
  load(): Snapshot {
    return this.#loadMatching(() => true);
  }

  /** The newest snapshot that reads back whole and is one of `walSnaps` (same index and term). */
  loadNewestAvailable(walSnaps: readonly SnapPosition[]): Snapshot {
    return this.#loadMatching((snapshot) =>
      walSnaps.some((s) => s.index === snapshot.metadata.index && s.term === snapshot.metadata.term)
    );
  }

  #loadMatching(match: (snapshot: Snapshot) => boolean): Snapshot {
    for (const name of this.snapNames()) {
      const path = join(this.dir, name);
      let snapshot: Snapshot;
      try {
        snapshot = readSnapFile(path);
      } catch (err) {
        if (!(err instanceof SnapError)) throw err;
        // As etcd: set the damaged file aside and fall back to the one before it.
        Deno.renameSync(path, path + ".broken");
        continue;
      }
      if (match(snapshot)) return snapshot;
    }
    throw new SnapError("no-snapshot", "snap: no available snapshot");
  }

  /**
   * The snap file names, newest first. Orphaned `db.tmp*` files of an interrupted
   * defragmentation are removed on the way, as etcd does.
   */
  snapNames(): string[] {
    const names: string[] = [];
    for (const entry of Deno.readDirSync(this.dir)) {
      if (!entry.isFile) continue;
      if (entry.name.startsWith("db.tmp")) {
        Deno.removeSync(join(this.dir, entry.name));
        continue;
      }
      if (entry.name.endsWith(SNAP_SUFFIX)) names.push(entry.name);
    }
    if (names.length === 0) throw new SnapError("no-snapshot", "snap: no available snapshot");
    return names.sort().reverse();
  }

  /**
   * Saves a database snapshot received from the leader as `%016x.snap.db`: written to a temp
   * file, fsynced, renamed into place. Returns the path and the bytes received.
   */
  async saveDbFrom(
    stream: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
    index: number,
  ): Promise<{ path: string; bytes: number }> {
    const began = performance.now();
    const tmpPath = await Deno.makeTempFile({ dir: this.dbDir, prefix: "tmp" });
    let bytes = 0;
    try {
      const file = await Deno.open(tmpPath, { write: true, truncate: true });
      try {
        for await (const chunk of stream as AsyncIterable<Uint8Array>) {
          let written = 0;
          while (written < chunk.length) written += await file.write(chunk.subarray(written));
          bytes += chunk.length;
        }
        const syncing = performance.now();
        await file.sync();
        snapDbFsyncDurationSeconds.observe((performance.now() - syncing) / 1000);
      } finally {
        file.close();
      }
      const path = this.#dbPath(index);
      if (_exists(path)) {
        await Deno.remove(tmpPath);
        return { path, bytes };
      }
      await Deno.rename(tmpPath, path);
      syncDirectory(this.dbDir);
      snapDbSaveTotalDurationSeconds.observe((performance.now() - began) / 1000);
      return { path, bytes };
    } catch (err) {
      await Deno.remove(tmpPath).catch(() => {});
      throw err;
    }
  }

  /** The path of the db snapshot for `index`; throws if it is not there. */
  dbFilePath(index: number): string {
    const path = this.#dbPath(index);
    if (!_exists(path)) {
      throw new SnapError("no-db-snapshot", "snap: snapshot file doesn't exist: " + path);
    }
    return path;
  }

  /** Removes `.snap.db` files older than the snapshot's index (etcd's ReleaseSnapDBs). */
  releaseSnapDbs(index: number): string[] {
    const removed: string[] = [];
    for (const entry of Deno.readDirSync(this.dbDir)) {
      if (!entry.isFile || !entry.name.endsWith(".snap.db")) continue;
      const dbIndex = Number.parseInt(entry.name.slice(0, -".snap.db".length), 16);
      if (Number.isNaN(dbIndex) || dbIndex >= index) continue;
      Deno.removeSync(join(this.dbDir, entry.name));
      removed.push(entry.name);
    }
    return removed;
  }

  #dbPath(index: number): string {
    return join(this.dbDir, `${_hex16(index)}.snap.db`);
  }
}

function _exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
