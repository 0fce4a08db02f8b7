/**
 * The PromQL queries of etcd's sample Grafana dashboard (the one published on grafana.com as
 * dashboard 3070; Documentation/op-guide/grafana.json in etcd's repository at release-3.4),
 * as data: each panel's title, the series' legend and the query exactly as etcd's dashboard
 * runs it. deploy/grafana/dashboards/detcd.json must hold every one of them, and
 * tests/prometheus_dashboard_test.ts requires data for each from a real Prometheus.
 *
 * @module
 */

/** One query of the sample dashboard. */
export interface SampleQuery {
  readonly panel: string;
  readonly legend: string;
  readonly expr: string;
}

/** The 18 queries of the 12 panels, in the dashboard's order. */
export const SAMPLE_DASHBOARD_QUERIES: readonly SampleQuery[] = [
  { panel: "Up", legend: "", expr: "sum(etcd_server_has_leader)" },
  {
    panel: "RPC Rate",
    legend: "RPC Rate",
    expr: 'sum(rate(grpc_server_started_total{grpc_type="unary"}[5m]))',
  },
  {
    panel: "RPC Rate",
    legend: "RPC Failed Rate",
    expr: 'sum(rate(grpc_server_handled_total{grpc_type="unary",grpc_code!="OK"}[5m]))',
  },
  {
    panel: "Active Streams",
    legend: "Watch Streams",
    expr:
      'sum(grpc_server_started_total{grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"})',
  },
  {
    panel: "Active Streams",
    legend: "Lease Streams",
    expr:
      'sum(grpc_server_started_total{grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"})',
  },
  {
    panel: "DB Size",
    legend: "{{instance}} DB Size",
    expr: "etcd_debugging_mvcc_db_total_size_in_bytes",
  },
  {
    panel: "Disk Sync Duration",
    legend: "{{instance}} WAL fsync",
    expr:
      "histogram_quantile(0.99, sum(rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])) by (instance, le))",
  },
  {
    panel: "Disk Sync Duration",
    legend: "{{instance}} DB fsync",
    expr:
      "histogram_quantile(0.99, sum(rate(etcd_disk_backend_commit_duration_seconds_bucket[5m])) by (instance, le))",
  },
  {
    panel: "Memory",
    legend: "{{instance}} Resident Memory",
    expr: "process_resident_memory_bytes",
  },
  {
    panel: "Client Traffic In",
    legend: "{{instance}} Client Traffic In",
    expr: "rate(etcd_network_client_grpc_received_bytes_total[5m])",
  },
  {
    panel: "Client Traffic Out",
    legend: "{{instance}} Client Traffic Out",
    expr: "rate(etcd_network_client_grpc_sent_bytes_total[5m])",
  },
  {
    panel: "Peer Traffic In",
    legend: "{{instance}} Peer Traffic In",
    expr: "sum(rate(etcd_network_peer_received_bytes_total[5m])) by (instance)",
  },
  {
    panel: "Peer Traffic Out",
    legend: "{{instance}} Peer Traffic Out",
    expr: "sum(rate(etcd_network_peer_sent_bytes_total[5m])) by (instance)",
  },
  {
    panel: "Raft Proposals",
    legend: "Proposal Failure Rate",
    expr: "sum(rate(etcd_server_proposals_failed_total[5m]))",
  },
  {
    panel: "Raft Proposals",
    legend: "Proposal Pending Total",
    expr: "sum(etcd_server_proposals_pending)",
  },
  {
    panel: "Raft Proposals",
    legend: "Proposal Commit Rate",
    expr: "sum(rate(etcd_server_proposals_committed_total[5m]))",
  },
  {
    panel: "Raft Proposals",
    legend: "Proposal Apply Rate",
    expr: "sum(rate(etcd_server_proposals_applied_total[5m]))",
  },
  {
    panel: "Total Leader Elections Per Day",
    legend: "{{instance}} Total Leader Elections Per Day",
    expr: "changes(etcd_server_leader_changes_seen_total[1d])",
  },
];
