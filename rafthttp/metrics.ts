/**
 * The peer transport's metrics (etcd's `etcdserver/api/rafthttp/metrics.go`): bytes and
 * failures per peer, active peers, round-trip times, snapshot transfers.
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Counter, exponentialBuckets, Gauge, Histogram } from "../metrics/mod.ts";

/** `etcd_network_active_peers`. */
export const activePeers = new Gauge({
  name: "etcd_network_active_peers",
  help: "The current number of active peer connections.",
  labelNames: ["Local", "Remote"] as const,
});

/** `etcd_network_disconnected_peers_total`. */
export const disconnectedPeersTotal = new Counter({
  name: "etcd_network_disconnected_peers_total",
  help: "The total number of disconnected peers.",
  labelNames: ["Local", "Remote"] as const,
});

/** `etcd_network_peer_received_bytes_total`. */
export const peerReceivedBytesTotal = new Counter({
  name: "etcd_network_peer_received_bytes_total",
  help: "The total number of bytes received from peers.",
  labelNames: ["From"] as const,
});

/** `etcd_network_peer_received_failures_total`. */
export const peerReceivedFailuresTotal = new Counter({
  name: "etcd_network_peer_received_failures_total",
  help: "The total number of receive failures from peers.",
  labelNames: ["From"] as const,
});

/** `etcd_network_peer_round_trip_time_seconds`. */
export const peerRoundTripTimeSeconds = new Histogram({
  name: "etcd_network_peer_round_trip_time_seconds",
  help: "Round-Trip-Time histogram between peers",
  labelNames: ["To"] as const,
  buckets: exponentialBuckets(0.0001, 2, 16),
});

/** `etcd_network_peer_sent_bytes_total`. */
export const peerSentBytesTotal = new Counter({
  name: "etcd_network_peer_sent_bytes_total",
  help: "The total number of bytes sent to peers.",
  labelNames: ["To"] as const,
});

/** `etcd_network_peer_sent_failures_total`. */
export const peerSentFailuresTotal = new Counter({
  name: "etcd_network_peer_sent_failures_total",
  help: "The total number of send failures from peers.",
  labelNames: ["To"] as const,
});

/** `etcd_network_snapshot_receive_failures`. */
export const snapshotReceiveFailures = new Counter({
  name: "etcd_network_snapshot_receive_failures",
  help: "Total number of snapshot receive failures",
  labelNames: ["From"] as const,
});

/** `etcd_network_snapshot_receive_inflights_total`. */
export const snapshotReceiveInflightsTotal = new Gauge({
  name: "etcd_network_snapshot_receive_inflights_total",
  help: "Total number of inflight snapshot receives",
  labelNames: ["From"] as const,
});

/** `etcd_network_snapshot_receive_success`. */
export const snapshotReceiveSuccess = new Counter({
  name: "etcd_network_snapshot_receive_success",
  help: "Total number of successful snapshot receives",
  labelNames: ["From"] as const,
});

/** `etcd_network_snapshot_receive_total_duration_seconds`. */
export const snapshotReceiveTotalDurationSeconds = new Histogram({
  name: "etcd_network_snapshot_receive_total_duration_seconds",
  help: "Total latency distributions of v3 snapshot receives",
  labelNames: ["From"] as const,
  buckets: exponentialBuckets(0.1, 2, 10),
});

/** `etcd_network_snapshot_send_failures`. */
export const snapshotSendFailures = new Counter({
  name: "etcd_network_snapshot_send_failures",
  help: "Total number of snapshot send failures",
  labelNames: ["To"] as const,
});

/** `etcd_network_snapshot_send_inflights_total`. */
export const snapshotSendInflightsTotal = new Gauge({
  name: "etcd_network_snapshot_send_inflights_total",
  help: "Total number of inflight snapshot sends",
  labelNames: ["To"] as const,
});

/** `etcd_network_snapshot_send_success`. */
export const snapshotSendSuccess = new Counter({
  name: "etcd_network_snapshot_send_success",
  help: "Total number of successful snapshot sends",
  labelNames: ["To"] as const,
});

/** `etcd_network_snapshot_send_total_duration_seconds`. */
export const snapshotSendTotalDurationSeconds = new Histogram({
  name: "etcd_network_snapshot_send_total_duration_seconds",
  help: "Total latency distributions of v3 snapshot sends",
  labelNames: ["To"] as const,
  buckets: exponentialBuckets(0.1, 2, 10),
});
