/**
 * The key-value operations of etcd's applier (`etcdserver/apply.go`, applierV3backend): Range,
 * Put, DeleteRange and Txn over an mvcc transaction, with etcd's rules for limits, sorting,
 * min/max revision filters, `ignore_value`/`ignore_lease`, `prev_kv`, compares and nested
 * transactions.
 *
 * Requests arrive as protobufjs-decoded objects (every 64-bit field a Long); responses are
 * plain objects ready for the generated encoders (revisions as numbers, which protobufjs
 * encodes as int64; lease IDs as Long).
 *
 * @module
 */

import type Long from "long";
import { etcdserverpb, type mvccpb } from "../etcdserverpb/mod.ts";
import { ErrCompacted, ErrFutureRev, ErrKeyNotFound, ErrLeaseNotFound } from "./errors.ts";
import { bigintToLong, type Int64Like, longToBigint, longToNumber } from "../etcdserverpb/mod.ts";
import type { KeyValue, RangeResult, TxnRead, TxnWrite } from "../mvcc/mod.ts";
import { compareBytes } from "../bytes/mod.ts";
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "../etcdserverpb/mod.ts";

/** A response header while applying: only the revision is known here. */
export type Header = etcdserverpb.ResponseHeader.$Properties;
/** Range response properties. */
export type RangeResponse = etcdserverpb.RangeResponse.$Properties;
/** Put response properties. */
export type PutResponse = etcdserverpb.PutResponse.$Properties;
/** DeleteRange response properties. */
export type DeleteRangeResponse = etcdserverpb.DeleteRangeResponse.$Properties;
/** Txn response properties. */
export type TxnResponse = etcdserverpb.TxnResponse.$Properties;

const _EMPTY = new Uint8Array(0);
const _SortOrder = etcdserverpb.RangeRequest.SortOrder;
const _SortTarget = etcdserverpb.RangeRequest.SortTarget;
const _CompareTarget = etcdserverpb.Compare.CompareTarget;
const _CompareResult = etcdserverpb.Compare.CompareResult;

/** Whether a lease exists (the lessor's `lookup`). */
export type LeaseExists = (id: bigint) => boolean;

/** A revision or count as the int64 a protobufjs encoder accepts (it encodes numbers too). */
export function int64(value: number): Long {
  return value as unknown as Long;
}

/** An optional Long/number field as a number (0 when absent). */
export function num(value: Int64Like | null | undefined): number {
  return value === null || value === undefined ? 0 : longToNumber(value);
}

/** An optional Long/number field as a bigint (0n when absent). */
export function big(value: Int64Like | null | undefined): bigint {
  return value === null || value === undefined ? 0n : longToBigint(value);
}

/** An optional bytes field (empty when absent). */
export function bytes(value: Uint8Array | null | undefined): Uint8Array {
  return value ?? _EMPTY;
}

/**
 * etcd's `mkGteRange`: a range end of a single zero byte means "every key from `key` on",
 * which the store spells as an empty end; no range end means the single key.
 */
export function rangeEnd(end: Uint8Array | null | undefined): Uint8Array | undefined {
  if (end === null || end === undefined || end.length === 0) return undefined;
  if (end.length === 1 && end[0] === 0) return _EMPTY;
  return end;
}

/** A store key-value as the mvccpb.KeyValue properties the encoder takes. */
export function kvToPb(kv: KeyValue, keysOnly = false): mvccpb.KeyValue.$Properties {
  const out: mvccpb.KeyValue.$Properties = {
    key: kv.key,
    createRevision: int64(kv.createRevision),
    modRevision: int64(kv.modRevision),
    version: int64(kv.version),
  };
  if (!keysOnly && kv.value.length > 0) out.value = kv.value;
  if (kv.lease !== 0n) out.lease = bigintToLong(kv.lease);
  return out;
}

/** Range as etcd's applier serves it (outside or inside a txn). */
export function applyRange(txn: TxnRead, r: RangeRequest): RangeResponse {
  const requestLimit = num(r.limit);
  const sortOrder0 = r.sortOrder ?? _SortOrder.NONE;
  const sortTarget = r.sortTarget ?? _SortTarget.KEY;
  const minMod = num(r.minModRevision);
  const maxMod = num(r.maxModRevision);
  const minCreate = num(r.minCreateRevision);
  const maxCreate = num(r.maxCreateRevision);
  // Sorting and filters need every key; otherwise one more than the limit tells `more`.
  let limit = requestLimit;
  if (
    sortOrder0 !== _SortOrder.NONE || minMod !== 0 || maxMod !== 0 || minCreate !== 0 ||
    maxCreate !== 0
  ) limit = 0;
  if (limit > 0) limit++;
  const result: RangeResult = txn.range(bytes(r.key), rangeEnd(r.rangeEnd), {
    limit,
    rev: num(r.revision),
    countOnly: r.countOnly === true,
  });
  let kvs = result.kvs;
  if (maxMod !== 0) kvs = kvs.filter((kv) => kv.modRevision <= maxMod);
  if (minMod !== 0) kvs = kvs.filter((kv) => kv.modRevision >= minMod);
  if (maxCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision <= maxCreate);
  if (minCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision >= minCreate);
  let sortOrder = sortOrder0;
  if (sortTarget !== _SortTarget.KEY && sortOrder === _SortOrder.NONE) {
    sortOrder = _SortOrder.ASCEND;
  }
  if (sortOrder !== _SortOrder.NONE) kvs = _sortKvs(kvs, sortTarget, sortOrder);
  let more = false;
  if (requestLimit > 0 && kvs.length > requestLimit) {
    kvs = kvs.slice(0, requestLimit);
    more = true;
  }
  const keysOnly = r.keysOnly === true;
  const response: RangeResponse = {
    header: { revision: int64(result.rev) },
    kvs: kvs.map((kv) => kvToPb(kv, keysOnly)),
    count: int64(result.count),
  };
  if (more) response.more = true;
  return response;
}

function _sortKvs(kvs: KeyValue[], target: number, order: number): KeyValue[] {
  let compare: (a: KeyValue, b: KeyValue) => number;
  switch (target) {
    case _SortTarget.VERSION:
      compare = (a, b) => a.version - b.version;
      break;
    case _SortTarget.CREATE:
      compare = (a, b) => a.createRevision - b.createRevision;
      break;
    case _SortTarget.MOD:
      compare = (a, b) => a.modRevision - b.modRevision;
      break;
    case _SortTarget.VALUE:
      compare = (a, b) => compareBytes(a.value, b.value);
      break;
    default:
      compare = (a, b) => compareBytes(a.key, b.key);
  }
  const sorted = [...kvs];
  if (order === _SortOrder.DESCEND) sorted.sort((a, b) => compare(b, a));
  else sorted.sort(compare);
  return sorted;
}

/** Put as etcd's applier does it inside `txn`. Throws ErrKeyNotFound for ignore_* misses. */
export function applyPut(txn: TxnWrite, p: PutRequest): PutResponse {
  const key = bytes(p.key);
  let value = bytes(p.value);
  let lease = big(p.lease);
  const needPrev = p.ignoreValue === true || p.ignoreLease === true || p.prevKv === true;
  const prev = needPrev ? txn.range(key, undefined, {}).kvs[0] : undefined;
  if ((p.ignoreValue === true || p.ignoreLease === true) && prev === undefined) {
    throw ErrKeyNotFound;
  }
  if (p.ignoreValue === true && prev !== undefined) value = prev.value;
  if (p.ignoreLease === true && prev !== undefined) lease = prev.lease;
  const rev = txn.put(key, value, lease);
  const response: PutResponse = { header: { revision: int64(rev) } };
  if (p.prevKv === true && prev !== undefined) response.prevKv = kvToPb(prev);
  return response;
}

/** DeleteRange as etcd's applier does it inside `txn`. */
export function applyDeleteRange(txn: TxnWrite, dr: DeleteRangeRequest): DeleteRangeResponse {
  const key = bytes(dr.key);
  const end = rangeEnd(dr.rangeEnd);
  const response: DeleteRangeResponse = {};
  if (dr.prevKv === true) response.prevKvs = txn.range(key, end, {}).kvs.map((kv) => kvToPb(kv));
  const { deleted, rev } = txn.deleteRange(key, end);
  response.header = { revision: int64(rev) };
  response.deleted = int64(deleted);
  return response;
}

/** Whether a txn only reads (etcd's `isTxnReadonly`). */
export function isTxnReadOnly(r: TxnRequest): boolean {
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) {
    if (op.requestPut || op.requestDeleteRange) return false;
    if (op.requestTxn && !isTxnReadOnly(op.requestTxn)) return false;
  }
  return true;
}

/** Whether a txn holds a put anywhere (the NOSPACE applier refuses those). */
export function txnHasPut(r: TxnRequest): boolean {
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) {
    if (op.requestPut) return true;
    if (op.requestTxn && txnHasPut(op.requestTxn)) return true;
  }
  return false;
}

/**
 * Txn as etcd's applier does it: evaluate every compare along the taken path first, check the
 * chosen requests (lease exists, ignore_* keys exist, range revisions valid), then apply.
 * `txn` is a write transaction; the caller ends it.
 */
export function applyTxn(
  txn: TxnWrite,
  r: TxnRequest,
  leaseExists: LeaseExists,
  view: TxnRead = txn,
): TxnResponse {
  // Compares and checks read `view`: etcd runs them in a read transaction of their own and
  // only then opens the write transaction (its metrics count the two apart).
  const path = _compareToPath(view, r);
  if (!isTxnReadOnly(r)) _checkRequests(view, r, path, 0, (op) => _checkPut(view, op, leaseExists));
  _checkRequests(view, r, path, 0, (op) => _checkRange(view, op));
  const response: TxnResponse = { succeeded: path[0] === true, responses: [] };
  _applyOps(txn, r, path, 0, response);
  const rev = txn.changes.length !== 0 ? txn.rev + 1 : txn.rev;
  response.header = { revision: int64(rev) };
  return response;
}

/** The branch taken by every txn on the path, depth first (etcd's `compareToPath`). */
function _compareToPath(view: TxnRead, r: TxnRequest): boolean[] {
  const succeeded = (r.compare ?? []).every((c) => _applyCompare(view, c));
  const path = [succeeded];
  const ops = succeeded ? r.success ?? [] : r.failure ?? [];
  for (const op of ops) {
    if (op.requestTxn) path.push(..._compareToPath(view, op.requestTxn));
  }
  return path;
}

function _applyCompare(view: TxnRead, c: Compare): boolean {
  let kvs: KeyValue[];
  try {
    kvs = view.range(bytes(c.key), rangeEnd(c.rangeEnd), {}).kvs;
  } catch {
    return false;
  }
  const target = c.target ?? _CompareTarget.VERSION;
  if (kvs.length === 0) {
    if (target === _CompareTarget.VALUE) return false;
    return _compareKv(c, undefined);
  }
  return kvs.every((kv) => _compareKv(c, kv));
}

function _compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target ?? _CompareTarget.VERSION) {
    case _CompareTarget.VALUE:
      result = compareBytes(kv?.value ?? _EMPTY, bytes(c.value));
      break;
    case _CompareTarget.CREATE:
      result = Math.sign((kv?.createRevision ?? 0) - num(c.createRevision));
      break;
    case _CompareTarget.MOD:
      result = Math.sign((kv?.modRevision ?? 0) - num(c.modRevision));
      break;
    case _CompareTarget.LEASE: {
      const a = kv?.lease ?? 0n;
      const b = big(c.lease);
      result = a < b ? -1 : a > b ? 1 : 0;
      break;
    }
    default:
      result = Math.sign((kv?.version ?? 0) - num(c.version));
  }
  switch (c.result ?? _CompareResult.EQUAL) {
    case _CompareResult.EQUAL:
      return result === 0;
    case _CompareResult.NOT_EQUAL:
      return result !== 0;
    case _CompareResult.GREATER:
      return result > 0;
    case _CompareResult.LESS:
      return result < 0;
  }
  return true;
}

/** Visits the chosen requests of every txn on the path; returns how many path slots it used. */
function _checkRequests(
  view: TxnRead,
  r: TxnRequest,
  path: boolean[],
  at: number,
  check: (op: RequestOp) => void,
): number {
  const ops = path[at] === true ? r.success ?? [] : r.failure ?? [];
  let used = 1;
  for (const op of ops) {
    if (op.requestTxn) {
      used += _checkRequests(view, op.requestTxn, path, at + used, check);
      continue;
    }
    check(op);
  }
  return used;
}

function _checkPut(view: TxnRead, op: RequestOp, leaseExists: LeaseExists): void {
  const p = op.requestPut;
  if (!p) return;
  if (p.ignoreValue === true || p.ignoreLease === true) {
    if (view.range(bytes(p.key), undefined, {}).kvs.length === 0) throw ErrKeyNotFound;
  }
  const lease = big(p.lease);
  if (lease !== 0n && !leaseExists(lease)) throw ErrLeaseNotFound;
}

function _checkRange(view: TxnRead, op: RequestOp): void {
  const r = op.requestRange;
  if (!r) return;
  const rev = num(r.revision);
  if (rev === 0) return;
  if (rev > view.rev) throw ErrFutureRev;
  if (rev < view.firstRev) throw ErrCompacted;
}

function _applyOps(
  txn: TxnWrite,
  r: TxnRequest,
  path: boolean[],
  at: number,
  response: TxnResponse,
): number {
  const ops = path[at] === true ? r.success ?? [] : r.failure ?? [];
  const responses: etcdserverpb.ResponseOp.$Properties[] = [];
  let used = 1;
  for (const op of ops) {
    if (op.requestRange) {
      responses.push({ responseRange: applyRange(txn, op.requestRange) });
    } else if (op.requestPut) {
      responses.push({ responsePut: applyPut(txn, op.requestPut) });
    } else if (op.requestDeleteRange) {
      responses.push({ responseDeleteRange: applyDeleteRange(txn, op.requestDeleteRange) });
    } else if (op.requestTxn) {
      const inner: TxnResponse = { succeeded: path[at + used] === true, responses: [] };
      const innerUsed = _applyOps(txn, op.requestTxn, path, at + used, inner);
      inner.header = {};
      used += innerUsed;
      responses.push({ responseTxn: inner });
    } else {
      responses.push({});
    }
  }
  response.responses = responses;
  return used;
}
