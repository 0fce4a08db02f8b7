/**
 * The Cluster service (etcd's `etcdserver/api/v3rpc/member.go`). MemberList lists the members
 * as etcd does (sorted by ID, learners flagged). Membership changes need the cluster work that
 * comes later; until then they answer with etcd's own errors where one fits and
 * `etcdserver: not capable` otherwise.
 *
 * @module
 */

import type { etcdserverpb } from "../gen/etcd.js";
import {
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrNotCapable,
  ErrPeerURLExist,
} from "../errors.ts";
import { bigintToULong } from "../int64.ts";
import type { ClusterService } from "../methods.ts";
import type { EtcdServer } from "../../server/etcd_server.ts";
import type { Member } from "../../server/membership.ts";
import { big } from "../../server/kv_ops.ts";

function _memberToPb(m: Member): etcdserverpb.Member.$Properties {
  const out: etcdserverpb.Member.$Properties = {
    ID: bigintToULong(m.id),
    name: m.name,
    peerURLs: m.peerUrls,
    clientURLs: m.clientUrls,
  };
  if (m.isLearner) out.isLearner = true;
  return out;
}

/** Builds the Cluster handlers over `server`. */
export function clusterService(server: EtcdServer): ClusterService {
  const members = () => server.cluster.sortedMembers().map(_memberToPb);
  const known = (id: bigint) => server.cluster.members.get(id);
  return {
    memberList: async (_r, ctx) => {
      await server.linearizableReadNotify(ctx.signal);
      return { header: server.fillHeader({}), members: members() };
    },
    memberAdd: (r) => {
      const urls = new Set(r.peerURLs ?? []);
      for (const m of server.cluster.members.values()) {
        if (m.peerUrls.some((u) => urls.has(u))) return Promise.reject(ErrPeerURLExist);
      }
      return Promise.reject(ErrNotCapable);
    },
    memberRemove: (r) => {
      if (known(big(r.ID)) === undefined) return Promise.reject(ErrMemberNotFound);
      return Promise.reject(ErrNotCapable);
    },
    memberUpdate: (r) => {
      if (known(big(r.ID)) === undefined) return Promise.reject(ErrMemberNotFound);
      return Promise.reject(ErrNotCapable);
    },
    memberPromote: (r) => {
      const member = known(big(r.ID));
      if (member === undefined) return Promise.reject(ErrMemberNotFound);
      if (!member.isLearner) return Promise.reject(ErrMemberNotLearner);
      return Promise.reject(ErrNotCapable);
    },
  };
}
