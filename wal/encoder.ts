/**
 * Frames WAL records into one reusable buffer, extending the CRC chain as it goes, so that a
 * whole `save()` becomes a single write (see decoder.ts for the frame layout).
 *
 * @module
 */

import { GrowableBuffer } from "../bytes/mod.ts";
import { crc32c } from "../checksum/mod.ts";
import { RECORD_BYTES_MAX } from "./decoder.ts";
import { RecordType } from "./walpb.ts";

const PAD_FLAG = 0x80;

function _varintBytes(value: number): number {
  let bytes = 1;
  let v = value;
  while (v >= 128) {
    v = Math.floor(v / 128);
    bytes++;
  }
  return bytes;
}

/** The length word and padding for a record of `recordBytes` (etcd's encodeFrameSize). */
export function encodeFrameSize(
  recordBytes: number,
): { high: number; low: number; padBytes: number } {
  const padBytes = (8 - (recordBytes % 8)) % 8;
  const low = recordBytes >>> 0;
  let high = Math.floor(recordBytes / 0x100000000);
  if (padBytes !== 0) high = (high | ((PAD_FLAG | padBytes) << 24)) >>> 0;
  return { high, low, padBytes };
}

/** Appends framed records to a growable buffer; `take()` hands out the bytes and resets. */
export class RecordEncoder {
  /** The CRC chain value after the last record appended. */
  crc: number;
  readonly #out: GrowableBuffer;

  constructor(previousCrc: number, initialBytes = 64 * 1024) {
    this.crc = previousCrc >>> 0;
    this.#out = new GrowableBuffer(initialBytes);
  }

  /** Bytes framed and not yet taken. */
  get length(): number {
    return this.#out.length;
  }

  /** Frames one record. A crc record carries the chain value and no data. */
  append(type: number, data: Uint8Array | undefined): void {
    if (type === RecordType.crc && data !== undefined) {
      throw new Error("wal: a crc record carries no data");
    }
    this.#frame(type, data, undefined);
  }

  /**
   * Frames one record whose data is `head` followed by `tail`, without joining them first: the
   * bytes are those of `append(type, concat(head, tail))`, and `tail` is copied once, into the
   * output. The caller may reuse `head`'s memory once this returns.
   */
  appendJoined(type: number, head: Uint8Array, tail: Uint8Array | undefined): void {
    if (type === RecordType.crc) throw new Error("wal: a crc record carries no data");
    this.#frame(type, head, tail);
  }

  #frame(type: number, head: Uint8Array | undefined, tail: Uint8Array | undefined): void {
    if (type !== RecordType.crc) {
      this.crc = crc32c(head ?? EMPTY, this.crc);
      if (tail !== undefined) this.crc = crc32c(tail, this.crc);
    }
    const hasData = head !== undefined;
    const dataBytes = (head?.length ?? 0) + (tail?.length ?? 0);
    const recordBytes = 1 + _varintBytes(type) + 1 + _varintBytes(this.crc) +
      (hasData ? 1 + _varintBytes(dataBytes) + dataBytes : 0);
    if (recordBytes >= RECORD_BYTES_MAX) {
      throw new RangeError(`wal: record of ${recordBytes} bytes exceeds the 10 MiB limit`);
    }
    const { high, low, padBytes } = encodeFrameSize(recordBytes);
    const out = this.#out;
    out.ensure(8 + recordBytes + padBytes);
    out.view.setUint32(out.length, low, true);
    out.view.setUint32(out.length + 4, high, true);
    out.length += 8;
    const start = out.length;
    // walpb.Record: type=1 varint, crc=2 varint, data=3 bytes when present.
    out.bytes[out.length++] = 0x08;
    _writeVarint(out, type);
    out.bytes[out.length++] = 0x10;
    _writeVarint(out, this.crc);
    if (hasData) {
      out.bytes[out.length++] = 0x1a;
      _writeVarint(out, dataBytes);
      out.bytes.set(head, out.length);
      out.length += head.length;
      if (tail !== undefined) {
        out.bytes.set(tail, out.length);
        out.length += tail.length;
      }
    }
    if (out.length - start !== recordBytes) throw new Error("wal: record size miscounted");
    out.bytes.fill(0, out.length, out.length + padBytes);
    out.length += padBytes;
  }

  /** The framed bytes so far (a view valid until the next append), and a reset. */
  take(): Uint8Array {
    const framed = this.#out.bytes.subarray(0, this.#out.length);
    this.#out.reset();
    return framed;
  }
}

/** Writes a varint of a value below 2^53 at `out.length`; the caller ensured the room. */
function _writeVarint(out: GrowableBuffer, value: number): void {
  const bytes = out.bytes;
  let pos = out.length;
  let v = value;
  while (v >= 128) {
    bytes[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  bytes[pos++] = v;
  out.length = pos;
}

const EMPTY = new Uint8Array(0);
