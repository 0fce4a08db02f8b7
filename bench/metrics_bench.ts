/**
 * The cost of the metrics on one put's path, measured in-process: `deno run -A
 * bench/metrics_bench.ts`. A put passes the gRPC interceptor counters (started, received,
 * sent, handled), the client byte counters, etcd's client request counter, the pending
 * proposals gauge (up and down) and the store's transaction counters; the WAL and backend
 * histograms are observed once per batch, not per put, and are left out. Prints nanoseconds
 * per put with and without those calls; compare with the time a put takes end to end.
 *
 * @module
 */

import {
  countClientRequest,
  countGrpcReceivedBytes,
  countGrpcSentBytes,
  instrumentServices,
} from "../api/mod.ts";
import { addProposalsPending } from "../server/mod.ts";
import { reportTxn } from "../mvcc/mod.ts";
import type { CallContext, EtcdServices } from "../rpc/mod.ts";

const ROUNDS = 5;
const CALLS = 200_000;

const context: CallContext = {
  method: "/etcdserverpb.KV/Put",
  token: undefined,
  requireLeader: false,
  commonName: undefined,
  peer: "127.0.0.1:1",
  signal: new AbortController().signal,
  cancelled: false,
  metadata: (key) => (key === "client-api-version" ? "3.4" : undefined),
};

const response = {};
const plain = { kv: { put: () => Promise.resolve(response) } } as unknown as EtcdServices;
// deno-lint-ignore no-explicit-any
const bare = (plain.kv as any).put as (r: unknown, c: CallContext) => Promise<unknown>;
// deno-lint-ignore no-explicit-any
const wrapped = (instrumentServices(plain).kv as any).put as typeof bare;

async function withoutMetrics(): Promise<void> {
  await bare({}, context);
}

async function withMetrics(): Promise<void> {
  countGrpcReceivedBytes(40);
  countClientRequest("unary", "3.4");
  addProposalsPending(1);
  await wrapped({}, context);
  reportTxn(0, 1, 0, 40);
  addProposalsPending(-1);
  countGrpcSentBytes(12);
}

async function nsPerCall(fn: () => Promise<void>): Promise<number> {
  const began = performance.now();
  for (let i = 0; i < CALLS; i++) await fn();
  return ((performance.now() - began) * 1e6) / CALLS;
}

const without: number[] = [];
const withM: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  without.push(await nsPerCall(withoutMetrics));
  withM.push(await nsPerCall(withMetrics));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const overhead = median(withM) - median(without);
console.log(
  `per put: ${median(without).toFixed(0)} ns without metrics, ${median(withM).toFixed(0)} ns ` +
    `with; metrics cost ${overhead.toFixed(0)} ns per put`,
);
for (const qps of [5_000, 10_000, 20_000]) {
  const share = (overhead * qps) / 1e9 * 100;
  console.log(`  at ${qps} puts/s that is ${share.toFixed(2)}% of one core`);
}
