/**
 * One etcd member: the glue between raft, the WAL, the backend, the key-value store, the
 * lessor and the API (etcd's `etcdserver/server.go` and `v3_server.go`).
 *
 * Writes: `propose()` encodes an InternalRaftRequest with a fresh request ID, registers a
 * waiter, and hands the bytes to raft; the Ready loop makes the entry durable, the applier
 * applies it and triggers the waiter with the response. Reads: `readRange()` waits for a
 * shared ReadIndex round (linearizable) or reads at once (serializable).
 *
 * @module
 */

import { ok as assert } from "node:assert/strict";
import { etcdserverpb } from "../etcdserverpb/mod.ts";
import {
  ErrNoLeader,
  ErrRequestTooLarge,
  ErrStopped,
  ErrTimeout,
  type ServerError,
} from "./errors.ts";
import type Long from "long";
import {
  bigintToLong,
  bigintToULong,
  decodePutProposal,
  encodeMessage,
  encodePutProposal,
  encodeV2Request,
  longToBigint,
  longToNumber,
} from "../etcdserverpb/mod.ts";
import { type BoltBackend, openBackend } from "../backend/mod.ts";
import {
  DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS,
  type LeaseCheckpoint,
  Lessor,
  minLeaseTtlSeconds,
  testLeaseCheckpointIntervalMs,
} from "../lease/mod.ts";
import { WatchableStore } from "../mvcc/mod.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
  type SoftState,
  StateType,
} from "../raft/mod.ts";
import { purgeWals } from "../wal/mod.ts";
import { purgeSnaps } from "../snap/mod.ts";
import type { ServerConfig } from "./config.ts";
import { ETCD_CLUSTER_VERSION, ETCD_VERSION } from "./config.ts";
import type { Logger } from "./log.ts";
import { type Bootstrapped } from "./bootstrap.ts";
import {
  attributesJson,
  parseConfChangeContext,
  parseMemberJson,
  RaftCluster,
} from "./membership.ts";
import { recoverStore, saveStore, V2Store } from "../v2store/mod.ts";
import { applyV2Request, type ApplyV2Result } from "./apply_v2.ts";
import { AlarmStore, BackendQuota } from "./quota.ts";
import { AuthStore, SimpleTokenProvider, type TokenProvider } from "../auth/mod.ts";
import { applyRequest, type ApplyResult, type ApplyTarget } from "./apply.ts";
import { ReadIndexer } from "./read_index.ts";
import { RaftNode, type Transport } from "./raft_node.ts";
import { Wait, WaitIndex } from "./wait.ts";
import { int64 } from "./kv_ops.ts";
import { Compactor } from "./compactor.ts";
import { goDurationString } from "../wal/mod.ts";
import {
  addProposalsPending,
  debuggingServerLeaseExpiredTotal,
  reportMember,
  serverHeartbeatSendFailuresTotal,
  serverLeaderChangesSeenTotal,
  serverProposalsFailedTotal,
  serverSlowApplyTotal,
  serverSnapshotApplyInProgressTotal,
} from "./metrics.ts";
import { TimeoutDetector } from "./timeout_detector.ts";
import { V2Stats } from "./v2_stats.ts";
import { describeRequest } from "./request_string.ts";

const _decoder = new TextDecoder();
/** etcd's lease revoke loop period and the request timeout base. */
const _LEASE_CHECK_MS = 500;
const _REQUEST_TIMEOUT_BASE_MS = 5000;
const _READ_INDEX_RETRY_MS = 500;
/** The least time between two attempts to publish the member's attributes. */
const _PUBLISH_RETRY_PAUSE_MS = 100;
/** etcd's rafthttp ConnReadTimeout: how long adjustTicks waits for peer streams. */
const _PEER_CONN_READ_TIMEOUT_MS = 5000;
/**
 * A snapshot (backend commit, `.snap`, WAL record, purge) that takes longer than this is logged
 * (a detcd warning): its files are written beside the raft loop, but the next snapshot waits.
 */
const _SLOW_SNAPSHOT_WARN_MS = 1000;
/** How often adjustTicks looks at the peer streams. */
const _TICK_ADVANCE_POLL_MS = 50;

/** etcd's `idutil.Generator`: member ID bits, a millisecond timestamp, a counter. */
class _RequestIdGenerator {
  readonly #prefix: bigint;
  #suffix: bigint;

  constructor(memberId: bigint) {
    // 2 bytes of member ID, 5 bytes of milliseconds, 1 byte of counter.
    this.#prefix = (memberId & 0xffffn) << 48n;
    this.#suffix = (BigInt(Date.now()) & ((1n << 40n) - 1n)) << 8n;
  }

  next(): bigint {
    this.#suffix++;
    return this.#prefix | (this.#suffix & ((1n << 48n) - 1n));
  }
}

function _isZero(value: Long | number): boolean {
  return typeof value === "number" ? value === 0 : value.isZero();
}

/**
 * Decodes an entry's request. etcd 3.4 proposes v2 requests (a member publishing itself,
 * the cluster version) as a bare `etcdserverpb.Request`, not wrapped: those that do not parse
 * as an InternalRaftRequest are read as one (etcd's backward-compatible path).
 */
/** The response message type of each request kind whose response the applier builds. */
const _RESPONSE_TYPES: [
  keyof etcdserverpb.InternalRaftRequest,
  { encode(m: never): { finish(): Uint8Array } },
][] = [
  ["put", etcdserverpb.PutResponse],
  ["deleteRange", etcdserverpb.DeleteRangeResponse],
  ["txn", etcdserverpb.TxnResponse],
  ["compaction", etcdserverpb.CompactionResponse],
  ["leaseGrant", etcdserverpb.LeaseGrantResponse],
  ["leaseRevoke", etcdserverpb.LeaseRevokeResponse],
  ["alarm", etcdserverpb.AlarmResponse],
];

/** etcd's warnOfExpensiveRequest response text: `size:N`, N the encoded response's size. */
function _describeApplyResponse(req: etcdserverpb.InternalRaftRequest, result: ApplyResult) {
  if (result.response === undefined) return "";
  for (const [field, type] of _RESPONSE_TYPES) {
    if (req[field] === undefined || req[field] === null) continue;
    try {
      return `size:${type.encode(result.response as never).finish().length}`;
    } catch {
      return "";
    }
  }
  return "";
}

function _decodeRequest(data: Uint8Array): etcdserverpb.InternalRaftRequest {
  // The entry of a put as `encodePutProposal` writes it, the bulk of entries, is read by hand
  // (protobufjs' result, without its reader and per-field objects); anything else by protobufjs.
  const put = decodePutProposal(data);
  if (put !== undefined) return put;
  try {
    const req = etcdserverpb.InternalRaftRequest.decode(data);
    // Every InternalRaftRequest etcd 3.x proposes has its header; a bare v2 Request (field 1
    // its ID, field 2 its method) may happen to parse as one, but never has field 100.
    if (req.header !== undefined && req.header !== null) return req;
  } catch {
    // Not an InternalRaftRequest: a bare v2 Request.
  }
  const v2 = etcdserverpb.Request.decode(data);
  return etcdserverpb.InternalRaftRequest.create({ ID: v2.ID, v2 });
}

/** A proposal applied: no longer pending (its apply error, if any, is the caller's). */
function _applied<T>(result: T): T {
  addProposalsPending(-1);
  return result;
}

/** A proposal given up (timeout, dropped, stopped): etcd counts it failed, not apply errors. */
function _proposalFailed(error: unknown): never {
  addProposalsPending(-1);
  serverProposalsFailedTotal.inc();
  throw error;
}

/** Whether `req` sets nothing but `put` (its header is set by `propose`). */
function _isPutOnly(req: etcdserverpb.InternalRaftRequest.$Properties): boolean {
  for (const name in req) {
    if (name !== "put" && name !== "header" && (req as Record<string, unknown>)[name] != null) {
      return false;
    }
  }
  return req.header == null;
}

/** A v3 proposal applied: no longer pending; its result, or its apply error thrown. */
function _appliedOrThrow(result: ApplyResult): ApplyResult {
  addProposalsPending(-1);
  if (result.error !== undefined) throw result.error;
  return result;
}

/** The member. Build it with `startServer` (mod.ts). */
export class EtcdServer implements ApplyTarget {
  readonly cfg: ServerConfig;
  readonly log: Logger;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly cluster: RaftCluster;
  /** Replaced when a db snapshot from the leader is applied. */
  backend: BoltBackend;
  readonly kv: WatchableStore;
  readonly lessor: Lessor;
  /** Users, roles, permissions and tokens (rebuilt from a db snapshot from the leader). */
  readonly authStore: AuthStore;
  /**
   * The v2 store (etcd's `v2store`): membership under `/0`, the v2 keys under `/1`. Held in
   * memory only, rebuilt from the `.snap` and the entries after it on a restart.
   */
  readonly v2store: V2Store;
  alarms: AlarmStore;
  readonly quota: BackendQuota;
  readonly raft: RaftNode;
  /** Carries raft messages to the other members (cluster_peers.ts); one member sends none. */
  transport: Transport & { activePeers?: () => number } = { send: () => {} };
  /** Told after membership changed (a conf change applied, a snapshot restored). */
  onMembershipApplied: () => void = () => {};
  /** The v2 statistics (`/v2/stats/self`, `/v2/stats/leader`), fed by the peer transport. */
  readonly v2Stats: V2Stats;
  /** The applied index, with waiters (ReadIndex). */
  readonly applied = new WaitIndex();
  readonly #boot: Bootstrapped;
  readonly #wait = new Wait();
  readonly #ids: _RequestIdGenerator;
  readonly #reads: ReadIndexer;
  readonly #compactor: Compactor;
  readonly #requestTimeoutMs: number;
  /** The IDs as the encoder wants them, made once (every response header carries them). */
  readonly #clusterIdLong: Long;
  readonly #memberIdLong: Long;
  #consistentIndex: number;
  #applyingIndex = 0;
  #appliedIndex = 0;
  #snapshotIndex = 0;
  #confState: ConfState = {
    voters: [],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  #term = 0;
  #lead = 0n;
  /** Gaps between a leader's heartbeats to each peer (etcd's raftNode.td). */
  readonly #heartbeats: TimeoutDetector;
  #isLeader = false;
  #leaderWaiters: (() => void)[] = [];
  #leaseTimer: ReturnType<typeof setInterval> | undefined;
  #published = false;
  /**
   * The commit index in the WAL at start: entries up to it are replayed from an earlier run
   * (with the consistent index saved as etcd 3.4 does, many are applied again), so a publish
   * among them is not this run's and their membership notices are not logged again.
   */
  #replayedTo = 0;
  #publishing = false;
  #stopped = false;
  /** The snapshot whose files are being written beside the raft loop, if one is. */
  #snapshotInFlight: Promise<void> | null = null;
  readonly #done: Promise<void>;
  #resolveDone!: () => void;
  readonly #ready: Promise<void>;
  #resolveReady!: () => void;

  /**
   * Opens the backend and the stores over a bootstrapped data directory. `tokens` is the
   * scheme of `--auth-token` (`newAuthTokenProvider`); simple tokens when not given.
   */
  constructor(cfg: ServerConfig, log: Logger, boot: Bootstrapped, tokens?: TokenProvider) {
    this.cfg = cfg;
    this.log = log;
    this.#boot = boot;
    this.memberId = boot.memberId;
    this.clusterId = boot.clusterId;
    this.cluster = boot.cluster;
    this.#requestTimeoutMs = _REQUEST_TIMEOUT_BASE_MS + 2 * cfg.electionTimeoutMs;
    this.#clusterIdLong = bigintToULong(boot.clusterId);
    this.#memberIdLong = bigintToULong(boot.memberId);
    this.#ids = new _RequestIdGenerator(boot.memberId);
    this.v2Stats = new V2Stats({ name: cfg.name, id: boot.memberId });
    this.#done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#ready = new Promise((resolve) => this.#resolveReady = resolve);
    this.backend = openBackend({
      path: boot.backendPath,
      batchIntervalMs: cfg.backendBatchIntervalMs,
      batchLimit: cfg.backendBatchLimit,
      freelistType: cfg.backendFreelistType,
      pageCacheBytes: cfg.backendCacheBytes,
      logger: log.named("backend"),
    });
    this.lessor = new Lessor({
      backend: this.backend,
      now: () => Date.now(),
      minLeaseTtlSeconds: minLeaseTtlSeconds(cfg.electionTimeoutMs, cfg.heartbeatIntervalMs),
      checkpointPersist: cfg.experimentalEnableLeaseCheckpointPersist,
      checkpointIntervalMs: testLeaseCheckpointIntervalMs() ?? DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS,
    });
    if (cfg.experimentalEnableLeaseCheckpoint) {
      // etcd proposes checkpoints with raftRequestOnce: no auth header, the error dropped.
      this.lessor.setCheckpointer((checkpoints: LeaseCheckpoint[]) =>
        this.propose({
          leaseCheckpoint: {
            checkpoints: checkpoints.map((c) => ({
              ID: bigintToLong(c.id),
              remaining_TTL: bigintToLong(BigInt(c.remainingTtl)),
            })),
          },
        }).then(() => {})
      );
    }
    this.kv = new WatchableStore(this.backend, {
      lessor: this.lessor,
      consistentIndex: () => this.#applyingIndex,
      compactionBatchLimit: cfg.experimentalCompactionBatchLimit > 0
        ? cfg.experimentalCompactionBatchLimit
        : 1000,
    });
    this.lessor.setRangeDeleter(() => this.kv.write());
    this.alarms = new AlarmStore(this.backend);
    this.authStore = new AuthStore(this.backend, {
      bcryptCost: cfg.bcryptCost,
      saveConsistentIndex: (tx) => this.kv.saveConsistentIndex(tx),
      tokens: tokens ?? new SimpleTokenProvider({
        ttlMs: cfg.authTokenTtlSeconds * 1000,
        waitApplied: (index) => this.applied.wait(index),
        appliedIndex: () => this.applied.reached,
        committedIndex: () => this.committedIndex,
      }),
      log: log.named("auth"),
    });
    this.quota = new BackendQuota(cfg.quotaBackendBytes, () => this.backend.size());
    this.v2store = new V2Store();
    if (boot.snapshot?.data !== undefined && boot.snapshot.data.length > 0) {
      recoverStore(this.v2store, boot.snapshot.data);
    }
    this.cluster.v2store = this.v2store;
    this.#consistentIndex = this.kv.consistentIndex();
    this.#applyingIndex = this.#consistentIndex;
    this.#replayedTo = boot.hardState.commit;
    this.#loadMembership();
    const snapshot = boot.snapshot;
    if (snapshot !== undefined) {
      this.#snapshotIndex = snapshot.metadata.index;
      this.#appliedIndex = snapshot.metadata.index;
      this.#confState = snapshot.metadata.confState;
      this.#term = snapshot.metadata.term;
    }
    this.applied.trigger(this.#appliedIndex);
    this.#reads = new ReadIndexer(
      { readIndex: (ctx) => this.raft.readIndex(ctx), applied: this.applied },
      {
        retryMs: _READ_INDEX_RETRY_MS,
        timeoutMs: this.#requestTimeoutMs,
        idSeed: this.#ids.next(),
      },
    );
    this.raft = new RaftNode({
      rawNode: boot.rawNode,
      storage: boot.storage,
      wal: boot.wal,
      snapshotter: boot.snapshotter,
      transport: {
        send: (messages) => {
          this.#checkHeartbeats(messages);
          this.transport.send(messages);
        },
      },
      handler: this.#handler(),
      heartbeatIntervalMs: cfg.heartbeatIntervalMs,
      hardState: boot.hardState,
    });
    this.#compactor = new Compactor(this, cfg, log);
    this.#heartbeats = new TimeoutDetector(2 * cfg.heartbeatIntervalMs);
    reportMember({
      leader: () => this.#lead,
      isLeader: () => this.#isLeader,
      isLearner: () => this.cluster.members.get(this.memberId)?.isLearner === true,
      committedIndex: () => this.committedIndex,
      appliedIndex: () => this.#appliedIndex,
      quotaBackendBytes: () => this.quota.quotaBytes,
      clusterVersion: () => this.cluster.version,
    }, { version: ETCD_VERSION, memberId: this.memberId });
  }

  /**
   * etcd's warnOfExpensiveGenericRequest: a request (an apply, or a read-only Range or Txn
   * with the prefix `read-only range `) that took longer than
   * --experimental-warning-apply-duration since `beganMs` is logged with the request and its
   * result, and counted in etcd_server_slow_apply_total. The texts are only built then.
   */
  warnIfExpensive(
    prefix: string,
    beganMs: number,
    request: () => string,
    result: () => { response: string; error?: string },
  ): void {
    const tookMs = performance.now() - beganMs;
    if (!(tookMs > this.cfg.experimentalWarningApplyDurationMs)) return;
    const took = goDurationString(tookMs / 1000);
    const { response, error } = result();
    if (this.log.format === "zap") {
      this.log.warn("apply request took too long", {
        took,
        "expected-duration": goDurationString(this.cfg.experimentalWarningApplyDurationMs / 1000),
        prefix,
        request: request(),
        response,
        ...(error === undefined ? {} : { error }),
      });
    } else {
      const shown = error === undefined ? response : `error:${error}`;
      this.log.warn(
        `${prefix}request ${JSON.stringify(request())} with result ${JSON.stringify(shown)} ` +
          `took too long (${took}) to execute`,
      );
    }
    serverSlowApplyTotal.inc();
  }

  #warnSlowApply(
    beganMs: number,
    req: etcdserverpb.InternalRaftRequest,
    result: ApplyResult,
  ): void {
    this.warnIfExpensive("", beganMs, () => describeRequest(req), () => ({
      response: _describeApplyResponse(req, result),
      ...(result.error === undefined ? {} : { error: result.error.message }),
    }));
  }

  /**
   * etcd's raftNode.processMessages: a leader's heartbeat to a peer more than two heartbeat
   * intervals after the previous one means the loop could not send on time.
   */
  #checkHeartbeats(messages: Message[]): void {
    for (const m of messages) {
      if (m.type !== MessageType.MsgHeartbeat) continue;
      const exceedMs = this.#heartbeats.observe(m.to);
      if (exceedMs === 0) continue;
      const heartbeat = goDurationString(this.cfg.heartbeatIntervalMs / 1000);
      const exceeded = goDurationString(exceedMs / 1000);
      if (this.log.format === "zap") {
        this.log.warn(
          "leader failed to send out heartbeat on time; took too long, leader is overloaded " +
            "likely from slow disk",
          {
            to: m.to.toString(16),
            "heartbeat-interval": heartbeat,
            "expected-duration": goDurationString(2 * this.cfg.heartbeatIntervalMs / 1000),
            "exceeded-duration": exceeded,
          },
        );
      } else {
        this.log.warn(
          `failed to send out heartbeat on time (exceeded the ${heartbeat} timeout for ` +
            `${exceeded}, to ${m.to.toString(16)})`,
        );
        this.log.warn("server is likely overloaded");
      }
      serverHeartbeatSendFailuresTotal.inc();
    }
  }

  #loadMembership(): void {
    RaftCluster.createBuckets(this.backend);
    const fromBackend = new RaftCluster(this.memberId, this.clusterId);
    fromBackend.loadFromBackend(this.backend);
    if (fromBackend.members.size > 0) {
      for (const m of fromBackend.members.values()) this.cluster.members.set(m.id, m);
      for (const id of fromBackend.removed) this.cluster.removed.add(id);
    }
    if (fromBackend.version !== undefined) this.cluster.version = fromBackend.version;
  }

  /**
   * The raft snapshot a follower gets with the current db (etcd's createMergedSnapshotMessage):
   * at the applied index, with the current ConfState, so that a member added after the last
   * `.snap` finds itself in it. Call in the same turn as `backend.snapshot()`.
   */
  mergedSnapshot(): Snapshot {
    const index = this.#appliedIndex;
    return {
      data: saveStore(this.v2store),
      metadata: {
        index,
        term: this.#boot.storage.term(index),
        confState: structuredClone(this.#confState),
      },
    };
  }

  /** Where `.snap` files and received db snapshots live. */
  get snapshotter(): Bootstrapped["snapshotter"] {
    return this.#boot.snapshotter;
  }

  /** Resolves when the server has stopped. */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * Resolves once this member has published its attributes to the cluster through raft, that
   * is once it has joined the cluster and can serve (etcd's ReadyNotify).
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** The current raft term. */
  get term(): number {
    return this.#term;
  }

  /** The leader's ID, 0n when there is none. */
  get leader(): bigint {
    return this.#lead;
  }

  /** Whether this member is the leader. */
  get isLeader(): boolean {
    return this.#isLeader;
  }

  /** The index of the entry being applied (the raft index an Authenticate token ends with). */
  get applyingIndex(): number {
    return this.#applyingIndex;
  }

  /** The index of the last applied entry. */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /**
   * etcd's adjustTicks for a member of several (`--initial-election-tick-advance`, default on):
   * once streams to more than one peer are up, fast-forward all but two election ticks, so a
   * restarted cluster elects a leader sooner; give up after the peer read timeout (5 s).
   */
  async #advanceTicksOncePeersConnect(electionTicks: number): Promise<void> {
    this.log.info("starting initial election tick advance", { "election-ticks": electionTicks });
    for (
      let waitedMs = 0;
      waitedMs < _PEER_CONN_READ_TIMEOUT_MS;
      waitedMs += _TICK_ADVANCE_POLL_MS
    ) {
      await new Promise((resolve) => setTimeout(resolve, _TICK_ADVANCE_POLL_MS));
      if (this.#stopped) return;
      const active = this.transport.activePeers?.() ?? 0;
      if (active > 1) {
        const ticks = Math.max(0, electionTicks - 2);
        this.log.info("initialized peer connections; fast-forwarding election ticks", {
          "local-member-id": this.memberId.toString(16),
          "forward-ticks": ticks,
          "election-ticks": electionTicks,
          "active-remote-members": active,
        });
        this.raft.advanceTicks(ticks);
        return;
      }
    }
  }

  /** etcd's ReqTimeout: 5 s plus two election timeouts. */
  get requestTimeoutMs(): number {
    return this.#requestTimeoutMs;
  }

  /** The raft commit index. */
  get committedIndex(): number {
    return this.raft.status().hardState.commit;
  }

  /** Starts raft, the lease loop and the compactor. */
  start(): void {
    this.raft.start();
    // etcd's adjustTicks: the only voter need not wait a whole election timeout.
    const voters = this.#boot.newCluster ? this.cfg.initialCluster.size : this.#votersCount();
    const electionTicks = Math.floor(this.cfg.electionTimeoutMs / this.cfg.heartbeatIntervalMs);
    if (voters <= 1) {
      this.raft.advanceTicks(Math.max(0, electionTicks - 1));
    } else if (!this.cfg.initialElectionTickAdvance) {
      this.log.info("skipping initial election tick advance", { "election-ticks": electionTicks });
    } else {
      void this.#advanceTicksOncePeersConnect(electionTicks);
    }
    this.#leaseTimer = setInterval(() => {
      this.#wait.sweep(Date.now(), ErrTimeout);
      this.#revokeExpiredLeases();
      if (!this.#stopped) this.lessor.checkpointScheduledLeases();
      this.#syncV2();
    }, _LEASE_CHECK_MS);
    this.#compactor.start();
  }

  #votersCount(): number {
    const members = [...this.cluster.members.values()].filter((m) => !m.isLearner);
    return Math.max(members.length, this.#confState.voters.length);
  }

  /** Runs one auto-compaction check at once (tests). */
  compactorCheckNow(): void {
    this.#compactor.checkNow();
  }

  /** Stops everything and closes the files. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return await this.#done;
    this.#stopped = true;
    if (this.#leaseTimer !== undefined) clearInterval(this.#leaseTimer);
    this.#compactor.stop();
    this.#reads.stop();
    await this.raft.stop();
    // The WAL and the backend close after the snapshot being written is complete.
    await this.#snapshotInFlight;
    this.#wait.cancelAll(ErrStopped);
    for (const wake of this.#leaderWaiters) wake();
    this.#leaderWaiters = [];
    try {
      await this.kv.compactionsDone();
    } catch {
      // A failed compaction is redone on the next start.
    }
    this.kv.close();
    this.authStore.close();
    this.backend.close();
    await this.#boot.wal.close();
    this.#resolveDone();
  }

  /**
   * Fills a response header as etcd's `header.fill` does, and checks that it claims no
   * revision the store has not reached.
   */
  fillHeader(header: etcdserverpb.ResponseHeader.$Properties | null | undefined) {
    const h = header ?? {};
    h.clusterId = this.#clusterIdLong;
    h.memberId = this.#memberIdLong;
    h.raftTerm = int64(this.#term);
    if (h.revision === undefined || h.revision === null || Number(h.revision) === 0) {
      h.revision = int64(this.kv.rev);
    } else {
      assert(longToNumber(h.revision) <= this.kv.rev, "response header: revision past the store's");
    }
    return h;
  }

  /** A new request ID (also used for lease IDs chosen by the server). */
  nextRequestId(): bigint {
    return this.#ids.next();
  }

  // -- write path ------------------------------------------------------------------------

  /**
   * Proposes a request through raft and waits for it to be applied. Rejects with etcd's
   * errors: request too large, no leader, timeout, stopped; or the apply error. `auth` is the
   * caller (user and auth revision), carried in the entry's header.
   */
  propose(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    signal?: AbortSignal,
    auth?: { readonly username: string; readonly revision: number },
  ): Promise<ApplyResult> {
    return this.#propose(req, signal, auth, _appliedOrThrow);
  }

  /**
   * `propose` for a write whose applied response goes back to the client as it is (put,
   * delete, txn): resolves with the apply result's response, its header filled
   * (`fillHeader`), in the same `then` that settles the proposal: one promise per request
   * fewer than a `then` of the caller's own.
   */
  proposeForResponse(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    signal?: AbortSignal,
    auth?: { readonly username: string; readonly revision: number },
  ): Promise<{ header?: etcdserverpb.ResponseHeader.$Properties | null }> {
    return this.#propose(req, signal, auth, this.#appliedResponse);
  }

  /** A proposal applied: its response with the header filled, or its apply error thrown. */
  readonly #appliedResponse = (
    result: ApplyResult,
  ): { header?: etcdserverpb.ResponseHeader.$Properties | null } => {
    const response = _appliedOrThrow(result).response ?? {};
    response.header = this.fillHeader(response.header);
    return response;
  };

  #propose<R>(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    signal: AbortSignal | undefined,
    auth: { readonly username: string; readonly revision: number } | undefined,
    onApplied: (result: ApplyResult) => R,
  ): Promise<R> {
    // Not an async function: a put pays for one promise chain, not for three suspended frames.
    if (this.#stopped) return Promise.reject(ErrStopped);
    if (this.#lead === 0n) {
      return this.#waitLeader(signal).then(() => this.#proposeLed(req, auth, onApplied));
    }
    try {
      return this.#proposeLed(req, auth, onApplied);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `propose` once there is a leader: may throw (ErrRequestTooLarge, ErrNoLeader). */
  #proposeLed<R>(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    auth: { readonly username: string; readonly revision: number } | undefined,
    onApplied: (result: ApplyResult) => R,
  ): Promise<R> {
    const id = this.#ids.next();
    // A put by an anonymous caller, the bulk of writes, is encoded by hand (the same bytes).
    let data = auth === undefined && req.put != null && _isPutOnly(req)
      ? encodePutProposal(req.put, id)
      : undefined;
    if (data === undefined) {
      req.header = { ID: bigintToULong(id) };
      // The applier checks writes again against who asked and the auth revision it was
      // authorised at (etcd's authApplierV3).
      if (auth !== undefined) {
        req.header.username = auth.username;
        req.header.authRevision = bigintToULong(BigInt(auth.revision));
      }
      data = encodeMessage(etcdserverpb.InternalRaftRequest, req);
    }
    if (data.length > this.cfg.maxRequestBytes) throw ErrRequestTooLarge;
    return this.#proposeAndWait(id, data, onApplied);
  }

  /** Fails the waiter of a proposal raft dropped (one handler for all, told apart by ID). */
  readonly #proposalDropped = (id: bigint): void => {
    this.#wait.fail(id, ErrNoLeader);
  };

  /**
   * Proposes the encoded entry of request `id` and waits for its apply result, with etcd's
   * proposal metrics. Rejects with ErrNoLeader when raft refuses or drops it, and with
   * ErrTimeout past the request timeout (the sweep timer of start()). `onApplied` takes the
   * proposal out of the pending count (`_applied`, `_appliedOrThrow`): one `then` per request.
   */
  #proposeAndWait<T, R>(id: bigint, data: Uint8Array, onApplied: (result: T) => R): Promise<R> {
    const applied = this.#wait.register<T>(id, Date.now() + this.#requestTimeoutMs);
    addProposalsPending(1);
    try {
      this.raft.propose(data, this.#proposalDropped, id);
    } catch {
      addProposalsPending(-1);
      serverProposalsFailedTotal.inc();
      this.#wait.fail(id, ErrNoLeader);
      applied.catch(() => {});
      return Promise.reject(ErrNoLeader);
    }
    return applied.then(onApplied, _proposalFailed);
  }

  /**
   * Proposes a v2 request as etcd does (a bare `etcdserverpb.Request`, its own ID) and waits
   * for the applier's event. Rejects with the v2 error of the apply, or etcd's errors.
   */
  async proposeV2(
    r: etcdserverpb.Request.$Properties,
    signal?: AbortSignal,
  ): Promise<ApplyV2Result> {
    if (this.#stopped) throw ErrStopped;
    await this.#waitLeader(signal);
    const id = this.#ids.next();
    r.ID = bigintToULong(id);
    // etcd 3.4 proposes v2 requests without the --max-request-bytes check of the v3 API.
    return await this.#proposeAndWait(id, encodeV2Request(r), _applied<ApplyV2Result>);
  }

  /**
   * etcd's sync: while the v2 store has TTL nodes, the leader proposes a SYNC with its clock
   * every 500 ms, and every member expires the nodes due at that time when it applies it.
   */
  #syncV2(): void {
    if (!this.#isLeader || this.#stopped || !this.v2store.hasTtlKeys()) return;
    const r: etcdserverpb.Request.$Properties = {
      ID: bigintToULong(this.#ids.next()),
      Method: "SYNC",
      Time: bigintToLong(BigInt(Date.now()) * 1_000_000n),
    };
    try {
      // A SYNC dropped by raft is not retried: the next tick's SYNC carries a later time.
      this.raft.propose(encodeV2Request(r), () => {});
    } catch {
      // No leader any more: the next leader syncs.
    }
  }

  /** Waits for a leader (bounded by the request timeout). */
  async #waitLeader(signal?: AbortSignal): Promise<void> {
    if (this.#lead !== 0n) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => wake = resolve);
    this.#leaderWaiters.push(wake);
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#requestTimeoutMs);
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    await Promise.race([woken, timeout]);
    clearTimeout(timer);
    if (this.#stopped) throw ErrStopped;
    if (this.#lead === 0n) throw ErrTimeout;
  }

  /**
   * Raises the NOSPACE alarm through raft (etcd's quota check does this before failing a
   * request with ErrNoSpace).
   */
  async raiseNoSpace(signal?: AbortSignal): Promise<void> {
    if (this.alarms.has(etcdserverpb.AlarmType.NOSPACE)) return;
    try {
      await this.propose({
        alarm: {
          action: etcdserverpb.AlarmRequest.AlarmAction.ACTIVATE,
          memberID: bigintToULong(this.memberId),
          alarm: etcdserverpb.AlarmType.NOSPACE,
        },
      }, signal);
    } catch (error) {
      this.log.warn("failed to raise NOSPACE alarm", { error: String(error) });
    }
  }

  /** Waits until this member has applied everything committed before the call. */
  async linearizableReadNotify(signal?: AbortSignal): Promise<void> {
    if (this.#stopped) throw ErrStopped;
    await this.#reads.wait(signal);
  }

  /**
   * Proposes a membership change and waits until it is applied (etcd's `configure`): the
   * waiter is keyed by the ConfChange ID.
   */
  async proposeConfChange(cc: ConfChange, signal?: AbortSignal): Promise<void> {
    if (this.#stopped) throw ErrStopped;
    await this.#waitLeader(signal);
    const applied = this.#wait.register<ApplyResult>(cc.id, Date.now() + this.#requestTimeoutMs);
    try {
      this.raft.proposeConfChange(cc);
    } catch {
      this.#wait.fail(cc.id, ErrNoLeader);
      applied.catch(() => {});
      throw ErrNoLeader;
    }
    const result = await applied;
    if (result.error !== undefined) throw result.error;
  }

  // -- raft callbacks --------------------------------------------------------------------

  #handler() {
    return {
      onSoftState: (state: SoftState) => this.#onSoftState(state),
      onReadStates: (states: import("../raft/mod.ts").ReadState[]) =>
        this.#reads.onReadStates(states),
      onSnapshot: (snapshot: Snapshot) => this.#onRaftSnapshot(snapshot),
      applyEntries: (entries: Entry[]) => this.#applyEntries(entries),
      afterApply: () => this.#afterApply(),
      onFatal: (error: unknown) => this.#onFatal(error),
    };
  }

  #onSoftState(state: SoftState): void {
    const wasLeader = this.#isLeader;
    // etcd counts a change to a known leader other than the one before.
    if (state.lead !== 0n && state.lead !== this.#lead) serverLeaderChangesSeenTotal.inc();
    if (state.lead !== this.#lead) this.#heartbeats.reset();
    this.#lead = state.lead;
    this.#isLeader = state.raftState === StateType.StateLeader;
    this.#term = this.raft.status().hardState.term;
    if (this.#isLeader && !wasLeader) {
      this.log.info("elected leader", {
        "local-member-id": this.memberId.toString(16),
        term: this.#term,
      });
      this.lessor.promote(this.cfg.electionTimeoutMs);
      this.v2Stats.becomeLeader();
    } else if (!this.#isLeader && wasLeader) {
      this.lessor.demote();
    }
    if (this.#lead !== 0n) {
      const waiters = this.#leaderWaiters;
      this.#leaderWaiters = [];
      for (const wake of waiters) wake();
      this.#maybePublish();
    }
  }

  /**
   * etcd's applySnapshot: the db received with the MsgSnap (saved by the peer transport as
   * `<index>.snap.db`) replaces the backend, and leases, keys, alarms and membership are
   * rebuilt from it. Entries after the snapshot that the db already holds are skipped by the
   * consistent index, as on a restart.
   */
  async #onRaftSnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    if (index <= this.#appliedIndex) return;
    serverSnapshotApplyInProgressTotal.set(1);
    try {
      await this.#applyRaftSnapshot(snapshot);
    } finally {
      serverSnapshotApplyInProgressTotal.set(0);
    }
  }

  async #applyRaftSnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    const dbPath = this.#boot.snapshotter.dbFilePath(index);
    await this.kv.compactionsDone().catch(() => {});
    this.backend.close();
    await Deno.rename(dbPath, this.#boot.backendPath);
    this.backend = openBackend({
      path: this.#boot.backendPath,
      batchIntervalMs: this.cfg.backendBatchIntervalMs,
      batchLimit: this.cfg.backendBatchLimit,
      freelistType: this.cfg.backendFreelistType,
      pageCacheBytes: this.cfg.backendCacheBytes,
      logger: this.log.named("backend"),
    });
    this.lessor.recover(this.backend);
    this.kv.restore(this.backend);
    this.alarms = new AlarmStore(this.backend);
    this.authStore.recover(this.backend);
    if (snapshot.data !== undefined && snapshot.data.length > 0) {
      recoverStore(this.v2store, snapshot.data);
      this.cluster.loadFromV2Json(snapshot.data);
    }
    this.#loadMembership();
    this.#consistentIndex = this.kv.consistentIndex();
    this.#applyingIndex = this.#consistentIndex;
    this.#appliedIndex = index;
    this.#snapshotIndex = index;
    this.#confState = snapshot.metadata.confState;
    this.#term = Math.max(this.#term, snapshot.metadata.term);
    this.applied.trigger(index);
    this.log.info("applied snapshot from the leader", {
      "snapshot-index": index,
      "consistent-index": this.#consistentIndex,
    });
    this.onMembershipApplied();
  }

  #applyEntries(entries: Entry[]): void {
    for (const entry of entries) {
      if (entry.index <= this.#appliedIndex) continue;
      if (entry.index !== this.#appliedIndex + 1) {
        throw new Error(`apply: gap: applied ${this.#appliedIndex}, next entry ${entry.index}`);
      }
      if (entry.type === EntryType.EntryNormal) this.#applyNormal(entry);
      else if (entry.type === EntryType.EntryConfChange) this.#applyConfChange(entry);
      else throw new Error(`apply: unsupported entry type ${entry.type}`);
      this.#appliedIndex = entry.index;
      this.#term = Math.max(this.#term, entry.term);
    }
    this.applied.trigger(this.#appliedIndex);
  }

  /**
   * Marks entry `index` applied (etcd's in-memory consistIndex). The db's copy follows as in
   * etcd 3.4: with a write that changed keys, an auth change, or a commit of the store
   * (`kv.commit`, on snapshots); so after a crash the entries after the saved index are applied
   * again, and each of them is idempotent (a lease grant of an existing lease, a member added
   * again, an auth change refused as a duplicate).
   */
  #setConsistentIndex(index: number): void {
    this.#applyingIndex = index;
    this.#consistentIndex = index;
  }

  #applyNormal(entry: Entry): void {
    const shouldApplyV3 = entry.index > this.#consistentIndex;
    const data = entry.data;
    if (data === undefined || data.length === 0) {
      // The empty entry a new leader appends.
      if (shouldApplyV3) this.#setConsistentIndex(entry.index);
      return;
    }
    const req = _decodeRequest(data);
    if (req.v2 !== undefined && req.v2 !== null) {
      // etcd applies v2 requests to the in-memory v2 store on every replay; only their
      // backend writes (membership) are skipped when the backend already holds them.
      this.#applyV2Entry(entry.index, req.v2, shouldApplyV3);
      return;
    }
    if (!shouldApplyV3) return; // already in the backend
    this.#applyingIndex = entry.index;
    // etcd: the ID is in the header; bare v2 requests carry their own.
    const headerId = req.header?.ID;
    const id = headerId !== undefined && headerId !== null && !_isZero(headerId)
      ? longToBigint(headerId)
      : longToBigint(req.ID ?? 0);
    const began = performance.now();
    const result = applyRequest(this, req);
    // The warning's closures are made only for a slow apply, not for every entry.
    if (performance.now() - began > this.cfg.experimentalWarningApplyDurationMs) {
      this.#warnSlowApply(began, req, result);
    }
    this.#setConsistentIndex(entry.index);
    this.#wait.trigger(id, result);
  }

  #applyV2Entry(
    index: number,
    r: etcdserverpb.Request.$Properties,
    shouldApplyV3: boolean,
  ): void {
    if (shouldApplyV3) this.#applyingIndex = index;
    const be = shouldApplyV3 ? this.backend : undefined;
    const live = shouldApplyV3 && index > this.#replayedTo;
    const result = applyV2Request({
      v2store: this.v2store,
      updateMemberAttributes: (id, name, clientUrls) => {
        this.cluster.updateAttributes(id, name, clientUrls, be);
        if (live) this.onMembershipChange("attributes", id);
      },
      setClusterVersion: (version) => {
        this.cluster.setVersion(version, be);
        if (live) this.onMembershipChange("version", 0n);
      },
    }, r);
    if (shouldApplyV3) this.#setConsistentIndex(index);
    this.#wait.trigger(longToBigint(r.ID ?? 0), result);
  }

  #applyConfChange(entry: Entry): void {
    const cc = decodeConfChange(entry.data ?? new Uint8Array(0));
    const shouldApply = entry.index > this.#consistentIndex;
    this.#confState = this.raft.applyConfChange(cc);
    const be = shouldApply ? this.backend : undefined;
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode: {
        const context = parseConfChangeContext(_decoder.decode(cc.context ?? new Uint8Array(0)));
        const member = context.member;
        if (member.id !== cc.nodeId) throw new Error("apply: conf change ID differs from member");
        const known = this.cluster.members.get(member.id);
        if (context.isPromote) {
          // etcd's PromoteMember: the learner becomes a voter, everything else stays.
          if (known !== undefined) this.cluster.addMember({ ...known, isLearner: false }, be);
          this.log.info("promote member", {
            "cluster-id": this.clusterId.toString(16),
            "local-member-id": this.memberId.toString(16),
            "promoted-member-id": member.id.toString(16),
          });
          break;
        }
        if (known !== undefined && known.name !== "") {
          member.name = known.name;
          member.clientUrls = known.clientUrls;
        }
        this.cluster.addMember(member, be);
        this.log.info("added member", {
          "cluster-id": this.clusterId.toString(16),
          "local-member-id": this.memberId.toString(16),
          "added-peer-id": member.id.toString(16),
          "added-peer-peer-urls": member.peerUrls,
        });
        break;
      }
      case ConfChangeType.ConfChangeRemoveNode:
        this.cluster.removeMember(cc.nodeId, be);
        this.log.info("removed member", {
          "local-member-id": this.memberId.toString(16),
          "removed-remote-peer-id": cc.nodeId.toString(16),
        });
        if (cc.nodeId === this.memberId) this.#stopRemoved();
        break;
      case ConfChangeType.ConfChangeUpdateNode: {
        const update = parseMemberJson(_decoder.decode(cc.context ?? new Uint8Array(0)));
        const member = this.cluster.members.get(cc.nodeId);
        if (member !== undefined) {
          member.peerUrls = update.peerUrls;
          this.cluster.addMember(member, be);
        }
        break;
      }
    }
    if (shouldApply) this.#setConsistentIndex(entry.index);
    this.#wait.trigger(cc.id, { response: {} });
    this.onMembershipApplied();
  }

  /** etcd stops a member a little after applying its own removal (stopWithDelay). */
  #stopRemoved(): void {
    const error = new Error("the member has been permanently removed from the cluster");
    this.log.warn(error.message);
    // etcd's process then exits with status 0: a removal is an orderly end, not a failure.
    setTimeout(() => {
      this.#wait.cancelAll(ErrStopped);
      void this.stop();
    }, 10 * this.cfg.heartbeatIntervalMs);
  }

  #afterApply(): Promise<void> {
    if (this.#snapshotInFlight !== null) return Promise.resolve();
    if (this.#appliedIndex - this.#snapshotIndex <= this.cfg.snapshotCount) {
      return Promise.resolve();
    }
    // As etcd's snapshot() (goAttach): the backend commit and the raft snapshot happen here, at
    // the applied index; the files are written beside the raft loop, which goes on with its
    // next round instead of waiting for three fsyncs (the WAL serializes its own writers).
    this.#snapshotInFlight = this.#takeSnapshot()
      .catch((error) => this.#onFatal(error))
      .finally(() => {
        this.#snapshotInFlight = null;
      });
    return Promise.resolve();
  }

  /**
   * etcd's triggerSnapshot: commit the backend (so that its consistent index covers the
   * snapshot), record the snapshot in the WAL, write the `.snap`, compact the raft log keeping
   * the catch-up entries, and let old WAL segments and snaps go.
   */
  async #takeSnapshot(): Promise<void> {
    const index = this.#appliedIndex;
    const storage = this.#boot.storage;
    const began = performance.now();
    this.kv.commit(); // etcd's KV().Commit(): the consistent index covers the snapshot
    const commitMs = performance.now() - began;
    const data = saveStore(this.v2store);
    const snapshot = storage.createSnapshot(index, this.#confState, data);
    // The file first, then the WAL record (etcd 3.4.23's storage.SaveSnap order).
    await this.#boot.snapshotter.saveSnap(snapshot);
    await this.#boot.wal.saveSnapshot({ index, term: snapshot.metadata.term });
    // A snapshot from the leader may have been applied meanwhile.
    if (index > this.#snapshotIndex) this.#snapshotIndex = index;
    const keep = this.cfg.snapshotCatchUpEntries;
    if (index > keep && index - keep >= storage.firstIndex()) storage.compact(index - keep);
    this.#boot.wal.releaseLockTo(index);
    this.log.info("saved snapshot", { "snapshot-index": index });
    purgeSnaps(this.cfg.snapDir, this.cfg.maxSnapshots > 0 ? this.cfg.maxSnapshots : 5);
    if (this.cfg.maxWals > 0) await purgeWals(this.cfg.walDir, this.cfg.maxWals);
    // A snapshot is taken only once the one before it is complete: say so when it is long.
    const tookMs = performance.now() - began;
    if (tookMs > _SLOW_SNAPSHOT_WARN_MS) {
      this.log.warn("snapshot took too long", {
        "snapshot-index": index,
        took: goDurationString(tookMs / 1000),
        "backend-commit": goDurationString(commitMs / 1000),
      });
    }
  }

  /** The error that stopped the member, if one did. */
  fatalError: unknown;

  #onFatal(error: unknown): void {
    this.fatalError = error;
    this.log.error("raft loop failed; stopping", { error: String(error) });
    this.#wait.cancelAll(ErrStopped);
    void this.stop();
  }

  // -- ApplyTarget -----------------------------------------------------------------------

  /** Called by the applier when alarms change. */
  onAlarmChange(): void {}

  /** Called by the applier on published attributes or a new cluster version. */
  onMembershipChange(kind: "attributes" | "version", memberId: bigint): void {
    if (kind === "attributes" && memberId === this.memberId && !this.#published) {
      this.#published = true;
      this.#resolveReady();
      const local = this.cluster.local();
      this.log.info("published local member to cluster through raft", {
        "local-member-id": this.memberId.toString(16),
        "local-member-attributes": local === undefined ? "" : attributesJson(local),
        "cluster-id": this.clusterId.toString(16),
      });
    }
    if (kind === "version") {
      this.log.info("set initial cluster version", {
        "cluster-id": this.clusterId.toString(16),
        "cluster-version": this.cluster.version,
      });
      this.log.info("enabled capabilities for version", {
        "cluster-version": (this.cluster.version ?? "").split(".").slice(0, 2).join("."),
      });
    }
  }

  // -- publish, cluster version, leases --------------------------------------------------

  #maybePublish(): void {
    if (this.#publishing || this.#stopped) return;
    this.#publishing = true;
    void this.#publish().finally(() => this.#publishing = false);
  }

  /**
   * etcd's publish: the member's attributes (name, client URLs) go through raft, attempt after
   * attempt, until they are applied or the server stops. Until then the member lists no client
   * URLs in `/members`, which is what a v2 proxy and `assertNotBootstrapped` read. Each attempt
   * is bounded by the request timeout (waiting for a leader included); an attempt that failed
   * at once (a proposal raft dropped) is followed by a pause, so that the loop never spins.
   */
  async #publish(): Promise<void> {
    while (!this.#published && !this.#stopped) {
      const startedMs = Date.now();
      try {
        await this.proposeV2({
          Method: "PUT",
          Path: `/0/members/${this.memberId.toString(16)}/attributes`,
          Val: this.#localAttributesJson(),
        });
        break; // applied: onMembershipChange has marked the member published
      } catch (error) {
        if (this.#stopped) return;
        this.log.warn("failed to publish local member", { error: (error as ServerError).message });
        const elapsedMs = Date.now() - startedMs;
        if (elapsedMs < _PUBLISH_RETRY_PAUSE_MS) {
          await new Promise((resolve) => setTimeout(resolve, _PUBLISH_RETRY_PAUSE_MS - elapsedMs));
        }
      }
    }
    if (this.#stopped) return;
    try {
      if (this.#isLeader && this.cluster.version === undefined) {
        await this.proposeV2({ Method: "PUT", Path: "/0/version", Val: ETCD_CLUSTER_VERSION });
      } else if (this.cluster.version !== undefined) {
        this.onMembershipChange("version", 0n);
      }
    } catch (error) {
      if (!this.#stopped) {
        this.log.warn("failed to update cluster version", {
          error: (error as ServerError).message,
        });
      }
    }
  }

  /** The attributes {@link EtcdServer.#publish} proposes: name and advertised client URLs. */
  #localAttributesJson(): string {
    return attributesJson({
      id: this.memberId,
      peerUrls: this.cluster.local()?.peerUrls ?? [],
      isLearner: false,
      name: this.cfg.name,
      clientUrls: this.cfg.advertiseClientUrls.map((u) => u.href.replace(/\/$/, "")),
    });
  }

  #revokeExpiredLeases(): void {
    if (!this.#isLeader || this.#stopped) return;
    for (const lease of this.lessor.findExpired()) {
      // etcd revokes as root (authStore.WithRoot), so that the applier's lease check passes.
      const asRoot = this.authStore.enabled
        ? { username: "root", revision: this.authStore.revision }
        : undefined;
      this.propose({ leaseRevoke: { ID: bigintToLong(lease.id) } }, undefined, asRoot).then(
        () => debuggingServerLeaseExpiredTotal.inc(),
      ).catch((error) => {
        if (!this.#stopped) {
          this.log.warn("failed to revoke lease", {
            "lease-id": lease.id.toString(16),
            error: (error as Error).message,
          });
        }
      });
    }
  }
}
