/**
 * The applier (etcd's `etcdserver/apply.go` and the entry dispatch of `server.go`): turns one
 * committed InternalRaftRequest into changes of the key-value store, the lessor, the alarms
 * and the membership, and into the response its proposer waits for.
 *
 * Applying is synchronous and deterministic: the same entries applied to the same state give
 * the same state on every member. A request that fails (a lease that does not exist, a
 * compacted revision) fails the same way everywhere and changes nothing.
 *
 * @module
 */

import { etcdserverpb } from "../etcdserverpb/mod.ts";
import {
  ErrCorrupt,
  ErrLeaseNotFound,
  ErrNoSpace,
  ErrNotCapable,
  type ServerError,
  toServerError,
} from "./errors.ts";
import { bigintToLong, bigintToULong } from "../etcdserverpb/mod.ts";
import type { TxnWrite, WatchableStore } from "../mvcc/mod.ts";
import type { Lessor } from "../lease/mod.ts";
import type { Logger } from "./log.ts";
import { alarmName, type AlarmStore } from "./quota.ts";
import type { RaftCluster } from "./membership.ts";
import type { Backend } from "../backend/mod.ts";
import type { AuthInfo, AuthStore } from "../auth/mod.ts";
import { ErrRequestTooLarge } from "./errors.ts";
import {
  applyDeleteRange,
  applyPut,
  applyTxn,
  big,
  type Header,
  int64,
  num,
  txnHasPut,
} from "./kv_ops.ts";

type InternalRaftRequest = etcdserverpb.InternalRaftRequest;
const _AlarmType = etcdserverpb.AlarmType;
const _AlarmAction = etcdserverpb.AlarmRequest.AlarmAction;

/** What a proposer receives once its entry is applied. */
export interface ApplyResult {
  /** The response properties (its header holds the revision; the rest is filled later). */
  response?: { header?: Header | null };
  error?: ServerError;
  /** For a compaction: resolves once the old revisions are physically deleted. */
  physical?: Promise<void>;
  /** For an Authenticate with a signed (JWT) token: the token, once signed. */
  token?: Promise<string>;
}

/** Where the applier reads and writes. */
export interface ApplyTarget {
  readonly kv: WatchableStore;
  readonly lessor: Lessor;
  readonly alarms: AlarmStore;
  readonly cluster: RaftCluster;
  readonly backend: Backend;
  readonly authStore: AuthStore;
  /** The raft index of the entry being applied. */
  readonly applyingIndex: number;
  readonly log: Logger;
  /** Called when an alarm is raised or cleared (the server logs and switches modes). */
  onAlarmChange(): void;
  /** Called when a member publishes its attributes or the cluster version is set. */
  onMembershipChange(kind: "attributes" | "version", memberId: bigint): void;
}

/** Applies one decoded request; never throws for a request-level failure. */
export function applyRequest(target: ApplyTarget, req: InternalRaftRequest): ApplyResult {
  try {
    // etcd's authApplierV3: the caller named in the header, at the auth revision it was
    // authorised at, is checked again here, so a permission revoked while the request was in
    // flight is honoured. Anonymous requests carry revision 0.
    const info: AuthInfo = {
      username: req.header?.username ?? "",
      revision: num(req.header?.authRevision ?? 0),
    };
    if (_needsAdmin(req)) target.authStore.isAdminPermitted(info);
    _checkPermissions(target, req, info);
    const auth = _applyAuth(target, req, info);
    if (auth !== undefined) return auth;
    return _dispatch(target, req);
  } catch (error) {
    return { error: toServerError(error) };
  }
}

const _COMPACTION_KEY = new TextEncoder().encode("compaction");

/** etcd's needAdminPermission: the auth changes and the user and role lists. */
function _needsAdmin(req: InternalRaftRequest): boolean {
  return !!(req.authEnable || req.authDisable || req.authUserAdd || req.authUserDelete ||
    req.authUserChangePassword || req.authUserGrantRole || req.authUserRevokeRole ||
    req.authRoleAdd || req.authRoleGrantPermission || req.authRoleRevokePermission ||
    req.authRoleDelete || req.authUserList || req.authRoleList);
}

const _EMPTY = new Uint8Array(0);

/** The key checks of etcd's authApplierV3 for puts, deletes, txns and lease revokes. */
function _checkPermissions(target: ApplyTarget, req: InternalRaftRequest, info: AuthInfo): void {
  const store = target.authStore;
  if (!store.enabled) return;
  if (req.put) {
    const put = req.put;
    store.isPutPermitted(info, put.key ?? _EMPTY);
    _checkLeasePuts(target, big(put.lease), info);
    if (put.prevKv === true) store.isRangePermitted(info, put.key ?? _EMPTY, _EMPTY);
  } else if (req.deleteRange) {
    const dr = req.deleteRange;
    store.isDeleteRangePermitted(info, dr.key ?? _EMPTY, dr.rangeEnd ?? _EMPTY);
    if (dr.prevKv === true) store.isRangePermitted(info, dr.key ?? _EMPTY, dr.rangeEnd ?? _EMPTY);
  } else if (req.txn) {
    checkTxnPermissions(store, info, req.txn);
  } else if (req.leaseRevoke) {
    _checkLeasePuts(target, big(req.leaseRevoke.ID), info);
  }
}

/**
 * A lease whose keys the user may not write cannot be revoked by it, nor attached to more keys
 * (etcd's checkLeasePuts).
 */
function _checkLeasePuts(target: ApplyTarget, id: bigint, info: AuthInfo): void {
  if (id === 0n) return;
  const lease = target.lessor.lookup(id);
  if (lease === undefined) return;
  for (const key of lease.keys()) target.authStore.isPutPermitted(info, key);
}

/**
 * etcd's checkTxnAuth: every compare, then every operation of both branches. Unlike etcd
 * 3.4, whose check skips nested txns (their operations then run unchecked), the operations of
 * a nested txn are checked too.
 */
export function checkTxnPermissions(
  store: AuthStore,
  info: AuthInfo,
  txn: etcdserverpb.TxnRequest.$Properties,
): void {
  for (const c of txn.compare ?? []) {
    store.isRangePermitted(info, c.key ?? _EMPTY, c.rangeEnd ?? _EMPTY);
  }
  for (const op of [...(txn.success ?? []), ...(txn.failure ?? [])]) {
    if (op.requestRange) {
      store.isRangePermitted(
        info,
        op.requestRange.key ?? _EMPTY,
        op.requestRange.rangeEnd ?? _EMPTY,
      );
    } else if (op.requestPut) {
      store.isPutPermitted(info, op.requestPut.key ?? _EMPTY);
    } else if (op.requestDeleteRange) {
      const dr = op.requestDeleteRange;
      if (dr.prevKv === true) store.isRangePermitted(info, dr.key ?? _EMPTY, dr.rangeEnd ?? _EMPTY);
      store.isDeleteRangePermitted(info, dr.key ?? _EMPTY, dr.rangeEnd ?? _EMPTY);
    } else if (op.requestTxn) {
      checkTxnPermissions(store, info, op.requestTxn);
    }
  }
}

/** bbolt's MaxKeySize: a longer user or role name cannot be a key of its bucket. */
const _BOLT_KEY_BYTES_MAX = 32768;
const _utf8 = new TextEncoder();

function _checkName(name: string): string {
  if (_utf8.encode(name).length > _BOLT_KEY_BYTES_MAX) throw ErrRequestTooLarge;
  return name;
}

/** The auth requests (etcd's applierV3backend Auth* methods); undefined for other requests. */
function _applyAuth(
  target: ApplyTarget,
  req: InternalRaftRequest,
  info: AuthInfo,
): ApplyResult | undefined {
  const store = target.authStore;
  const done = (extra: Record<string, unknown> = {}): ApplyResult => ({
    response: { header: {}, ...extra },
  });
  if (req.authEnable) {
    store.authEnable();
    return done();
  }
  if (req.authDisable) {
    store.authDisable();
    return done();
  }
  if (req.authenticate) {
    const token = store.authenticate(req.authenticate.name ?? "", {
      index: target.applyingIndex,
      simpleTokenPrefix: req.authenticate.simpleToken ?? "",
    });
    if (typeof token === "string") return done({ token });
    // Signing takes a moment; the proposer awaits it. Keep a failure from going unhandled.
    token.catch(() => {});
    return { response: { header: {} }, token };
  }
  if (req.authUserAdd) {
    const r = req.authUserAdd;
    store.userAdd({
      name: _checkName(r.name ?? ""),
      hashedPassword: r.hashedPassword ?? "",
      password: r.password ?? "",
      noPassword: r.options?.noPassword === true,
    });
    return done();
  }
  if (req.authUserDelete) {
    store.userDelete(req.authUserDelete.name ?? "");
    return done();
  }
  if (req.authUserChangePassword) {
    const r = req.authUserChangePassword;
    store.userChangePassword({
      name: r.name ?? "",
      hashedPassword: r.hashedPassword ?? "",
      password: r.password ?? "",
    });
    return done();
  }
  if (req.authUserGrantRole) {
    store.userGrantRole(req.authUserGrantRole.user ?? "", req.authUserGrantRole.role ?? "");
    return done();
  }
  if (req.authUserRevokeRole) {
    store.userRevokeRole(req.authUserRevokeRole.name ?? "", req.authUserRevokeRole.role ?? "");
    return done();
  }
  if (req.authUserGet) {
    const name = req.authUserGet.name ?? "";
    // A user may read itself; anything else is root's (etcd's authApplierV3.UserGet).
    try {
      store.isAdminPermitted(info);
    } catch (error) {
      if (name !== info.username) throw error;
    }
    return done({ roles: store.userGet(name) });
  }
  if (req.authUserList) return done({ users: store.userList() });
  if (req.authRoleAdd) {
    store.roleAdd(_checkName(req.authRoleAdd.name ?? ""));
    return done();
  }
  if (req.authRoleGet) {
    const role = req.authRoleGet.role ?? "";
    // A user may read the roles it holds.
    try {
      store.isAdminPermitted(info);
    } catch (error) {
      if (!store.hasRole(info.username, role)) throw error;
    }
    return done({ perm: store.roleGet(role) });
  }
  if (req.authRoleList) return done({ roles: store.roleList() });
  if (req.authRoleDelete) {
    store.roleDelete(req.authRoleDelete.role ?? "");
    return done();
  }
  if (req.authRoleGrantPermission) {
    const r = req.authRoleGrantPermission;
    store.roleGrantPermission(r.name ?? "", {
      key: r.perm?.key ?? _EMPTY,
      rangeEnd: r.perm?.rangeEnd ?? _EMPTY,
      permType: r.perm?.permType ?? 0,
    });
    return done();
  }
  if (req.authRoleRevokePermission) {
    const r = req.authRoleRevokePermission;
    store.roleRevokePermission(r.role ?? "", r.key ?? _EMPTY, r.rangeEnd ?? _EMPTY);
    return done();
  }
  return undefined;
}

function _noSpace(target: ApplyTarget): boolean {
  return target.alarms.has(_AlarmType.NOSPACE);
}

function _inWriteTxn<T>(kv: WatchableStore, body: (txn: TxnWrite) => T): T {
  const txn = kv.write();
  try {
    return body(txn);
  } finally {
    txn.end();
  }
}

/**
 * etcd's applierV3Corrupt: once the CORRUPT alarm is raised, the requests that change the key
 * space or the leases through raft are refused (reads bypass the applier and still work).
 */
function _refusedAsCorrupt(target: ApplyTarget, req: InternalRaftRequest): boolean {
  if (!target.alarms.has(_AlarmType.CORRUPT)) return false;
  return Boolean(
    req.put || req.deleteRange || req.txn || req.compaction || req.leaseGrant ||
      req.leaseRevoke,
  );
}

function _dispatch(target: ApplyTarget, req: InternalRaftRequest): ApplyResult {
  const { kv, lessor } = target;
  if (_refusedAsCorrupt(target, req)) return { error: ErrCorrupt };
  if (req.put) {
    const put = req.put;
    if (_noSpace(target)) return { error: ErrNoSpace };
    const lease = big(put.lease);
    if (lease !== 0n && lessor.lookup(lease) === undefined) return { error: ErrLeaseNotFound };
    return { response: _inWriteTxn(kv, (txn) => applyPut(txn, put)) };
  }
  if (req.deleteRange) {
    const dr = req.deleteRange;
    return { response: _inWriteTxn(kv, (txn) => applyDeleteRange(txn, dr)) };
  }
  if (req.txn) {
    const txnRequest = req.txn;
    if (_noSpace(target) && txnHasPut(txnRequest)) return { error: ErrNoSpace };
    const exists = (id: bigint) => lessor.lookup(id) !== undefined;
    // etcd compares in a read transaction, then writes in a write transaction.
    const view = kv.read();
    try {
      return { response: _inWriteTxn(kv, (txn) => applyTxn(txn, txnRequest, exists, view)) };
    } finally {
      view.end?.();
    }
  }
  if (req.compaction) {
    const { done } = kv.compact(num(req.compaction.revision));
    // Keep a failed physical compaction from surfacing as an unhandled rejection.
    done.catch((error) => target.log.warn("compaction failed", { error }));
    // etcd reads the key "compaction" for the response header's revision (a read its
    // range counter counts); the same read here.
    const view = kv.read();
    const revision = view.range(_COMPACTION_KEY, undefined, {}).rev;
    view.end?.();
    return { response: { header: { revision: int64(revision) } }, physical: done };
  }
  if (req.leaseGrant) {
    if (_noSpace(target)) return { error: ErrNoSpace };
    const lease = lessor.grant(big(req.leaseGrant.ID), num(req.leaseGrant.TTL));
    const response: etcdserverpb.LeaseGrantResponse.$Properties = {
      header: {},
      ID: bigintToLong(lease.id),
      TTL: int64(lease.ttl),
    };
    return { response };
  }
  if (req.leaseRevoke) {
    lessor.revoke(big(req.leaseRevoke.ID));
    return { response: { header: {} } };
  }
  if (req.leaseCheckpoint) {
    for (const c of req.leaseCheckpoint.checkpoints ?? []) {
      lessor.checkpoint(big(c.ID), num(c.remaining_TTL));
    }
    return { response: { header: {} } };
  }
  if (req.alarm) return { response: _applyAlarm(target, req.alarm) };
  // Auth and the rest come with their features.
  return { error: ErrNotCapable };
}

function _applyAlarm(
  target: ApplyTarget,
  ar: etcdserverpb.AlarmRequest.$Properties,
): etcdserverpb.AlarmResponse.$Properties {
  const alarm = ar.alarm ?? _AlarmType.NONE;
  const memberId = big(ar.memberID);
  const toPb = (a: { memberId: bigint; alarm: number }) => ({
    memberID: bigintToULong(a.memberId),
    alarm: a.alarm,
  });
  const response: etcdserverpb.AlarmResponse.$Properties = { header: {}, alarms: [] };
  switch (ar.action ?? _AlarmAction.GET) {
    case _AlarmAction.GET:
      response.alarms = target.alarms.get(alarm).map(toPb);
      break;
    case _AlarmAction.ACTIVATE: {
      if (alarm === _AlarmType.NONE) break;
      const before = target.alarms.get(alarm).length;
      const raised = target.alarms.activate(memberId, alarm);
      response.alarms = [toPb(raised)];
      if (before === 0) {
        target.log.warn("alarm raised", {
          alarm: alarmName(alarm),
          from: memberId.toString(16),
        });
        target.onAlarmChange();
      }
      break;
    }
    case _AlarmAction.DEACTIVATE: {
      const cleared = target.alarms.deactivate(memberId, alarm);
      if (cleared === undefined) break;
      response.alarms = [toPb(cleared)];
      if (target.alarms.get(alarm).length === 0) {
        target.log.warn("alarm disarmed", {
          alarm: alarmName(alarm),
          from: memberId.toString(16),
        });
        target.onAlarmChange();
      }
      break;
    }
  }
  return response;
}
