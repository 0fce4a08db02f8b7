/**
 * The lessor: leases, their TTLs and attached keys, expiry detection driven by an injected clock,
 * persistence in the `lease` bucket. See `lessor.ts`.
 *
 * @module
 */
export {
  bytesToLeaseId,
  type Checkpointer,
  DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS,
  Lease,
  LEASE_BUCKET,
  LEASE_CHECKPOINT_RATE,
  LEASE_REVOKE_RATE,
  type LeaseCheckpoint,
  leaseIdToBytes,
  type LeaseTimeToLive,
  Lessor,
  type LessorOptions,
  MAX_LEASE_CHECKPOINT_BATCH_SIZE,
  MAX_LEASE_TTL_SECONDS,
  minLeaseTtlSeconds,
  NO_LEASE,
  type RangeDeleter,
  testLeaseCheckpointIntervalMs,
  type TxnDelete,
} from "./lessor.ts";
export {
  LeaseExistsError,
  LeaseNotFoundError,
  LeaseTtlTooLargeError,
  NotPrimaryError,
} from "./errors.ts";
export { decodeLeaseRecord, encodeLeaseRecord, type LeaseRecord } from "./leasepb.ts";
export { LeaseQueue } from "./lease_queue.ts";
