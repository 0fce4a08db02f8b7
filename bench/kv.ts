/**
 * KV load tool for etcd-compatible servers: `deno task bench:kv [flags]`.
 *
 * Runs put, range (linearizable or serializable), txn or watch load, spread over `--workers`
 * Workers. Unary loads use our own HTTP/2 gRPC client by default (`--client native`, about
 * 2x the calls per second of grpc-js under Deno and close to Go's clientv3 here); watch
 * uses grpc-js. Prints QPS, latency percentiles and a histogram; writes an SVG plot to `bench/out/`.
 *
 * `--compare` starts a real `/usr/bin/etcd` (temporary data dir, 127.0.0.1:23810) and, with
 * `--detcd-cmd "deno run -A main.ts"`, a detcd member (127.0.0.1:23812) given the same etcd
 * flags, runs the same load against each in turn and prints the ratios detcd/etcd.
 *
 * Client and server share this machine's cores, so only ratios from one run mean anything.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import type { LoadOptions, Operation } from "./kv_load.ts";
import { runLoadInWorkers } from "./kv_parallel.ts";
import { formatRun, histogramSvg, type RunResult, summarize } from "./kv_report.ts";

const USAGE = `usage: deno task bench:kv [--op put|range|txn|watch] [--consistency l|s]
  [--clients N] [--conns N] [--total N] [--key-size B] [--val-size B] [--key-space-size N]
  [--endpoints host:port,...] [--workers N] [--client native|grpc-js] [--timeout-ms MS]
  [--out-dir DIR]
  [--compare [--etcd-cmd /usr/bin/etcd] [--detcd-cmd "CMD ARGS"]]`;

/** Ports of the servers --compare starts (inside the api/bench range 23800-23819). */
const ETCD_PORTS = { client: 23810, peer: 23811 };
const DETCD_PORTS = { client: 23812, peer: 23813 };
/** How long a started server may take to answer its first request. */
const SERVER_READY_MS = 30_000;

interface _Flags {
  load: Omit<LoadOptions, "label" | "endpoints">;
  endpoints: string[];
  workers: number;
  compare: boolean;
  etcdCmd: string;
  detcdCmd: string | undefined;
  outDir: string;
}

function _parseFlags(args: string[]): _Flags {
  const { values } = parseArgs({
    args,
    options: {
      op: { type: "string", default: "put" },
      consistency: { type: "string", default: "l" },
      clients: { type: "string", default: "1" },
      conns: { type: "string", default: "1" },
      total: { type: "string", default: "10000" },
      "key-size": { type: "string", default: "8" },
      "val-size": { type: "string", default: "256" },
      "key-space-size": { type: "string", default: "1" },
      endpoints: { type: "string", default: "127.0.0.1:2379" },
      "timeout-ms": { type: "string", default: "10000" },
      workers: { type: "string", default: "1" },
      client: { type: "string", default: "native" },
      "out-dir": { type: "string", default: new URL("./out", import.meta.url).pathname },
      compare: { type: "boolean", default: false },
      "etcd-cmd": { type: "string", default: "/usr/bin/etcd" },
      "detcd-cmd": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const operation = values.op as Operation;
  if (!["put", "range", "txn", "watch"].includes(operation)) throw new Error(USAGE);
  if (values.consistency !== "l" && values.consistency !== "s") throw new Error(USAGE);
  if (values.client !== "native" && values.client !== "grpc-js") throw new Error(USAGE);
  return {
    load: {
      operation,
      serializable: values.consistency === "s",
      clients: _int(values.clients, "--clients"),
      conns: _int(values.conns, "--conns"),
      total: _int(values.total, "--total"),
      keySizeBytes: _int(values["key-size"], "--key-size"),
      valueSizeBytes: _int(values["val-size"], "--val-size"),
      keySpaceSize: _int(values["key-space-size"], "--key-space-size"),
      timeoutMs: _int(values["timeout-ms"], "--timeout-ms"),
      client: values.client,
    },
    endpoints: values.endpoints.split(",").filter((endpoint) => endpoint !== ""),
    workers: _int(values.workers, "--workers"),
    compare: values.compare,
    etcdCmd: values["etcd-cmd"],
    detcdCmd: values["detcd-cmd"],
    outDir: values["out-dir"],
  };
}

function _int(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}: not a count: ${text}`);
  return value;
}

/** A server process the tool started, and how to stop it. */
interface _Started {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts an etcd-flag-compatible member on 127.0.0.1 in a fresh data dir. */
async function _startMember(
  command: string[],
  name: string,
  ports: { client: number; peer: number },
): Promise<_Started> {
  const dataDir = await Deno.makeTempDir({ prefix: `bench_kv_${name}_` });
  const clientUrl = `http://127.0.0.1:${ports.client}`;
  const peerUrl = `http://127.0.0.1:${ports.peer}`;
  const [program, ...programArgs] = command;
  if (program === undefined) throw new Error("empty server command");
  const child = new Deno.Command(program, {
    args: [
      ...programArgs,
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async (): Promise<void> => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5_000);
    await child.status;
    clearTimeout(timer);
    await Deno.remove(dataDir, { recursive: true });
  };
  const endpoint = `127.0.0.1:${ports.client}`;
  try {
    await _waitReady(endpoint, child.status);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, stop };
}

/** Polls with a serializable Range until the member answers, or fails after a bound. */
async function _waitReady(endpoint: string, exited: Promise<Deno.CommandStatus>): Promise<void> {
  let done = false;
  exited.then(() => done = true);
  const deadline = Date.now() + SERVER_READY_MS;
  const client = new EtcdGrpcClient(endpoint);
  try {
    while (Date.now() < deadline && !done) {
      try {
        const request = { key: new Uint8Array([0x62]), serializable: false };
        await client.unary(METHODS.KV.Range, request, { timeoutMs: 1_000 });
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
  throw new Error(`${endpoint}: no answer within ${SERVER_READY_MS} ms (exited: ${done})`);
}

async function _runAgainst(label: string, started: _Started, flags: _Flags): Promise<RunResult> {
  try {
    const options = { ...flags.load, label, endpoints: [started.endpoint] };
    return await runLoadInWorkers(options, flags.workers);
  } finally {
    await started.stop();
  }
}

function _ratioLine(name: string, detcd: number, etcd: number): string {
  return `  ${name.padEnd(8)} detcd ${detcd.toFixed(3).padStart(10)}  etcd ` +
    `${etcd.toFixed(3).padStart(10)}  ratio ${(detcd / etcd).toFixed(2)}`;
}

async function main(): Promise<void> {
  const flags = _parseFlags(Deno.args);
  const quoted = Deno.args.map((arg) => /^[\w.,:\/=-]+$/.test(arg) ? arg : JSON.stringify(arg));
  console.log(`command: deno task bench:kv ${quoted.join(" ")}`);
  const results: RunResult[] = [];
  if (!flags.compare) {
    const options = { ...flags.load, label: "target", endpoints: flags.endpoints };
    results.push(await runLoadInWorkers(options, flags.workers));
  } else {
    const etcd = await _startMember(flags.etcdCmd.split(" "), "etcd", ETCD_PORTS);
    results.push(await _runAgainst("etcd", etcd, flags));
    if (flags.detcdCmd !== undefined) {
      const detcd = await _startMember(flags.detcdCmd.split(" "), "detcd", DETCD_PORTS);
      results.push(await _runAgainst("detcd", detcd, flags));
    }
  }
  for (const result of results) console.log(formatRun(result));
  const [etcdResult, detcdResult] = results;
  if (flags.compare && etcdResult !== undefined && detcdResult !== undefined) {
    const etcd = summarize(etcdResult);
    const detcd = summarize(detcdResult);
    console.log("ratios detcd/etcd (QPS: higher is better; latency: lower is better)");
    console.log(_ratioLine("QPS", detcd.qps, etcd.qps));
    console.log(_ratioLine("p50 ms", detcd.p50Ms, etcd.p50Ms));
    console.log(_ratioLine("p90 ms", detcd.p90Ms, etcd.p90Ms));
    console.log(_ratioLine("p99 ms", detcd.p99Ms, etcd.p99Ms));
    console.log(_ratioLine("p99.9 ms", detcd.p999Ms, etcd.p999Ms));
  }
  await Deno.mkdir(flags.outDir, { recursive: true });
  const op = flags.load.operation +
    (flags.load.operation === "range" ? `_${flags.load.serializable ? "s" : "l"}` : "");
  const name = `kv_${op}_c${flags.load.clients}_n${flags.load.conns}_${Date.now()}.svg`;
  const title = `${op}: ${flags.load.clients} clients, ${flags.load.conns} conns, ` +
    `${flags.load.total} requests, key ${flags.load.keySizeBytes} B, value ` +
    `${flags.load.valueSizeBytes} B`;
  const path = `${flags.outDir}/${name}`;
  await Deno.writeTextFile(path, histogramSvg(results, title));
  console.log(`plot: ${path}`);
}

if (import.meta.main) await main();
