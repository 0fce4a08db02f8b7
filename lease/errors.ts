/**
 * Errors of the lessor, with etcd's texts (`lease/lessor.go`). The API layer maps them to
 * "etcdserver: requested lease not found", "etcdserver: lease already exists" and
 * "etcdserver: too large lease TTL".
 *
 * @module
 */

/** No lease has the given ID (or it expired and is being revoked). */
export class LeaseNotFoundError extends Error {
  override readonly name = "LeaseNotFoundError";
  constructor() {
    super("lease not found");
  }
}

/** A lease with the given ID exists already. */
export class LeaseExistsError extends Error {
  override readonly name = "LeaseExistsError";
  constructor() {
    super("lease already exists");
  }
}

/** The TTL is above {@link MAX_LEASE_TTL_SECONDS}. */
export class LeaseTtlTooLargeError extends Error {
  override readonly name = "LeaseTtlTooLargeError";
  constructor() {
    super("too large lease TTL");
  }
}

/** Renewals go to the leader; this member is not it. */
export class NotPrimaryError extends Error {
  override readonly name = "NotPrimaryError";
  constructor() {
    super("not a primary lessor");
  }
}
