/**
 * The Lease service (etcd's `etcdserver/api/v3rpc/lease.go`): grant and revoke go through
 * raft; keep-alives and time-to-live are answered by the leader's lessor (the server's
 * request API forwards them from a follower).
 *
 * @module
 */

import { bigintToLong } from "../../etcdserverpb/mod.ts";
import type { LeaseService } from "../../rpc/mod.ts";
import { big, int64, type ServerApi, ServerError, ServerErrorCode } from "../../server/mod.ts";
import { requestContext } from "./request_context.ts";

/** Whether the server said the lease does not exist. */
function _isLeaseNotFound(error: unknown): boolean {
  return error instanceof ServerError && error.code === ServerErrorCode.LeaseNotFound;
}

/** Builds the Lease handlers over `server`. */
export function leaseService(server: ServerApi): LeaseService {
  return {
    leaseGrant: (r, ctx) => server.leaseGrant(r, requestContext(ctx)),
    leaseRevoke: (r, ctx) => server.leaseRevoke(r, requestContext(ctx)),
    leaseKeepAlive: async (input, sink, ctx) => {
      const context = requestContext(ctx);
      for await (const request of input) {
        const id = big(request.ID);
        let ttl = 0;
        try {
          ttl = await server.leaseRenew(id, context);
        } catch (error) {
          // etcd answers an unknown lease with TTL 0 and keeps the stream open.
          if (!_isLeaseNotFound(error)) throw error;
        }
        await sink.send({ header: server.header(), ID: bigintToLong(id), TTL: int64(ttl) });
      }
    },
    leaseTimeToLive: (r, ctx) => server.leaseTimeToLive(r, requestContext(ctx)),
    leaseLeases: (_r, ctx) => server.leaseLeases(requestContext(ctx)),
  };
}
