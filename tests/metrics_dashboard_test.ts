/**
 * Goal: every series the 18 PromQL queries of etcd's sample Grafana dashboard (published as
 * dashboard 3070) read exists on a 3-member detcd under load, so that a Prometheus scraping
 * it finds data for each. Method: three detcd members, a load of puts, a watch stream and a
 * lease keep-alive stream; each member's /metrics is scraped and every query's selector (the
 * series name with its label matchers, as data below) must match samples on every member.
 * (Evaluating the queries themselves in a real Prometheus is the deployment test's job.)
 * Ports 33300-33308.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { clusterMemberArgs, etcdctl, spawnEtcdctl, spawnServer } from "./_harness.ts";
import { type Family, scrape } from "./_prom_text.ts";

/** Each dashboard query and the selectors it reads: [series, label matchers]. */
const DASHBOARD_QUERIES: { query: string; series: [string, Record<string, string>][] }[] = [
  { query: "sum(etcd_server_has_leader)", series: [["etcd_server_has_leader", {}]] },
  {
    query: 'sum(rate(grpc_server_started_total{grpc_type="unary"}[5m]))',
    series: [["grpc_server_started_total", { grpc_type: "unary" }]],
  },
  {
    query: 'sum(rate(grpc_server_handled_total{grpc_type="unary",grpc_code!="OK"}[5m]))',
    series: [["grpc_server_handled_total", { grpc_type: "unary", grpc_code: "!OK" }]],
  },
  {
    query: "Watch streams: started - handled",
    series: [
      ["grpc_server_started_total", {
        grpc_service: "etcdserverpb.Watch",
        grpc_type: "bidi_stream",
      }],
      ["grpc_server_handled_total", {
        grpc_service: "etcdserverpb.Watch",
        grpc_type: "bidi_stream",
      }],
    ],
  },
  {
    query: "Lease streams: started - handled",
    series: [
      ["grpc_server_started_total", {
        grpc_service: "etcdserverpb.Lease",
        grpc_type: "bidi_stream",
      }],
      ["grpc_server_handled_total", {
        grpc_service: "etcdserverpb.Lease",
        grpc_type: "bidi_stream",
      }],
    ],
  },
  {
    query: "etcd_debugging_mvcc_db_total_size_in_bytes",
    series: [["etcd_debugging_mvcc_db_total_size_in_bytes", {}]],
  },
  {
    query: "histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m]))",
    series: [["etcd_disk_wal_fsync_duration_seconds_bucket", {}]],
  },
  {
    query: "histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket[5m]))",
    series: [["etcd_disk_backend_commit_duration_seconds_bucket", {}]],
  },
  { query: "process_resident_memory_bytes", series: [["process_resident_memory_bytes", {}]] },
  {
    query: "rate(etcd_network_client_grpc_received_bytes_total[5m])",
    series: [["etcd_network_client_grpc_received_bytes_total", {}]],
  },
  {
    query: "rate(etcd_network_client_grpc_sent_bytes_total[5m])",
    series: [["etcd_network_client_grpc_sent_bytes_total", {}]],
  },
  {
    query: "sum(rate(etcd_network_peer_received_bytes_total[5m])) by (instance)",
    series: [["etcd_network_peer_received_bytes_total", {}]],
  },
  {
    query: "sum(rate(etcd_network_peer_sent_bytes_total[5m])) by (instance)",
    series: [["etcd_network_peer_sent_bytes_total", {}]],
  },
  {
    query: "sum(rate(etcd_server_proposals_failed_total[5m]))",
    series: [["etcd_server_proposals_failed_total", {}]],
  },
  {
    query: "sum(etcd_server_proposals_pending)",
    series: [["etcd_server_proposals_pending", {}]],
  },
  {
    query: "sum(rate(etcd_server_proposals_committed_total[5m]))",
    series: [["etcd_server_proposals_committed_total", {}]],
  },
  {
    query: "sum(rate(etcd_server_proposals_applied_total[5m]))",
    series: [["etcd_server_proposals_applied_total", {}]],
  },
  {
    query: "changes(etcd_server_leader_changes_seen_total[1d])",
    series: [["etcd_server_leader_changes_seen_total", {}]],
  },
];

function matches(families: Map<string, Family>, name: string, matchers: Record<string, string>) {
  const family = families.get(name.replace(/_bucket$/, "")) ?? families.get(name);
  return (family?.samples ?? []).filter((s) =>
    s.name === name &&
    Object.entries(matchers).every(([k, v]) =>
      v.startsWith("!") ? s.labels[k] !== v.slice(1) : s.labels[k] === v
    )
  ).length;
}

Deno.test("metrics: each series of etcd's sample dashboard exists on a 3-member detcd", async () => {
  const ports = [33300, 33303, 33306];
  const cluster = ports.map((p, i) => `d${i}=http://127.0.0.1:${p + 1}`).join(",");
  const root = await Deno.makeTempDir({ prefix: "detcd-dashboard-" });
  const members = ports.map((p, i) =>
    spawnServer("detcd", [
      ...clusterMemberArgs(`d${i}`, `${root}/d${i}`, p, cluster),
    ], { endpoint: `127.0.0.1:${p}` })
  );
  const endpoints = members.map((m) => m.endpoint).join(",");
  const streams: ReturnType<typeof spawnEtcdctl>[] = [];
  try {
    for (const m of members) await m.waitFor("published", 60000);
    streams.push(spawnEtcdctl(endpoints, ["watch", "dash"]));
    const grant = await etcdctl(members[0]!.endpoint, ["lease", "grant", "60"]);
    const lease = grant.stdout.match(/lease ([0-9a-f]+) granted/)?.[1];
    ok(lease !== undefined, grant.stdout + grant.stderr);
    streams.push(spawnEtcdctl(members[1]!.endpoint, ["lease", "keep-alive", lease]));
    for (let i = 0; i < 30; i++) {
      const put = await etcdctl(members[i % 3]!.endpoint, ["put", `dash${i % 5}`, `v${i}`]);
      ok(put.code === 0, put.stderr);
    }
    // The probers observe round-trip times after 5 s; give the peers' counters time too.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const missing: string[] = [];
    for (const member of members) {
      const families = await scrape(member.endpoint);
      for (const { query, series } of DASHBOARD_QUERIES) {
        for (const [name, matchers] of series) {
          if (matches(families, name, matchers) === 0) {
            missing.push(`${member.endpoint}: ${query}: no ${name}${JSON.stringify(matchers)}`);
          }
        }
      }
    }
    deepStrictEqual(missing, []);
  } finally {
    for (const s of streams) await s.stop();
    for (const m of members) await m.stop(3000);
    await Deno.remove(root, { recursive: true });
  }
});
