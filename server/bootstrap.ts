/**
 * Bootstrap of a member from its data directory (etcd's `etcdserver/server.go` NewServer,
 * `raft.go` startNode/restartNode):
 *
 * - no WAL yet: a new cluster. Member IDs come from the initial cluster's peer URLs and the
 *   cluster token, the WAL is created with `Metadata{NodeID, ClusterID}`, and raft bootstraps
 *   with one ConfChangeAddNode entry per member at term 1 whose context is the member's JSON;
 * - a WAL: a restart. The newest `.snap` is loaded, the WAL opened at it and read to the end,
 *   and the MemoryStorage filled with snapshot, hard state and entries. Raft replays every
 *   entry after the snapshot; the applier skips those at or below the backend's consistent
 *   index.
 *
 * The backend is `member/snap/db` in both cases.
 *
 * @module
 */

import { dirname, join } from "node:path";
import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { computeClusterId, computeMemberId, goUrlString } from "../ids/mod.ts";
import { type Member, memberJson, RaftCluster } from "./membership.ts";
import { assertNotBootstrapped, joinExistingCluster } from "./cluster_join.ts";
import { forceNewClusterLog } from "./cluster_force.ts";
import {
  type HardState,
  MemoryStorage,
  type Peer,
  RawNode,
  ReadOnlyOption,
  type Snapshot,
  Xoshiro128,
} from "../raft/mod.ts";
import { decodeMetadata, encodeMetadata, Wal, type WalContents, WalError } from "../wal/mod.ts";
import { parseSnapName, SnapError, Snapshotter } from "../snap/mod.ts";

const _encoder = new TextEncoder();
/** etcd's maxSizePerMsg (1 MiB) and maxInflightMsgs (4096 / 8). */
const _MAX_SIZE_PER_MSG = 1024 * 1024;
const _MAX_INFLIGHT_MSGS = 512;
const _MAX_UNCOMMITTED_ENTRIES_BYTES = 1 << 30;

/** Everything a server needs from its data directory. */
export interface Bootstrapped {
  memberId: bigint;
  clusterId: bigint;
  cluster: RaftCluster;
  /** The peers of a new cluster (the bootstrap entries are in the first Ready); [] on restart. */
  newCluster: boolean;
  wal: Wal;
  snapshotter: Snapshotter;
  storage: MemoryStorage;
  rawNode: RawNode;
  hardState: HardState;
  /** The snapshot loaded on restart, if any. */
  snapshot: Snapshot | undefined;
  /** Path of the backend file. */
  backendPath: string;
}

/** Where the member's files live. */
export function memberPaths(cfg: ServerConfig): { memberDir: string; dbPath: string } {
  const memberDir = join(cfg.dataDir, "member");
  return { memberDir, dbPath: join(cfg.dataDir, "member", "snap", "db") };
}

/** Makes `dir` (and parents) with etcd's private mode and checks that it is usable. */
function _ensureDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Touch a probe to fail early, with a clear message, on a directory we cannot write.
  const probe = join(dir, ".touch");
  try {
    Deno.writeFileSync(probe, new Uint8Array(0));
    Deno.removeSync(probe);
  } catch (error) {
    throw new Error(`cannot access data directory: ${dir}: ${(error as Error).message}`);
  }
}

/** The raft configuration of this member (etcd's raft.Config in startNode/restartNode). */
function _raftConfig(cfg: ServerConfig, id: bigint, storage: MemoryStorage) {
  const electionTick = Math.max(1, Math.floor(cfg.electionTimeoutMs / cfg.heartbeatIntervalMs));
  // A seed of our own per start; raft uses it only for randomized election timeouts.
  const seed = Number(id & 0xffffn) ^ (Date.now() & 0xffffffff);
  return {
    id,
    electionTick,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: _MAX_SIZE_PER_MSG,
    maxInflightMsgs: _MAX_INFLIGHT_MSGS,
    maxUncommittedEntriesSize: _MAX_UNCOMMITTED_ENTRIES_BYTES,
    checkQuorum: true,
    preVote: cfg.preVote,
    readOnlyOption: ReadOnlyOption.ReadOnlySafe,
    rand: new Xoshiro128(seed >>> 0),
  };
}

/** Opens or creates the member's WAL, snapshots and raft node. */
export async function bootstrap(cfg: ServerConfig, log: Logger): Promise<Bootstrapped> {
  _ensureDir(cfg.dataDir);
  const { dbPath } = memberPaths(cfg);
  _ensureDir(cfg.snapDir);
  _ensureDir(dirname(dbPath));
  // With --snap-dir on another disk, db files received from a leader must still land beside
  // member/snap/db so that the rename that installs them stays on one file system.
  const snapshotter = new Snapshotter(cfg.snapDir, { dbDir: dirname(dbPath) });
  if (Wal.exists(cfg.walDir)) return await _restart(cfg, log, snapshotter, dbPath);
  return await _startNew(cfg, log, snapshotter, dbPath);
}

/** The members of the initial cluster, with their IDs (etcd NewClusterFromURLsMap). */
export function initialMembers(cfg: ServerConfig): Member[] {
  const members: Member[] = [];
  for (const [name, urls] of cfg.initialCluster) {
    const peerUrls = urls.map(goUrlString);
    const id = computeMemberId(peerUrls, cfg.initialClusterToken);
    members.push({ id, peerUrls, isLearner: false, name, clientUrls: [] });
  }
  return members;
}

async function _startNew(
  cfg: ServerConfig,
  log: Logger,
  snapshotter: Snapshotter,
  dbPath: string,
): Promise<Bootstrapped> {
  if (cfg.initialClusterState === "existing") {
    return await _joinExisting(cfg, log, snapshotter, dbPath);
  }
  const members = initialMembers(cfg);
  const local = members.find((m) => m.name === cfg.name);
  if (local === undefined) {
    throw new Error(
      `couldn't find local name "${cfg.name}" in the initial cluster configuration`,
    );
  }
  const advertised = cfg.initialAdvertisePeerUrls.map(goUrlString).sort();
  const listed = [...local.peerUrls].sort();
  // With --discovery-srv, discovery compared them after resolving host names, as etcd does.
  if (advertised.join(",") !== listed.join(",") && cfg.discoverySrv === "") {
    throw new Error(
      `--initial-cluster has ${cfg.name}=${listed.join(",")} but missing from ` +
        `--initial-advertise-peer-urls=${advertised.join(",")}`,
    );
  }
  const clusterId = computeClusterId(members.map((m) => m.id));
  const memberId = local.id;
  // etcd asks the other members only for a static cluster: with discovery its check runs
  // on the temporary one-member cluster, before discovery, and so asks no one.
  if (members.length > 1 && cfg.discovery === "") await assertNotBootstrapped(cfg, memberId);
  const metadata = encodeMetadata({ nodeId: memberId, clusterId });
  const wal = await Wal.create(cfg.walDir, metadata, { logger: log.named("wal") });
  const storage = new MemoryStorage();
  const rawNode = new RawNode(_raftConfig(cfg, memberId, storage));
  const peers: Peer[] = members
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((m) => ({ id: m.id, context: _encoder.encode(memberJson(m)) }));
  rawNode.bootstrap(peers);
  log.info("starting local member", {
    "local-member-id": memberId.toString(16),
    "cluster-id": clusterId.toString(16),
  });
  return {
    memberId,
    clusterId,
    cluster: new RaftCluster(memberId, clusterId),
    newCluster: true,
    wal,
    snapshotter,
    storage,
    rawNode,
    hardState: { term: 0, vote: 0n, commit: 0 },
    snapshot: undefined,
    backendPath: dbPath,
  };
}

/**
 * A member added with MemberAdd joins the running cluster: IDs come from a peer's `/members`,
 * and raft starts with an empty log that the leader fills (entries or a snapshot).
 */
async function _joinExisting(
  cfg: ServerConfig,
  log: Logger,
  snapshotter: Snapshotter,
  dbPath: string,
): Promise<Bootstrapped> {
  const joined = await joinExistingCluster(cfg);
  const { memberId, clusterId } = joined;
  const wal = await Wal.create(cfg.walDir, encodeMetadata({ nodeId: memberId, clusterId }), {
    logger: log.named("wal"),
  });
  const storage = new MemoryStorage();
  const cluster = new RaftCluster(memberId, clusterId);
  for (const member of joined.members) cluster.members.set(member.id, member);
  log.info("joining existing cluster", {
    "local-member-id": memberId.toString(16),
    "cluster-id": clusterId.toString(16),
  });
  return {
    memberId,
    clusterId,
    cluster,
    newCluster: false,
    wal,
    snapshotter,
    storage,
    rawNode: new RawNode(_raftConfig(cfg, memberId, storage)),
    hardState: { term: 0, vote: 0n, commit: 0 },
    snapshot: undefined,
    backendPath: dbPath,
  };
}

/**
 * The newest `.snap` that the WAL has a snapshot record for, with the WAL opened at it and
 * read (etcd's LoadNewestAvailable over the WAL's valid snapshot entries). A snap is written
 * before its WAL record, so a crash between the two leaves a newer orphan snap: it is
 * skipped, as etcd skips it.
 */
async function _openAtNewestSnapshot(
  cfg: ServerConfig,
  snapshotter: Snapshotter,
  log: Logger,
): Promise<{ snapshot: Snapshot | undefined; wal: Wal; contents: WalContents }> {
  let names: string[] = [];
  try {
    names = snapshotter.snapNames();
  } catch (error) {
    if (!(error instanceof SnapError) || error.code !== "no-snapshot") throw error;
  }
  const positions = names
    .map(parseSnapName)
    .filter((p): p is { term: number; index: number } => p !== undefined);
  for (const position of positions) {
    let snapshot: Snapshot;
    try {
      snapshot = snapshotter.loadNewestAvailable([position]);
    } catch (error) {
      if (error instanceof SnapError) continue; // damaged: set aside by the snapshotter
      throw error;
    }
    const at = { index: snapshot.metadata.index, term: snapshot.metadata.term };
    const wal = await Wal.open(cfg.walDir, at, { logger: log.named("wal") });
    try {
      return { snapshot, wal, contents: await wal.readAll() };
    } catch (error) {
      await wal.close();
      if (!(error instanceof WalError) || error.code !== "snapshot-not-found") throw error;
      log.warn("skipping a snapshot the WAL does not know", { "snapshot-index": at.index });
    }
  }
  const wal = await Wal.open(cfg.walDir, { index: 0, term: 0 }, { logger: log.named("wal") });
  return { snapshot: undefined, wal, contents: await wal.readAll() };
}

/** Whether the WAL's member and cluster IDs are those a new-cluster start with `cfg` makes. */
function _bootstrappedFromFlags(
  cfg: ServerConfig,
  metadata: { nodeId: bigint; clusterId: bigint },
): boolean {
  const members = initialMembers(cfg);
  if (!members.some((m) => m.id === metadata.nodeId)) return false;
  return computeClusterId(members.map((m) => m.id)) === metadata.clusterId;
}

async function _restart(
  cfg: ServerConfig,
  log: Logger,
  snapshotter: Snapshotter,
  dbPath: string,
): Promise<Bootstrapped> {
  const { snapshot, wal, contents } = await _openAtNewestSnapshot(cfg, snapshotter, log);
  if (contents.repaired !== undefined) {
    log.warn("repaired torn WAL tail", {
      segment: contents.repaired.segment,
      offset: contents.repaired.offset,
    });
  }
  const metadata = decodeMetadata(contents.metadata);
  let { entries, hardState } = contents;
  if (cfg.forceNewCluster) {
    // etcd's restartAsStandaloneNode: drop uncommitted entries, commit removals of the others.
    const forced = forceNewClusterLog({ self: metadata.nodeId, snapshot, entries, hardState });
    await wal.save(forced.hardState, forced.appended);
    ({ entries, hardState } = forced);
    log.info("forcing restart member", {
      "local-member-id": metadata.nodeId.toString(16),
      "commit-index": hardState.commit,
    });
  }
  const storage = new MemoryStorage();
  if (snapshot !== undefined) storage.applySnapshot(snapshot);
  storage.setHardState(hardState);
  storage.append(entries);
  const rawNode = new RawNode(_raftConfig(cfg, metadata.nodeId, storage));
  // A crash between creating the WAL and saving the bootstrap entries leaves an empty log:
  // bootstrap again, exactly as the first start would have. Only a member that bootstrapped
  // a new cluster from these flags, though (its WAL's cluster ID is the one --initial-cluster
  // makes): a member added at runtime joined a cluster whose ID came from its peers, and its
  // log comes from the leader; it restarts with an empty log, as etcd's restartNode does.
  const emptyLog = snapshot === undefined && contents.entries.length === 0 &&
    contents.hardState.commit === 0;
  if (emptyLog && _bootstrappedFromFlags(cfg, metadata)) {
    const members = initialMembers(cfg);
    const peers: Peer[] = members
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((m) => ({ id: m.id, context: _encoder.encode(memberJson(m)) }));
    rawNode.bootstrap(peers);
  }
  log.info("restarting local member", {
    "local-member-id": metadata.nodeId.toString(16),
    "cluster-id": metadata.clusterId.toString(16),
    "commit-index": contents.hardState.commit,
  });
  const cluster = new RaftCluster(metadata.nodeId, metadata.clusterId);
  if (snapshot?.data !== undefined && snapshot.data.length > 0) {
    cluster.loadFromV2Json(snapshot.data);
  }
  return {
    memberId: metadata.nodeId,
    clusterId: metadata.clusterId,
    cluster,
    newCluster: false,
    wal,
    snapshotter,
    storage,
    rawNode,
    hardState,
    snapshot,
    backendPath: dbPath,
  };
}
