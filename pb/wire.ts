/**
 * Protocol buffers wire primitives for the hand-written codecs (raftpb, walpb, snappb, mvccpb).
 *
 * The generated client API code uses protobufjs; the durable and consensus formats are encoded by
 * hand so that their bytes match etcd's gogoproto output exactly (gogoproto writes non-nullable
 * proto2 fields even when they hold zero, which no generic encoder does by default).
 *
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 *
 * @module
 */

import { GrowableBuffer } from "../bytes/mod.ts";

/** The wire type of a varint field. */
export const WIRE_VARINT = 0;
/** The wire type of a fixed 64-bit field. */
export const WIRE_FIXED64 = 1;
/** The wire type of a length-delimited field (bytes, strings, messages, packed). */
export const WIRE_BYTES = 2;
/** The wire type of a fixed 32-bit field. */
export const WIRE_FIXED32 = 5;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const _TWO_POW_28 = 2 ** 28;
/** `high` below this keeps `high * 2^28 + low` under 2^53, exact as a number. */
const _HIGH_SAFE = 2 ** 25;
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * The last few values of 2^53 and above that `uint64Big` read, by their two parts: in practice
 * member and cluster IDs, of which a raft message carries two and a member sees only a handful, so
 * that reading one again makes no BigInt at all (four BigInt operations otherwise). A BigInt is an
 * immutable value, so handing out the same one again is indistinguishable from making a new one.
 */
const _RECENT = 4;
const _recentHigh = new Float64Array(_RECENT);
const _recentLow = new Float64Array(_RECENT);
const _recentValue: bigint[] = new Array<bigint>(_RECENT).fill(0n);
let _recentNext = 0;

/** `uint64Big`'s value from its parts, bits 28-69 in `high` (>= 2^25) and 0-27 in `low`. */
function _largeUint64(high: number, low: number): bigint {
  for (let i = 0; i < _RECENT; i++) {
    if (_recentHigh[i] === high && _recentLow[i] === low) return _recentValue[i]!;
  }
  const value = BigInt.asUintN(64, (BigInt(high) << 28n) | BigInt(low));
  _recentHigh[_recentNext] = high;
  _recentLow[_recentNext] = low;
  _recentValue[_recentNext] = value;
  _recentNext = (_recentNext + 1) % _RECENT;
  return value;
}

/** Thrown when bytes are not a well-formed protobuf message. */
export class ProtoDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtoDecodeError";
  }
}

/**
 * Appends protobuf fields to a growable buffer. One writer may be reused: `reset()` keeps the
 * allocation, `finish()` copies out the bytes written so far.
 */
export class ProtoWriter {
  readonly #out: GrowableBuffer;

  constructor(initialBytes = 256) {
    this.#out = new GrowableBuffer(initialBytes);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.#out.length;
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): void {
    this.#out.reset();
  }

  /** The bytes written so far, not copied: a view valid until the next write or reset. */
  view(): Uint8Array {
    return this.#out.bytes.subarray(0, this.#out.length);
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.#out.bytes.slice(0, this.#out.length);
  }

  /** Writes a field key (tag). */
  tag(field: number, wireType: number): void {
    this.uint32((field << 3) | wireType);
  }

  /** Writes an unsigned varint below 2^32. */
  uint32(value: number): void {
    const out = this.#out;
    out.ensure(5);
    const bytes = out.bytes;
    let pos = out.length;
    let v = value >>> 0;
    while (v > 0x7f) {
      bytes[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    bytes[pos++] = v;
    out.length = pos;
  }

  /** Writes an unsigned varint from a non-negative safe integer. */
  uint64(value: number): void {
    if (value < 0x80000000) {
      if (value < 0 || !Number.isInteger(value)) {
        throw new RangeError(`uint64 field value ${value} is not a non-negative integer`);
      }
      this.uint32(value);
      return;
    }
    if (value > MAX_SAFE) throw new RangeError(`uint64 field value ${value} is not safe`);
    const out = this.#out;
    out.ensure(10);
    const bytes = out.bytes;
    let pos = out.length;
    let v = value;
    while (v > 0x7f) {
      bytes[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    bytes[pos++] = v;
    out.length = pos;
  }

  /** Writes an unsigned varint from a bigint in [0, 2^64). */
  uint64Big(value: bigint): void {
    if (value >= 0n && value < 0x80000000n) {
      this.uint32(Number(value));
      return;
    }
    if (value < 0n || value > UINT64_MAX) {
      throw new RangeError(`uint64 field value ${value} is out of range`);
    }
    // Split once into two 32-bit numbers and shift those: a BigInt mask, conversion and shift
    // per 7-bit group made about 27 BigInt operations for a member ID, written in every raft
    // message sent and in every WAL hard state (its vote).
    let low = Number(value & 0xffffffffn);
    let high = Number(value >> 32n);
    const out = this.#out;
    out.ensure(10);
    const bytes = out.bytes;
    let pos = out.length;
    while (high > 0 || low > 0x7f) {
      bytes[pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    bytes[pos++] = low;
    out.length = pos;
  }

  /** Writes an int64 varint (negative values as their two's complement, 10 bytes). */
  int64Big(value: bigint): void {
    this.uint64Big(BigInt.asUintN(64, value));
  }

  /** Writes an int64 varint from a safe integer (negative values take 10 bytes). */
  int64(value: number): void {
    if (value >= 0) this.uint64(value);
    else this.int64Big(BigInt(value));
  }

  /** Writes a bool as a one-byte varint. */
  bool(value: boolean): void {
    const out = this.#out;
    out.ensure(1);
    out.bytes[out.length++] = value ? 1 : 0;
  }

  /** Writes a length-delimited byte string (length then bytes). */
  bytes(value: Uint8Array): void {
    this.uint32(value.length);
    this.raw(value);
  }

  /** Writes bytes with no length prefix. */
  raw(value: Uint8Array): void {
    const out = this.#out;
    out.ensure(value.length);
    out.bytes.set(value, out.length);
    out.length += value.length;
  }

  /** Writes a fixed 32-bit little-endian value. */
  fixed32(value: number): void {
    const out = this.#out;
    out.ensure(4);
    out.view.setUint32(out.length, value >>> 0, true);
    out.length += 4;
  }

  /**
   * Writes a nested message: the body is written by `body`, then its length is inserted before it.
   * The length prefix is reserved as one byte and the body moved only when it needs more.
   */
  message(body: (w: ProtoWriter) => void): void {
    const out = this.#out;
    out.ensure(1);
    const lengthAt = out.length;
    out.length += 1;
    const bodyStart = out.length;
    body(this);
    const bodyLength = out.length - bodyStart;
    const prefixBytes = varintSize(bodyLength);
    if (prefixBytes > 1) {
      out.ensure(prefixBytes - 1);
      out.bytes.copyWithin(bodyStart + prefixBytes - 1, bodyStart, out.length);
      out.length += prefixBytes - 1;
    }
    const bytes = out.bytes;
    let v = bodyLength;
    let at = lengthAt;
    while (v > 0x7f) {
      bytes[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    bytes[at] = v;
  }
}

/** The number of bytes a varint of a value below 2^53 takes. */
export function varintSize(value: number): number {
  let size = 1;
  let v = value;
  while (v >= 128) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/** Reads protobuf fields from a byte array without copying length-delimited values. */
export class ProtoReader {
  pos: number;
  readonly end: number;

  constructor(readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start;
    this.end = end;
  }

  /** True while fields remain. */
  more(): boolean {
    return this.pos < this.end;
  }

  /** Reads a field key; returns `[fieldNumber, wireType]` packed as `field * 8 + wireType`. */
  tag(): number {
    return this.uint32();
  }

  /** Reads a varint that must fit in 32 bits. */
  uint32(): number {
    const v = this.uint64();
    if (v > 0xffffffff) throw new ProtoDecodeError(`varint ${v} does not fit 32 bits`);
    return v;
  }

  /** Reads a varint as a safe integer; larger values are an error. */
  uint64(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError("unexpected end of varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > MAX_SAFE) {
          throw new ProtoDecodeError(`varint ${result} exceeds 2^53; use a 64-bit reader`);
        }
        return result;
      }
      scale *= 128;
    }
    throw new ProtoDecodeError("varint longer than 10 bytes");
  }

  /**
   * Reads a varint as an unsigned 64-bit bigint (bits past 64 dropped, as Go's decoder does).
   *
   * The 7-bit groups are summed as numbers, groups 0-3 into `low` (bits 0-27) and groups 4-9 into
   * `high` (bits 28-69, at most 42 bits: exact), and only the result becomes a BigInt: one BigInt
   * below 2^53, four above. A BigInt per group (three operations each) made about 35 BigInts for
   * a 10-byte member ID, two IDs in every raft message received (docs/performance.md, "V8 tiers,
   * deopts and inline caches on the put path, round 8").
   */
  uint64Big(): bigint {
    let low = 0;
    let high = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError("unexpected end of varint");
      const b = this.buf[this.pos++]!;
      if (i < 4) low += (b & 0x7f) * scale;
      else high += (b & 0x7f) * scale;
      scale = i === 3 ? 1 : scale * 128;
      if (b < 0x80) {
        if (high < _HIGH_SAFE) return BigInt(high * _TWO_POW_28 + low);
        return _largeUint64(high, low);
      }
    }
    throw new ProtoDecodeError("varint longer than 10 bytes");
  }

  /** Reads a varint as a signed 64-bit bigint. */
  int64Big(): bigint {
    return BigInt.asIntN(64, this.uint64Big());
  }

  /** Reads an int64 varint as a safe integer (negative values allowed). */
  int64(): number {
    // Fast path: a varint of at most 7 bytes is a non-negative value below 2^49 (a negative
    // int64 always takes 10 bytes).
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7 && this.pos < this.end; i++) {
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    this.pos = start;
    const v = this.int64Big();
    if (v > BigInt(MAX_SAFE) || v < -BigInt(MAX_SAFE)) {
      throw new ProtoDecodeError(`int64 ${v} is outside the safe integer range`);
    }
    return Number(v);
  }

  /** Reads a bool varint. */
  bool(): boolean {
    return this.uint64() !== 0;
  }

  /** Reads a fixed 32-bit little-endian value. */
  fixed32(): number {
    if (this.pos + 4 > this.end) throw new ProtoDecodeError("unexpected end of fixed32");
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** Reads a length-delimited value as a view into the buffer (no copy). */
  bytes(): Uint8Array {
    const length = this.uint64();
    if (this.pos + length > this.end) {
      throw new ProtoDecodeError(`length ${length} runs past the end of the message`);
    }
    const view = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  /** Reads a nested message: returns a reader over its bytes. */
  sub(): ProtoReader {
    const length = this.uint64();
    if (this.pos + length > this.end) {
      throw new ProtoDecodeError(`length ${length} runs past the end of the message`);
    }
    const reader = new ProtoReader(this.buf, this.pos, this.pos + length);
    this.pos += length;
    return reader;
  }

  /** Skips a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint64Big();
        return;
      case WIRE_FIXED64:
        this.#advance(8);
        return;
      case WIRE_BYTES:
        this.bytes();
        return;
      case WIRE_FIXED32:
        this.#advance(4);
        return;
      default:
        throw new ProtoDecodeError(`unsupported wire type ${wireType}`);
    }
  }

  #advance(n: number): void {
    if (this.pos + n > this.end) throw new ProtoDecodeError("unexpected end of message");
    this.pos += n;
  }
}
