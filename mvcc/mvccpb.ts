/**
 * A hand-written protobuf codec for `mvccpb.KeyValue` and `mvccpb.Event`
 * (etcd `mvcc/mvccpb/kv.proto`), byte-exact with gogoproto's marshaler: fields in field-number
 * order, zero-valued scalars and empty bytes omitted (proto3), int64 as a two's-complement varint.
 *
 * KeyValue: key=1 bytes, create_revision=2 int64, mod_revision=3 int64, version=4 int64,
 * value=5 bytes, lease=6 int64. Event: type=1 enum (PUT=0, DELETE=1), kv=2, prev_kv=3.
 *
 * Revisions and versions are JS numbers (asserted below 2^53); lease IDs are bigint because they
 * are random int64 values, most of them above 2^53.
 *
 * @module
 */

import { assertRevisionNumber } from "./revision.ts";

/** A key's value at one revision, as stored in the `key` bucket and sent to clients. */
export interface KeyValue {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Uint8Array;
  /** The attached lease, 0n for none. */
  lease: bigint;
}

/** The kind of a watch event. */
export const EventType = { PUT: 0, DELETE: 1 } as const;
/** The kind of a watch event: 0 PUT, 1 DELETE. */
export type EventType = (typeof EventType)[keyof typeof EventType];

/** One change seen by a watcher. */
export interface Event {
  type: EventType;
  kv: KeyValue;
  prevKv?: KeyValue;
}

const _WIRE_VARINT = 0;
const _WIRE_FIXED64 = 1;
const _WIRE_BYTES = 2;
const _WIRE_FIXED32 = 5;
const _EMPTY = new Uint8Array(0);

/** Number of bytes of the varint of a non-negative safe integer. */
function _uvarintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Number of bytes of the varint of an int64 given as a number (negative -> 10 bytes). */
function _int64SizeNumber(value: number): number {
  return value < 0 ? 10 : _uvarintSize(value);
}

/** Number of bytes of the varint of an int64 given as a bigint. */
function _int64SizeBig(value: bigint): number {
  let unsigned = BigInt.asUintN(64, value);
  let size = 1;
  while (unsigned >= 0x80n) {
    unsigned >>= 7n;
    size++;
  }
  return size;
}

class _Writer {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  uvarint(value: number): void {
    while (value >= 0x80) {
      this.bytes[this.offset++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.offset++] = value;
  }

  int64Number(value: number): void {
    if (value >= 0) this.uvarint(value);
    else this.int64Big(BigInt(value));
  }

  int64Big(value: bigint): void {
    let unsigned = BigInt.asUintN(64, value);
    while (unsigned >= 0x80n) {
      this.bytes[this.offset++] = Number(unsigned & 0x7fn) | 0x80;
      unsigned >>= 7n;
    }
    this.bytes[this.offset++] = Number(unsigned);
  }

  raw(data: Uint8Array): void {
    this.bytes.set(data, this.offset);
    this.offset += data.length;
  }
}

/** Size in bytes of the encoded KeyValue. */
export function keyValueSize(kv: KeyValue): number {
  let size = 0;
  if (kv.key.length > 0) size += 1 + _uvarintSize(kv.key.length) + kv.key.length;
  if (kv.createRevision !== 0) size += 1 + _int64SizeNumber(kv.createRevision);
  if (kv.modRevision !== 0) size += 1 + _int64SizeNumber(kv.modRevision);
  if (kv.version !== 0) size += 1 + _int64SizeNumber(kv.version);
  if (kv.value.length > 0) size += 1 + _uvarintSize(kv.value.length) + kv.value.length;
  if (kv.lease !== 0n) size += 1 + _int64SizeBig(kv.lease);
  return size;
}

function _writeKeyValue(w: _Writer, kv: KeyValue): void {
  if (kv.key.length > 0) {
    w.uvarint((1 << 3) | _WIRE_BYTES);
    w.uvarint(kv.key.length);
    w.raw(kv.key);
  }
  if (kv.createRevision !== 0) {
    w.uvarint((2 << 3) | _WIRE_VARINT);
    w.int64Number(kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    w.uvarint((3 << 3) | _WIRE_VARINT);
    w.int64Number(kv.modRevision);
  }
  if (kv.version !== 0) {
    w.uvarint((4 << 3) | _WIRE_VARINT);
    w.int64Number(kv.version);
  }
  if (kv.value.length > 0) {
    w.uvarint((5 << 3) | _WIRE_BYTES);
    w.uvarint(kv.value.length);
    w.raw(kv.value);
  }
  if (kv.lease !== 0n) {
    w.uvarint((6 << 3) | _WIRE_VARINT);
    w.int64Big(kv.lease);
  }
}

/** Encodes a KeyValue exactly as gogoproto's `KeyValue.Marshal`. */
export function encodeKeyValue(kv: KeyValue): Uint8Array {
  assertRevisionNumber(kv.createRevision, "create revision");
  assertRevisionNumber(kv.modRevision, "mod revision");
  assertRevisionNumber(kv.version, "version");
  const size = keyValueSize(kv);
  const w = new _Writer(new Uint8Array(size));
  _writeKeyValue(w, kv);
  if (w.offset !== size) throw new Error("KeyValue size mismatch");
  return w.bytes;
}

/**
 * Encodes the KeyValue of a tombstone (only the key is set), byte for byte what
 * {@link encodeKeyValue} gives, without its writer: field 1, the key's length as a varint, the
 * key. A DeleteRange writes one per key, so this is on the path of 100,000 keys at once.
 */
export function encodeTombstoneKeyValue(key: Uint8Array): Uint8Array {
  if (key.length === 0) throw new Error("a tombstone needs a key");
  const lengthBytes = _uvarintSize(key.length);
  const bytes = new Uint8Array(1 + lengthBytes + key.length);
  bytes[0] = (1 << 3) | _WIRE_BYTES;
  let length = key.length;
  let offset = 1;
  while (length >= 0x80) {
    bytes[offset++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  bytes[offset++] = length;
  if (offset !== 1 + lengthBytes) throw new Error("tombstone length prefix mismatch");
  bytes.set(key, offset);
  return bytes;
}

/**
 * Encodes a KeyValue and also returns views of the key and the value inside the encoding, so
 * that a caller who needs all three (the store: bytes for the backend, key and value for
 * watchers) copies each once, into the encoding.
 */
export function encodeKeyValueWithView(
  kv: KeyValue,
): { bytes: Uint8Array; key: Uint8Array; value: Uint8Array } {
  const bytes = encodeKeyValue(kv);
  // The key is the first field (tag, length, bytes) when set; the value is before the lease.
  const keyStart = kv.key.length === 0 ? 0 : 1 + _uvarintSize(kv.key.length);
  const key = bytes.subarray(keyStart, keyStart + kv.key.length);
  const leaseBytes = kv.lease === 0n ? 0 : 1 + _int64SizeBig(kv.lease);
  const end = bytes.length - leaseBytes;
  const value = bytes.subarray(end - kv.value.length, end);
  return { bytes, key, value };
}

/** Size in bytes of the encoded Event. */
export function eventSize(ev: Event): number {
  let size = 0;
  if (ev.type !== EventType.PUT) size += 1 + _uvarintSize(ev.type);
  const kvSize = keyValueSize(ev.kv);
  size += 1 + _uvarintSize(kvSize) + kvSize;
  if (ev.prevKv !== undefined) {
    const prevSize = keyValueSize(ev.prevKv);
    size += 1 + _uvarintSize(prevSize) + prevSize;
  }
  return size;
}

/** Encodes an Event exactly as gogoproto's `Event.Marshal`. */
export function encodeEvent(ev: Event): Uint8Array {
  const size = eventSize(ev);
  const w = new _Writer(new Uint8Array(size));
  if (ev.type !== EventType.PUT) {
    w.uvarint((1 << 3) | _WIRE_VARINT);
    w.uvarint(ev.type);
  }
  w.uvarint((2 << 3) | _WIRE_BYTES);
  w.uvarint(keyValueSize(ev.kv));
  _writeKeyValue(w, ev.kv);
  if (ev.prevKv !== undefined) {
    w.uvarint((3 << 3) | _WIRE_BYTES);
    w.uvarint(keyValueSize(ev.prevKv));
    _writeKeyValue(w, ev.prevKv);
  }
  if (w.offset !== size) throw new Error("Event size mismatch");
  return w.bytes;
}

/** A cursor over protobuf bytes; throws on truncated or malformed input. */
class _Reader {
  offset: number;
  constructor(readonly bytes: Uint8Array, start = 0, readonly end = bytes.length) {
    this.offset = start;
  }

  done(): boolean {
    return this.offset >= this.end;
  }

  /** Reads a varint as a bigint of 64 bits (unsigned). */
  uvarintBig(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.end) throw new RangeError("protobuf: truncated varint");
      const byte = this.bytes[this.offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new RangeError("protobuf: varint too long");
  }

  /** Reads a varint that must fit a safe integer (fast path for small values). */
  uvarint(): number {
    let result = 0;
    let scale = 1;
    const start = this.offset;
    for (let i = 0; i < 7; i++) {
      if (this.offset >= this.end) throw new RangeError("protobuf: truncated varint");
      const byte = this.bytes[this.offset++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    this.offset = start;
    const big = this.uvarintBig();
    const value = Number(BigInt.asIntN(64, big));
    assertRevisionNumber(value, "protobuf integer");
    return value;
  }

  int64Number(): number {
    return this.uvarint();
  }

  int64Big(): bigint {
    return BigInt.asIntN(64, this.uvarintBig());
  }

  bytesField(): Uint8Array {
    const length = this.uvarint();
    if (length < 0 || this.offset + length > this.end) {
      throw new RangeError("protobuf: truncated length-delimited field");
    }
    const data = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return data;
  }

  skip(wire: number): void {
    if (wire === _WIRE_VARINT) this.uvarintBig();
    else if (wire === _WIRE_FIXED64) this.#advance(8);
    else if (wire === _WIRE_BYTES) this.bytesField();
    else if (wire === _WIRE_FIXED32) this.#advance(4);
    else throw new RangeError(`protobuf: unsupported wire type ${wire}`);
  }

  #advance(count: number): void {
    if (this.offset + count > this.end) throw new RangeError("protobuf: truncated field");
    this.offset += count;
  }
}

/** An empty KeyValue (all fields zero). */
export function emptyKeyValue(): KeyValue {
  return {
    key: _EMPTY,
    createRevision: 0,
    modRevision: 0,
    version: 0,
    value: _EMPTY,
    lease: 0n,
  };
}

/**
 * Decodes a KeyValue. The returned `key` and `value` are views into `bytes` (no copy); callers that
 * keep them past the life of `bytes` must copy.
 */
export function decodeKeyValue(bytes: Uint8Array, start = 0, end = bytes.length): KeyValue {
  const r = new _Reader(bytes, start, end);
  const kv = emptyKeyValue();
  while (!r.done()) {
    const tag = r.uvarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === _WIRE_BYTES) kv.key = r.bytesField();
    else if (field === 2 && wire === _WIRE_VARINT) kv.createRevision = r.int64Number();
    else if (field === 3 && wire === _WIRE_VARINT) kv.modRevision = r.int64Number();
    else if (field === 4 && wire === _WIRE_VARINT) kv.version = r.int64Number();
    else if (field === 5 && wire === _WIRE_BYTES) kv.value = r.bytesField();
    else if (field === 6 && wire === _WIRE_VARINT) kv.lease = r.int64Big();
    else r.skip(wire);
  }
  return kv;
}

/** The fields of a KeyValue that the key index needs (its value left out). */
export interface KeyValueIndexFields {
  key: Uint8Array;
  createRevision: number;
  version: number;
  lease: bigint;
}

/** KeyValues up to this size are decoded whole by decodeKeyValueIndexFields. */
const _WHOLE_DECODE_BYTES = 2048;

/**
 * Decodes the fields of a KeyValue of `size` bytes that the key index needs, asking `part` for
 * the bytes it reads (`part(offset, length)` returns that many bytes of the encoded KeyValue):
 * the bytes of the value field are skipped, not read. The fields come out as decodeKeyValue
 * would give them; `key` may be a view of what `part` returned, valid until `part` is called
 * again.
 */
export function decodeKeyValueIndexFields(
  size: number,
  part: (offset: number, length: number) => Uint8Array,
): KeyValueIndexFields {
  if (size <= _WHOLE_DECODE_BYTES) {
    // A small KeyValue: one view of it and the usual decoder.
    const kv = decodeKeyValue(part(0, size));
    return {
      key: kv.key,
      createRevision: kv.createRevision,
      version: kv.version,
      lease: kv.lease,
    };
  }
  const out: KeyValueIndexFields = { key: _EMPTY, createRevision: 0, version: 0, lease: 0n };
  let pos = 0;
  while (pos < size) {
    // A tag (at most 5 bytes) and a varint (at most 10) fit in 15 bytes.
    const r = new _Reader(part(pos, Math.min(15, size - pos)));
    const tag = r.uvarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === _WIRE_VARINT) {
      if (field === 2) out.createRevision = r.int64Number();
      else if (field === 4) out.version = r.int64Number();
      else if (field === 6) out.lease = r.int64Big();
      else r.uvarintBig();
      pos += r.offset;
    } else if (wire === _WIRE_BYTES) {
      const length = r.uvarint();
      pos += r.offset;
      if (length < 0 || pos + length > size) {
        throw new RangeError("protobuf: truncated length-delimited field");
      }
      if (field === 1) out.key = part(pos, length).slice();
      pos += length;
    } else if (wire === _WIRE_FIXED64 || wire === _WIRE_FIXED32) {
      pos += r.offset + (wire === _WIRE_FIXED64 ? 8 : 4);
      if (pos > size) throw new RangeError("protobuf: truncated field");
    } else {
      throw new RangeError(`protobuf: unsupported wire type ${wire}`);
    }
  }
  return out;
}

/** Decodes an Event; a missing kv decodes as an empty KeyValue. */
export function decodeEvent(bytes: Uint8Array): Event {
  const r = new _Reader(bytes);
  let type: EventType = EventType.PUT;
  let kv = emptyKeyValue();
  let prevKv: KeyValue | undefined;
  while (!r.done()) {
    const tag = r.uvarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === _WIRE_VARINT) {
      const raw = r.uvarint();
      if (raw !== EventType.PUT && raw !== EventType.DELETE) {
        throw new RangeError(`mvccpb: unknown event type ${raw}`);
      }
      type = raw;
    } else if (field === 2 && wire === _WIRE_BYTES) {
      const sub = r.bytesField();
      kv = decodeKeyValue(sub);
    } else if (field === 3 && wire === _WIRE_BYTES) {
      prevKv = decodeKeyValue(r.bytesField());
    } else {
      r.skip(wire);
    }
  }
  const ev: Event = { type, kv };
  if (prevKv !== undefined) ev.prevKv = prevKv;
  return ev;
}
