/**
 * 3-member cluster benchmark: `deno task bench:kv-cluster [--total N] [--workers N]`.
 *
 * For each of four loads, starts a fresh 3-member real etcd cluster on 127.0.0.1, runs the
 * load against all three endpoints (connections spread round-robin, so two thirds of the
 * writes enter through a follower and are forwarded to the leader, as with
 * `etcdctl --endpoints=a,b,c`), stops it, then does the same with a 3-member detcd cluster
 * given the same flags, and prints the ratios detcd/etcd:
 *
 * - put, 1 client, 1 connection;
 * - put, 1000 clients, 100 connections;
 * - range linearizable and range serializable, 1000 clients, 100 connections.
 *
 * Client and servers share this machine's cores: only ratios from one run mean anything.
 * Ports 24080-24085 (shared with tests/cluster_mixed_test.ts: do not run both at once).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import type { LoadOptions } from "./kv_load.ts";
import { runLoadInWorkers } from "./kv_parallel.ts";
import { formatRun, type RunResult, summarize } from "./kv_report.ts";

const BASE_PORT = 24080;
const MEMBERS = 3;
const SERVER_READY_MS = 30_000;

interface _Load {
  name: string;
  options: Omit<LoadOptions, "label" | "endpoints" | "total">;
  /** Fraction of --total this load runs (one client is slow: fewer requests). */
  share: number;
}

const _BASE = {
  keySizeBytes: 8,
  valueSizeBytes: 256,
  keySpaceSize: 100_000,
  timeoutMs: 10_000,
  client: "native" as const,
};

const LOADS: _Load[] = [
  {
    name: "put c1",
    options: { ..._BASE, operation: "put", clients: 1, conns: 1, serializable: false },
    share: 0.1,
  },
  {
    name: "put c1000",
    options: { ..._BASE, operation: "put", clients: 1000, conns: 100, serializable: false },
    share: 1,
  },
  {
    name: "range l",
    options: { ..._BASE, operation: "range", clients: 1000, conns: 100, serializable: false },
    share: 1,
  },
  {
    name: "range s",
    options: { ..._BASE, operation: "range", clients: 1000, conns: 100, serializable: true },
    share: 1,
  },
];

interface _Cluster {
  endpoints: string[];
  stop(): Promise<void>;
}

/** Starts `MEMBERS` members of `command` on loopback, each in a fresh data dir. */
async function _startCluster(command: string[], name: string): Promise<_Cluster> {
  const [program, ...programArgs] = command;
  if (program === undefined) throw new Error("empty server command");
  const root = await Deno.makeTempDir({ prefix: `bench_kv_cluster_${name}_` });
  const peer = (i: number) => `http://127.0.0.1:${BASE_PORT + 2 * i + 1}`;
  const client = (i: number) => `127.0.0.1:${BASE_PORT + 2 * i}`;
  const initialCluster = Array.from({ length: MEMBERS }, (_, i) => `${name}${i}=${peer(i)}`)
    .join(",");
  const children = Array.from({ length: MEMBERS }, (_, i) =>
    new Deno.Command(program, {
      args: [
        ...programArgs,
        `--name=${name}${i}`,
        `--data-dir=${root}/${i}`,
        `--listen-client-urls=http://${client(i)}`,
        `--advertise-client-urls=http://${client(i)}`,
        `--listen-peer-urls=${peer(i)}`,
        `--initial-advertise-peer-urls=${peer(i)}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=bench-${name}`,
        "--initial-cluster-state=new",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn());
  const stop = async (): Promise<void> => {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    const timer = setTimeout(() => {
      for (const child of children) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }, 5_000);
    await Promise.all(children.map((child) => child.status));
    clearTimeout(timer);
    await Deno.remove(root, { recursive: true });
  };
  const endpoints = Array.from({ length: MEMBERS }, (_, i) => client(i));
  try {
    for (const endpoint of endpoints) await _waitReady(endpoint);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoints, stop };
}

/** Polls with a linearizable Range until the member answers (a leader exists). */
async function _waitReady(endpoint: string): Promise<void> {
  const deadline = Date.now() + SERVER_READY_MS;
  const client = new EtcdGrpcClient(endpoint);
  try {
    while (Date.now() < deadline) {
      try {
        await client.unary(METHODS.KV.Range, { key: new Uint8Array([0x62]) }, {
          timeoutMs: 1_000,
        });
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
  throw new Error(`${endpoint}: no answer within ${SERVER_READY_MS} ms`);
}

/** One load against a fresh cluster of `command` (so that loads do not see each other's data). */
async function _runOne(
  command: string[],
  label: string,
  load: _Load,
  total: number,
  workers: number,
): Promise<RunResult> {
  const cluster = await _startCluster(command, label);
  try {
    const options: LoadOptions = {
      ...load.options,
      label: `${label} ${load.name}`,
      endpoints: cluster.endpoints,
      total: Math.max(100, Math.round(total * load.share)),
    };
    return await runLoadInWorkers(options, workers);
  } finally {
    await cluster.stop();
  }
}

function _ratio(name: string, detcd: number, etcd: number): string {
  return `${name.padEnd(10)} detcd ${detcd.toFixed(2).padStart(9)}  etcd ${
    etcd.toFixed(2).padStart(9)
  }  ratio ${(detcd / etcd).toFixed(2)}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      total: { type: "string", default: "20000" },
      workers: { type: "string", default: "1" },
      "etcd-cmd": { type: "string", default: "/usr/bin/etcd" },
      "detcd-cmd": { type: "string", default: "deno run -A main.ts" },
    },
  });
  const total = Number(values.total);
  const workers = Number(values.workers);
  if (!Number.isSafeInteger(total) || !Number.isSafeInteger(workers)) {
    throw new Error("--total and --workers are counts");
  }
  console.log(`command: deno task bench:kv-cluster ${Deno.args.join(" ")}`.trimEnd());
  // Interleaved (etcd, detcd, next load...): on a shared machine the load drifts, and each
  // ratio then compares runs made a few seconds apart.
  const etcd: RunResult[] = [];
  const detcd: RunResult[] = [];
  for (const load of LOADS) {
    etcd.push(await _runOne(values["etcd-cmd"].split(" "), "etcd", load, total, workers));
    detcd.push(await _runOne(values["detcd-cmd"].split(" "), "detcd", load, total, workers));
  }
  for (const result of [...etcd, ...detcd]) console.log(formatRun(result));
  console.log("ratios detcd/etcd, 3-member clusters (QPS higher is better, latency lower)");
  for (let i = 0; i < LOADS.length; i++) {
    const e = summarize(etcd[i]!);
    const d = summarize(detcd[i]!);
    console.log(`${LOADS[i]!.name}:`);
    console.log("  " + _ratio("QPS", d.qps, e.qps));
    console.log("  " + _ratio("p50 ms", d.p50Ms, e.p50Ms));
    console.log("  " + _ratio("p99 ms", d.p99Ms, e.p99Ms));
  }
}

if (import.meta.main) await main();
