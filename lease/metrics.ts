/**
 * The lessor's metrics (etcd's `lease/metrics.go`).
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Counter, exponentialBuckets, Histogram } from "../metrics/mod.ts";

/** `etcd_debugging_lease_granted_total`. */
export const leaseGrantedTotal = new Counter({
  name: "etcd_debugging_lease_granted_total",
  help: "The total number of granted leases.",
});

/** `etcd_debugging_lease_renewed_total`. */
export const leaseRenewedTotal = new Counter({
  name: "etcd_debugging_lease_renewed_total",
  help: "The number of renewed leases seen by the leader.",
});

/** `etcd_debugging_lease_revoked_total`. */
export const leaseRevokedTotal = new Counter({
  name: "etcd_debugging_lease_revoked_total",
  help: "The total number of revoked leases.",
});

/** `etcd_debugging_lease_ttl_total`. */
export const leaseTtlTotal = new Histogram({
  name: "etcd_debugging_lease_ttl_total",
  help: "Bucketed histogram of lease TTLs.",
  buckets: exponentialBuckets(1, 2, 24),
});
