/**
 * `--namespace`: every key the proxy's clients name is prefixed on the way to the cluster and
 * stripped on the way back, as etcd's clientv3/namespace does for the proxy (KV, watch and
 * lease). Range ends follow `prefixInterval`: a `\0` end (all keys from `key`) becomes the end of
 * the prefix's keyspace; an empty end stays empty.
 *
 * Requests are copied, never changed in place (a request object may be cached or reused);
 * responses are fresh decodes and are stripped in place.
 *
 * @module
 */

import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  TxnRequest,
  TxnResponse,
} from "../etcdserverpb/mod.ts";
import type { etcdserverpb, mvccpb } from "../etcdserverpb/mod.ts";

const _EMPTY = new Uint8Array(0);

/** A key or range end as bytes (protobufjs leaves absent bytes fields undefined or empty). */
export function asBytes(value: Uint8Array | null | undefined): Uint8Array {
  return value ?? _EMPTY;
}

function _concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The smallest key after every key that starts with `prefix`; `[0]` when there is none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    end[i] = (end[i]! + 1) & 0xff;
    if (end[i] !== 0) return end.subarray(0, i + 1);
  }
  return new Uint8Array([0]);
}

/** The prefix applied to one key interval (etcd's namespace.prefixInterval). */
export class Namespace {
  readonly prefix: Uint8Array;

  constructor(prefix: Uint8Array) {
    this.prefix = prefix;
  }

  /** `[key, end)` in the cluster's keyspace. */
  interval(
    key: Uint8Array | null | undefined,
    end: Uint8Array | null | undefined,
  ): { key: Uint8Array; end: Uint8Array } {
    const rangeEnd = asBytes(end);
    const prefixed = _concat(this.prefix, asBytes(key));
    if (rangeEnd.length === 1 && rangeEnd[0] === 0) {
      // Unlike etcd's byte-wise increment (which keeps trailing 0x00 bytes of a wrapped
      // prefix), this drops them; both name the same first key after the prefix.
      return { key: prefixed, end: prefixEnd(this.prefix) };
    }
    return { key: prefixed, end: rangeEnd.length === 0 ? _EMPTY : _concat(this.prefix, rangeEnd) };
  }

  /** A key of the cluster's keyspace as the client sees it. */
  strip(key: Uint8Array | null | undefined): Uint8Array {
    const bytes = asBytes(key);
    return bytes.subarray(Math.min(this.prefix.length, bytes.length));
  }

  /** Whether a cluster key lies in this namespace. */
  contains(key: Uint8Array | null | undefined): boolean {
    const bytes = asBytes(key);
    if (bytes.length < this.prefix.length) return false;
    for (let i = 0; i < this.prefix.length; i++) if (bytes[i] !== this.prefix[i]) return false;
    return true;
  }

  range(r: RangeRequest): RangeRequest {
    const { key, end } = this.interval(r.key, r.rangeEnd);
    return { ...r, key, rangeEnd: end };
  }

  put(r: PutRequest): PutRequest {
    return { ...r, key: _concat(this.prefix, asBytes(r.key)) };
  }

  deleteRange(r: DeleteRangeRequest): DeleteRangeRequest {
    const { key, end } = this.interval(r.key, r.rangeEnd);
    return { ...r, key, rangeEnd: end };
  }

  compare(c: Compare): Compare {
    const { key, end } = this.interval(c.key, c.rangeEnd);
    return { ...c, key, rangeEnd: end };
  }

  requestOp(op: RequestOp): RequestOp {
    if (op.requestRange) return { requestRange: this.range(op.requestRange) };
    if (op.requestPut) return { requestPut: this.put(op.requestPut) };
    if (op.requestDeleteRange) {
      return { requestDeleteRange: this.deleteRange(op.requestDeleteRange) };
    }
    if (op.requestTxn) return { requestTxn: this.txn(op.requestTxn) };
    return op;
  }

  txn(r: TxnRequest): TxnRequest {
    return {
      compare: (r.compare ?? []).map((c) => this.compare(c)),
      success: (r.success ?? []).map((op) => this.requestOp(op)),
      failure: (r.failure ?? []).map((op) => this.requestOp(op)),
    };
  }

  #stripKv(kv: mvccpb.IKeyValue | null | undefined): void {
    if (kv) kv.key = this.strip(kv.key);
  }

  stripRange(resp: RangeResponse): void {
    for (const kv of resp.kvs ?? []) this.#stripKv(kv);
  }

  stripPut(resp: PutResponse): void {
    this.#stripKv(resp.prevKv);
  }

  stripDeleteRange(resp: DeleteRangeResponse): void {
    for (const kv of resp.prevKvs ?? []) this.#stripKv(kv);
  }

  stripTxn(resp: TxnResponse): void {
    for (const op of resp.responses ?? []) this.#stripResponseOp(op);
  }

  #stripResponseOp(op: etcdserverpb.IResponseOp): void {
    if (op.responseRange) this.stripRange(op.responseRange);
    else if (op.responsePut) this.stripPut(op.responsePut);
    else if (op.responseDeleteRange) this.stripDeleteRange(op.responseDeleteRange);
    else if (op.responseTxn) this.stripTxn(op.responseTxn);
  }

  /** Strips the keys of watch events (kv and prev_kv). */
  stripEvents(events: mvccpb.IEvent[] | null | undefined): void {
    for (const event of events ?? []) {
      this.#stripKv(event.kv);
      this.#stripKv(event.prevKv);
    }
  }

  /** A lease's attached keys as the client sees them: keys outside the namespace dropped. */
  stripLeaseKeys(keys: Uint8Array[] | null | undefined): Uint8Array[] {
    return (keys ?? []).filter((key) => this.contains(key)).map((key) => this.strip(key));
  }
}
