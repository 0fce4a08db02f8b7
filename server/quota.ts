/**
 * The backend quota (etcd's `etcdserver/quota.go`) and the alarm store
 * (`etcdserver/api/v3alarm`).
 *
 * Quota: a mutating request is admitted only while `db size + its cost < quota`; the cost is
 * 256 bytes of key overhead plus key and value for a put, the larger of a txn's success and
 * failure put costs, and 64 bytes for a lease grant. A negative quota disables the check, zero
 * means etcd's default of 2 GiB.
 *
 * Alarms: kept in memory and in the `alarm` bucket, keyed by the marshalled
 * `etcdserverpb.AlarmMember{memberID, alarm}` with an empty value, as etcd stores them.
 *
 * @module
 */

import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { bigintToULong } from "../etcdserverpb/mod.ts";
import type { Backend } from "../backend/mod.ts";
import { big } from "./kv_ops.ts";

/** etcd's DefaultQuotaBytes (2 GiB). */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
const _KV_OVERHEAD_BYTES = 256;
const _LEASE_OVERHEAD_BYTES = 64;

/** The alarm bucket. */
export const ALARM_BUCKET: Uint8Array = new TextEncoder().encode("alarm");

/** The admission check on the backend size. */
export class BackendQuota {
  readonly #quotaBytes: number;
  readonly #size: () => number;

  /** `quotaBytes` as configured; `size` reads the current db file size. */
  constructor(quotaBytes: number, size: () => number) {
    this.#quotaBytes = quotaBytes === 0 ? DEFAULT_QUOTA_BYTES : quotaBytes;
    this.#size = size;
  }

  /** The effective quota in bytes (negative: disabled). */
  get quotaBytes(): number {
    return this.#quotaBytes;
  }

  /** Whether a request of `cost` bytes fits (cost 0 always fits). */
  available(cost: number): boolean {
    if (this.#quotaBytes < 0 || cost === 0) return true;
    return this.#size() + cost < this.#quotaBytes;
  }

  /** Bytes left before the quota (etcd's Remaining). */
  remaining(): number {
    if (this.#quotaBytes < 0) return 1;
    return this.#quotaBytes - this.#size();
  }
}

/** The quota cost of a put. */
export function costPut(r: etcdserverpb.PutRequest.$Properties): number {
  return _KV_OVERHEAD_BYTES + (r.key?.length ?? 0) + (r.value?.length ?? 0);
}

/** The quota cost of a txn: the larger branch's puts. */
export function costTxn(r: etcdserverpb.TxnRequest.$Properties): number {
  const cost = (ops: etcdserverpb.RequestOp.$Properties[] | null | undefined) =>
    (ops ?? []).reduce((sum, op) => sum + (op.requestPut ? costPut(op.requestPut) : 0), 0);
  return Math.max(cost(r.success), cost(r.failure));
}

/** The quota cost of a lease grant. */
export function costLeaseGrant(): number {
  return _LEASE_OVERHEAD_BYTES;
}

/** One raised alarm. */
export interface Alarm {
  memberId: bigint;
  alarm: number;
}

/** The alarms raised in the cluster, persisted in the `alarm` bucket. */
export class AlarmStore {
  /** alarm type -> member ID -> alarm */
  readonly #alarms = new Map<number, Map<bigint, Alarm>>();
  readonly #backend: Backend;

  /** Loads the alarms stored in `backend` (creating the bucket). */
  constructor(backend: Backend) {
    this.#backend = backend;
    const tx = backend.batchTx;
    tx.lock();
    try {
      tx.unsafeCreateBucket(ALARM_BUCKET);
      tx.unsafeForEach(ALARM_BUCKET, (key) => {
        const m = etcdserverpb.AlarmMember.decode(key);
        this.#add({ memberId: big(m.memberID), alarm: m.alarm ?? 0 });
      });
    } finally {
      tx.unlock();
    }
  }

  /** Raises `alarm` for `memberId`; returns it (also when it was already raised). */
  activate(memberId: bigint, alarm: number): Alarm {
    const existing = this.#alarms.get(alarm)?.get(memberId);
    if (existing !== undefined) return existing;
    const raised = { memberId, alarm };
    this.#add(raised);
    this.#persist(raised, true);
    return raised;
  }

  /** Clears `alarm` of `memberId`; returns the cleared alarm or undefined if not raised. */
  deactivate(memberId: bigint, alarm: number): Alarm | undefined {
    const members = this.#alarms.get(alarm);
    const existing = members?.get(memberId);
    if (members === undefined || existing === undefined) return undefined;
    members.delete(memberId);
    if (members.size === 0) this.#alarms.delete(alarm);
    this.#persist(existing, false);
    return existing;
  }

  /** The alarms of one type; type NONE (0) lists all of them. */
  get(alarm: number): Alarm[] {
    if (alarm === etcdserverpb.AlarmType.NONE) {
      return [...this.#alarms.values()].flatMap((members) => [...members.values()]);
    }
    return [...(this.#alarms.get(alarm)?.values() ?? [])];
  }

  /** Whether any alarm of `alarm` type is raised. */
  has(alarm: number): boolean {
    return (this.#alarms.get(alarm)?.size ?? 0) > 0;
  }

  #add(raised: Alarm): void {
    let members = this.#alarms.get(raised.alarm);
    if (members === undefined) {
      members = new Map();
      this.#alarms.set(raised.alarm, members);
    }
    members.set(raised.memberId, raised);
  }

  #persist(raised: Alarm, present: boolean): void {
    const key = etcdserverpb.AlarmMember.encode({
      memberID: bigintToULong(raised.memberId),
      alarm: raised.alarm,
    }).finish();
    const tx = this.#backend.batchTx;
    tx.lock();
    try {
      if (present) tx.unsafePut(ALARM_BUCKET, key, new Uint8Array(0));
      else tx.unsafeDelete(ALARM_BUCKET, key);
    } finally {
      tx.unlock();
    }
  }
}

/** The alarm's enum name, as etcd prints it (`NOSPACE`). */
export function alarmName(alarm: number): string {
  return etcdserverpb.AlarmType[alarm] ?? String(alarm);
}
