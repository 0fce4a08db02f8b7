/**
 * Reads framed records back out of WAL segments, checking the CRC chain, and tells a torn
 * final write (a crash mid-append, repairable) from corruption of data that was synced (never
 * silently dropped).
 *
 * Frame layout (wal/encoder.go, wal/decoder.go), little-endian:
 * | offset | size | field                                                                    |
 * |--------|------|--------------------------------------------------------------------------|
 * | 0      | 8    | length word: low 56 bits = record bytes; if bit 63 is set, the low 3 bits  |
 * |        |      | of the top byte are the padding bytes that follow the record              |
 * | 8      | n    | walpb.Record                                                              |
 * | 8 + n  | pad  | zeros, so that the next length word is 8-byte aligned                     |
 *
 * A zero length word (or the end of the file) ends a segment: that is the preallocated tail.
 *
 * @module
 */

import { join } from "node:path";
import { crc32c } from "../checksum/mod.ts";
import { assert, WalError } from "./errors.ts";
import { decodeRecord, RecordType, recordTypeName, type WalRecord } from "./walpb.ts";

/** Bytes of the length word that opens every frame. */
export const FRAME_HEADER_BYTES = 8;
/** The sector size torn writes are judged against (etcd's minSectorSize). */
export const SECTOR_BYTES = 512;
/** etcd refuses records of 10 MiB or more (maxWALEntrySizeLimit). */
export const RECORD_BYTES_MAX = 10 * 1024 * 1024;

const PAD_FLAG = 0x80;

/**
 * One segment to decode: its name (for messages) and a way to read a stretch of its bytes.
 * The decoder reads a segment front to back in windows that start at the next frame, the first
 * small (a 64 MB preallocated segment holding a few records costs a small read), each next one
 * twice as long up to a bound. Every window is a buffer of its own, never written again, so the
 * records decoded from it (views of it) stay valid; nothing is copied from window to window.
 */
export interface DecoderSegment {
  name: string;
  /** The bytes from `offset` on, `length` of them (fewer, down to none, at the end of the file). */
  read(offset: number, length: number): Uint8Array;
}

/** Bytes of a segment's first read window. */
const READ_BYTES_INITIAL = 1 << 20;
/** Bytes of a read window at most, unless one record needs more. */
const READ_BYTES_MAX = 8 << 20;

/** A DecoderSegment over the file `dir/name`. */
export function fileSegment(dir: string, name: string): DecoderSegment {
  return {
    name,
    read(offset: number, length: number): Uint8Array {
      const file = Deno.openSync(join(dir, name), { read: true });
      try {
        const size = Math.max(0, Math.min(length, file.statSync().size - offset));
        const bytes = new Uint8Array(size);
        let at = 0;
        file.seekSync(offset, Deno.SeekMode.Start);
        while (at < size) {
          const n = file.readSync(bytes.subarray(at));
          if (n === null) break;
          at += n;
        }
        return at === size ? bytes : bytes.subarray(0, at);
      } finally {
        file.close();
      }
    },
  };
}

/** A decoded record and where it was found. */
export interface DecodedRecord {
  record: WalRecord;
  segment: string;
  /** Offset of the frame's length word in its segment. */
  offset: number;
  /** Bytes the frame takes, header and padding included. */
  frameBytes: number;
}

/** The decoder stopped at a torn write at the end of the last segment. */
export interface TornTail {
  segment: string;
  /** Offset of the end of the last whole record: where a repair truncates. */
  offset: number;
  reason: string;
}

/** Splits a length word into record bytes and padding bytes. */
export function decodeFrameSize(
  low: number,
  high: number,
): { recordBytes: number; padBytes: number } {
  const top = high >>> 24;
  const recordBytes = (high & 0x00ffffff) * 0x100000000 + (low >>> 0);
  const padBytes = top & PAD_FLAG ? top & 0x7 : 0;
  return { recordBytes, padBytes };
}

/**
 * Walks the records of a list of segments in order. `next()` returns the next record that
 * decodes and passes its CRC, or undefined at the end; after undefined, `torn` says whether the
 * end was a torn write in the last segment. Anything else that is wrong throws a WalError that
 * names the segment and offset.
 */
export class WalDecoder {
  /** The running CRC: the chained checksum of every record's data so far. */
  crc = 0;
  /** The torn write the decoder stopped at, if any. */
  torn: TornTail | undefined;
  /** The end of the last whole record in the current segment. */
  lastValidOffset = 0;
  #segmentIndex = 0;
  /** The read window: the current segment's bytes from offset `#windowAt` on. */
  #bytes: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #windowAt = 0;
  /** Bytes asked of the last read. */
  #requested = 0;
  /** The last read came back short: the window runs to the end of the file. */
  #atEnd = false;

  readonly #segments: readonly DecoderSegment[];

  constructor(segments: readonly DecoderSegment[]) {
    this.#segments = segments;
  }

  /** The name of the segment being read (the last one once the end is reached). */
  get segmentName(): string {
    return this.#segments[Math.min(this.#segmentIndex, this.#segments.length - 1)]?.name ?? "";
  }

  /** Restarts the CRC chain at a crc record's value (done by the reader, as etcd's ReadAll). */
  updateCrc(crc: number): void {
    this.crc = crc >>> 0;
  }

  /** The next valid record, or undefined at the end of the log. */
  next(): DecodedRecord | undefined {
    while (this.#segmentIndex < this.#segments.length) {
      const found = this.#nextInSegment();
      if (found !== undefined) return found;
      if (this.torn !== undefined) return undefined;
      // End of this segment: move on, unless it is the last one (keep its state for appending).
      if (this.#segmentIndex === this.#segments.length - 1) return undefined;
      this.#segmentIndex++;
      this.#bytes = new Uint8Array(0);
      this.#windowAt = 0;
      this.#requested = 0;
      this.#atEnd = false;
      this.lastValidOffset = 0;
    }
    return undefined;
  }

  /**
   * Makes the segment's bytes [start, end) available in the window; false when the file ends
   * before `end` (the window then holds every byte from `start` to the end of the file). The
   * decoder asks for bytes at or after the last start it asked for.
   */
  #ensure(start: number, end: number): boolean {
    assert(
      start >= this.#windowAt,
      () => `a read at ${start} before the window at ${this.#windowAt}`,
    );
    const windowEnd = this.#windowAt + this.#bytes.length;
    if (end <= windowEnd) return true;
    // The window already runs to the end of the file.
    if (this.#atEnd) return false;
    const grown = Math.min(READ_BYTES_MAX, Math.max(READ_BYTES_INITIAL, this.#requested * 2));
    this.#requested = Math.max(end - start, grown);
    this.#bytes = this.#segments[this.#segmentIndex]!.read(start, this.#requested);
    this.#windowAt = start;
    this.#atEnd = this.#bytes.length < this.#requested;
    this.#view = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
    return end <= start + this.#bytes.length;
  }

  get #isLast(): boolean {
    return this.#segmentIndex === this.#segments.length - 1;
  }

  /** Fails, or records a torn tail when the damage can only be an unfinished last write. */
  #damaged(reason: string, torn: boolean, code: "corrupt" | "crc-mismatch"): undefined {
    const name = this.#segments[this.#segmentIndex]!.name;
    if (torn && this.#isLast) {
      this.torn = { segment: name, offset: this.lastValidOffset, reason };
      return undefined;
    }
    const prefix = code === "crc-mismatch" ? "wal: crc mismatch" : "wal: corrupt record";
    throw new WalError(
      code,
      `${prefix} in ${name} at offset ${this.lastValidOffset}: ${reason}; ` +
        "the data there was synced, so the WAL is refused rather than truncated",
    );
  }

  #nextInSegment(): DecodedRecord | undefined {
    const offset = this.lastValidOffset;
    if (!this.#ensure(offset, offset + FRAME_HEADER_BYTES)) {
      const remaining = this.#windowAt + this.#bytes.length - offset;
      if (remaining === 0) return undefined;
      return this.#damaged(
        `the file ends inside a length word (${remaining} bytes)`,
        true,
        "corrupt",
      );
    }
    const view = this.#view;
    const low = view.getUint32(offset - this.#windowAt, true);
    const high = view.getUint32(offset - this.#windowAt + 4, true);
    // A zero length word is the preallocated tail: the end of this segment.
    if (low === 0 && high === 0) return undefined;
    const { recordBytes, padBytes } = decodeFrameSize(low, high);
    if (recordBytes >= RECORD_BYTES_MAX - padBytes) {
      throw new WalError(
        "entry-too-large",
        `wal: max entry size limit exceeded in ${this.segmentName} at offset ${offset} ` +
          `(record of ${recordBytes} bytes)`,
      );
    }
    const start = offset + FRAME_HEADER_BYTES;
    const end = start + recordBytes + padBytes;
    if (!this.#ensure(offset, end)) {
      return this.#damaged(
        `the file ends inside a record of ${recordBytes} bytes`,
        true,
        "corrupt",
      );
    }
    const at = start - this.#windowAt;
    const body = this.#bytes.subarray(at, at + recordBytes);
    let record: WalRecord;
    try {
      record = decodeRecord(body);
    } catch (err) {
      const reason = `record does not decode (${(err as Error).message})`;
      return this.#damaged(reason, _hasZeroSector(body, start), "corrupt");
    }
    // The crc record restarts the chain instead of extending it; the reader checks it.
    if (record.type !== RecordType.crc) {
      const crc = crc32c(record.data ?? EMPTY, this.crc);
      if (crc !== record.crc) {
        const reason = `${recordTypeName(record.type)} record crc ${_hex(record.crc)}, ` +
          `computed ${_hex(crc)}`;
        return this.#damaged(reason, _hasZeroSector(body, start), "crc-mismatch");
      }
      this.crc = crc;
    }
    // Checked right after reading: the record's data lies inside its frame, and the frame
    // inside the bytes read.
    assert((record.data?.length ?? 0) < recordBytes, "a record's data overruns its frame");
    assert(
      end <= this.#windowAt + this.#bytes.length,
      () => `a frame ends at ${end}, past the bytes read`,
    );
    this.lastValidOffset = end;
    return { record, segment: this.segmentName, offset, frameBytes: end - offset };
  }
}

const EMPTY = new Uint8Array(0);

function _hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

/**
 * True when some sector-aligned piece of a record's bytes is all zeros: what a write that
 * reached the disk only in part leaves behind (etcd's isTornEntry). Unlike etcd, the padding
 * after the record is left out: if only padding is zero, every byte of the record arrived and a
 * bad checksum is corruption, not a torn write.
 */
function _hasZeroSector(body: Uint8Array, fileOffset: number): boolean {
  let at = 0;
  while (at < body.length) {
    const chunk = Math.min(SECTOR_BYTES - ((fileOffset + at) % SECTOR_BYTES), body.length - at);
    let zero = true;
    for (let i = at; i < at + chunk; i++) {
      if (body[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
    at += chunk;
  }
  return false;
}
