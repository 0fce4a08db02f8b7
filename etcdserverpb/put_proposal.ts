/**
 * The raft entry of a plain put, `InternalRaftRequest{put, header{ID}}`, encoded by hand: the
 * bytes of protobufjs' generated `encode`, without its per-field objects, the header object
 * and the `Long` of its ID. These bytes go to the WAL and to every member: the tests compare
 * them with protobufjs' byte for byte.
 *
 * Wire form, as protobufjs writes it (fields in number order; proto3 leaves out zero, false,
 * empty and absent values):
 *
 * | field                          | tag bytes | value                                  |
 * |--------------------------------|-----------|----------------------------------------|
 * | InternalRaftRequest.put (4)    | 0x22      | length, then the PutRequest            |
 * | PutRequest.key (1)             | 0x0a      | length, bytes                          |
 * | PutRequest.value (2)           | 0x12      | length, bytes                          |
 * | PutRequest.lease (3, int64)    | 0x18      | varint (two's complement when < 0)     |
 * | PutRequest.prev_kv (4)         | 0x20      | 1                                      |
 * | PutRequest.ignore_value (5)    | 0x28      | 1                                      |
 * | PutRequest.ignore_lease (6)    | 0x30      | 1                                      |
 * | InternalRaftRequest.header (100)| 0xa2 0x06| length, then the RequestHeader         |
 * | RequestHeader.ID (1, uint64)   | 0x08      | varint                                 |
 *
 * Anything else (a user name or auth revision in the header, unknown fields, values of other
 * types than protobufjs' usual ones) is left to protobufjs: the function returns undefined.
 *
 * `decodePutProposal` reads such an entry back at apply time as protobufjs' `decode` would
 * (the same message classes, own fields only where set, `Long`s for the 64-bit fields, the
 * key and value as views of the entry), without its reader, `LongBits` and per-field calls.
 * It takes the entry in exactly the layout above, in any member's encoding of it (whatever
 * writes these bytes: varints need not be minimal; a false flag, a zero lease or ID, an empty
 * key or value may be written or left out, as protobufjs reads both the same); anything else
 * (other fields, a field twice or out of order, a user name in the header, trailing bytes,
 * anything malformed) returns undefined, for protobufjs to decode or refuse.
 *
 * @module
 */

import { etcdserverpb } from "./gen/etcd.js";
import { longFromBits } from "./int64.ts";
import { varint64Bytes, writeVarint64 } from "./_varint.ts";
import { carveBytes } from "./writer.ts";

const _TWO_POW_32 = 2 ** 32;
const _MASK_32 = 0xffff_ffffn;

/** The low and high 32 bits of the lease (set by `_readLease`). */
let _leaseLo = 0;
let _leaseHi = 0;

/**
 * `InternalRaftRequest{put: put, header: {ID: id}}` as protobufjs encodes it, or undefined
 * when `put` holds anything this encoder leaves to protobufjs.
 */
export function encodePutProposal(
  put: etcdserverpb.PutRequest.$Properties,
  id: bigint,
): Uint8Array | undefined {
  const fields = put as Record<string, unknown>;
  if (fields["$unknowns"] != null) return undefined;
  const key = _bytesField(put, "key");
  const value = _bytesField(put, "value");
  if (key === null || value === null) return undefined;
  const leaseBytes = _readLease(put);
  if (leaseBytes < 0) return undefined;
  const prevKv = _flag(put, "prevKv");
  const ignoreValue = _flag(put, "ignoreValue");
  const ignoreLease = _flag(put, "ignoreLease");
  if (prevKv < 0 || ignoreValue < 0 || ignoreLease < 0) return undefined;
  const putBytes = (key.length > 0 ? 1 + _varint32Bytes(key.length) + key.length : 0) +
    (value.length > 0 ? 1 + _varint32Bytes(value.length) + value.length : 0) +
    (leaseBytes > 0 ? 1 + leaseBytes : 0) + 2 * (prevKv + ignoreValue + ignoreLease);
  const idLo = Number(id & _MASK_32);
  const idHi = Number((id >> 32n) & _MASK_32);
  const headerBytes = idLo === 0 && idHi === 0 ? 0 : 1 + varint64Bytes(idLo, idHi);
  const out = carveBytes(1 + _varint32Bytes(putBytes) + putBytes + 3 + headerBytes);
  let at = 0;
  out[at++] = 0x22;
  at = writeVarint64(out, at, putBytes, 0);
  if (key.length > 0) at = _writeBytes(out, at, 0x0a, key);
  if (value.length > 0) at = _writeBytes(out, at, 0x12, value);
  if (leaseBytes > 0) {
    out[at++] = 0x18;
    at = writeVarint64(out, at, _leaseLo, _leaseHi);
  }
  if (prevKv === 1) at = _writeTrue(out, at, 0x20);
  if (ignoreValue === 1) at = _writeTrue(out, at, 0x28);
  if (ignoreLease === 1) at = _writeTrue(out, at, 0x30);
  out[at++] = 0xa2;
  out[at++] = 0x06;
  out[at++] = headerBytes;
  if (headerBytes > 0) {
    out[at++] = 0x08;
    at = writeVarint64(out, at, idLo, idHi);
  }
  if (at !== out.length) throw new Error("encodePutProposal: the entry's size was miscounted");
  return out;
}

/** A bytes field: its value (empty when absent), or null when not a plain Uint8Array. */
function _bytesField(
  put: etcdserverpb.PutRequest.$Properties,
  name: "key" | "value",
): Uint8Array | null {
  const value = put[name];
  if (value == null || !Object.hasOwn(put, name)) return _EMPTY;
  return value instanceof Uint8Array ? value : null;
}

const _EMPTY = new Uint8Array(0);

/** Reads the lease into `_leaseLo`/`_leaseHi`: its varint's size (0: left out), -1: decline. */
function _readLease(put: etcdserverpb.PutRequest.$Properties): number {
  const lease: unknown = put.lease;
  if (lease == null || !Object.hasOwn(put, "lease")) return 0;
  if (typeof lease === "number") {
    if (!Number.isSafeInteger(lease) || lease < 0) return -1;
    if (lease === 0) return 0;
    _leaseLo = lease >>> 0;
    _leaseHi = ((lease - _leaseLo) / _TWO_POW_32) >>> 0;
  } else if (typeof lease === "object") {
    const long = lease as { low?: unknown; high?: unknown };
    if (typeof long.low !== "number" || typeof long.high !== "number") return -1;
    if (long.low === 0 && long.high === 0) return 0;
    _leaseLo = long.low >>> 0;
    _leaseHi = long.high >>> 0;
  } else {
    return -1;
  }
  return varint64Bytes(_leaseLo, _leaseHi);
}

/** A bool field: 1 when written (true), 0 when left out, -1 to decline (not a boolean). */
function _flag(
  put: etcdserverpb.PutRequest.$Properties,
  name: "prevKv" | "ignoreValue" | "ignoreLease",
): number {
  const value: unknown = put[name];
  if (value == null || !Object.hasOwn(put, name) || value === false) return 0;
  return value === true ? 1 : -1;
}

function _varint32Bytes(value: number): number {
  return value < 0x80
    ? 1
    : value < 0x4000
    ? 2
    : value < 0x20_0000
    ? 3
    : value < 0x1000_0000
    ? 4
    : 5;
}

/** Writes a bool field that is true: tag, 1. */
function _writeTrue(out: Uint8Array, at: number, tag: number): number {
  out[at++] = tag;
  out[at++] = 1;
  return at;
}

/** Writes a length-delimited field: tag, length, bytes. */
function _writeBytes(out: Uint8Array, at: number, tag: number, bytes: Uint8Array): number {
  out[at++] = tag;
  at = writeVarint64(out, at, bytes.length, 0);
  out.set(bytes, at);
  return at + bytes.length;
}

/** Where the varint readers below stopped (the offset after the varint read). */
let _readAt = 0;
/** The low and high 32 bits of the last 64-bit varint read (by `_readVarint64`). */
let _varintLo = 0;
let _varintHi = 0;

/** PutRequest's field numbers 1-6 and the wire type of each (2: length-delimited, 0: varint). */
const _PUT_WIRE_TYPES = [-1, 2, 2, 0, 0, 0, 0];

/**
 * The put entry `data` as protobufjs' `InternalRaftRequest.decode` reads it, or undefined when
 * `data` is not in the layout of the table above (then protobufjs decodes it, or refuses it).
 */
export function decodePutProposal(
  data: Uint8Array,
): etcdserverpb.InternalRaftRequest | undefined {
  const end = data.length;
  if (end < 4 || data[0] !== 0x22) return undefined;
  const putBytes = _readLength(data, 1, end);
  if (putBytes < 0) return undefined;
  const putStart = _readAt;
  const putEnd = putStart + putBytes;
  // The header's tag (two bytes) and its length must follow the PutRequest.
  if (putEnd + 3 > end || data[putEnd] !== 0xa2 || data[putEnd + 1] !== 0x06) return undefined;
  const headerBytes = _readLength(data, putEnd + 2, end);
  if (headerBytes < 0 || _readAt + headerBytes !== end) return undefined;
  let idLo = 0;
  let idHi = 0;
  if (headerBytes > 0) {
    // Only the ID (field 1, varint): a user name or auth revision is protobufjs' to decode.
    if (data[_readAt] !== 0x08 || !_readVarint64(data, _readAt + 1, end) || _readAt !== end) {
      return undefined;
    }
    idLo = _varintLo;
    idHi = _varintHi;
  }
  const put = _decodePut(data, putStart, putEnd);
  if (put === undefined) return undefined;
  const header = new etcdserverpb.RequestHeader();
  if (idLo !== 0 || idHi !== 0) header.ID = longFromBits(idLo, idHi, true);
  // protobufjs sets the fields in the order it reads them: the put (4) before the header (100).
  const request = new etcdserverpb.InternalRaftRequest();
  request.put = put;
  request.header = header;
  return request;
}

/** The PutRequest in `data[start, end)`: fields 1-6 each at most once, in number order. */
function _decodePut(
  data: Uint8Array,
  start: number,
  end: number,
): etcdserverpb.PutRequest | undefined {
  const put = new etcdserverpb.PutRequest();
  let lastField = 0;
  let at = start;
  while (at < end) {
    const tag = data[at++]!;
    const field = tag >>> 3;
    // A field of another number (or a tag of two bytes), a repeat, an unusual wire type.
    if (field <= lastField || field > 6 || (tag & 7) !== _PUT_WIRE_TYPES[field]) return undefined;
    lastField = field;
    if (field <= 2) {
      const length = _readLength(data, at, end);
      if (length < 0) return undefined;
      at = _readAt;
      // protobufjs leaves an empty key or value unset (the prototype's empty default).
      if (length > 0) {
        const bytes = data.subarray(at, at + length);
        if (field === 1) put.key = bytes;
        else put.value = bytes;
      }
      at += length;
    } else if (field === 3) {
      if (!_readVarint64(data, at, end)) return undefined;
      at = _readAt;
      if (_varintLo !== 0 || _varintHi !== 0) put.lease = longFromBits(_varintLo, _varintHi, false);
    } else {
      // A bool: one byte, 0 or 1 (protobufjs reads any varint; other forms are left to it).
      const flag = data[at++];
      if (flag !== 0 && flag !== 1) return undefined;
      if (flag === 0) continue;
      if (field === 4) put.prevKv = true;
      else if (field === 5) put.ignoreValue = true;
      else put.ignoreLease = true;
    }
  }
  return at === end ? put : undefined;
}

/**
 * A length varint at `at` of at most 4 bytes (lengths below 2^28), whose bytes fit before
 * `end`: the length, with `_readAt` after the varint; -1 when it is not one or the bytes it
 * counts run past `end`.
 */
function _readLength(data: Uint8Array, at: number, end: number): number {
  let length = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (at >= end) return -1;
    const byte = data[at++]!;
    length |= (byte & 127) << shift;
    if (byte < 128) {
      _readAt = at;
      return at + length <= end ? length : -1;
    }
  }
  return -1;
}

/**
 * A 64-bit varint at `at` that ends before `end`, at most 10 bytes, into `_varintLo` and
 * `_varintHi` (the bits protobufjs' `readLongVarint` keeps: of the tenth byte only its lowest
 * bit), with `_readAt` after it; false when there is none.
 */
function _readVarint64(data: Uint8Array, at: number, end: number): boolean {
  let lo = 0;
  let hi = 0;
  for (let index = 0; index < 10; index++) {
    if (at >= end) return false;
    const byte = data[at++]!;
    const bits = byte & 127;
    if (index < 4) lo |= bits << (7 * index);
    else if (index === 4) {
      lo |= bits << 28;
      hi = bits >>> 4;
    } else hi |= bits << (7 * (index - 5) + 3);
    if (byte < 128) {
      _varintLo = lo >>> 0;
      _varintHi = hi >>> 0;
      _readAt = at;
      return true;
    }
  }
  return false;
}
