/**
 * The server's request API (etcd's `etcdserver/v3_server.go`: the `RaftKV`, `Lessor`,
 * `Cluster`, `Maintenance` and watch surfaces of `EtcdServer`). `api/` decodes and validates a
 * call, calls one method here and encodes what it returns; everything between — quota checks,
 * the linearizable read path, proposals through raft, the read-only txn path, committing the
 * backend before a snapshot — happens here.
 *
 * Requests and responses are the wire types of `etcdserverpb/` (as etcd's RaftKV speaks
 * `*pb.RangeRequest`); every response header is filled (cluster ID, member ID, raft term and
 * revision). Failures are `ServerError`s (`errors.ts`); `api/` maps them to gRPC statuses.
 *
 * Every method takes a `RequestContext`: the caller's abort signal and credentials (an auth
 * token, a client certificate's common name, or a user name already authenticated). The
 * checks are etcd 3.4's, in the same places:
 *
 * - Range and read-only Txn: the key permissions, then the read, then "has the auth revision
 *   moved meanwhile" (etcd's doSerialize).
 * - Writes, compactions, leases, alarms and every Auth request go through raft with the caller
 *   and its auth revision in the entry header; the applier checks them (apply.ts, etcd's
 *   authApplierV3), so a permission revoked while the request is in flight is honoured.
 * - Defragment, Hash, HashKV and Snapshot are root's (etcd's authMaintenanceServer).
 * - A watch needs read permission on its range when it is created.
 * - Member add, remove, update and promote are root's (etcd's
 *   checkMembershipOperationPermission).
 * - Status, MoveLeader, MemberList and lease keep-alives and TTLs are not checked, as in
 *   etcd 3.4.
 *
 * @module
 */

import { ok as assert } from "node:assert/strict";
import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { bigintToLong, bigintToULong } from "../etcdserverpb/mod.ts";
import {
  type BackendSnapshot,
  type DefragProgress,
  type PageReport,
  pageReport,
} from "../backend/mod.ts";
import type { TxnRead, TxnWrite, WatchStream } from "../mvcc/mod.ts";
import { LeaseNotFoundError } from "../lease/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";
import { ETCD_VERSION } from "./config.ts";
import {
  ErrAuthNotEnabled,
  ErrAuthOldRevision,
  ErrInvalidAuthToken,
  ErrNoSpace,
  ErrRequestTooLarge,
  rawAuthError,
  type ServerError,
  toServerError,
} from "./errors.ts";
import { checkTxnPermissions } from "./apply.ts";
import type { AuthInfo } from "../auth/mod.ts";
import { alarmName, costLeaseGrant, costPut, costTxn } from "./quota.ts";
import { applyRange, applyTxn, big, int64, isTxnReadOnly, num } from "./kv_ops.ts";
import { leaseTimeToLiveOnLeader, renewLease } from "./cluster_lease.ts";
import {
  addMember,
  moveLeader,
  promoteMember,
  removeMember,
  updateMember,
} from "./cluster_membership.ts";
import type { Member } from "./membership.ts";
import type {
  AlarmRequest,
  AlarmResponse,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKVRequest,
  HashKVResponse,
  HashResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  StatusResponse,
  TxnRequest,
  TxnResponse,
} from "../etcdserverpb/mod.ts";
import { describeMessage } from "./request_string.ts";

/** etcd's prefix of the slow-request warning for reads served without raft. */
const READ_ONLY_PREFIX = "read-only range ";

/** The largest lease ID the server picks (IDs are positive int64). */
const _LEASE_ID_MASK = (1n << 63n) - 1n;

/**
 * Who asks, and until when. Built by `api/` for every call.
 *
 * The caller is, in etcd's order: the user its auth `token` stands for (an invalid token is
 * ErrInvalidAuthToken, whether auth is on or not, as in etcd); else `user`, a name already
 * authenticated by the caller of this API (in-process callers, tests); else, with
 * `--client-cert-auth`, the `commonName` of its verified client certificate; else anonymous.
 */
export interface RequestContext {
  /** Aborted when the caller gives up (cancel, deadline, connection lost). */
  readonly signal: AbortSignal;
  /** An already authenticated user name, or undefined. */
  readonly user: string | undefined;
  /** The auth token the call carries (`token` or `authorization` metadata). */
  readonly token?: string | undefined;
  /** The common name of the caller's verified client certificate. */
  readonly commonName?: string | undefined;
}

type _Pb<T extends keyof typeof etcdserverpb> = (typeof etcdserverpb)[T] extends
  { prototype: infer P } ? Partial<P> & { header?: ResponseHeader | null } : never;

/** The Auth requests (etcd's `Authenticator` surface of the server). */
export interface AuthApi {
  authEnable(context: RequestContext): Promise<_Pb<"AuthEnableResponse">>;
  authDisable(context: RequestContext): Promise<_Pb<"AuthDisableResponse">>;
  authenticate(
    request: etcdserverpb.AuthenticateRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthenticateResponse">>;
  userAdd(
    request: etcdserverpb.AuthUserAddRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserAddResponse">>;
  userGet(
    request: etcdserverpb.AuthUserGetRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserGetResponse">>;
  userList(context: RequestContext): Promise<_Pb<"AuthUserListResponse">>;
  userDelete(
    request: etcdserverpb.AuthUserDeleteRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserDeleteResponse">>;
  userChangePassword(
    request: etcdserverpb.AuthUserChangePasswordRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserChangePasswordResponse">>;
  userGrantRole(
    request: etcdserverpb.AuthUserGrantRoleRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserGrantRoleResponse">>;
  userRevokeRole(
    request: etcdserverpb.AuthUserRevokeRoleRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserRevokeRoleResponse">>;
  roleAdd(
    request: etcdserverpb.AuthRoleAddRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleAddResponse">>;
  roleGet(
    request: etcdserverpb.AuthRoleGetRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleGetResponse">>;
  roleList(context: RequestContext): Promise<_Pb<"AuthRoleListResponse">>;
  roleDelete(
    request: etcdserverpb.AuthRoleDeleteRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleDeleteResponse">>;
  roleGrantPermission(
    request: etcdserverpb.AuthRoleGrantPermissionRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleGrantPermissionResponse">>;
  roleRevokePermission(
    request: etcdserverpb.AuthRoleRevokePermissionRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleRevokePermissionResponse">>;
  /**
   * Whether the caller may watch `[key, rangeEnd)` (etcd's isWatchPermitted): undefined, or
   * the error the watch is cancelled with.
   */
  watchPermitted(
    key: Uint8Array,
    rangeEnd: Uint8Array,
    context: RequestContext,
  ): Promise<ServerError | undefined>;
}

/** A raised alarm, as the request API reports it. */
export interface AlarmMember {
  readonly memberId: bigint;
  readonly alarm: number;
}

/** The key-value requests (etcd's `RaftKV`). */
export interface RaftKV {
  /** A Range: serializable reads at once, others after a ReadIndex round. */
  range(request: RangeRequest, context: RequestContext): Promise<RangeResponse>;
  /** A Put through raft, after the quota check. */
  put(request: PutRequest, context: RequestContext): Promise<PutResponse>;
  /** A DeleteRange through raft. */
  deleteRange(request: DeleteRangeRequest, context: RequestContext): Promise<DeleteRangeResponse>;
  /** A Txn: read-only ones are served locally, others go through raft after the quota check. */
  txn(request: TxnRequest, context: RequestContext): Promise<TxnResponse>;
  /** A Compaction through raft; `physical` waits until the old revisions are gone. */
  compact(request: CompactionRequest, context: RequestContext): Promise<CompactionResponse>;
}

/** The lease requests (etcd's `Lessor` surface of the server). */
export interface LeaseApi {
  /** Grants a lease through raft (an ID of 0 lets the server pick one). */
  leaseGrant(request: LeaseGrantRequest, context: RequestContext): Promise<LeaseGrantResponse>;
  /** Revokes a lease through raft. */
  leaseRevoke(request: LeaseRevokeRequest, context: RequestContext): Promise<LeaseRevokeResponse>;
  /** Renews a lease (through the leader from a follower) and resolves to its TTL. */
  leaseRenew(id: bigint, context: RequestContext): Promise<number>;
  /** The remaining and granted TTL of a lease; TTL -1 for an unknown one. */
  leaseTimeToLive(
    request: LeaseTimeToLiveRequest,
    context: RequestContext,
  ): Promise<LeaseTimeToLiveResponse>;
  /** Every lease, after a ReadIndex round. */
  leaseLeases(context: RequestContext): Promise<LeaseLeasesResponse>;
}

/** The membership requests (etcd's `Cluster` surface); each answers the members after it. */
export interface ClusterApi {
  /** The members sorted by ID, after a ReadIndex round. */
  memberList(context: RequestContext): Promise<Member[]>;
  /** Adds a member (a learner when asked) and resolves once applied here. */
  memberAdd(
    options: { peerUrls: string[]; isLearner: boolean },
    context: RequestContext,
  ): Promise<{ member: Member; members: Member[] }>;
  /** Removes a member. */
  memberRemove(id: bigint, context: RequestContext): Promise<Member[]>;
  /** Replaces a member's peer URLs. */
  memberUpdate(
    options: { id: bigint; peerUrls: string[] },
    context: RequestContext,
  ): Promise<Member[]>;
  /** Promotes a learner to a voter. */
  memberPromote(id: bigint, context: RequestContext): Promise<Member[]>;
}

/** The maintenance requests (etcd's `Maintenance` surface, alarms and status). */
export interface MaintenanceApi {
  /** An alarm request (get, activate, deactivate) through raft. */
  alarm(request: AlarmRequest, context: RequestContext): Promise<AlarmResponse>;
  /** The raised alarms of every member. */
  alarmList(context: RequestContext): AlarmMember[];
  /** The member's status, with the raised alarms and "no leader" as errors. */
  status(context: RequestContext): StatusResponse;
  /** Defragments the backend. */
  defragment(context: RequestContext): Promise<{ header: ResponseHeader }>;
  /** The hash of the whole backend (root only). */
  hash(context: RequestContext): Promise<HashResponse>;
  /** The hash of the keys up to a revision (root only). */
  hashKV(request: HashKVRequest, context: RequestContext): Promise<HashKVResponse>;
  /** A point-in-time copy of the db (root only), with everything applied. Close it when done. */
  snapshot(context: RequestContext): Promise<BackendSnapshot>;
  /** Hands leadership to `target` and waits until it leads. */
  moveLeader(target: bigint, context: RequestContext): Promise<{ header: ResponseHeader }>;
  /** Waits until this member has applied everything committed before the call. */
  linearizableReadNotify(context: RequestContext): Promise<void>;
  /**
   * detcd only: the page file's accounting (page counts by type, free span histogram) as of
   * the last commit. Read-only; see `authorizeStorage` for who may ask.
   */
  storage(context: RequestContext): StorageReport;
  /**
   * detcd only: whether the caller may read `storage` (root when auth is on, the check
   * etcd makes for Defragment and Hash); throws the same errors they throw.
   */
  authorizeStorage(context: RequestContext): Promise<void>;
  /**
   * detcd only: the db file's size in bytes, a cheap sign that the page file changed shape
   * (defragmentation, growth) and a cached `storage` report is stale.
   */
  storageGeneration(): number;
  /**
   * detcd only: how far the defragmentation in progress has got, or undefined when none runs
   * (read-only; the same callers as `storage`).
   */
  defragProgress(context: RequestContext): DefragProgress | undefined;
}

/** What {@link MaintenanceApi.storage} reports. */
export interface StorageReport {
  /** The page file of the last commit. */
  pages: PageReport;
  /** Milliseconds the walk over the page file took (it holds the event loop that long). */
  walkMs: number;
}

/** The watch surface: the stream the api's watch service drives. */
export interface WatchApi {
  /** A new watch stream over the store. */
  newWatchStream(context: RequestContext): WatchStream;
}

/** The member's identity and limits that `api/` needs to validate and intercept calls. */
export interface MemberInfo {
  /** The leader's ID, 0n while there is none. */
  readonly leader: bigint;
  /** Whether this member is a learner. */
  readonly isLearner: boolean;
  /** `--election-timeout`. */
  readonly electionTimeoutMs: number;
  /** `--max-txn-ops`. */
  readonly maxTxnOps: number;
  /** `--max-request-bytes`. */
  readonly maxRequestBytes: number;
  /** `--experimental-watch-progress-notify-interval`; 0 when off. */
  readonly watchProgressNotifyIntervalMs: number;
  /** A filled response header; `revision` 0 means the store's current revision. */
  header(revision?: number): ResponseHeader;
}

/** The whole request API of one member. */
export type ServerApi =
  & RaftKV
  & LeaseApi
  & ClusterApi
  & MaintenanceApi
  & WatchApi
  & AuthApi
  & MemberInfo;

/** A read view that refuses writes, to run a read-only txn without raft. */
function _readOnlyTxn(view: TxnRead): TxnWrite {
  return {
    firstRev: view.firstRev,
    rev: view.rev,
    range: (key, end, options) => view.range(key, end, options),
    put: () => {
      throw new Error("read-only txn");
    },
    deleteRange: () => {
      throw new Error("read-only txn");
    },
    changes: [],
    end: () => {},
  };
}

/** How often Authenticate redoes the password check when the auth store keeps changing. */
const _AUTHENTICATE_ATTEMPTS_MAX = 8;

function _bytesOf(value: Uint8Array | null | undefined): Uint8Array {
  return value ?? _EMPTY;
}

/** A name longer than a bolt key can be would crash the applier: refuse it before raft. */
function _checkName(name: string): string {
  if (_utf8.encode(name).length > _NAME_BYTES_MAX) throw ErrRequestTooLarge;
  return name;
}

/** bbolt's MaxKeySize: a user or role name must fit as a key of its bucket. */
const _NAME_BYTES_MAX = 32768;
const _utf8 = new TextEncoder();
const _EMPTY = new Uint8Array(0);

/** Whether every range of a read-only txn is serializable (etcd's isTxnSerializable). */
function _isTxnSerializable(r: TxnRequest): boolean {
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) {
    if (op.requestRange && op.requestRange.serializable !== true) return false;
    if (op.requestTxn && !_isTxnSerializable(op.requestTxn)) return false;
  }
  return true;
}

/** An alarm as gogoproto's String() prints it in Status errors. */
function _alarmString(memberId: bigint, alarm: number): string {
  return `memberID:${memberId} alarm:${alarmName(alarm)} `;
}

/** The request API over one member (`EtcdServer`). */
export class V3Server implements ServerApi {
  readonly #core: EtcdServer;
  /** Serves requests on `core`. */
  constructor(core: EtcdServer) {
    this.#core = core;
  }

  // -- member info ----------------------------------------------------------------------

  /** The leader's ID, 0n while there is none. */
  get leader(): bigint {
    return this.#core.leader;
  }

  /** Whether this member is a learner of its cluster. */
  get isLearner(): boolean {
    return this.#core.cluster.members.get(this.#core.memberId)?.isLearner === true;
  }

  /** `--election-timeout`. */
  get electionTimeoutMs(): number {
    return this.#core.cfg.electionTimeoutMs;
  }

  /** `--max-txn-ops`. */
  get maxTxnOps(): number {
    return this.#core.cfg.maxTxnOps;
  }

  /** `--max-request-bytes`. */
  get maxRequestBytes(): number {
    return this.#core.cfg.maxRequestBytes;
  }

  /** `--experimental-watch-progress-notify-interval`; 0 when off. */
  get watchProgressNotifyIntervalMs(): number {
    return this.#core.cfg.experimentalWatchProgressNotifyIntervalMs;
  }

  /** A filled response header; `revision` 0 means the store's current revision. */
  header(revision = 0): ResponseHeader {
    return this.#fill(revision === 0 ? {} : { revision: int64(revision) });
  }

  /**
   * Fills a response header and checks what every client relies on in it (the core's
   * `fillHeader` checks its revision).
   */
  #fill(header: ResponseHeader | null | undefined): ResponseHeader {
    const filled = this.#core.fillHeader(header);
    assert(filled.clusterId !== undefined && filled.memberId !== undefined, "header: IDs unset");
    return filled;
  }

  // -- RaftKV ---------------------------------------------------------------------------

  /** A Range: serializable reads at once, others after a ReadIndex round. */
  async range(request: RangeRequest, context: RequestContext): Promise<RangeResponse> {
    const began = performance.now();
    const response = await this.#range(request, context);
    // etcd's warnOfExpensiveReadOnlyRangeRequest, timed from the call (the ReadIndex wait too).
    this.#core.warnIfExpensive(READ_ONLY_PREFIX, began, () => describeMessage(request), () => ({
      response: `range_response_count:${response.kvs?.length ?? 0} size:${
        etcdserverpb.RangeResponse.encode(response).finish().length
      }`,
    }));
    return response;
  }

  async #range(request: RangeRequest, context: RequestContext): Promise<RangeResponse> {
    if (request.serializable !== true) await this.#core.linearizableReadNotify(context.signal);
    const store = this.#core.authStore;
    let response!: RangeResponse;
    await this.#serialize(
      context,
      (info) => store.isRangePermitted(info, _bytesOf(request.key), _bytesOf(request.rangeEnd)),
      () => {
        const view = this.#core.kv.read();
        try {
          response = applyRange(view, request);
        } finally {
          view.end?.();
        }
      },
    );
    // Clients page with `count` and `more`: the count covers at least the keys returned.
    assert(num(response.count) >= (response.kvs?.length ?? 0), "range: count below kvs");
    response.header = this.#fill(response.header);
    return response;
  }

  /** A Put through raft, after the quota check. */
  put(request: PutRequest, context: RequestContext): Promise<PutResponse> {
    if (!this.#core.quota.available(costPut(request))) return this.#noSpace(context);
    return this.#proposeForResponse({ put: request }, context) as Promise<PutResponse>;
  }

  /** A DeleteRange through raft. */
  deleteRange(
    request: DeleteRangeRequest,
    context: RequestContext,
  ): Promise<DeleteRangeResponse> {
    return this.#proposeForResponse({ deleteRange: request }, context) as Promise<
      DeleteRangeResponse
    >;
  }

  /** A Txn: read-only ones are served locally, others go through raft after the quota check. */
  async txn(request: TxnRequest, context: RequestContext): Promise<TxnResponse> {
    if (isTxnReadOnly(request)) return await this.#readOnlyTxn(request, context);
    if (!this.#core.quota.available(costTxn(request))) await this.#noSpace(context);
    return await (this.#proposeForResponse({ txn: request }, context) as Promise<TxnResponse>);
  }

  async #readOnlyTxn(request: TxnRequest, context: RequestContext): Promise<TxnResponse> {
    const began = performance.now();
    const response = await this.#readOnlyTxnBody(request, context);
    // etcd's warnOfExpensiveReadOnlyTxnRequest.
    this.#core.warnIfExpensive(READ_ONLY_PREFIX, began, () => describeMessage(request), () => {
      // Only range responses are described (a nested txn's are not), as etcd does.
      const counts = (response.responses ?? []).filter((op) => op.responseRange).map((op) =>
        `range_response_count:${op.responseRange?.kvs?.length ?? 0}`
      );
      const size = etcdserverpb.TxnResponse.encode(response).finish().length;
      return { response: `responses:<${counts.join(" ")}> size:${size}` };
    });
    return response;
  }

  async #readOnlyTxnBody(request: TxnRequest, context: RequestContext): Promise<TxnResponse> {
    if (!_isTxnSerializable(request)) await this.#core.linearizableReadNotify(context.signal);
    let response!: TxnResponse;
    const lessor = this.#core.lessor;
    const exists = (id: bigint) => lessor.lookup(id) !== undefined;
    await this.#serialize(
      context,
      (info) => checkTxnPermissions(this.#core.authStore, info, request),
      () => {
        const view = this.#core.kv.read();
        try {
          response = applyTxn(_readOnlyTxn(view), request, exists);
        } finally {
          view.end?.();
        }
      },
    );
    response.header = this.#fill(response.header);
    return response;
  }

  /** A Compaction through raft; `physical` waits until the old revisions are gone. */
  async compact(request: CompactionRequest, context: RequestContext): Promise<CompactionResponse> {
    const result = await this.#propose({ compaction: request }, context);
    if (request.physical === true && result.physical !== undefined) {
      await result.physical;
      this.#core.backend.forceCommit();
    }
    return { header: this.#fill({ revision: int64(this.#core.kv.rev) }) };
  }

  /**
   * etcd's quota check, failed: a request that would pass `--quota-backend-bytes` raises the
   * NOSPACE alarm through raft and fails with ErrNoSpace. Callers check `quota.available`
   * first, so that a request within the quota does not await anything.
   */
  async #noSpace(context: RequestContext): Promise<never> {
    await this.#core.raiseNoSpace(context.signal);
    throw ErrNoSpace;
  }

  // -- Lessor ---------------------------------------------------------------------------

  /** Grants a lease through raft (an ID of 0 lets the server pick one). */
  async leaseGrant(
    request: LeaseGrantRequest,
    context: RequestContext,
  ): Promise<LeaseGrantResponse> {
    if (!this.#core.quota.available(costLeaseGrant())) await this.#noSpace(context);
    let id = big(request.ID);
    if (id === 0n) id = this.#core.nextRequestId() & _LEASE_ID_MASK;
    assert(id > 0n, "lease grant: the lease ID must be positive");
    const proposed: LeaseGrantRequest = { ID: bigintToLong(id), TTL: request.TTL ?? null };
    const result = await this.#propose({ leaseGrant: proposed }, context);
    const response = (result.response ?? {}) as LeaseGrantResponse;
    response.header = this.#fill(response.header);
    return response;
  }

  /** Revokes a lease through raft. */
  async leaseRevoke(
    request: LeaseRevokeRequest,
    context: RequestContext,
  ): Promise<LeaseRevokeResponse> {
    const result = await this.#propose({ leaseRevoke: request }, context);
    const response = (result.response ?? {}) as LeaseRevokeResponse;
    response.header = this.#fill(response.header);
    return response;
  }

  /**
   * Renews a lease and resolves to its TTL in seconds; a follower forwards the renewal to the
   * leader. etcd waits for the applied index to catch up so that a just-granted lease is
   * known; on one member the applier is the same process and is current.
   */
  async leaseRenew(id: bigint, _context: RequestContext): Promise<number> {
    return await renewLease(this.#core, id);
  }

  /** The remaining and granted TTL of a lease; TTL -1 for an unknown one. */
  async leaseTimeToLive(
    request: LeaseTimeToLiveRequest,
    context: RequestContext,
  ): Promise<LeaseTimeToLiveResponse> {
    // Only the leader's lessor knows the remaining time: a follower asks it.
    const forwarded = await leaseTimeToLiveOnLeader(this.#core, request);
    if (forwarded !== undefined) return { ...forwarded, header: this.#fill({}) };
    await this.#core.linearizableReadNotify(context.signal);
    const id = big(request.ID);
    try {
      const info = this.#core.lessor.timeToLive(id, request.keys === true);
      const response: LeaseTimeToLiveResponse = {
        header: this.#fill({}),
        ID: bigintToLong(id),
        TTL: int64(info.ttl),
        grantedTTL: int64(info.grantedTtl),
      };
      if (info.keys.length > 0) response.keys = info.keys;
      return response;
    } catch (error) {
      if (error instanceof LeaseNotFoundError) {
        // etcd answers a missing lease with TTL -1, not an error.
        return { header: this.#fill({}), ID: bigintToLong(id), TTL: int64(-1) };
      }
      throw toServerError(error);
    }
  }

  /** Every lease, after a ReadIndex round. */
  async leaseLeases(context: RequestContext): Promise<LeaseLeasesResponse> {
    await this.#core.linearizableReadNotify(context.signal);
    const leases = this.#core.lessor.leases().map((lease) => ({ ID: bigintToLong(lease.id) }));
    return { header: this.#fill({}), leases };
  }

  // -- Cluster --------------------------------------------------------------------------

  /** The members sorted by ID, after a ReadIndex round. */
  async memberList(context: RequestContext): Promise<Member[]> {
    await this.#core.linearizableReadNotify(context.signal);
    return this.#core.cluster.sortedMembers();
  }

  /** Adds a member (a learner when asked) and resolves once applied here. */
  async memberAdd(
    options: { peerUrls: string[]; isLearner: boolean },
    context: RequestContext,
  ): Promise<{ member: Member; members: Member[] }> {
    await this.#checkAdmin(context, false);
    const member = await addMember(this.#core, options, context.signal);
    return { member, members: this.#core.cluster.sortedMembers() };
  }

  /** Removes a member. */
  async memberRemove(id: bigint, context: RequestContext): Promise<Member[]> {
    await this.#checkAdmin(context, false);
    await removeMember(this.#core, id, context.signal);
    return this.#core.cluster.sortedMembers();
  }

  /** Replaces a member's peer URLs. */
  async memberUpdate(
    options: { id: bigint; peerUrls: string[] },
    context: RequestContext,
  ): Promise<Member[]> {
    await this.#checkAdmin(context, false);
    await updateMember(this.#core, options, context.signal);
    return this.#core.cluster.sortedMembers();
  }

  /** Promotes a learner to a voter. */
  async memberPromote(id: bigint, context: RequestContext): Promise<Member[]> {
    await this.#checkAdmin(context, false);
    await promoteMember(this.#core, id, context.signal);
    return this.#core.cluster.sortedMembers();
  }

  // -- Maintenance ----------------------------------------------------------------------

  /** An alarm request (get, activate, deactivate) through raft. */
  async alarm(request: AlarmRequest, context: RequestContext): Promise<AlarmResponse> {
    let result: Awaited<ReturnType<EtcdServer["propose"]>>;
    try {
      result = await this.#propose({ alarm: request }, context);
    } catch (error) {
      // etcd's maintenance server returns Alarm's error unmapped: a bad token reaches the
      // client in the auth store's own words ("auth: invalid auth token", code Unknown).
      throw rawAuthError(toServerError(error));
    }
    const response = (result.response ?? {}) as AlarmResponse;
    response.header = this.#fill(response.header);
    return response;
  }

  /** The raised alarms of every member. */
  alarmList(_context: RequestContext): AlarmMember[] {
    return this.#core.alarms.get(etcdserverpb.AlarmType.NONE);
  }

  /** The member's status, with the raised alarms and "no leader" as errors. */
  status(_context: RequestContext): StatusResponse {
    const core = this.#core;
    const leader = core.leader;
    const response: StatusResponse = {
      header: this.#fill({}),
      version: ETCD_VERSION,
      dbSize: int64(core.backend.size()),
      leader: bigintToULong(leader),
      raftIndex: int64(core.committedIndex),
      raftTerm: int64(core.term),
      raftAppliedIndex: int64(core.appliedIndex),
      dbSizeInUse: int64(core.backend.sizeInUse()),
    };
    // etcd 3.4 reports a learner as such (`endpoint status` prints IS LEARNER).
    if (this.isLearner) response.isLearner = true;
    const errors: string[] = [];
    if (leader === 0n) errors.push("etcdserver: no leader");
    for (const a of core.alarms.get(etcdserverpb.AlarmType.NONE)) {
      errors.push(_alarmString(a.memberId, a.alarm));
    }
    if (errors.length > 0) response.errors = errors;
    return response;
  }

  /** Defragments the backend. */
  async defragment(context: RequestContext): Promise<{ header: ResponseHeader }> {
    await this.#checkAdmin(context);
    const core = this.#core;
    core.log.info("starting defragmentation", { path: core.cfg.dataDir });
    await core.backend.defrag();
    core.log.info("finished defragmentation", { path: core.cfg.dataDir });
    return { header: this.#fill({}) };
  }

  /** The page file's accounting as of the last commit. */
  storage(_context: RequestContext): StorageReport {
    const started = performance.now();
    const pages = pageReport(this.#core.backend.db());
    return { pages, walkMs: performance.now() - started };
  }

  /** The db file's size: changes when the file grows or is defragmented. */
  storageGeneration(): number {
    return this.#core.backend.size();
  }

  /** The defragmentation in progress, if any. */
  defragProgress(_context: RequestContext): DefragProgress | undefined {
    return this.#core.backend.defragProgress();
  }

  /** Root only when auth is on, as Defragment. */
  async authorizeStorage(context: RequestContext): Promise<void> {
    await this.#checkAdmin(context);
  }

  /** The hash of the whole backend. */
  async hash(context: RequestContext): Promise<HashResponse> {
    await this.#checkAdmin(context);
    const { hash, revision } = this.#core.kv.hash();
    return { header: this.#fill({ revision: int64(revision) }), hash: hash >>> 0 };
  }

  /** The hash of the keys up to a revision. */
  async hashKV(request: HashKVRequest, context: RequestContext): Promise<HashKVResponse> {
    await this.#checkAdmin(context);
    let result: ReturnType<EtcdServer["kv"]["hashByRev"]>;
    try {
      result = this.#core.kv.hashByRev(num(request.revision));
    } catch (error) {
      throw toServerError(error);
    }
    return {
      header: this.#fill({ revision: int64(result.currentRev) }),
      hash: result.hash >>> 0,
      compactRevision: int64(result.compactRev < 0 ? 0 : result.compactRev),
    };
  }

  /** A point-in-time copy of the db, with everything applied so far. Close it when done. */
  async snapshot(context: RequestContext): Promise<BackendSnapshot> {
    await this.#checkAdmin(context);
    // Everything applied so far is in the copy: commit the pending batch first.
    this.#core.backend.forceCommit();
    return this.#core.backend.snapshot();
  }

  /** Hands leadership to `target` and waits until it leads. */
  async moveLeader(target: bigint, context: RequestContext): Promise<{ header: ResponseHeader }> {
    await moveLeader(this.#core, target, context.signal);
    return { header: this.#fill({}) };
  }

  /** Waits until this member has applied everything committed before the call. */
  async linearizableReadNotify(context: RequestContext): Promise<void> {
    await this.#core.linearizableReadNotify(context.signal);
  }

  // -- Auth -----------------------------------------------------------------------------

  /**
   * Who the call comes from (etcd's AuthInfoFromCtx): the token's user (an invalid token is
   * ErrInvalidAuthToken), the already authenticated user, the certificate's common name with
   * `--client-cert-auth`, or undefined for an anonymous caller.
   */
  async #authInfo(context: RequestContext): Promise<AuthInfo | undefined> {
    const store = this.#core.authStore;
    if (context.token !== undefined) {
      const info = await store.authInfoFromToken(context.token, context.signal);
      if (info === undefined) {
        this.#core.log.warn("invalid auth token", { token: context.token });
        throw ErrInvalidAuthToken;
      }
      return info;
    }
    return this.#authInfoWithoutToken(context);
  }

  /** The caller of a request without a token: a user, a certificate's name, or anonymous. */
  #authInfoWithoutToken(context: RequestContext): AuthInfo | undefined {
    const store = this.#core.authStore;
    if (context.user !== undefined) return { username: context.user, revision: store.revision };
    if (this.#core.cfg.clientTls.clientCertAuth && context.commonName !== undefined) {
      return { username: context.commonName, revision: store.revision };
    }
    return undefined;
  }

  /** Proposes `req` as the caller (the applier checks it). */
  #propose(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    context: RequestContext,
  ): ReturnType<EtcdServer["propose"]> {
    // Only a token needs an await to tell who asks; the rest is known at once.
    if (context.token !== undefined) {
      return this.#authInfo(context).then((info) => this.#proposeAs(req, context, info));
    }
    return this.#proposeAs(req, context, this.#authInfoWithoutToken(context));
  }

  #proposeAs(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    context: RequestContext,
    info: AuthInfo | undefined,
  ): ReturnType<EtcdServer["propose"]> {
    return this.#core.propose(req, this.#leaderlessSignal(context), info);
  }

  /** `#propose` resolving with the applied response, its header filled (put, delete, txn). */
  #proposeForResponse(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    context: RequestContext,
  ): ReturnType<EtcdServer["proposeForResponse"]> {
    if (context.token !== undefined) {
      return this.#authInfo(context).then((info) =>
        this.#core.proposeForResponse(req, this.#leaderlessSignal(context), info)
      );
    }
    const info = this.#authInfoWithoutToken(context);
    return this.#core.proposeForResponse(req, this.#leaderlessSignal(context), info);
  }

  /**
   * The call's signal while there is no leader to propose to, else undefined (only waiting
   * for a leader needs it, and asking a gRPC call for it makes an AbortController).
   */
  #leaderlessSignal(context: RequestContext): AbortSignal | undefined {
    return this.#core.leader === 0n ? context.signal : undefined;
  }

  /**
   * etcd's doSerialize: check, read, then fail with ErrAuthOldRevision if the auth store
   * changed while the request was served by a token whose revision is now stale.
   */
  async #serialize(
    context: RequestContext,
    check: (info: AuthInfo) => void,
    read: () => void,
  ): Promise<void> {
    const store = this.#core.authStore;
    const info = (await this.#authInfo(context)) ?? { username: "", revision: 0 };
    try {
      check(info);
      read();
    } catch (error) {
      throw toServerError(error);
    }
    if (info.revision !== 0 && info.revision !== store.revision) {
      throw ErrAuthOldRevision;
    }
  }

  /**
   * Root only, as etcd's authMaintenanceServer.isAuthenticated decides; its errors reach the
   * client unmapped (`maintenance` true: Defragment, Hash, HashKV, Snapshot).
   */
  async #checkAdmin(context: RequestContext, maintenance = true): Promise<AuthInfo | undefined> {
    try {
      const info = await this.#authInfo(context);
      this.#core.authStore.isAdminPermitted(info);
      return info;
    } catch (error) {
      const mapped = toServerError(error);
      throw maintenance ? rawAuthError(mapped) : mapped;
    }
  }

  /** An Auth request through raft; the response with its header filled. */
  async #authRequest<T>(
    req: etcdserverpb.InternalRaftRequest.$Properties,
    context: RequestContext,
  ): Promise<T & { header: ResponseHeader }> {
    const result = await this.#propose(req, context);
    const response = (result.response ?? {}) as T & { header: ResponseHeader };
    response.header = this.#fill(response.header);
    return response;
  }

  /** Turns auth on (root user with root role needed). */
  authEnable(context: RequestContext): Promise<_Pb<"AuthEnableResponse">> {
    return this.#authRequest({ authEnable: {} }, context);
  }

  /** Turns auth off. */
  authDisable(context: RequestContext): Promise<_Pb<"AuthDisableResponse">> {
    return this.#authRequest({ authDisable: {} }, context);
  }

  /**
   * etcd's Authenticate: the password is checked here (bcrypt, off the apply loop), then an
   * entry without it asks every member to register the token; if the auth store changed
   * between the check and the apply, the check is redone.
   */
  async authenticate(
    request: etcdserverpb.AuthenticateRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthenticateResponse">> {
    await this.#core.linearizableReadNotify(context.signal);
    const store = this.#core.authStore;
    const name = request.name ?? "";
    // etcd retries until the revision holds still; a bound keeps a busy store from looping us.
    for (let attempt = 0;; attempt++) {
      let checked: number;
      try {
        checked = await store.checkPassword(name, request.password ?? "");
      } catch (error) {
        const mapped = toServerError(error);
        if (mapped !== ErrAuthNotEnabled) {
          this.#core.log.warn("invalid authentication was requested", {
            user: name,
            error: mapped.message,
          });
        }
        throw mapped;
      }
      const result = await this.#propose({
        authenticate: { name, simpleToken: store.genTokenPrefix() },
      }, context);
      const response = (result.response ?? {}) as _Pb<"AuthenticateResponse">;
      if (result.token !== undefined) {
        try {
          response.token = await result.token;
        } catch (error) {
          throw toServerError(error);
        }
      }
      if (checked === store.revision || attempt >= _AUTHENTICATE_ATTEMPTS_MAX) {
        response.header = this.#fill(response.header);
        return response;
      }
      this.#core.log.info("revision when password checked became stale; retrying");
    }
  }

  /**
   * Adds a user. The bcrypt hash is computed here, before the proposal, so that no member
   * hashes on its apply loop and the entry does not hold the password; a caller the applier
   * will refuse is refused first, so that it cannot make the member hash for nothing.
   */
  async userAdd(
    request: etcdserverpb.AuthUserAddRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserAddResponse">> {
    const name = _checkName(request.name ?? "");
    const noPassword = request.options?.noPassword === true;
    let hashedPassword = "";
    if (!noPassword && name !== "") {
      await this.#checkAdmin(context, false);
      hashedPassword = await this.#core.authStore.hashPassword(request.password ?? "");
    }
    // The clear password rides along for etcd 3.4 members of a mixed cluster, which know no
    // hashedPassword and hash at apply (as etcd 3.4 proposes it); detcd members apply the hash.
    return await this.#authRequest({
      authUserAdd: {
        name,
        options: { noPassword },
        hashedPassword,
        password: noPassword ? "" : request.password ?? "",
      },
    }, context);
  }

  /** The roles of a user (root, or the user itself). */
  userGet(
    request: etcdserverpb.AuthUserGetRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserGetResponse">> {
    return this.#authRequest({ authUserGet: request }, context);
  }

  /** Every user. */
  userList(context: RequestContext): Promise<_Pb<"AuthUserListResponse">> {
    return this.#authRequest({ authUserList: {} }, context);
  }

  /** Deletes a user. */
  userDelete(
    request: etcdserverpb.AuthUserDeleteRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserDeleteResponse">> {
    return this.#authRequest({ authUserDelete: request }, context);
  }

  /** Changes a password (hashed here, as for userAdd). */
  async userChangePassword(
    request: etcdserverpb.AuthUserChangePasswordRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserChangePasswordResponse">> {
    await this.#checkAdmin(context, false);
    const hashedPassword = await this.#core.authStore.hashPassword(request.password ?? "");
    return await this.#authRequest({
      authUserChangePassword: {
        name: request.name ?? "",
        hashedPassword,
        password: request.password ?? "",
      },
    }, context);
  }

  /** Grants a role to a user. */
  userGrantRole(
    request: etcdserverpb.AuthUserGrantRoleRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserGrantRoleResponse">> {
    return this.#authRequest({ authUserGrantRole: request }, context);
  }

  /** Revokes a role from a user. */
  userRevokeRole(
    request: etcdserverpb.AuthUserRevokeRoleRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthUserRevokeRoleResponse">> {
    return this.#authRequest({ authUserRevokeRole: request }, context);
  }

  /** Adds a role. */
  roleAdd(
    request: etcdserverpb.AuthRoleAddRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleAddResponse">> {
    return this.#authRequest({ authRoleAdd: { name: _checkName(request.name ?? "") } }, context);
  }

  /** The permissions of a role (root, or a holder of the role). */
  roleGet(
    request: etcdserverpb.AuthRoleGetRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleGetResponse">> {
    return this.#authRequest({ authRoleGet: request }, context);
  }

  /** Every role. */
  roleList(context: RequestContext): Promise<_Pb<"AuthRoleListResponse">> {
    return this.#authRequest({ authRoleList: {} }, context);
  }

  /** Deletes a role and revokes it from every user. */
  roleDelete(
    request: etcdserverpb.AuthRoleDeleteRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleDeleteResponse">> {
    return this.#authRequest({ authRoleDelete: request }, context);
  }

  /** Grants a key permission to a role. */
  roleGrantPermission(
    request: etcdserverpb.AuthRoleGrantPermissionRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleGrantPermissionResponse">> {
    return this.#authRequest({ authRoleGrantPermission: request }, context);
  }

  /** Revokes a key permission from a role. */
  roleRevokePermission(
    request: etcdserverpb.AuthRoleRevokePermissionRequest.$Properties,
    context: RequestContext,
  ): Promise<_Pb<"AuthRoleRevokePermissionResponse">> {
    return this.#authRequest({ authRoleRevokePermission: request }, context);
  }

  /** Whether the caller may watch `[key, rangeEnd)`; else the error to cancel with. */
  async watchPermitted(
    key: Uint8Array,
    rangeEnd: Uint8Array,
    context: RequestContext,
  ): Promise<ServerError | undefined> {
    try {
      const info = (await this.#authInfo(context)) ?? { username: "", revision: 0 };
      this.#core.authStore.isRangePermitted(info, key, rangeEnd);
      return undefined;
    } catch (error) {
      return toServerError(error);
    }
  }

  // -- Watch ----------------------------------------------------------------------------

  /** A new watch stream over the store. */
  newWatchStream(_context: RequestContext): WatchStream {
    return this.#core.kv.newWatchStream();
  }
}
