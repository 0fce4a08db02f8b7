/**
 * The Lease service (etcd's `etcdserver/api/v3rpc/lease.go` over `v3_server.go`): grant and
 * revoke go through raft; keep-alives and time-to-live are answered by the leader's lessor.
 *
 * @module
 */

import type { etcdserverpb } from "../../etcdserverpb/mod.ts";
import { ErrLeaseNotFound, ErrNoSpace } from "../errors.ts";
import { bigintToLong } from "../../etcdserverpb/mod.ts";
import type { LeaseService } from "../methods.ts";
import type { EtcdServer } from "../../server/etcd_server.ts";
import { toApiError } from "../../server/apply.ts";
import { big, int64 } from "../../server/kv_ops.ts";
import { costLeaseGrant } from "../../server/quota.ts";
import { LeaseNotFoundError } from "../../lease/mod.ts";
import { leaseTimeToLiveOnLeader, renewLease } from "../../server/cluster_lease.ts";

/** The largest lease ID the server picks (IDs are positive int64). */
const _LEASE_ID_MASK = (1n << 63n) - 1n;

/** Builds the Lease handlers over `server`. */
export function leaseService(server: EtcdServer): LeaseService {
  return {
    leaseGrant: async (r, ctx) => {
      if (!server.quota.available(costLeaseGrant())) {
        await server.raiseNoSpace(ctx.signal);
        throw ErrNoSpace;
      }
      let id = big(r.ID);
      if (id === 0n) id = server.nextRequestId() & _LEASE_ID_MASK;
      const request: etcdserverpb.LeaseGrantRequest.$Properties = {
        ID: bigintToLong(id),
        TTL: r.TTL,
      };
      const result = await server.propose({ leaseGrant: request }, ctx.signal);
      const response = (result.response ?? {}) as etcdserverpb.LeaseGrantResponse.$Properties;
      response.header = server.fillHeader(response.header);
      return response;
    },
    leaseRevoke: async (r, ctx) => {
      const result = await server.propose({ leaseRevoke: r }, ctx.signal);
      const response = (result.response ?? {}) as etcdserverpb.LeaseRevokeResponse.$Properties;
      response.header = server.fillHeader(response.header);
      return response;
    },
    leaseKeepAlive: async (input, sink) => {
      for await (const request of input) {
        const id = big(request.ID);
        let ttl = 0;
        try {
          // etcd waits for the applied index to catch up so that a just-granted lease is
          // known; on one member the applier is the same process and is current.
          ttl = await renewLease(server, id); // forwarded to the leader from a follower
        } catch (error) {
          if (error !== ErrLeaseNotFound) throw error;
        }
        await sink.send({
          header: server.fillHeader({}),
          ID: bigintToLong(id),
          TTL: int64(ttl),
        });
      }
    },
    leaseTimeToLive: async (r, ctx) => {
      // Only the leader's lessor knows the remaining time: a follower asks it.
      const forwarded = await leaseTimeToLiveOnLeader(server, r);
      if (forwarded !== undefined) return { ...forwarded, header: server.fillHeader({}) };
      await server.linearizableReadNotify(ctx.signal);
      const id = big(r.ID);
      try {
        const info = server.lessor.timeToLive(id, r.keys === true);
        const response: etcdserverpb.LeaseTimeToLiveResponse.$Properties = {
          header: server.fillHeader({}),
          ID: bigintToLong(id),
          TTL: int64(info.ttl),
          grantedTTL: int64(info.grantedTtl),
        };
        if (info.keys.length > 0) response.keys = info.keys;
        return response;
      } catch (error) {
        if (error instanceof LeaseNotFoundError) {
          // etcd answers a missing lease with TTL -1, not an error.
          return { header: server.fillHeader({}), ID: bigintToLong(id), TTL: int64(-1) };
        }
        throw toApiError(error);
      }
    },
    leaseLeases: async (_r, ctx) => {
      await server.linearizableReadNotify(ctx.signal);
      const leases = server.lessor.leases().map((lease) => ({ ID: bigintToLong(lease.id) }));
      return { header: server.fillHeader({}), leases };
    },
  };
}
