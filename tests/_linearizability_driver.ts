/**
 * Test helper: the one driver of the cluster linearizability tests. It runs concurrent gets,
 * puts and compare-and-swap txns against a 3-member cluster while a seeded schedule SIGKILLs and
 * restarts members or isolates them, records the history, and checks it with the
 * Wing-Gong/Porcupine search over the KV model (linearizability/). The check is shown not to be
 * vacuous: the same history with one answered read altered must be rejected.
 *
 * The cluster is whatever the test launches (detcd through `tests/cluster_util.ts`, or real etcd
 * processes); it only has to offer clients, kills, restarts and partitions.
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import { METHODS } from "../rpc/mod.ts";
import { type EtcdGrpcClient } from "../client/mod.ts";
import { numberToLong } from "../etcdserverpb/mod.ts";
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
import { mulberry32 } from "../testing/mod.ts";

/** How long the linearizability search may take before it gives up. */
export const CHECK_TIMEOUT_MS = 30_000;

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** A history recorder of the KV model. */
export type KvRecorder = HistoryRecorder<KvInput, KvOutput>;

/** What the driver needs of a cluster under test. */
export interface FaultableCluster {
  readonly members: number;
  /** The client that workload client `index` uses now (asked again for every operation). */
  client(index: number): EtcdGrpcClient;
  /** SIGKILLs member `member` and waits for its exit. */
  kill(member: number): Promise<void>;
  /** Starts member `member` again from its data directory. */
  restart(member: number): Promise<void>;
  /** Cuts member `member` off from every other member, both ways. */
  isolate(member: number): void;
  /** Ends every partition. */
  heal(): void;
}

/** A random duration: `baseMs` plus up to `spreadMs`. */
export interface Delay {
  baseMs: number;
  spreadMs: number;
}

/** The shape of one workload and its fault schedule. */
export interface WorkloadOptions {
  seed: number;
  /** Concurrent clients; client `i` talks to `cluster.client(i)`. */
  clients: number;
  /** Keys `k0` .. `k{keys-1}`. */
  keys: number;
  /** How long the fault schedule runs. */
  durationMs: number;
  /** No fault starts within this much of the end. */
  quietEndMs: number;
  /** A settling pause after the last fault, before the clients stop. */
  settleMs: number;
  opTimeoutMs: number;
  /** How long a client waits after an operation that failed. */
  retryDelayMs: number;
  /** Between two faults. */
  gap: Delay;
  /** How long a killed member stays down. */
  down: Delay;
  /** How long an isolated member stays cut off. */
  isolated: Delay;
  /** The history must hold at least this many answered operations. */
  minAnswered: number;
}

/** Runs one KV operation of the model against `client`. */
export async function executeKv(
  client: EtcdGrpcClient,
  input: KvInput,
  options: { timeoutMs: number; serializable?: boolean },
): Promise<KvOutput> {
  const callOptions = { timeoutMs: options.timeoutMs };
  if (input.op === "get") {
    const response = await client.unary(
      METHODS.KV.Range,
      { key: _encoder.encode(input.key), serializable: options.serializable ?? false },
      callOptions,
    );
    const kv = response.kvs[0];
    return {
      op: "get",
      value: kv === undefined ? null : _decoder.decode(kv.value ?? new Uint8Array()),
    };
  }
  if (input.op === "put") {
    await client.unary(METHODS.KV.Put, {
      key: _encoder.encode(input.key),
      value: _encoder.encode(input.value),
    }, callOptions);
    return { op: "put" };
  }
  if (input.op !== "txn" || input.compare.length !== 1 || input.success.length !== 1) {
    throw new Error("only single-key compare-and-swap txns are issued");
  }
  const compare = input.compare[0]!;
  const put = input.success[0]!;
  if (put.op !== "put") throw new Error("only compare-and-swap txns are issued");
  const key = _encoder.encode(compare.key);
  const response = await client.unary(METHODS.KV.Txn, {
    compare: [
      compare.value === null
        ? { key, target: 0, /* VERSION */ result: 0, /* EQUAL */ version: numberToLong(0) }
        : { key, target: 3, /* VALUE */ result: 0, value: _encoder.encode(compare.value) },
    ],
    success: [{ requestPut: { key: _encoder.encode(put.key), value: _encoder.encode(put.value) } }],
    failure: [],
  }, callOptions);
  return { op: "txn", succeeded: response.succeeded, gets: [] };
}

/** What the clients of one workload share. */
interface _Shared {
  stop: boolean;
  serial: number;
  lastValue: Map<string, string>;
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function _delayMs(delay: Delay, random: () => number): number {
  return delay.baseMs + random() * delay.spreadMs;
}

async function _runClient(
  cluster: FaultableCluster,
  index: number,
  recorder: KvRecorder,
  options: WorkloadOptions,
  shared: _Shared,
): Promise<void> {
  const random = mulberry32(options.seed * 100 + index);
  let clientId = index;
  while (!shared.stop) {
    const key = `k${Math.floor(random() * options.keys)}`;
    const roll = random();
    let input: KvInput;
    if (roll < 0.45) input = { op: "get", key };
    else if (roll < 0.8) {
      input = { op: "put", key, value: `v${++shared.serial}` };
      shared.lastValue.set(key, `v${shared.serial}`);
    } else input = casInput(key, shared.lastValue.get(key) ?? null, `v${++shared.serial}`);
    const pending = recorder.call(clientId, input);
    try {
      recorder.returned(
        pending,
        await executeKv(cluster.client(index), input, {
          timeoutMs: options.opTimeoutMs,
        }),
      );
    } catch {
      // Timed out or refused: it may or may not have happened. The caller gave up, so its
      // next operation is that of a new client (histories are sequential per client).
      recorder.unknown(pending);
      clientId += options.clients;
      await _sleep(options.retryDelayMs);
    }
  }
}

/** Kills and restarts, or isolates and heals, members at seeded times; returns what it did. */
async function _injectFaults(
  cluster: FaultableCluster,
  options: WorkloadOptions,
  random: () => number,
): Promise<string[]> {
  const faults: string[] = [];
  const end = performance.now() + options.durationMs;
  while (performance.now() < end - options.quietEndMs) {
    await _sleep(_delayMs(options.gap, random));
    const victim = Math.floor(random() * cluster.members);
    if (random() < 0.5) {
      faults.push(`kill m${victim}`);
      await cluster.kill(victim);
      await _sleep(_delayMs(options.down, random));
      await cluster.restart(victim);
    } else {
      faults.push(`isolate m${victim}`);
      cluster.isolate(victim);
      await _sleep(_delayMs(options.isolated, random));
      cluster.heal();
    }
  }
  return faults;
}

/**
 * Runs the workload of `options.seed` against `cluster` under faults and asserts that the
 * history is linearizable, that faults were injected and enough operations answered, and that
 * the check rejects the history once one answered read is altered.
 */
export async function runLinearizabilityWorkload(
  cluster: FaultableCluster,
  options: WorkloadOptions,
): Promise<void> {
  const random = mulberry32(options.seed);
  const recorder: KvRecorder = new HistoryRecorder();
  const shared: _Shared = { stop: false, serial: 0, lastValue: new Map() };
  const clients = Array.from(
    { length: options.clients },
    (_, i) => _runClient(cluster, i, recorder, options, shared),
  );
  const faults = await _injectFaults(cluster, options, random);
  await _sleep(options.settleMs);
  shared.stop = true;
  await Promise.all(clients);
  const history = recorder.history();
  const answered = history.filter((op) => op.output !== undefined).length;
  const result = checkOperations(kvModel, history, { timeoutMs: CHECK_TIMEOUT_MS });
  console.log(
    `seed ${options.seed}: ${history.length} operations (${answered} answered), faults: ` +
      `${faults.join(", ")}; check ${result.verdict} in ${result.elapsedMs.toFixed(0)} ms`,
  );
  strictEqual(result.verdict, "ok", describeResult(kvModel, result));
  ok(faults.length >= 2, "faults were injected");
  ok(answered >= options.minAnswered, `only ${answered} operations answered`);
  // Not vacuous: an answered read altered to a value never written must be rejected. Proving a
  // history illegal means trying every order of the operations that may precede the altered
  // read (the ones called before it returned, pending ones included), so the read is drawn
  // from the five that returned first: a read late in a run with killed members left the
  // search above CHECK_TIMEOUT_MS on a loaded machine ("unknown" instead of "illegal").
  const reads = history.flatMap((op, i) =>
    op.input.op === "get" && op.output !== undefined ? [i] : []
  ).sort((a, b) => history[a]!.return - history[b]!.return).slice(0, 5);
  const altered = reads[Math.floor(random() * reads.length)]!;
  const broken: Operation<KvInput, KvOutput>[] = history.map((op, i) =>
    i === altered ? { ...op, output: { op: "get", value: "never-written" } } : op
  );
  strictEqual(
    checkOperations(kvModel, broken, { timeoutMs: CHECK_TIMEOUT_MS }).verdict,
    "illegal",
  );
}
