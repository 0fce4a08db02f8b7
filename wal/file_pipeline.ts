/**
 * Prepares the next WAL segment in the background, so that cutting to a new segment does not
 * wait for the allocation (etcd's filePipeline). Files are `0.tmp` and `1.tmp` in turn, locked,
 * and extended to the segment size (the preallocated tail reads as zeros, which the decoder
 * treats as the end of the log).
 *
 * @module
 */

import { join } from "node:path";
import { preallocate } from "./preallocate.ts";

/** A preallocated, locked temporary segment file. */
export interface TempSegment {
  path: string;
  file: Deno.FsFile;
}

/** Allocates `segmentBytes` files one ahead of need. */
export class FilePipeline {
  #count = 0;
  #pending: Promise<TempSegment> | undefined;

  readonly #segmentBytes: number;
  readonly #dir: string;

  constructor(dir: string, segmentBytes: number) {
    this.#segmentBytes = segmentBytes;
    this.#dir = dir;
    this.#pending = this.#alloc();
    // A failure is reported by take(); do not let it surface as an unhandled rejection first.
    this.#pending.catch(() => {});
  }

  /** A fresh preallocated file; rename it before taking the next one. */
  async take(): Promise<TempSegment> {
    if (this.#pending === undefined) throw new Error("wal: file pipeline is closed");
    const segment = await this.#pending;
    this.#pending = this.#alloc();
    this.#pending.catch(() => {});
    return segment;
  }

  /** Stops allocating and removes the file prepared but not taken. */
  async close(): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined) return;
    try {
      const segment = await pending;
      segment.file.close();
      await Deno.remove(segment.path).catch(() => {});
    } catch {
      // Nothing was allocated.
    }
  }

  async #alloc(): Promise<TempSegment> {
    // count % 2: never the name of the file handed out last, which may not be renamed yet.
    const path = join(this.#dir, `${this.#count % 2}.tmp`);
    this.#count++;
    const file = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
    try {
      await file.lock(true);
      // Blocks allocated where the platform can (etcd's Preallocate), else a sparse extension.
      if (!preallocate(path, this.#segmentBytes)) await file.truncate(this.#segmentBytes);
    } catch (err) {
      file.close();
      throw err;
    }
    return { path, file };
  }
}
