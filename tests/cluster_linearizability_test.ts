// Goal: detcd clusters are linearizable under faults. Concurrent puts, linearizable gets and
// compare-and-swap txns go to every member of a 3-member detcd cluster while members are
// SIGKILLed and restarted from disk, or cut off by the TCP proxies; the recorded history must
// pass the Wing-Gong/Porcupine search over the KV model (linearizability/), within a time
// bound, and a violation prints the offending history. The check is shown not to be vacuous:
// the same history with one answered read altered must be rejected.
// Method: tests/cluster_util.ts (real processes, proxies on the advertised peer URLs), a
// seeded fault schedule and operation mix. CI runs one short seed; `deno task
// test:cluster-lin` runs more (CLUSTER_LIN_SEEDS, CLUSTER_LIN_DURATION_MS). Ports 24090-24098.
import { ok, strictEqual } from "node:assert/strict";
import { METHODS } from "../api/methods.ts";
import { numberToLong } from "../etcdserverpb/mod.ts";
import type { EtcdGrpcClient } from "../api/grpc_client.ts";
import {
  casInput,
  checkOperations,
  describeResult,
  HistoryRecorder,
  type KvInput,
  kvModel,
  type KvOutput,
  type Operation,
} from "../linearizability/mod.ts";
import { type LocalCluster, withCluster } from "./cluster_util.ts";
import { mulberry32 as rng } from "../testing/mod.ts";

const BASE_PORT = 24090;
const SEEDS = Number(Deno.env.get("CLUSTER_LIN_SEEDS") ?? 1);
const FIRST_SEED = Number(Deno.env.get("CLUSTER_LIN_FIRST_SEED") ?? 1);
const DURATION_MS = Number(Deno.env.get("CLUSTER_LIN_DURATION_MS") ?? 6000);
const MEMBERS = 3;
const CLIENTS = 6;
const KEYS = 8;
const OP_TIMEOUT_MS = 1500;
const CHECK_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
type Recorder = HistoryRecorder<KvInput, KvOutput>;

async function execute(client: EtcdGrpcClient, input: KvInput): Promise<KvOutput> {
  const options = { timeoutMs: OP_TIMEOUT_MS };
  if (input.op === "get") {
    const response = await client.unary(METHODS.KV.Range, { key: encoder.encode(input.key) }, {
      ...options,
    });
    const kv = response.kvs[0];
    return { op: "get", value: kv === undefined ? null : decoder.decode(kv.value ?? undefined) };
  }
  if (input.op === "put") {
    await client.unary(METHODS.KV.Put, {
      key: encoder.encode(input.key),
      value: encoder.encode(input.value),
    }, options);
    return { op: "put" };
  }
  if (input.op !== "txn") throw new Error(`unexpected ${input.op}`);
  const compare = input.compare[0]!;
  const put = input.success[0]!;
  if (put.op !== "put") throw new Error("only compare-and-swap txns are issued");
  const key = encoder.encode(compare.key);
  const response = await client.unary(METHODS.KV.Txn, {
    compare: [
      compare.value === null
        ? { key, target: 0, /* VERSION */ result: 0, /* EQUAL */ version: numberToLong(0) }
        : { key, target: 3, /* VALUE */ result: 0, value: encoder.encode(compare.value) },
    ],
    success: [{ requestPut: { key: encoder.encode(put.key), value: encoder.encode(put.value) } }],
    failure: [],
  }, options);
  return { op: "txn", succeeded: response.succeeded, gets: [] };
}

interface _Shared {
  stop: boolean;
  serial: number;
  lastValue: Map<string, string>;
}

async function runClient(
  cluster: LocalCluster,
  index: number,
  recorder: Recorder,
  random: () => number,
  shared: _Shared,
): Promise<void> {
  let clientId = index;
  const member = index % MEMBERS;
  while (!shared.stop) {
    const key = `k${Math.floor(random() * KEYS)}`;
    const roll = random();
    let input: KvInput;
    if (roll < 0.45) input = { op: "get", key };
    else if (roll < 0.8) {
      input = { op: "put", key, value: `v${++shared.serial}` };
      shared.lastValue.set(key, `v${shared.serial}`);
    } else input = casInput(key, shared.lastValue.get(key) ?? null, `v${++shared.serial}`);
    const pending = recorder.call(clientId, input);
    try {
      recorder.returned(pending, await execute(cluster.client(member), input));
    } catch {
      // Timed out or refused: it may or may not have happened. The caller gave up, so its
      // next operation is that of a new client (histories are sequential per client).
      recorder.unknown(pending);
      clientId += CLIENTS;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
}

/** Kills and restarts, or isolates and heals, members at seeded times. */
async function injectFaults(cluster: LocalCluster, random: () => number): Promise<string[]> {
  const faults: string[] = [];
  const end = performance.now() + DURATION_MS;
  while (performance.now() < end - 1500) {
    await new Promise((resolve) => setTimeout(resolve, 300 + random() * 500));
    const victim = Math.floor(random() * MEMBERS);
    if (random() < 0.5) {
      faults.push(`kill m${victim}`);
      await cluster.kill(victim);
      await new Promise((resolve) => setTimeout(resolve, 200 + random() * 600));
      const process = cluster.spawn(victim);
      await process.waitFor("ready to serve client requests", 20_000);
    } else {
      faults.push(`isolate m${victim}`);
      cluster.partition([victim]);
      await new Promise((resolve) => setTimeout(resolve, 600 + random() * 1200));
      cluster.heal();
    }
  }
  return faults;
}

async function runSeed(seed: number): Promise<void> {
  await withCluster({ size: MEMBERS, basePort: BASE_PORT }, async (cluster) => {
    const random = rng(seed);
    await cluster.waitLeader([0, 1, 2]);
    const recorder: Recorder = new HistoryRecorder();
    const shared: _Shared = { stop: false, serial: 0, lastValue: new Map() };
    const clients = Array.from(
      { length: CLIENTS },
      (_, i) => runClient(cluster, i, recorder, rng(seed * 100 + i), shared),
    );
    const faults = await injectFaults(cluster, random);
    await new Promise((resolve) => setTimeout(resolve, 500));
    shared.stop = true;
    await Promise.all(clients);
    const history = recorder.history();
    const answered = history.filter((op) => op.output !== undefined).length;
    const result = checkOperations(kvModel, history, { timeoutMs: CHECK_TIMEOUT_MS });
    console.log(
      `seed ${seed}: ${history.length} operations (${answered} answered), faults: ` +
        `${faults.join(", ")}; check ${result.verdict} in ${result.elapsedMs.toFixed(0)} ms`,
    );
    strictEqual(result.verdict, "ok", describeResult(kvModel, result));
    ok(faults.length >= 2, "faults were injected");
    ok(answered >= 50, `only ${answered} operations answered`);
    // Not vacuous: an answered read altered to a value never written must be rejected.
    const reads = history.flatMap((op, i) =>
      op.input.op === "get" && op.output !== undefined ? [i] : []
    );
    const altered = reads[Math.floor(random() * reads.length)]!;
    const broken: Operation<KvInput, KvOutput>[] = history.map((op, i) =>
      i === altered ? { ...op, output: { op: "get", value: "never-written" } } : op
    );
    strictEqual(
      checkOperations(kvModel, broken, { timeoutMs: CHECK_TIMEOUT_MS }).verdict,
      "illegal",
    );
  });
}

Deno.test({
  name: "detcd histories under kills and partitions are linearizable",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) await runSeed(seed);
  },
});
