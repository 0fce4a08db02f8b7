/**
 * The KV proxy (etcd's grpcproxy/kv.go): serializable ranges answered from the range cache
 * when they can be, everything else forwarded; writes through the proxy drop the cached ranges
 * they touch before they are sent, and a txn drops the ranges of its compares too (it may
 * claim an outdated key changed). Under `--namespace`, requests are prefixed after the cache
 * and responses stripped before it, so the cache holds what clients see.
 *
 * @module
 */

import { ErrCompacted, ErrEmptyKey, type KVService, METHODS } from "../rpc/mod.ts";
import { longToBigint } from "../etcdserverpb/mod.ts";
import type { etcdserverpb, RangeRequest, RequestOp } from "../etcdserverpb/mod.ts";
import type { RangeCache } from "./cache.ts";
import { callOptions } from "./forward.ts";
import { cacheHits, cacheKeys, cacheMisses } from "./metrics.ts";
import { asBytes, type Namespace } from "./namespace.ts";
import type { Upstream } from "./upstream.ts";

/** Builds the KV handlers. */
export function kvProxy(
  upstream: Upstream,
  cache: RangeCache,
  namespace: Namespace | undefined,
): KVService {
  const updateSize = () => cacheKeys.set(cache.size);
  const checkKey = (key: Uint8Array | null | undefined) => {
    // clientv3/namespace refuses an empty key: prefixed, it would name the namespace itself.
    if (namespace !== undefined && asBytes(key).length === 0) throw ErrEmptyKey;
  };
  const txnToCache = (requests: RequestOp[], responses: etcdserverpb.IResponseOp[]) => {
    for (let i = 0; i < responses.length; i++) {
      const request = requests[i];
      const response = responses[i]!;
      if (request?.requestPut && response.responsePut) {
        cache.invalidate(request.requestPut.key, undefined);
      } else if (request?.requestDeleteRange && response.responseDeleteRange) {
        cache.invalidate(request.requestDeleteRange.key, request.requestDeleteRange.rangeEnd);
      } else if (request?.requestRange && response.responseRange) {
        cache.add(request.requestRange, response.responseRange);
      } else if (request?.requestTxn) {
        // A nested txn may write anywhere its operations name.
        _invalidateTxn(cache, request.requestTxn);
      }
    }
  };
  return {
    range: async (request: RangeRequest, context) => {
      checkKey(request.key);
      if (request.serializable === true) {
        const found = cache.get(request);
        if (found.kind === "hit") {
          cacheHits.inc();
          return found.response;
        }
        if (found.kind === "compacted") {
          cacheHits.inc();
          throw ErrCompacted;
        }
        cacheMisses.inc();
      }
      const forwarded = namespace === undefined ? request : namespace.range(request);
      const response = await upstream.unary(METHODS.KV.Range, forwarded, callOptions(context));
      namespace?.stripRange(response);
      cache.add(request, response);
      updateSize();
      return response;
    },
    put: async (request, context) => {
      checkKey(request.key);
      cache.invalidate(request.key, undefined);
      updateSize();
      const forwarded = namespace === undefined ? request : namespace.put(request);
      const response = await upstream.unary(METHODS.KV.Put, forwarded, callOptions(context));
      namespace?.stripPut(response);
      return response;
    },
    deleteRange: async (request, context) => {
      checkKey(request.key);
      cache.invalidate(request.key, request.rangeEnd);
      updateSize();
      const forwarded = namespace === undefined ? request : namespace.deleteRange(request);
      const response = await upstream.unary(
        METHODS.KV.DeleteRange,
        forwarded,
        callOptions(context),
      );
      namespace?.stripDeleteRange(response);
      return response;
    },
    txn: async (request, context) => {
      const forwarded = namespace === undefined ? request : namespace.txn(request);
      const response = await upstream.unary(METHODS.KV.Txn, forwarded, callOptions(context));
      namespace?.stripTxn(response);
      for (const compare of request.compare ?? []) cache.invalidate(compare.key, compare.rangeEnd);
      txnToCache(
        (response.succeeded ? request.success : request.failure) ?? [],
        response.responses ?? [],
      );
      updateSize();
      return response;
    },
    compact: async (request, context) => {
      const response = await upstream.unary(METHODS.KV.Compact, request, callOptions(context));
      cache.compact(longToBigint(request.revision ?? 0));
      updateSize();
      return response;
    },
  };
}

function _invalidateTxn(cache: RangeCache, txn: etcdserverpb.ITxnRequest): void {
  for (const compare of txn.compare ?? []) cache.invalidate(compare.key, compare.rangeEnd);
  for (const op of [...(txn.success ?? []), ...(txn.failure ?? [])]) {
    if (op.requestPut) cache.invalidate(op.requestPut.key, undefined);
    else if (op.requestDeleteRange) {
      cache.invalidate(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
    } else if (op.requestTxn) _invalidateTxn(cache, op.requestTxn);
  }
}
