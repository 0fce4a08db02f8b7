/**
 * The Cluster service (etcd's `etcdserver/api/v3rpc/member.go`). MemberList lists the members
 * as etcd does (sorted by ID, learners flagged); the changes are proposed through raft by
 * `server/cluster_membership.ts` and answer once applied on this member.
 *
 * @module
 */

import type { etcdserverpb } from "../../etcdserverpb/mod.ts";
import {
  addMember,
  promoteMember,
  removeMember,
  updateMember,
} from "../../server/cluster_membership.ts";
import { bigintToULong } from "../../etcdserverpb/mod.ts";
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
  // etcd's ClusterServer.header(): cluster ID, member ID and raft term, but no revision.
  const header = () => {
    const { revision: _revision, ...rest } = server.fillHeader({});
    return rest;
  };
  return {
    memberList: async (_r, ctx) => {
      await server.linearizableReadNotify(ctx.signal);
      return { header: header(), members: members() };
    },
    memberAdd: async (r, ctx) => {
      const options = { peerUrls: r.peerURLs ?? [], isLearner: r.isLearner === true };
      const member = await addMember(server, options, ctx.signal);
      return { header: header(), member: _memberToPb(member), members: members() };
    },
    memberRemove: async (r, ctx) => {
      await removeMember(server, big(r.ID), ctx.signal);
      return { header: header(), members: members() };
    },
    memberUpdate: async (r, ctx) => {
      await updateMember(server, { id: big(r.ID), peerUrls: r.peerURLs ?? [] }, ctx.signal);
      return { header: header(), members: members() };
    },
    memberPromote: async (r, ctx) => {
      await promoteMember(server, big(r.ID), ctx.signal);
      return { header: header(), members: members() };
    },
  };
}
