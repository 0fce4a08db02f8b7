/**
 * Runtime membership changes and leader transfer (etcd's `etcdserver/server.go` AddMember,
 * RemoveMember, UpdateMember, PromoteMember, MoveLeader, with `--strict-reconfig-check`):
 * each validates against the current membership, then proposes a ConfChange whose context is
 * the member's JSON, and resolves once the change is applied on this member.
 *
 * Strict reconfiguration (on by default), as etcd 3.4 checks it:
 * - adding or promoting a voter needs a quorum of the grown voter set already started
 *   (published), so that the new voter cannot stall the cluster;
 * - removing a voter needs a quorum of the voters that remain to be started, and, counting
 *   peers connected for at least 5 s, still a quorum after the removal (`etcdserver:
 *   unhealthy cluster` otherwise).
 *
 * @module
 */

import {
  ErrBadLeaderTransferee,
  ErrMemberExist,
  ErrMemberLearnerNotReady,
  ErrMemberNotEnoughStarted,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrNoLeader,
  ErrNotLeader,
  ErrPeerURLExist,
  ErrTimeout,
  ErrTimeoutLeaderTransfer,
  ErrTooManyLearners,
  ErrUnhealthy,
} from "./errors.ts";
import { type ConfChange, ConfChangeType } from "../raft/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";
import { peerClientFor } from "./cluster_peer_client.ts";
import { computeMemberId } from "../ids/mod.ts";
import { type Member, memberJson, promoteContextJson } from "./membership.ts";
import { serverLearnerPromoteFailures, serverLearnerPromoteSuccesses } from "./metrics.ts";

const _encoder = new TextEncoder();
/** etcd 3.4 allows one learner at a time (maxLearners). */
const _LEARNERS_MAX = 1;
/** A learner is ready to promote when its log is within 90% of the leader's (readyPercent). */
const _LEARNER_READY_RATIO = 0.9;
/** A peer counts as healthy when connected at least this long (HealthInterval). */
const _HEALTH_INTERVAL_MS = 5000;

function _voters(core: EtcdServer): Member[] {
  return [...core.cluster.members.values()].filter((m) => !m.isLearner);
}

function _isStarted(member: Member): boolean {
  return member.name !== "";
}

/** etcd's IsReadyToAddVotingMember (also used for promotion). */
function _readyToAddVoter(core: EtcdServer): boolean {
  let members = 1;
  let started = 0;
  for (const member of _voters(core)) {
    if (_isStarted(member)) started++;
    members++;
  }
  if (started === 1 && members === 2) return true; // growing a 1-member cluster
  return started >= Math.floor(members / 2) + 1;
}

/** etcd's IsReadyToRemoveVotingMember: a quorum of the remaining voters has started. */
function _readyToRemoveVoter(core: EtcdServer, id: bigint): boolean {
  let members = 0;
  let started = 0;
  for (const member of _voters(core)) {
    if (member.id === id) continue;
    if (_isStarted(member)) started++;
    members++;
  }
  return started >= Math.floor(members / 2) + 1;
}

async function _propose(core: EtcdServer, cc: Omit<ConfChange, "id">, signal?: AbortSignal) {
  await core.proposeConfChange({ ...cc, id: core.nextRequestId() }, signal);
}

function _assertUrlsFree(core: EtcdServer, urls: string[], except?: bigint): void {
  const wanted = new Set(urls);
  for (const member of core.cluster.members.values()) {
    if (member.id === except) continue;
    if (member.peerUrls.some((url) => wanted.has(url))) throw ErrPeerURLExist;
  }
}

/** MemberAdd: a new voter or learner with `peerUrls`; resolves to the added member. */
export async function addMember(
  core: EtcdServer,
  options: { peerUrls: string[]; isLearner: boolean },
  signal?: AbortSignal,
): Promise<Member> {
  const peerUrls = [...options.peerUrls];
  _assertUrlsFree(core, peerUrls);
  // etcd NewMember: SHA-1 of the sorted peer URLs, no cluster token, and the time.
  const id = computeMemberId([...peerUrls].sort(), "", new Date());
  if (core.cluster.members.has(id) || core.cluster.removed.has(id)) throw ErrMemberExist;
  const member: Member = { id, peerUrls, isLearner: options.isLearner, name: "", clientUrls: [] };
  if (options.isLearner) {
    const learners = [...core.cluster.members.values()].filter((m) => m.isLearner).length;
    if (learners + 1 > _LEARNERS_MAX) throw ErrTooManyLearners;
  } else if (core.cfg.strictReconfigCheck && !_readyToAddVoter(core)) {
    throw ErrMemberNotEnoughStarted;
  }
  await _propose(core, {
    type: options.isLearner
      ? ConfChangeType.ConfChangeAddLearnerNode
      : ConfChangeType.ConfChangeAddNode,
    nodeId: id,
    context: _encoder.encode(memberJson(member)),
  }, signal);
  return core.cluster.members.get(id) ?? member;
}

/** MemberRemove. */
export async function removeMember(
  core: EtcdServer,
  id: bigint,
  signal?: AbortSignal,
): Promise<void> {
  const member = core.cluster.members.get(id);
  if (member === undefined) throw ErrMemberNotFound; // also a removed ID (ErrIDRemoved)
  if (core.cfg.strictReconfigCheck && !member.isLearner) {
    if (!_readyToRemoveVoter(core, id)) throw ErrMemberNotEnoughStarted;
    // A member that is down is not part of the active quorum: safe to remove.
    const down = id !== core.memberId && _activeSince(core, id) === undefined;
    const voters = _voters(core);
    const active = voters.filter((m) => _isHealthy(core, m.id)).length;
    if (!down && active - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw ErrUnhealthy;
  }
  await _propose(core, { type: ConfChangeType.ConfChangeRemoveNode, nodeId: id }, signal);
}

function _activeSince(core: EtcdServer, id: bigint): Date | undefined {
  // The peer transport when there is one (cluster_peers.ts); one member has none.
  const peers = core.transport as { transport?: { activeSince?(id: bigint): Date | undefined } };
  return peers.transport?.activeSince?.(id);
}

/** etcd's isConnectedSince(now - HealthInterval); the member itself always counts. */
function _isHealthy(core: EtcdServer, id: bigint): boolean {
  if (id === core.memberId) return true;
  const since = _activeSince(core, id);
  return since !== undefined && Date.now() - since.getTime() >= _HEALTH_INTERVAL_MS;
}

/** MemberUpdate: new peer URLs for a member. */
export async function updateMember(
  core: EtcdServer,
  options: { id: bigint; peerUrls: string[] },
  signal?: AbortSignal,
): Promise<void> {
  const member = core.cluster.members.get(options.id);
  if (member === undefined) throw ErrMemberNotFound;
  _assertUrlsFree(core, options.peerUrls, options.id);
  const updated: Member = { ...member, peerUrls: [...options.peerUrls], name: "", clientUrls: [] };
  await _propose(core, {
    type: ConfChangeType.ConfChangeUpdateNode,
    nodeId: options.id,
    context: _encoder.encode(memberJson(updated)),
  }, signal);
}

/** MemberPromote: a learner becomes a voter once it has caught up with the leader. */
export async function promoteMember(
  core: EtcdServer,
  id: bigint,
  signal?: AbortSignal,
): Promise<Member> {
  if (!core.isLeader) return await _promote(core, id, signal);
  // etcd counts the promotions its leader decides, failures by their error text.
  try {
    const promoted = await _promote(core, id, signal);
    serverLearnerPromoteSuccesses.inc();
    return promoted;
  } catch (error) {
    serverLearnerPromoteFailures.inc({ Reason: (error as Error).message });
    throw error;
  }
}

async function _promote(core: EtcdServer, id: bigint, signal?: AbortSignal): Promise<Member> {
  const member = core.cluster.members.get(id);
  if (member === undefined) throw ErrMemberNotFound;
  if (!member.isLearner) throw ErrMemberNotLearner;
  // Only the leader knows the learner's progress: a follower hands the request to it.
  if (!core.isLeader) {
    await _promoteOnLeader(core, id, signal);
    return core.cluster.members.get(id) ?? member;
  }
  const progress = core.raft.status().progress;
  const leaderMatch = progress?.get(core.memberId)?.match ?? 0;
  const learnerMatch = progress?.get(id)?.match ?? 0;
  if (learnerMatch < leaderMatch * _LEARNER_READY_RATIO) throw ErrMemberLearnerNotReady;
  if (core.cfg.strictReconfigCheck && !_readyToAddVoter(core)) throw ErrMemberNotEnoughStarted;
  // etcd's promotion context: the ID and IsPromote, so that every member (etcd or detcd)
  // applies it as a promotion and keeps the member's URLs and attributes.
  await _propose(core, {
    type: ConfChangeType.ConfChangeAddNode,
    nodeId: id,
    context: _encoder.encode(promoteContextJson(id)),
  }, signal);
  return core.cluster.members.get(id) ?? { ...member, isLearner: false };
}

/** The peer path etcd forwards MemberPromote on (`/members/promote/<decimal id>`). */
export const PROMOTE_PATH_PREFIX = "/members/promote/";

/** etcd's promoteMemberHTTP: ask the leader over its peer URL, map its answer to errors. */
async function _promoteOnLeader(core: EtcdServer, id: bigint, signal?: AbortSignal) {
  const leader = core.cluster.members.get(core.leader);
  if (leader === undefined) throw ErrNoLeader;
  const timeout = AbortSignal.timeout(5000 + 2 * core.cfg.electionTimeoutMs);
  for (const url of leader.peerUrls) {
    let response: Response;
    try {
      response = await peerClientFor(core.cfg).request(
        `${url.replace(/\/$/, "")}${PROMOTE_PATH_PREFIX}${id}`,
        {
          method: "POST",
          signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
        },
      );
    } catch {
      continue;
    }
    const text = await response.text();
    if (response.status === 200) {
      // The leader applied it; wait until this member has too.
      await core.linearizableReadNotify(signal);
      return;
    }
    if (response.status === 404) throw ErrMemberNotFound;
    if (text.includes(ErrMemberLearnerNotReady.message)) throw ErrMemberLearnerNotReady;
    if (text.includes(ErrMemberNotLearner.message)) throw ErrMemberNotLearner;
    if (text.includes(ErrMemberNotEnoughStarted.message)) throw ErrMemberNotEnoughStarted;
    // A plain error: the client sees it as UNKNOWN with this message.
    throw new Error(`member promote: unknown error(${text.trim()})`);
  }
  throw ErrTimeout;
}

/** Serves a forwarded MemberPromote on the leader; other paths: undefined. */
export async function servePromote(
  core: EtcdServer,
  request: Request,
): Promise<Response | undefined> {
  const path = new URL(request.url).pathname;
  if (!path.startsWith(PROMOTE_PATH_PREFIX)) return undefined;
  const headers = { "X-Etcd-Cluster-ID": core.clusterId.toString(16) };
  if (request.method !== "POST") {
    return new Response("Method Not Allowed\n", { status: 405, headers: { Allow: "POST" } });
  }
  const text = path.slice(PROMOTE_PATH_PREFIX.length);
  if (!/^\d+$/.test(text)) {
    return new Response(`member ${text} not found in cluster\n`, { status: 404, headers });
  }
  try {
    await promoteMember(core, BigInt(text), request.signal);
  } catch (error) {
    const message = (error as Error).message;
    const status = error === ErrMemberNotFound
      ? 404
      : error === ErrMemberNotLearner || error === ErrMemberLearnerNotReady
      ? 412
      : 500;
    return new Response(`${message}\n`, { status, headers });
  }
  const members = core.cluster.sortedMembers().map(memberJson);
  return new Response(`[${members.join(",")}]\n`, {
    headers: { ...headers, "Content-Type": "application/json" },
  });
}

/** MoveLeader: hands leadership to `target` and waits until it leads. */
export async function moveLeader(
  core: EtcdServer,
  target: bigint,
  signal?: AbortSignal,
): Promise<void> {
  if (!core.isLeader) throw ErrNotLeader;
  const member = core.cluster.members.get(target);
  if (member === undefined || member.isLearner) throw ErrBadLeaderTransferee;
  if (target === core.memberId) return;
  core.log.info("leadership transfer starting", {
    "local-member-id": core.memberId.toString(16),
    "transferee-member-id": target.toString(16),
  });
  core.raft.transferLeadership(target);
  const deadline = Date.now() + 5000 + 2 * core.cfg.electionTimeoutMs;
  while (core.leader !== target) {
    if (Date.now() > deadline || signal?.aborted === true) throw ErrTimeoutLeaderTransfer;
    await new Promise((resolve) => setTimeout(resolve, core.cfg.heartbeatIntervalMs));
  }
  core.log.info("leadership transfer finished", {
    "new-leader-member-id": target.toString(16),
  });
}
