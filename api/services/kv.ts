/**
 * The KV service (etcd's `etcdserver/api/v3rpc/key.go`): request validation with etcd's
 * errors, then the server's request API (`RaftKV`), which serves reads (after a ReadIndex round
 * unless serializable), proposes writes through raft and fills every response header.
 *
 * @module
 */

import {
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrValueProvided,
} from "../../rpc/mod.ts";
import type { KVService } from "../../rpc/mod.ts";
import { big, bytes, type ServerApi } from "../../server/mod.ts";
import { requestContext } from "./request_context.ts";
import type {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "../../etcdserverpb/mod.ts";

/** etcd's checkRangeRequest. */
export function checkRangeRequest(r: RangeRequest): void {
  if (bytes(r.key).length === 0) throw ErrEmptyKey;
}

/** etcd's checkPutRequest. */
export function checkPutRequest(r: PutRequest): void {
  if (bytes(r.key).length === 0) throw ErrEmptyKey;
  if (r.ignoreValue === true && bytes(r.value).length !== 0) throw ErrValueProvided;
  if (r.ignoreLease === true && big(r.lease) !== 0n) throw ErrLeaseProvided;
}

/** etcd's checkDeleteRequest. */
export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (bytes(r.key).length === 0) throw ErrEmptyKey;
}

/** etcd's checkTxnRequest: operation count, then every operation, recursively. */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxTxnOps) throw ErrTooManyOps;
  for (const c of compare) if (bytes(c.key).length === 0) throw ErrEmptyKey;
  for (const op of [...success, ...failure]) _checkRequestOp(op, maxTxnOps - opc);
}

function _checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange) return checkRangeRequest(op.requestRange);
  if (op.requestPut) return checkPutRequest(op.requestPut);
  if (op.requestDeleteRange) return checkDeleteRequest(op.requestDeleteRange);
  if (op.requestTxn) return checkTxnRequest(op.requestTxn, maxTxnOps);
  throw ErrKeyNotFound;
}

/** A key interval [begin, end) as latin1 strings; end "" is unbounded. */
interface _Interval {
  begin: string;
  end: string;
}

function _latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 4096)));
  }
  return s;
}

function _intersects(dels: _Interval[], key: string): boolean {
  return dels.some((iv) => iv.begin <= key && (iv.end === "" || key < iv.end));
}

/**
 * etcd's checkIntervals: within one branch, no key may be put twice or put and deleted, also
 * across nested txns (a key put in both branches of one nested txn is fine).
 */
export function checkIntervals(ops: RequestOp[]): { puts: Set<string>; dels: _Interval[] } {
  const dels: _Interval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (!d) continue;
    const begin = _latin1(bytes(d.key));
    const rangeEnd = bytes(d.rangeEnd);
    // A point is [k, k+"\0"); a range [k, end) with "\0" as end of "from key" kept literal,
    // as etcd's string affine interval does.
    const end = rangeEnd.length !== 0 ? _latin1(rangeEnd) : begin + "\0";
    dels.push({ begin, end });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    const t = op.requestTxn;
    if (!t) continue;
    const then = checkIntervals(t.success ?? []);
    const otherwise = checkIntervals(t.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || _intersects(dels, k)) throw ErrDuplicateKey;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw ErrDuplicateKey;
      if (_intersects(dels, k)) throw ErrDuplicateKey;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    const p = op.requestPut;
    if (!p) continue;
    const k = _latin1(bytes(p.key));
    if (puts.has(k) || _intersects(dels, k)) throw ErrDuplicateKey;
    puts.add(k);
  }
  return { puts, dels };
}

/** Builds the KV handlers over `server`. */
export function kvService(server: ServerApi): KVService {
  return {
    range: (r, ctx) => {
      checkRangeRequest(r);
      return server.range(r, requestContext(ctx));
    },
    put: (r, ctx) => {
      checkPutRequest(r);
      return server.put(r, requestContext(ctx));
    },
    deleteRange: (r, ctx) => {
      checkDeleteRequest(r);
      return server.deleteRange(r, requestContext(ctx));
    },
    txn: (r, ctx) => {
      checkTxnRequest(r, server.maxTxnOps);
      checkIntervals(r.success ?? []);
      checkIntervals(r.failure ?? []);
      return server.txn(r, requestContext(ctx));
    },
    compact: (r, ctx) => server.compact(r, requestContext(ctx)),
  };
}
