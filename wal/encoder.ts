/**
 * Frames WAL records into one reusable buffer, extending the CRC chain as it goes, so that a
 * whole `save()` becomes a single write (see decoder.ts for the frame layout).
 *
 * @module
 */

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
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(previousCrc: number, initialBytes = 64 * 1024) {
    this.crc = previousCrc >>> 0;
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes framed and not yet taken. */
  get length(): number {
    return this.pos;
  }

  /** Frames one record. A crc record carries the chain value and no data. */
  append(type: number, data: Uint8Array | undefined): void {
    if (type === RecordType.crc) {
      if (data !== undefined) throw new Error("wal: a crc record carries no data");
    } else {
      this.crc = crc32c(data ?? EMPTY, this.crc);
    }
    const dataBytes = data?.length ?? 0;
    const recordBytes = 1 + _varintBytes(type) + 1 + _varintBytes(this.crc) +
      (data === undefined ? 0 : 1 + _varintBytes(dataBytes) + dataBytes);
    if (recordBytes >= RECORD_BYTES_MAX) {
      throw new RangeError(`wal: record of ${recordBytes} bytes exceeds the 10 MiB limit`);
    }
    const { high, low, padBytes } = encodeFrameSize(recordBytes);
    this.ensure(8 + recordBytes + padBytes);
    this.view.setUint32(this.pos, low, true);
    this.view.setUint32(this.pos + 4, high, true);
    this.pos += 8;
    const start = this.pos;
    // walpb.Record: type=1 varint, crc=2 varint, data=3 bytes when present.
    this.buf[this.pos++] = 0x08;
    this.varint(type);
    this.buf[this.pos++] = 0x10;
    this.varint(this.crc);
    if (data !== undefined) {
      this.buf[this.pos++] = 0x1a;
      this.varint(dataBytes);
      this.buf.set(data, this.pos);
      this.pos += dataBytes;
    }
    if (this.pos - start !== recordBytes) throw new Error("wal: record size miscounted");
    this.buf.fill(0, this.pos, this.pos + padBytes);
    this.pos += padBytes;
  }

  /** The framed bytes so far (a view valid until the next append), and a reset. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }

  private varint(value: number): void {
    let v = value;
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  private ensure(extraBytes: number): void {
    const need = this.pos + extraBytes;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

const EMPTY = new Uint8Array(0);
