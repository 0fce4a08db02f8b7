/**
 * The Lock service (etcd's `etcdserver/api/v3lock` over `clientv3/concurrency`'s Mutex), on
 * the member's request API.
 *
 * Lock puts `<name>/<lease in hex>` (empty value) with the caller's lease, or a new 60 s lease
 * when it gave none, unless the key exists, and reads the oldest key under `<name>/` in the
 * same transaction. If that is its own key, the lock is held at once; otherwise it waits
 * until every older key is deleted (by Unlock, or by the expiry of its lease). The answer is
 * the key, which Unlock deletes. A caller that goes away while waiting gives up its key.
 *
 * @module
 */

import { bigintToLong } from "../../etcdserverpb/mod.ts";
import { etcdserverpb } from "../../etcdserverpb/mod.ts";
import type { LockService } from "../../rpc/mod.ts";
import { big, bytes, int64, num, type ServerApi } from "../../server/mod.ts";
import {
  asClientError,
  cleanupContext,
  concat,
  ConcurrencyClient,
  sessionKey,
} from "./concurrency.ts";
import { requestContext } from "./request_context.ts";

/** Builds the Lock handlers over `server`. */
export function lockService(server: ServerApi): LockService {
  return {
    lock: async (request, ctx) => {
      const client = new ConcurrencyClient(server, requestContext(ctx));
      try {
        return await _lock(client, bytes(request.name), big(request.lease));
      } catch (error) {
        throw asClientError(error);
      }
    },
    unlock: async (request, ctx) => {
      const client = new ConcurrencyClient(server, requestContext(ctx));
      try {
        const response = await client.deleteKey(bytes(request.key));
        return { header: response.header ?? client.header() };
      } catch (error) {
        throw asClientError(error);
      }
    },
  };
}

/** concurrency's `Mutex.Lock`. */
async function _lock(
  client: ConcurrencyClient,
  name: Uint8Array,
  requestedLease: bigint,
): Promise<{ header: etcdserverpb.IResponseHeader; key: Uint8Array }> {
  const lease = await client.sessionLease(requestedLease);
  const prefix = concat(name, "/");
  const key = sessionKey(prefix, lease);
  const owner: etcdserverpb.IRequestOp = {
    requestRange: client.firstOrLastCreated(prefix, "first"),
  };
  const response = await client.txn({
    compare: [{
      key,
      target: etcdserverpb.Compare.CompareTarget.CREATE,
      result: etcdserverpb.Compare.CompareResult.EQUAL,
      createRevision: int64(0),
    }],
    success: [{ requestPut: { key, lease: bigintToLong(lease) } }, owner],
    failure: [{ requestRange: { key } }, owner],
  });
  let myRev = num(response.header?.revision);
  if (response.succeeded !== true) {
    myRev = num(response.responses?.[0]?.responseRange?.kvs?.[0]?.createRevision);
  }
  const oldest = response.responses?.[1]?.responseRange?.kvs?.[0];
  if (oldest === undefined || num(oldest.createRevision) === myRev) {
    return { header: response.header ?? client.header(), key };
  }
  try {
    // Won: a caller that left meanwhile never sees the answer, and its key stays held until
    // its lease ends, as with etcd.
    return { header: await client.waitDeletes(prefix, myRev - 1), key };
  } catch (error) {
    // Whoever stops waiting (a cancel, a compaction) leaves the queue, as etcd's Mutex does.
    await client.with(cleanupContext(client.context)).deleteKey(key).catch(() => {});
    throw error;
  }
}
