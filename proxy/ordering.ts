/**
 * `--experimental-serializable-ordering` (etcd's clientv3/ordering, as the proxy uses it):
 * reads never go back in time across endpoints. The proxy remembers the highest revision any
 * range or txn answered; an answer below it (a lagging member served a serializable read) is
 * dropped, the proxy moves to the next endpoint and asks again, and once every endpoint has
 * answered too low the read fails with etcd's ErrNoGreaterRev.
 *
 * At start the proxy waits for one linearizable read to succeed, so that it starts from the
 * cluster's current revision (etcd: "waiting for linearized read from cluster to recover
 * ordering", retried every second).
 *
 * @module
 */

import { longToBigint } from "../etcdserverpb/mod.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import { type KVService, METHODS } from "../rpc/mod.ts";
import type { Logger } from "../server/mod.ts";
import type { Upstream } from "./upstream.ts";

/** etcd's ordering.ErrNoGreaterRev. */
export const ERR_NO_GREATER_REV =
  "etcdclient: no cluster members have a revision higher than the previously received revision";

/** Wraps the KV handlers with the ordering check; waits for the first linearizable read. */
export async function orderedKv(
  kv: KVService,
  upstream: Upstream,
  log: Logger,
): Promise<KVService> {
  let previous = 0n;
  for (;;) {
    try {
      const response = await upstream.unary(METHODS.KV.Range, {
        key: new TextEncoder().encode("_"),
        keysOnly: true,
      });
      previous = longToBigint(response.header?.revision ?? 0);
      break;
    } catch (error) {
      log.warn("ordering recovery failed, retrying in 1s", { error: (error as Error).message });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const ordered = async <R extends { header?: etcdserverpb.IResponseHeader | null }>(
    call: () => Promise<R>,
  ): Promise<R> => {
    for (let tried = 0; tried <= upstream.endpoints.length; tried++) {
      const response = await call();
      const revision = longToBigint(response.header?.revision ?? 0);
      if (revision >= previous) {
        previous = revision;
        return response;
      }
      upstream.failed(upstream.currentEndpoint);
    }
    throw new Error(ERR_NO_GREATER_REV);
  };
  return {
    ...kv,
    range: (request, context) => ordered(() => kv.range(request, context)),
    txn: (request, context) => ordered(() => kv.txn(request, context)),
  };
}
