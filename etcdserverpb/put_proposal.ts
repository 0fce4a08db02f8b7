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
 * @module
 */

import type { etcdserverpb } from "./gen/etcd.js";
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
