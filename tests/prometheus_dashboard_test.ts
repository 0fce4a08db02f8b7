// Goal: an operator who points Prometheus at detcd and opens etcd's sample Grafana dashboard
// (grafana.com 3070) sees data in every panel: each of the dashboard's 18 PromQL queries,
// evaluated by a real Prometheus scraping a 3-member cluster under load, returns data.
// Method: a 3-member cluster (detcd, or with PROM_DASHBOARD_SERVER=etcd the real etcd 3.4 as
// the reference the test was validated against), each member with a --listen-metrics-urls
// listener; Debian's `prometheus` scrapes those every second into a temporary TSDB. A bounded
// load runs through the npm etcd3 client (puts, gets, a txn, one request that fails with
// NotFound, a watch stream and a lease keep-alive stream held open), then every query of
// tests/_sample_dashboard.ts goes to Prometheus's HTTP API (/api/v1/query) and must return at
// least one series. The test reports which queries have data before it fails on the others.
// Ports 34400-34449.
import { ok } from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { ETCD_BIN, type Impl, type ServerProcess, spawnServer } from "./_harness.ts";
import { SAMPLE_DASHBOARD_QUERIES } from "./_sample_dashboard.ts";

const _PROMETHEUS = "/usr/bin/prometheus";
const _PORT_BASE = 34400;
const _PROMETHEUS_PORT = 34449;
const _LOAD_MS = 6_000;
const _SCRAPE_INTERVAL = "1s";

const _impl: Impl = Deno.env.get("PROM_DASHBOARD_SERVER") === "etcd" ? "etcd" : "detcd";
const _hasPrometheus = await Deno.stat(_PROMETHEUS).then(() => true, () => false);
const _hasEtcd = await Deno.stat(ETCD_BIN).then(() => true, () => false);

interface _Member {
  name: string;
  client: string;
  metrics: string;
  process: ServerProcess;
}

function _startCluster(impl: Impl, root: string): _Member[] {
  const names = ["m0", "m1", "m2"];
  const port = (i: number, offset: number) => _PORT_BASE + 3 * i + offset;
  const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${port(i, 1)}`).join(
    ",",
  );
  return names.map((name, i) => {
    const client = `http://127.0.0.1:${port(i, 0)}`;
    const peer = `http://127.0.0.1:${port(i, 1)}`;
    const metrics = `http://127.0.0.1:${port(i, 2)}`;
    const args = [
      ...["--name", name, "--data-dir", `${root}/${name}`],
      ...["--listen-client-urls", client, "--advertise-client-urls", client],
      ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
      ...["--initial-cluster", initialCluster, "--initial-cluster-token", "prom-dashboard"],
      ...["--heartbeat-interval", "50", "--election-timeout", "500"],
      ...["--listen-metrics-urls", metrics],
    ];
    const process = spawnServer(impl, args, { endpoint: `127.0.0.1:${port(i, 0)}` });
    return { name, client, metrics, process };
  });
}

async function _waitHealthy(members: _Member[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const member of members) {
    for (;;) {
      if (member.process.exited !== undefined) {
        throw new Error(`${member.name} exited:\n${member.process.log.slice(-2000)}`);
      }
      try {
        const response = await fetch(`${member.metrics}/health`, {
          signal: AbortSignal.timeout(1000),
        });
        await response.body?.cancel();
        if (response.status === 200) break;
      } catch {
        // Not up yet.
      }
      if (Date.now() > deadline) {
        throw new Error(`${member.name} not healthy:\n${member.process.log.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function _startPrometheus(root: string, members: _Member[]): Deno.ChildProcess {
  const targets = members.map((member) => JSON.stringify(new URL(member.metrics).host));
  const config = [
    "global:",
    `  scrape_interval: ${_SCRAPE_INTERVAL}`,
    `  evaluation_interval: ${_SCRAPE_INTERVAL}`,
    "scrape_configs:",
    "  - job_name: cluster",
    `    scrape_timeout: ${_SCRAPE_INTERVAL}`,
    "    static_configs:",
    `      - targets: [${targets.join(", ")}]`,
    "",
  ].join("\n");
  Deno.writeTextFileSync(`${root}/prometheus.yml`, config);
  return new Deno.Command(_PROMETHEUS, {
    args: [
      `--config.file=${root}/prometheus.yml`,
      `--storage.tsdb.path=${root}/tsdb`,
      `--web.listen-address=127.0.0.1:${_PROMETHEUS_PORT}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
    cwd: root,
  }).spawn();
}

/** A bounded load of the kinds of calls the dashboard's panels count. */
async function _load(members: _Member[]): Promise<void> {
  const client = new Etcd3({ hosts: members.map((member) => member.client) });
  try {
    // Streams held open while the load runs: one watch, one lease keep-alive.
    const watcher = await client.watch().prefix("load/").create();
    const lease = client.lease(30);
    await lease.grant();
    const deadline = Date.now() + _LOAD_MS;
    let i = 0;
    while (Date.now() < deadline) {
      await client.put(`load/${i % 64}`).value("x".repeat(256));
      await client.get(`load/${(i * 7) % 64}`).string();
      if (i % 50 === 0) {
        await client.if(`load/${i % 64}`, "Version", ">", 0).then(
          client.put("load/txn").value(
            String(i),
          ),
        ).commit();
        // A unary call that fails (NotFound): the "RPC Failed Rate" series.
        await client.put("load/orphan").value("x").lease("1234567").exec().catch(() => {});
      }
      i++;
    }
    // Leave the streams open over a few more scrapes, then close them.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await watcher.cancel();
    await lease.revoke();
  } finally {
    client.close();
  }
}

async function _query(expr: string): Promise<number> {
  const url = new URL(`http://127.0.0.1:${_PROMETHEUS_PORT}/api/v1/query`);
  url.searchParams.set("query", expr);
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await response.json();
  if (body.status !== "success") throw new Error(`${expr}: ${JSON.stringify(body)}`);
  return body.data.result.length;
}

Deno.test({
  name: `a real Prometheus finds data for every query of etcd's sample dashboard (${_impl})`,
  ignore: !_hasPrometheus || (_impl === "etcd" && !_hasEtcd),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "detcd-prom-" });
    const members = _startCluster(_impl, root);
    let prometheus: Deno.ChildProcess | undefined;
    try {
      await _waitHealthy(members, 60_000);
      prometheus = _startPrometheus(root, members);
      await _waitReady();
      await _load(members);
      // Two more scrapes after the load so rates over [5m] have their last points.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const report: string[] = [];
      const missing: string[] = [];
      for (const query of SAMPLE_DASHBOARD_QUERIES) {
        const series = await _query(query.expr);
        const line = `${
          series > 0 ? "data" : "NONE"
        }  ${query.panel} / ${query.legend}: ${query.expr}`;
        report.push(line);
        if (series === 0) missing.push(line);
      }
      const total = SAMPLE_DASHBOARD_QUERIES.length;
      console.log(
        `${_impl}: ${total - missing.length} of ${total} queries have data\n${report.join("\n")}`,
      );
      ok(missing.length === 0, `${missing.length} of ${total} queries without data on ${_impl}`);
    } finally {
      if (prometheus !== undefined) {
        prometheus.kill("SIGTERM");
        await prometheus.stderr.cancel();
        await prometheus.status;
      }
      await Promise.all(members.map((member) => member.process.stop(5000)));
      await Deno.remove(root, { recursive: true });
    }
  },
});

async function _waitReady(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${_PROMETHEUS_PORT}/-/ready`);
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // Starting.
    }
    if (Date.now() > deadline) throw new Error("prometheus not ready within 20 s");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
