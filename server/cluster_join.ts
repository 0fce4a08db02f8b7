/**
 * What a member asks the other members before it bootstraps (etcd's `etcdserver/cluster_util.go`):
 *
 * - `--initial-cluster-state new` with no WAL: is this member already part of a running
 *   cluster (a wiped data directory)? It is when a peer lists it with client URLs, i.e. it
 *   had published itself: etcd refuses with `member <id> has already been bootstrapped`;
 * - `--initial-cluster-state existing`: the running cluster's members and ID, from the first
 *   peer that answers `GET /members`; the local member is the one whose peer URLs match ours
 *   (MemberAdd put it there).
 *
 * @module
 */

import type { ServerConfig } from "./config.ts";
import { goUrlString } from "../ids/mod.ts";
import { PeerClient } from "../rafthttp/mod.ts";
import { peerClientFor } from "./cluster_peer_client.ts";
import { type Member, parseMemberJson } from "./membership.ts";

/** The cluster as a peer described it. */
export interface RemoteCluster {
  clusterId: bigint;
  members: Member[];
}

/** etcd's peer dial timeout while bootstrapping (`bootstrapTimeout`, 1 s by default). */
const _BOOTSTRAP_TIMEOUT_MS = 1000;

/**
 * Splits the JSON array of members etcd's `/members` returns. IDs are 64-bit numbers, so each
 * object is parsed by {@link parseMemberJson}, which keeps them exact.
 */
export function parseMembersJson(text: string): Member[] {
  const members: Member[] = [];
  // Objects carry no nested objects: cut at each top-level brace pair.
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}") {
      depth--;
      if (depth === 0) members.push(parseMemberJson(text.slice(start, i + 1)));
    }
  }
  if (depth !== 0) throw new Error("members JSON: unbalanced braces");
  return members;
}

/** The first cluster any of `urls` describes, or undefined when none answers in time. */
export async function fetchRemoteCluster(
  urls: string[],
  timeoutMs = _BOOTSTRAP_TIMEOUT_MS,
  client?: PeerClient,
): Promise<RemoteCluster | undefined> {
  // Without a client (plain http callers, tests) use a private one and close it after.
  const peerClient = client ?? new PeerClient();
  try {
    for (const url of urls) {
      const remote = await _fetchMembers(peerClient, url, timeoutMs);
      if (remote !== undefined) return remote;
    }
    return undefined;
  } finally {
    if (client === undefined) peerClient.close();
  }
}

async function _fetchMembers(
  client: PeerClient,
  url: string,
  timeoutMs: number,
): Promise<RemoteCluster | undefined> {
  try {
    const response = await client.request(`${url.replace(/\/$/, "")}/members`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) return undefined;
    const header = response.headers.get("X-Etcd-Cluster-ID");
    if (header === null || !/^[0-9a-f]+$/i.test(header)) return undefined;
    return { clusterId: BigInt("0x" + header), members: parseMembersJson(text) };
  } catch {
    // Unreachable or slow: the caller tries the next URL, as etcd does.
    return undefined;
  }
}

/** Peer URLs of every member of `--initial-cluster` but this one. */
function _remotePeerUrls(cfg: ServerConfig): string[] {
  const urls: string[] = [];
  for (const [name, list] of cfg.initialCluster) {
    if (name === cfg.name) continue;
    urls.push(...list.map(goUrlString));
  }
  return urls.sort();
}

/** Throws etcd's error when a peer knows `localId` as a published member. */
export async function assertNotBootstrapped(cfg: ServerConfig, localId: bigint): Promise<void> {
  const remote = await fetchRemoteCluster(
    _remotePeerUrls(cfg),
    _BOOTSTRAP_TIMEOUT_MS,
    peerClientFor(cfg),
  );
  const known = remote?.members.find((m) => m.id === localId);
  if (known !== undefined && known.clientUrls.length > 0) {
    throw new Error(`member ${localId.toString(16)} has already been bootstrapped`);
  }
}

/**
 * The cluster to join with `--initial-cluster-state existing` and the local member's ID in it
 * (etcd's GetClusterFromRemotePeers + ValidateClusterAndAssignIDs).
 */
export async function joinExistingCluster(
  cfg: ServerConfig,
): Promise<{ memberId: bigint; clusterId: bigint; members: Member[] }> {
  const urls = _remotePeerUrls(cfg);
  const remote = await fetchRemoteCluster(
    urls,
    2 * _BOOTSTRAP_TIMEOUT_MS,
    peerClientFor(cfg),
  );
  if (remote === undefined) {
    throw new Error(
      `cannot fetch cluster info from peer urls: could not retrieve cluster information ` +
        `from the given URLs (${urls.join(",")})`,
    );
  }
  const ours = cfg.initialAdvertisePeerUrls.map(goUrlString).sort().join(",");
  const local = remote.members.find((m) => [...m.peerUrls].sort().join(",") === ours);
  if (local === undefined) {
    throw new Error(`error validating peerURLs ${ours}: member not found in the existing cluster`);
  }
  if (remote.members.length !== cfg.initialCluster.size) {
    throw new Error(
      `error validating peerURLs: member count is unequal (existing cluster has ` +
        `${remote.members.length}, --initial-cluster has ${cfg.initialCluster.size})`,
    );
  }
  return { memberId: local.id, clusterId: remote.clusterId, members: remote.members };
}
