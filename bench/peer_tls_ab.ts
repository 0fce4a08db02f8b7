/**
 * Peer TLS A/B: `deno run -A bench/peer_tls_ab.ts [--total N] [--rounds N]`.
 *
 * The same 3-member detcd cluster with https peers (`--peer-client-cert-auth`, etcd's test
 * certificates, CN example.com) in two variants, interleaved round by round:
 *
 * - `node`: no handshake restriction, so the peer listener and client are `node:https`
 *   (Deno's rustls), the path every TLS peer took before OpenSSL was added;
 * - `openssl`: `--peer-cert-allowed-cn example.com`, so both are OpenSSL through FFI (tls/).
 *
 * Each round runs puts (1 client on 1 connection, then 100 clients on 10 connections) against
 * all three members, and reports QPS and the CPU time (user + system, from /proc) the three
 * member processes spent per put, which is less sensitive to the machine's other load than
 * QPS. Every put crosses the peer network (proposal forwarding, append, heartbeat).
 * Ports 37100-37105.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import type { LoadOptions } from "./kv_load.ts";
import { runLoad } from "./kv_load.ts";
import { summarize } from "./kv_report.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _BASE_PORT = 37100;
const _MEMBERS = 3;
const _READY_MS = 60_000;
const _CLOCK_TICKS_PER_SECOND = 100;

type _Variant = "node" | "openssl";

interface _Cluster {
  endpoints: string[];
  pids: number[];
  stop(): Promise<void>;
}

async function _startCluster(variant: _Variant): Promise<_Cluster> {
  const root = await Deno.makeTempDir({ prefix: `bench_peer_tls_${variant}_` });
  const peer = (i: number) => `https://127.0.0.1:${_BASE_PORT + 2 * i + 1}`;
  const client = (i: number) => `127.0.0.1:${_BASE_PORT + 2 * i}`;
  const cluster = Array.from({ length: _MEMBERS }, (_, i) => `m${i}=${peer(i)}`).join(",");
  const restriction = variant === "openssl" ? ["--peer-cert-allowed-cn=example.com"] : [];
  const children = Array.from({ length: _MEMBERS }, (_, i) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", new URL("../main.ts", import.meta.url).pathname],
        `--name=m${i}`,
        `--data-dir=${root}/${i}`,
        `--listen-client-urls=http://${client(i)}`,
        `--advertise-client-urls=http://${client(i)}`,
        `--listen-peer-urls=${peer(i)}`,
        `--initial-advertise-peer-urls=${peer(i)}`,
        `--initial-cluster=${cluster}`,
        `--peer-cert-file=${_FIXTURES}/server.crt`,
        `--peer-key-file=${_FIXTURES}/server.key.insecure`,
        `--peer-trusted-ca-file=${_FIXTURES}/ca.crt`,
        "--peer-client-cert-auth",
        ...restriction,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn());
  const stop = async () => {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(children.map((child) => child.status));
    await Deno.remove(root, { recursive: true });
  };
  const endpoints = Array.from({ length: _MEMBERS }, (_, i) => client(i));
  try {
    for (const endpoint of endpoints) await _waitReady(endpoint);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoints, pids: children.map((child) => child.pid), stop };
}

async function _waitReady(endpoint: string): Promise<void> {
  const deadline = Date.now() + _READY_MS;
  const client = new EtcdGrpcClient(endpoint);
  try {
    while (Date.now() < deadline) {
      try {
        await client.unary(METHODS.KV.Put, { key: new Uint8Array([0x62]) }, { timeoutMs: 2_000 });
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
  throw new Error(`${endpoint}: no answer within ${_READY_MS} ms`);
}

/** User + system CPU seconds of `pids`, from /proc/<pid>/stat. */
function _cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  }
  return ticks / _CLOCK_TICKS_PER_SECOND;
}

interface _Row {
  variant: _Variant;
  load: string;
  qps: number;
  p50Ms: number;
  cpuMsPerPut: number;
  failed: number;
}

async function _round(variant: _Variant, total: number): Promise<_Row[]> {
  const cluster = await _startCluster(variant);
  const rows: _Row[] = [];
  try {
    const loads = [
      { name: "put c1", clients: 1, conns: 1, total: Math.max(100, Math.round(total / 5)) },
      { name: "put c100", clients: 100, conns: 10, total },
    ];
    for (const load of loads) {
      const options: LoadOptions = {
        label: variant,
        endpoints: cluster.endpoints,
        operation: "put",
        clients: load.clients,
        conns: load.conns,
        total: load.total,
        keySizeBytes: 8,
        valueSizeBytes: 256,
        keySpaceSize: 100_000,
        serializable: false,
        timeoutMs: 10_000,
        client: "native",
      };
      const before = _cpuSeconds(cluster.pids);
      const result = await runLoad(options);
      const cpu = _cpuSeconds(cluster.pids) - before;
      const summary = summarize(result);
      rows.push({
        variant,
        load: load.name,
        qps: summary.qps,
        p50Ms: summary.p50Ms,
        cpuMsPerPut: (cpu * 1000) / Math.max(1, result.succeeded),
        failed: result.failed,
      });
    }
  } finally {
    await cluster.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      total: { type: "string", default: "5000" },
      rounds: { type: "string", default: "2" },
    },
  });
  const total = Number(values.total);
  const rounds = Number(values.rounds);
  console.log(`command: deno run -A bench/peer_tls_ab.ts ${Deno.args.join(" ")}`.trimEnd());
  console.log(`load average before: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
  const rows: _Row[] = [];
  for (let round = 0; round < rounds; round++) {
    // Interleaved, and the order swapped each round, so that drift hits both variants.
    const order: _Variant[] = round % 2 === 0 ? ["node", "openssl"] : ["openssl", "node"];
    for (const variant of order) rows.push(...await _round(variant, total));
  }
  console.log("variant  load       QPS     p50 ms  CPU ms/put (3 members)  failed");
  for (const row of rows) {
    console.log(
      `${row.variant.padEnd(8)} ${row.load.padEnd(9)} ${row.qps.toFixed(0).padStart(6)} ` +
        `${row.p50Ms.toFixed(2).padStart(9)} ${row.cpuMsPerPut.toFixed(3).padStart(14)}` +
        `${String(row.failed).padStart(16)}`,
    );
  }
  console.log(`load average after: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
}

if (import.meta.main) await main();
