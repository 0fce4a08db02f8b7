/**
 * The member's metrics (etcd's `etcdserver/metrics.go` and `membership/metrics.go`).
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Counter, Gauge } from "../metrics/mod.ts";

/** `etcd_cluster_version`. */
export const clusterVersion = new Gauge({
  name: "etcd_cluster_version",
  help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
  labelNames: ["cluster_version"] as const,
  collect() {
    this.reset();
    const version = _memberSource?.clusterVersion();
    // etcd labels it with major.minor (version.Cluster), e.g. "3.4".
    if (version !== undefined) {
      this.set({ cluster_version: version.split(".").slice(0, 2).join(".") }, 1);
    }
  },
});

/** `etcd_debugging_server_lease_expired_total`. */
export const debuggingServerLeaseExpiredTotal = new Counter({
  name: "etcd_debugging_server_lease_expired_total",
  help: "The total number of expired leases.",
});

/** `etcd_server_go_version`. */
export const serverGoVersion = new Gauge({
  name: "etcd_server_go_version",
  help:
    "Which Go version server is running with. 1 for 'server_go_version' label with current version.",
  labelNames: ["server_go_version"] as const,
});

/** `etcd_server_has_leader`. */
export const serverHasLeader = new Gauge({
  name: "etcd_server_has_leader",
  help: "Whether or not a leader exists. 1 is existence, 0 is not.",
  collect() {
    const source = _memberSource;
    if (source !== undefined) this.set(source.leader() !== 0n ? 1 : 0);
  },
});

/** `etcd_server_heartbeat_send_failures_total`. */
export const serverHeartbeatSendFailuresTotal = new Counter({
  name: "etcd_server_heartbeat_send_failures_total",
  help: "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
});

/** `etcd_server_id`. */
export const serverId = new Gauge({
  name: "etcd_server_id",
  help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
  labelNames: ["server_id"] as const,
});

/** `etcd_server_is_leader`. */
export const serverIsLeader = new Gauge({
  name: "etcd_server_is_leader",
  help: "Whether or not this member is a leader. 1 if is, 0 otherwise.",
  collect() {
    const source = _memberSource;
    if (source !== undefined) this.set(source.isLeader() ? 1 : 0);
  },
});

/** `etcd_server_is_learner`. */
export const serverIsLearner = new Gauge({
  name: "etcd_server_is_learner",
  help: "Whether or not this member is a learner. 1 if is, 0 otherwise.",
  collect() {
    const source = _memberSource;
    if (source !== undefined) this.set(source.isLearner() ? 1 : 0);
  },
});

/** `etcd_server_leader_changes_seen_total`. */
export const serverLeaderChangesSeenTotal = new Counter({
  name: "etcd_server_leader_changes_seen_total",
  help: "The number of leader changes seen.",
});

/** `etcd_server_learner_promote_failures`. */
export const serverLearnerPromoteFailures = new Counter({
  name: "etcd_server_learner_promote_failures",
  help:
    "The total number of failed learner promotions (likely learner not ready) while this member is leader.",
  labelNames: ["Reason"] as const,
});

/** `etcd_server_learner_promote_successes`. */
export const serverLearnerPromoteSuccesses = new Counter({
  name: "etcd_server_learner_promote_successes",
  help: "The total number of successful learner promotions while this member is leader.",
});

/** `etcd_server_proposals_applied_total`. */
export const serverProposalsAppliedTotal = new Gauge({
  name: "etcd_server_proposals_applied_total",
  help: "The total number of consensus proposals applied.",
  collect() {
    const source = _memberSource;
    if (source !== undefined) this.set(source.appliedIndex());
  },
});

/** `etcd_server_proposals_committed_total`. */
export const serverProposalsCommittedTotal = new Gauge({
  name: "etcd_server_proposals_committed_total",
  help: "The total number of consensus proposals committed.",
  collect() {
    const source = _memberSource;
    if (source !== undefined) this.set(source.committedIndex());
  },
});

/** `etcd_server_proposals_failed_total`. */
export const serverProposalsFailedTotal = new Counter({
  name: "etcd_server_proposals_failed_total",
  help: "The total number of failed proposals seen.",
});

/** `etcd_server_proposals_pending`. */
export const serverProposalsPending = new Gauge({
  name: "etcd_server_proposals_pending",
  help: "The current number of pending proposals to commit.",
  collect() {
    const delta = _proposalsPendingDelta;
    if (delta === 0) return;
    _proposalsPendingDelta = 0;
    this.inc(delta);
  },
});

/**
 * Proposals started less proposals ended since `etcd_server_proposals_pending` was last
 * collected: a number per proposal instead of a prom-client update (which makes objects), and
 * each proposal moves the gauge twice.
 */
let _proposalsPendingDelta = 0;

/** Moves `etcd_server_proposals_pending` by `delta` (as of its next collection). */
export function addProposalsPending(delta: number): void {
  _proposalsPendingDelta += delta;
}

/** `etcd_server_quota_backend_bytes`. */
export const serverQuotaBackendBytes = new Gauge({
  name: "etcd_server_quota_backend_bytes",
  help: "Current backend storage quota size in bytes.",
  collect() {
    const source = _memberSource;
    if (source !== undefined) this.set(source.quotaBackendBytes());
  },
});

/** `etcd_server_read_indexes_failed_total`. */
export const serverReadIndexesFailedTotal = new Counter({
  name: "etcd_server_read_indexes_failed_total",
  help: "The total number of failed read indexes seen.",
});

/** `etcd_server_slow_apply_total`. */
export const serverSlowApplyTotal = new Counter({
  name: "etcd_server_slow_apply_total",
  help: "The total number of slow apply requests (likely overloaded from slow disk).",
});

/** `etcd_server_slow_read_indexes_total`. */
export const serverSlowReadIndexesTotal = new Counter({
  name: "etcd_server_slow_read_indexes_total",
  help:
    "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
});

/** `etcd_server_snapshot_apply_in_progress_total`. */
export const serverSnapshotApplyInProgressTotal = new Gauge({
  name: "etcd_server_snapshot_apply_in_progress_total",
  help: "1 if the server is applying the incoming snapshot. 0 if none.",
});

/** `etcd_server_version`. */
export const serverVersion = new Gauge({
  name: "etcd_server_version",
  help: "Which version is running. 1 for 'server_version' label with current version.",
  labelNames: ["server_version"] as const,
});

/** What the member's scrape-time gauges read, from the member started last. */
export interface MemberGaugeSource {
  leader(): bigint;
  isLeader(): boolean;
  isLearner(): boolean;
  committedIndex(): number;
  appliedIndex(): number;
  quotaBackendBytes(): number;
  /** The cluster version once decided (etcd's membership metric), else undefined. */
  clusterVersion(): string | undefined;
}

let _memberSource: MemberGaugeSource | undefined;

/**
 * Makes the scrape-time gauges read `source`, and sets the one-label "info" gauges once, as
 * etcd does when its server starts: version, runtime version and member ID.
 */
export function reportMember(
  source: MemberGaugeSource,
  info: { version: string; memberId: bigint },
): void {
  _memberSource = source;
  serverVersion.reset();
  serverVersion.set({ server_version: info.version }, 1);
  // etcd names its Go version here; detcd names the runtime that runs it instead.
  serverGoVersion.reset();
  serverGoVersion.set({ server_go_version: `deno${Deno.version.deno}` }, 1);
  serverId.reset();
  serverId.set({ server_id: info.memberId.toString(16) }, 1);
}
