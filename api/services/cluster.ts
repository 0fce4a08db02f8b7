/**
 * The Cluster service (etcd's `etcdserver/api/v3rpc/member.go`). MemberList lists the members
 * as etcd does (sorted by ID, learners flagged); the changes are proposed through raft by the
 * server's request API and answer once applied on this member.
 *
 * @module
 */

import type { etcdserverpb } from "../../etcdserverpb/mod.ts";
import { bigintToULong } from "../../etcdserverpb/mod.ts";
import type { ClusterService } from "../../rpc/mod.ts";
import { big, type Member, type ServerApi } from "../../server/mod.ts";
import { requestContext } from "./request_context.ts";

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
export function clusterService(server: ServerApi): ClusterService {
  // etcd's ClusterServer.header(): cluster ID, member ID and raft term, but no revision.
  const header = () => {
    const { revision: _revision, ...rest } = server.header();
    return rest;
  };
  const answer = (members: Member[]) => ({ header: header(), members: members.map(_memberToPb) });
  return {
    memberList: async (_r, ctx) => answer(await server.memberList(requestContext(ctx))),
    memberAdd: async (r, ctx) => {
      const options = { peerUrls: r.peerURLs ?? [], isLearner: r.isLearner === true };
      const { member, members } = await server.memberAdd(options, requestContext(ctx));
      return { ...answer(members), member: _memberToPb(member) };
    },
    memberRemove: async (r, ctx) =>
      answer(await server.memberRemove(big(r.ID), requestContext(ctx))),
    memberUpdate: async (r, ctx) => {
      const options = { id: big(r.ID), peerUrls: r.peerURLs ?? [] };
      return answer(await server.memberUpdate(options, requestContext(ctx)));
    },
    memberPromote: async (r, ctx) =>
      answer(await server.memberPromote(big(r.ID), requestContext(ctx))),
  };
}
