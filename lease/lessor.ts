/**
 * The lessor (etcd `lease/lessor.go`): leases with a TTL, the keys attached to them, and which
 * ones have expired.
 *
 * Time is injected (`now()` in milliseconds) and there are no timers here: the server polls
 * {@link Lessor.findExpired} on the leader and proposes a revoke through raft for each lease it
 * returns; applying that revoke calls {@link Lessor.revoke}, which deletes the attached keys and
 * the lease record in one write transaction.
 *
 * Only the primary (the leader's lessor) tracks expiry. A follower's leases never expire
 * ("forever") until {@link Lessor.promote} refreshes them all, as in etcd.
 *
 * Persistence: bucket `lease`, key = the lease ID as 8 bytes big-endian, value =
 * `leasepb.Lease{ID, TTL, RemainingTTL}`. On open every lease is restored with its TTL raised to
 * the minimum TTL and no expiry; the store attaches keys to leases as it rebuilds its index.
 *
 * Checkpoints (etcd's `--experimental-enable-lease-checkpoint`): once a checkpointer is set, the
 * primary schedules a checkpoint one interval (5 minutes) after a lease is granted, promoted or
 * checkpointed, for leases whose remaining TTL exceeds the interval.
 * {@link Lessor.checkpointScheduledLeases} hands the due ones, with their remaining TTL rounded
 * up to seconds, to the checkpointer, which proposes them through raft; applying them sets
 * each lease's remaining TTL ({@link Lessor.checkpoint}), and the next promote counts from it
 * rather than from the granted TTL. A renewal clears it, through raft, first.
 *
 * @module
 */

import {
  LeaseExistsError,
  LeaseNotFoundError,
  LeaseTtlTooLargeError,
  NotPrimaryError,
} from "./errors.ts";
import type { Backend } from "../backend/mod.ts";
import { LeaseQueue } from "./lease_queue.ts";
import { decodeLeaseRecord, encodeLeaseRecord } from "./leasepb.ts";
import {
  leaseGrantedTotal,
  leaseRenewedTotal,
  leaseRevokedTotal,
  leaseTtlTotal,
} from "./metrics.ts";

/** The largest TTL a lease may have, in seconds (etcd `MaxLeaseTTL`). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;
/** The ID meaning "no lease". */
export const NO_LEASE = 0n;
/** Leases revoked per second at most (etcd `leaseRevokeRate`). */
export const LEASE_REVOKE_RATE = 1000;
/** What etcd reports as the remaining TTL of a lease that never expires (MaxInt64 ns). */
const _FOREVER_SECONDS = 9_223_372_036;
const _EXPIRED_RETRY_MS = 3000;
/** Lease checkpoints proposed per second at most (etcd `leaseCheckpointRate`). */
export const LEASE_CHECKPOINT_RATE = 1000;
/** The wait between two checkpoints of a lease (etcd `defaultLeaseCheckpointInterval`). */
export const DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60_000;
/** Checkpoints per raft entry at most (etcd `maxLeaseCheckpointBatchSize`). */
export const MAX_LEASE_CHECKPOINT_BATCH_SIZE = 1000;

/** One lease's remaining TTL to record through raft (etcd `LeaseCheckpoint`). */
export interface LeaseCheckpoint {
  id: bigint;
  /** Seconds; 0 clears the recorded remainder. */
  remainingTtl: number;
}

/**
 * Proposes checkpoints through raft (etcd's `Checkpointer`); resolves once they are applied
 * here, or rejects when the proposal failed.
 */
export type Checkpointer = (checkpoints: LeaseCheckpoint[]) => Promise<void>;

/**
 * Test-only: `DETCD_TEST_LEASE_CHECKPOINT_INTERVAL_MS` replaces the 5-minute checkpoint interval
 * (etcd sets its `CheckpointInterval` only in its own tests) so that a cluster test can show
 * checkpoints in seconds. Read when the server opens its lessor; undefined when unset or invalid.
 */
export function testLeaseCheckpointIntervalMs(): number | undefined {
  let text: string | undefined;
  try {
    text = Deno.env.get("DETCD_TEST_LEASE_CHECKPOINT_INTERVAL_MS");
  } catch {
    return undefined;
  }
  const ms = Number(text);
  return text !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** The name of the lease bucket. */
export const LEASE_BUCKET: Uint8Array = new TextEncoder().encode("lease");

/** A write transaction that deletes keys (the store's `TxnWrite` fits). */
export interface TxnDelete {
  deleteRange(key: Uint8Array, end: Uint8Array | undefined): unknown;
  end(): void;
}

/** Opens a write transaction on the store, used by {@link Lessor.revoke}. */
export type RangeDeleter = () => TxnDelete;

/** Options of {@link Lessor}. */
export interface LessorOptions {
  backend: Backend;
  /** The clock, in milliseconds. */
  now: () => number;
  /** Shorter TTLs are raised to this many seconds (see {@link minLeaseTtlSeconds}). */
  minLeaseTtlSeconds?: number;
  /** After a lease is reported expired, wait this long before reporting it again. */
  expiredRetryIntervalMs?: number;
  /** Persist the remaining TTL on checkpoints (etcd 3.4 does not, by default). */
  checkpointPersist?: boolean;
  /** The wait between checkpoints of a lease; {@link DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS}. */
  checkpointIntervalMs?: number;
}

/**
 * The minimum lease TTL etcd derives from raft timing: 1.5 election timeouts, rounded up to
 * whole seconds (etcdserver: `(3 * electionTicks / 2) * heartbeat`).
 */
export function minLeaseTtlSeconds(electionTimeoutMs: number, heartbeatIntervalMs: number): number {
  const electionTicks = Math.floor(electionTimeoutMs / heartbeatIntervalMs);
  const minTtlMs = Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs;
  return Math.ceil(minTtlMs / 1000);
}

/** One lease. */
export class Lease {
  /** Expiry time in ms; Infinity while the lessor is not primary. */
  expiryMs = Infinity;
  /** Keys attached, as latin1 strings of their bytes. */
  readonly keySet = new Set<string>();

  constructor(
    readonly id: bigint,
    /** The granted TTL in seconds (after the minimum-TTL rule). */
    public ttl: number,
    /** The checkpointed remaining TTL in seconds; 0 means unset. */
    public remainingTtl = 0,
  ) {}

  /** The TTL the next refresh counts from: the checkpointed remainder if set. */
  get effectiveTtl(): number {
    return this.remainingTtl > 0 ? this.remainingTtl : this.ttl;
  }

  /** Milliseconds left at `nowMs` (Infinity when it never expires). */
  remainingMs(nowMs: number): number {
    return this.expiryMs === Infinity ? Infinity : this.expiryMs - nowMs;
  }

  /** The attached keys as bytes, in byte order. */
  keys(): Uint8Array[] {
    return [...this.keySet].sort().map(_keyStringToBytes);
  }
}

/** What TimeToLive reports. */
export interface LeaseTimeToLive {
  id: bigint;
  /** Remaining seconds, truncated; -1 when the lease does not exist. */
  ttl: number;
  grantedTtl: number;
  keys: Uint8Array[];
}

/** The lessor. */
export class Lessor {
  #backend: Backend;
  readonly #now: () => number;
  readonly #minTtl: number;
  readonly #retryMs: number;
  readonly #checkpointPersist: boolean;
  readonly #checkpointIntervalMs: number;
  #checkpointer: Checkpointer | undefined;
  /** When each scheduled checkpoint is due (primary only). */
  readonly #checkpoints = new LeaseQueue();
  readonly #leases = new Map<bigint, Lease>();
  readonly #items = new Map<string, bigint>();
  readonly #expiry = new LeaseQueue();
  #rangeDeleter: RangeDeleter | undefined;
  #primary = false;
  /** Renewals of expired leases waiting for a revoke or a demotion (one per renewal). */
  readonly #settleWaiters = new Set<() => void>();

  /** Opens the lessor and restores the leases kept in the backend. */
  constructor(options: LessorOptions) {
    this.#backend = options.backend;
    this.#now = options.now;
    this.#minTtl = options.minLeaseTtlSeconds ?? 0;
    this.#retryMs = options.expiredRetryIntervalMs ?? _EXPIRED_RETRY_MS;
    this.#checkpointPersist = options.checkpointPersist ?? false;
    this.#checkpointIntervalMs = options.checkpointIntervalMs ??
      DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS;
    this.#restore();
  }

  /**
   * Drops every lease and loads them from `backend` (a db snapshot from the leader; etcd
   * `lessor.Recover`). Recover the lessor before restoring the store from the same backend.
   */
  recover(backend: Backend): void {
    this.#backend = backend;
    this.#leases.clear();
    this.#items.clear();
    this.#expiry.clear();
    this.#restore();
    if (this.#primary) {
      for (const lease of this.#leases.values()) {
        this.#refresh(lease, 0);
        this.#scheduleCheckpoint(lease);
      }
    }
    this.#wakeSettleWaiters();
  }

  /**
   * Enables checkpoints: from now on the primary schedules them and
   * {@link checkpointScheduledLeases} proposes them through `checkpointer`.
   */
  setCheckpointer(checkpointer: Checkpointer): void {
    this.#checkpointer = checkpointer;
  }

  /** Sets how revoke opens a write transaction on the store. */
  setRangeDeleter(rangeDeleter: RangeDeleter): void {
    this.#rangeDeleter = rangeDeleter;
  }

  /** True while this lessor tracks expiry (the leader's). */
  get isPrimary(): boolean {
    return this.#primary;
  }

  /** Grants a lease; the TTL is raised to the minimum. Persists it in the current batch. */
  grant(id: bigint, ttlSeconds: number): Lease {
    if (id === NO_LEASE) throw new LeaseNotFoundError();
    if (ttlSeconds > MAX_LEASE_TTL_SECONDS) throw new LeaseTtlTooLargeError();
    if (this.#leases.has(id)) throw new LeaseExistsError();
    if (!Number.isSafeInteger(ttlSeconds)) throw new RangeError("lease TTL must be an integer");
    const lease = new Lease(id, Math.max(ttlSeconds, this.#minTtl));
    if (this.#primary) this.#refresh(lease, 0);
    this.#leases.set(id, lease);
    this.#persist(lease, true);
    leaseTtlTotal.observe(lease.ttl);
    leaseGrantedTotal.inc();
    if (this.#primary) this.#scheduleCheckpoint(lease);
    return lease;
  }

  /**
   * Revokes a lease: its keys are deleted (in byte order, so every member hashes the same) and
   * its record removed, in one write transaction of the store.
   */
  revoke(id: bigint): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    if (this.#rangeDeleter === undefined) {
      this.#forget(lease);
      this.#backend.batchTx.lock();
      this.#backend.batchTx.unsafeDelete(LEASE_BUCKET, leaseIdToBytes(id));
      this.#backend.batchTx.unlock();
      leaseRevokedTotal.inc();
      return;
    }
    const txn = this.#rangeDeleter();
    try {
      for (const key of lease.keys()) txn.deleteRange(key, undefined);
      this.#forget(lease);
      // Same backend batch as the deletions: the write transaction holds the batch.
      this.#backend.batchTx.unsafeDelete(LEASE_BUCKET, leaseIdToBytes(id));
    } finally {
      txn.end();
    }
    leaseRevokedTotal.inc();
  }

  /**
   * Renews a lease (keep-alive) on the primary; returns its TTL in seconds. The new expiry
   * counts from the lease's checkpointed remaining TTL while one is set, as etcd 3.4's
   * does: {@link renewAfterRevoke} clears it through raft first when checkpoints are on.
   */
  renew(id: bigint): number {
    if (!this.#primary) throw new NotPrimaryError();
    const lease = this.#leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    // An expired lease is waiting for its revoke to pass through raft: "not found" here;
    // renewAfterRevoke waits for the revoke first, as etcd's Renew does.
    if (lease.remainingMs(this.#now()) <= 0) throw new LeaseNotFoundError();
    this.#refresh(lease, 0);
    leaseRenewedTotal.inc();
    return lease.ttl;
  }

  /**
   * Renews as {@link renew} does, except for a lease that has expired and waits for its revoke
   * to pass through raft: etcd's Renew waits for that revoke and then answers "not found"
   * ({@link LeaseNotFoundError}), or for this lessor to lose the primary role
   * ({@link NotPrimaryError}: the caller asks the new leader). `signal` bounds the wait.
   *
   * With checkpoints on, a lease with a checkpointed remaining TTL first has it cleared by a
   * zero checkpoint through raft (etcd proposes it and waits, ignoring a failure), so every
   * member forgets it and the renewal counts from the full TTL.
   */
  async renewAfterRevoke(id: bigint, signal?: AbortSignal): Promise<number> {
    let cleared = false;
    for (;;) {
      if (!this.#primary) throw new NotPrimaryError();
      const lease = this.#leases.get(id);
      if (lease === undefined) throw new LeaseNotFoundError();
      if (lease.remainingMs(this.#now()) > 0) {
        if (this.#checkpointer !== undefined && lease.remainingTtl > 0 && !cleared) {
          cleared = true;
          await this.#checkpointer([{ id, remainingTtl: 0 }]).catch(() => {});
          continue;
        }
        return this.renew(id);
      }
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          this.#settleWaiters.delete(wake);
          signal?.removeEventListener("abort", abort);
          resolve();
        };
        const abort = () => {
          this.#settleWaiters.delete(wake);
          reject(signal?.reason);
        };
        this.#settleWaiters.add(wake);
        signal?.addEventListener("abort", abort, { once: true });
      });
    }
  }

  /** Wakes the renewals waiting in {@link renewAfterRevoke}; each checks again. */
  #wakeSettleWaiters(): void {
    for (const wake of [...this.#settleWaiters]) wake();
  }

  /**
   * Applies a checkpoint of the remaining TTL (LeaseCheckpoint through raft): the next promote
   * counts from it. Persisted with `checkpointPersist`; the primary schedules the next one.
   */
  checkpoint(id: bigint, remainingTtlSeconds: number): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    lease.remainingTtl = remainingTtlSeconds;
    if (this.#checkpointPersist) this.#persist(lease, true);
    if (this.#primary) this.#scheduleCheckpoint(lease);
  }

  /**
   * Proposes the due checkpoints (primary only), at most {@link MAX_LEASE_CHECKPOINT_BATCH_SIZE}
   * per proposal and half of {@link LEASE_CHECKPOINT_RATE} proposals per call (the server calls
   * it every 500 ms, as etcd's run loop). A failed proposal is dropped, as etcd drops it.
   */
  checkpointScheduledLeases(): void {
    const checkpointer = this.#checkpointer;
    if (checkpointer === undefined) return;
    for (let i = 0; i < LEASE_CHECKPOINT_RATE / 2; i++) {
      const due = this.#primary ? this.findDueCheckpoints(MAX_LEASE_CHECKPOINT_BATCH_SIZE) : [];
      if (due.length > 0) checkpointer(due).catch(() => {});
      if (due.length < MAX_LEASE_CHECKPOINT_BATCH_SIZE) return;
    }
  }

  /**
   * Up to `limit` due checkpoints, each taken off the schedule: the remaining TTL rounded up to
   * seconds, for leases still alive whose remainder is below their TTL (etcd
   * `findDueScheduledCheckpoints`).
   */
  findDueCheckpoints(limit: number): LeaseCheckpoint[] {
    const due: LeaseCheckpoint[] = [];
    if (this.#checkpointer === undefined) return due;
    const now = this.#now();
    while (due.length < limit) {
      const head = this.#checkpoints.peek();
      if (head === undefined || head.timeMs > now) break;
      this.#checkpoints.remove(head.id);
      const lease = this.#leases.get(head.id);
      if (lease === undefined) continue;
      const remainingMs = lease.remainingMs(now);
      if (remainingMs <= 0) continue;
      const remainingTtl = Math.ceil(remainingMs / 1000);
      if (remainingTtl >= lease.ttl) continue;
      due.push({ id: lease.id, remainingTtl });
    }
    return due;
  }

  /** How many checkpoints are scheduled (tests and metrics). */
  get scheduledCheckpoints(): number {
    return this.#checkpoints.size;
  }

  /** The lease with this ID, if any. */
  lookup(id: bigint): Lease | undefined {
    return this.#leases.get(id);
  }

  /** All leases, soonest expiry first. */
  leases(): Lease[] {
    const now = this.#now();
    // Compare rather than subtract: leases that never expire are Infinity (and Infinity -
    // Infinity is NaN).
    return [...this.#leases.values()].sort((a, b) => {
      const left = a.remainingMs(now);
      const right = b.remainingMs(now);
      return left === right ? 0 : left < right ? -1 : 1;
    });
  }

  /** TimeToLive as the server reports it; throws {@link LeaseNotFoundError}. */
  timeToLive(id: bigint, withKeys: boolean): LeaseTimeToLive {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    const remaining = lease.remainingMs(this.#now());
    const ttl = remaining === Infinity ? _FOREVER_SECONDS : Math.trunc(remaining / 1000);
    return { id, ttl, grantedTtl: lease.ttl, keys: withKeys ? lease.keys() : [] };
  }

  /** Attaches a key (latin1 string of its bytes) to a lease. */
  attach(id: bigint, key: string): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    lease.keySet.add(key);
    this.#items.set(key, id);
  }

  /** Detaches a key from a lease. */
  detach(id: bigint, key: string): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    lease.keySet.delete(key);
    this.#items.delete(key);
  }

  /** The lease a key is attached to, or {@link NO_LEASE}. */
  getLease(key: string): bigint {
    return this.#items.get(key) ?? NO_LEASE;
  }

  /**
   * Becomes primary: every lease expires `extendMs` + its TTL from now. With many leases the
   * expiries are spread so that at most 3/4 of the revoke rate fall in any second (etcd).
   */
  promote(extendMs: number): void {
    this.#primary = true;
    for (const lease of this.#leases.values()) {
      this.#refresh(lease, extendMs);
      this.#scheduleCheckpoint(lease);
    }
    if (this.#leases.size < LEASE_REVOKE_RATE) return;
    this.#spreadExpiries(extendMs);
  }

  /** Stops being primary: no lease expires until the next promote. */
  demote(): void {
    this.#primary = false;
    for (const lease of this.#leases.values()) lease.expiryMs = Infinity;
    this.#expiry.clear();
    this.#checkpoints.clear();
    this.#wakeSettleWaiters();
  }

  /**
   * Up to `limit` expired leases (primary only). A lease returned here is not returned again
   * for the retry interval, so a lost revoke proposal is retried later.
   */
  findExpired(limit = LEASE_REVOKE_RATE / 2): Lease[] {
    const found: Lease[] = [];
    if (!this.#primary) return found;
    const now = this.#now();
    while (found.length < limit) {
      const head = this.#expiry.peek();
      if (head === undefined || head.timeMs > now) break;
      const lease = this.#leases.get(head.id);
      if (lease === undefined) {
        this.#expiry.remove(head.id);
        continue;
      }
      this.#expiry.registerOrUpdate(head.id, now + this.#retryMs);
      if (lease.remainingMs(now) <= 0) found.push(lease);
    }
    return found;
  }

  #spreadExpiries(extendMs: number): void {
    const now = this.#now();
    const sorted = this.leases();
    const targetPerSecond = Math.floor((3 * LEASE_REVOKE_RATE) / 4);
    let baseWindow = sorted[0]!.remainingMs(now);
    let nextWindow = baseWindow + 1000;
    let expires = 0;
    for (const lease of sorted) {
      const remaining = lease.remainingMs(now);
      if (remaining > nextWindow) {
        baseWindow = remaining;
        nextWindow = baseWindow + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= targetPerSecond) continue;
      // Leases already n seconds past the base window are pushed back by only the difference.
      const delayMs = 1000 * (expires / targetPerSecond) - (remaining - baseWindow);
      nextWindow = baseWindow + delayMs;
      this.#refresh(lease, delayMs + extendMs);
      this.#scheduleCheckpoint(lease);
    }
  }

  /**
   * Schedules a checkpoint one interval from now when checkpoints are on and the lease's
   * remaining TTL (checkpointed, else granted) exceeds the interval in whole seconds (etcd
   * `scheduleCheckpointIfNeeded`). One entry per lease: a later schedule replaces it.
   */
  #scheduleCheckpoint(lease: Lease): void {
    if (this.#checkpointer === undefined) return;
    if (lease.effectiveTtl > Math.trunc(this.#checkpointIntervalMs / 1000)) {
      this.#checkpoints.registerOrUpdate(lease.id, this.#now() + this.#checkpointIntervalMs);
    }
  }

  #refresh(lease: Lease, extendMs: number): void {
    lease.expiryMs = this.#now() + extendMs + lease.effectiveTtl * 1000;
    this.#expiry.registerOrUpdate(lease.id, lease.expiryMs);
  }

  #forget(lease: Lease): void {
    for (const key of lease.keySet) this.#items.delete(key);
    this.#leases.delete(lease.id);
    this.#expiry.remove(lease.id);
    this.#checkpoints.remove(lease.id);
    this.#wakeSettleWaiters();
  }

  #persist(lease: Lease, lock: boolean): void {
    const tx = this.#backend.batchTx;
    const value = encodeLeaseRecord({
      id: lease.id,
      ttl: lease.ttl,
      remainingTtl: lease.remainingTtl,
    });
    if (lock) tx.lock();
    tx.unsafePut(LEASE_BUCKET, leaseIdToBytes(lease.id), value);
    if (lock) tx.unlock();
  }

  #restore(): void {
    const tx = this.#backend.batchTx;
    tx.lock();
    try {
      tx.unsafeCreateBucket(LEASE_BUCKET);
      tx.unsafeForEach(LEASE_BUCKET, (key, value) => {
        const record = decodeLeaseRecord(value);
        if (record.id !== bytesToLeaseId(key)) {
          throw new Error("lease: record ID differs from its key");
        }
        const ttl = Math.max(record.ttl, this.#minTtl);
        this.#leases.set(record.id, new Lease(record.id, ttl, record.remainingTtl));
      });
    } finally {
      tx.unlock();
    }
    this.#backend.forceCommit();
  }
}

/** The 8-byte big-endian bucket key of a lease ID (int64 two's complement). */
export function leaseIdToBytes(id: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, id), false);
  return bytes;
}

/** Inverse of {@link leaseIdToBytes}. */
export function bytesToLeaseId(bytes: Uint8Array): bigint {
  if (bytes.length !== 8) throw new RangeError("lease ID must be 8 bytes");
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, false);
}

function _keyStringToBytes(s: string): Uint8Array {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}
