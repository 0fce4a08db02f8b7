/**
 * Goal: detcd's `/metrics` is etcd 3.4.23's, as a Prometheus user sees it. Method: the same
 * workload (puts, ranges, txns, deletes, a watch, a lease with a key, a compaction) runs
 * against the real etcd and against detcd, each a fresh single member; the scrapes taken
 * before and after are compared:
 *
 * - every `etcd_*`, `grpc_*` and `process_*` family etcd serves with samples is served by
 *   detcd with the same type, help text, label names and histogram buckets, and detcd serves
 *   no such family etcd lacks (the deliberate exceptions are listed below, with the reason);
 * - the counters that count the same things moved by the same amounts.
 *
 * Then `etcdctl check datascale` (which reads process_resident_memory_bytes) runs on detcd.
 * Ports 33100-33119.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { etcdctl, type Impl, type Member, spawnEtcdctl, startMember } from "./_harness.ts";
import { type Family, labelNamesOf, scrape, sumOf } from "./_prom_text.ts";

/** Families of etcd that detcd leaves out on purpose. */
const ETCD_ONLY: Record<string, string> = {
  etcd_debugging_store_expires_total: "etcd's v2 store; detcd has none (no v2 API)",
  etcd_debugging_store_reads_total: "etcd's v2 store; detcd has none (no v2 API)",
  etcd_debugging_store_watch_requests_total: "etcd's v2 store; detcd has none (no v2 API)",
  etcd_debugging_store_watchers: "etcd's v2 store; detcd has none (no v2 API)",
  etcd_debugging_store_writes_total: "etcd's v2 store; detcd has none (no v2 API)",
  etcd_grpc_proxy_cache_hits_total: "the gRPC proxy (etcd grpc-proxy) is not part of detcd",
  etcd_grpc_proxy_cache_keys_total: "the gRPC proxy (etcd grpc-proxy) is not part of detcd",
  etcd_grpc_proxy_cache_misses_total: "the gRPC proxy (etcd grpc-proxy) is not part of detcd",
  etcd_grpc_proxy_events_coalescing_total: "the gRPC proxy is not part of detcd",
  etcd_grpc_proxy_watchers_coalescing_total: "the gRPC proxy is not part of detcd",
};

const COMPARED_PREFIXES = ["etcd_", "grpc_", "process_"];

/** Counters (and counter-like gauges) that must move alike under the same workload. */
const SAME_DELTAS: { name: string; labels?: Record<string, string> }[] = [
  { name: "etcd_mvcc_put_total" },
  { name: "etcd_mvcc_range_total" },
  { name: "etcd_mvcc_txn_total" },
  { name: "etcd_mvcc_delete_total" },
  { name: "etcd_debugging_mvcc_put_total" },
  { name: "etcd_debugging_mvcc_range_total" },
  { name: "etcd_debugging_mvcc_txn_total" },
  { name: "etcd_debugging_mvcc_delete_total" },
  { name: "etcd_debugging_mvcc_keys_total" },
  { name: "etcd_debugging_mvcc_events_total" },
  { name: "etcd_debugging_mvcc_total_put_size_in_bytes" },
  { name: "etcd_debugging_mvcc_current_revision" },
  { name: "etcd_debugging_mvcc_compact_revision" },
  { name: "etcd_server_proposals_applied_total" },
  { name: "etcd_server_proposals_committed_total" },
  { name: "etcd_debugging_lease_granted_total" },
  { name: "etcd_debugging_lease_revoked_total" },
  { name: "etcd_debugging_lease_renewed_total" },
  { name: "etcd_debugging_lease_ttl_total_count" },
  { name: "grpc_server_started_total", labels: { grpc_method: "Put" } },
  { name: "grpc_server_started_total", labels: { grpc_method: "Range" } },
  { name: "grpc_server_started_total", labels: { grpc_method: "Txn" } },
  { name: "grpc_server_started_total", labels: { grpc_method: "DeleteRange" } },
  { name: "grpc_server_started_total", labels: { grpc_method: "LeaseGrant" } },
  { name: "grpc_server_started_total", labels: { grpc_method: "LeaseRevoke" } },
  { name: "grpc_server_started_total", labels: { grpc_method: "Compact" } },
  { name: "grpc_server_handled_total", labels: { grpc_method: "Put", grpc_code: "OK" } },
  { name: "grpc_server_handled_total", labels: { grpc_method: "Txn", grpc_code: "OK" } },
  { name: "grpc_server_msg_received_total", labels: { grpc_method: "Range" } },
  { name: "grpc_server_msg_sent_total", labels: { grpc_method: "Range" } },
];

/** Gauges read while the watch is open, compared as values. */
const SAME_WHILE_WATCHING = [
  "etcd_debugging_mvcc_watcher_total",
  "etcd_debugging_mvcc_watch_stream_total",
  "etcd_debugging_mvcc_slow_watcher_total",
  "etcd_server_has_leader",
  "etcd_server_is_leader",
  "etcd_server_is_learner",
];

interface Observed {
  before: Map<string, Family>;
  watching: Map<string, Family>;
  after: Map<string, Family>;
}

async function ctl(member: Member, ...args: string[]): Promise<string> {
  const result = await etcdctl(member.endpoint, args, { timeoutMs: 10000 });
  if (result.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** The workload; the same commands on both servers. */
/**
 * Waits until the member's start-up entries (publish, cluster version) are applied, so that
 * neither server counts them in the workload's deltas however slow its start.
 */
async function settled(member: Member): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const version = await (await fetch(`http://${member.endpoint}/version`)).json();
    const metrics = await scrape(member.endpoint);
    const committed = sumOf(metrics, "etcd_server_proposals_committed_total");
    const applied = sumOf(metrics, "etcd_server_proposals_applied_total");
    if (version.etcdcluster !== "not_decided" && committed === applied) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${member.endpoint}: start-up entries not applied within 15 s`);
}

async function workload(member: Member): Promise<Observed> {
  await settled(member);
  const before = await scrape(member.endpoint);
  const watch = spawnEtcdctl(member.endpoint, ["watch", "w"]);
  try {
    // The watch is registered once its first event arrives.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await ctl(member, "put", "w", "0");
    await watch.waitFor("w\n0");
    for (let i = 0; i < 10; i++) await ctl(member, "put", `k${i}`, `value-${i}`);
    await ctl(member, "get", "k1");
    await ctl(member, "get", "k", "--prefix");
    await ctl(member, "get", "k", "--prefix", "--keys-only");
    await ctl(member, "del", "k2");
    await ctl(member, "del", "k5", "--from-key");
    await ctl(member, "put", "w", "1");
    await watch.waitFor("w\n1");
    const txn = await etcdctl(member.endpoint, ["txn"], {
      stdin: 'value("w") = "1"\n\nput t1 a\nput t2 b\n\nput t3 c\n\n',
      timeoutMs: 10000,
    });
    strictEqual(txn.code, 0, txn.stderr);
    const grant = await ctl(member, "lease", "grant", "100");
    const lease = grant.match(/lease ([0-9a-f]+) granted/)?.[1];
    ok(lease !== undefined, grant);
    await ctl(member, "put", "leased", "x", "--lease", lease);
    await ctl(member, "lease", "keep-alive", "--once", lease);
    await ctl(member, "lease", "revoke", lease);
    const revision = Number(
      JSON.parse(await ctl(member, "get", "w", "-w", "json")).header.revision,
    );
    await ctl(member, "compact", String(revision - 2), "--physical");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const watching = await scrape(member.endpoint);
    return { before, watching, after: watching };
  } finally {
    await watch.stop();
  }
}

function withSamples(families: Map<string, Family>): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const [name, family] of families) {
    if (!COMPARED_PREFIXES.some((p) => name.startsWith(p))) continue;
    if (family.samples.length === 0) continue;
    out.set(name, family);
  }
  return out;
}

function bucketsOf(family: Family): string[] {
  return [
    ...new Set(family.samples.filter((s) => s.labels.le !== undefined).map((s) => s.labels.le!)),
  ]
    .map(Number).sort((a, b) => a - b).map(String);
}

async function observe(impl: Impl, clientPort: number): Promise<Observed> {
  const member = await startMember({ impl, clientPort, peerPort: clientPort + 1 });
  try {
    return await workload(member);
  } finally {
    await member.stop();
  }
}

Deno.test("metrics: detcd serves etcd's families and counts the same workload alike", async () => {
  const etcd = await observe("etcd", 33100);
  const detcd = await observe("detcd", 33110);

  const etcdFamilies = withSamples(etcd.after);
  const detcdFamilies = withSamples(detcd.after);
  const problems: string[] = [];
  for (const [name, family] of etcdFamilies) {
    if (ETCD_ONLY[name] !== undefined) continue;
    const ours = detcd.after.get(name);
    if (ours === undefined || ours.samples.length === 0) {
      problems.push(`missing ${name}`);
      continue;
    }
    if (ours.type !== family.type) problems.push(`${name}: type ${ours.type} != ${family.type}`);
    if (ours.help !== family.help) problems.push(`${name}: help ${JSON.stringify(ours.help)}`);
    const labels = labelNamesOf(ours).join(",");
    if (labels !== labelNamesOf(family).join(",")) problems.push(`${name}: labels ${labels}`);
    // Go prints label names sorted; scrapers that match text (etcd's e2e tests) rely on it.
    for (const sample of ours.samples) {
      const keys = Object.keys(sample.labels).filter((k) => k !== "le");
      if (keys.join() !== [...keys].sort().join()) {
        problems.push(`${name}: labels printed as ${keys.join(",")}`);
        break;
      }
    }
    if (family.type === "histogram" && bucketsOf(ours).join() !== bucketsOf(family).join()) {
      problems.push(`${name}: buckets ${bucketsOf(ours).join()}`);
    }
  }
  for (const name of detcdFamilies.keys()) {
    if (!etcd.after.has(name)) problems.push(`detcd serves ${name}, etcd does not`);
  }
  deepStrictEqual(problems, []);

  const delta = (o: Observed, name: string, labels?: Record<string, string>) =>
    sumOf(o.after, name, labels) - sumOf(o.before, name, labels);
  const deltas: string[] = [];
  for (const { name, labels } of SAME_DELTAS) {
    const theirs = delta(etcd, name, labels);
    const ours = delta(detcd, name, labels);
    ok(Number.isFinite(theirs), `etcd has no ${name}`);
    if (ours !== theirs) {
      deltas.push(`${name}${JSON.stringify(labels ?? {})}: ${ours} != ${theirs}`);
    }
  }
  for (const name of SAME_WHILE_WATCHING) {
    const theirs = sumOf(etcd.watching, name);
    const ours = sumOf(detcd.watching, name);
    if (ours !== theirs) deltas.push(`${name} while watching: ${ours} != ${theirs}`);
  }
  deepStrictEqual(deltas, []);
  // The workload did move them: a comparison of zeros would prove nothing.
  ok(delta(detcd, "etcd_mvcc_put_total") >= 10);
  ok(sumOf(detcd.watching, "etcd_debugging_mvcc_watcher_total") === 1);
});

Deno.test("metrics: etcdctl check datascale runs against detcd", async () => {
  // It reads process_resident_memory_bytes before and after writing 10k keys.
  const member = await startMember({ impl: "detcd", clientPort: 33120, peerPort: 33121 });
  try {
    const result = await etcdctl(member.endpoint, ["check", "datascale", "--load", "s"], {
      timeoutMs: 120000,
    });
    strictEqual(result.code, 0, result.stdout + result.stderr);
    ok(/PASS: Approximate system memory used : [0-9.]+ MB/.test(result.stdout), result.stdout);
  } finally {
    await member.stop();
  }
});
