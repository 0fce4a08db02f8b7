// Goal: the linearizability checker and its history recorder work on a real cluster under
// faults: a history of concurrent gets, puts and compare-and-swaps recorded against a 3-member
// etcd 3.4 while members are SIGKILLed and partitioned must check as linearizable, within a
// time bound, and the same history with one read broken must not. Method: three real etcd
// processes on 127.0.0.1 whose advertised peer URLs go through TCP proxies this test controls
// (a partition refuses the X-Server-From of the isolated member on every other proxy and vice
// versa), clients on every member, a seeded fault schedule. The same harness is meant to
// drive detcd clusters: LIN_COMMAND="deno run -A main.ts". LIN_SEEDS and LIN_DURATION_MS run
// longer (`deno task lin:cluster`).
import { ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../api/grpc_client.ts";
import { METHODS } from "../api/methods.ts";
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
import { computeMemberId } from "../server/ids.ts";
import { TcpProxy } from "./rafthttp_tcp_proxy.ts";
import { mulberry32 as rng } from "../testing/mod.ts";

// The member command: LIN_COMMAND="deno run -A main.ts" runs detcd instead of etcd.
const COMMAND = (Deno.env.get("LIN_COMMAND") ?? "/usr/bin/etcd").split(/\s+/).filter((w) =>
  w !== ""
);
const BINARY = COMMAND[0]!;
const AVAILABLE = Deno.env.get("LIN_COMMAND") !== undefined ||
  await Deno.stat(BINARY).then(() => true, () => false);
const SEEDS = Number(Deno.env.get("LIN_SEEDS") ?? 1);
const DURATION_MS = Number(Deno.env.get("LIN_DURATION_MS") ?? 4000);
const TOKEN = "detcd-linearizability";
const MEMBERS = 3;
const KEYS = 12;
const CLIENTS = 6;
const OP_TIMEOUT_MS = 1000;
const CHECK_TIMEOUT_MS = 30_000;

// Ports 23980-23988: real peer ports, proxies (advertised), client ports.
const peerPort = (i: number) => 23980 + i;
const proxyPort = (i: number) => 23983 + i;
const clientPort = (i: number) => 23986 + i;
const advertised = (i: number) => `http://127.0.0.1:${proxyPort(i)}`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Cluster {
  readonly ids = Array.from(
    { length: MEMBERS },
    (_, i) => computeMemberId([advertised(i)], TOKEN).toString(16),
  );
  readonly proxies = Array.from(
    { length: MEMBERS },
    (_, i) => new TcpProxy(proxyPort(i), peerPort(i)),
  );
  readonly processes: (Deno.ChildProcess | undefined)[] = Array(MEMBERS).fill(undefined);
  readonly dataDirs: string[] = [];

  async init(): Promise<void> {
    for (let i = 0; i < MEMBERS; i++) {
      this.dataDirs.push(await Deno.makeTempDir({ prefix: `detcd-lin-${i}-` }));
    }
  }

  start(i: number): void {
    const initialCluster = Array.from({ length: MEMBERS }, (_, j) => `m${j}=${advertised(j)}`).join(
      ",",
    );
    this.processes[i] = new Deno.Command(BINARY, {
      args: [
        ...COMMAND.slice(1),
        `--name=m${i}`,
        `--data-dir=${this.dataDirs[i]}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort(i)}`,
        `--initial-advertise-peer-urls=${advertised(i)}`,
        `--listen-client-urls=http://127.0.0.1:${clientPort(i)}`,
        `--advertise-client-urls=http://127.0.0.1:${clientPort(i)}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${TOKEN}`,
        "--initial-cluster-state=new",
        "--heartbeat-interval=50",
        "--election-timeout=500",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  async kill(i: number): Promise<void> {
    const process = this.processes[i];
    if (process === undefined) return;
    this.processes[i] = undefined;
    try {
      process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await process.status;
  }

  /** Cuts member i off from every other member, both ways. */
  isolate(i: number): void {
    for (let j = 0; j < MEMBERS; j++) {
      this.proxies[j]!.block(j === i ? this.ids.filter((_, k) => k !== i) : [this.ids[i]!]);
    }
  }

  heal(): void {
    for (const proxy of this.proxies) proxy.block([]);
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < MEMBERS; i++) await this.kill(i);
    for (const proxy of this.proxies) await proxy.close();
    for (const dir of this.dataDirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

type Recorder = HistoryRecorder<KvInput, KvOutput>;

async function execute(
  client: EtcdGrpcClient,
  input: KvInput,
  serializable = false,
): Promise<KvOutput> {
  const options = { timeoutMs: OP_TIMEOUT_MS };
  if (input.op === "get") {
    const response = await client.unary(
      METHODS.KV.Range,
      { key: encoder.encode(input.key), serializable },
      options,
    );
    const kv = response.kvs[0];
    return {
      op: "get",
      value: kv === undefined ? null : decoder.decode(kv.value ?? new Uint8Array()),
    };
  }
  if (input.op === "put") {
    await client.unary(METHODS.KV.Put, {
      key: encoder.encode(input.key),
      value: encoder.encode(input.value),
    }, options);
    return { op: "put" };
  }
  if (input.op !== "txn" || input.compare.length !== 1 || input.success.length !== 1) {
    throw new Error("only single-key compare-and-swap txns are issued");
  }
  const compare = input.compare[0]!;
  const put = input.success[0]!;
  if (put.op !== "put") throw new Error("cas puts");
  const response = await client.unary(METHODS.KV.Txn, {
    compare: [
      compare.value === null
        ? {
          key: encoder.encode(compare.key),
          target: 0, /* VERSION */
          result: 0, /* EQUAL */
          version: numberToLong(0),
        }
        : {
          key: encoder.encode(compare.key),
          target: 3, /* VALUE */
          result: 0,
          value: encoder.encode(compare.value),
        },
    ],
    success: [{ requestPut: { key: encoder.encode(put.key), value: encoder.encode(put.value) } }],
    failure: [],
  }, options);
  return { op: "txn", succeeded: response.succeeded, gets: [] };
}

async function runClient(
  index: number,
  client: EtcdGrpcClient,
  recorder: Recorder,
  random: () => number,
  state: { stop: boolean; serial: number; lastValue: Map<string, string> },
): Promise<void> {
  let clientId = index;
  while (!state.stop) {
    const key = `k${Math.floor(random() * KEYS)}`;
    const roll = random();
    let input: KvInput;
    if (roll < 0.45) input = { op: "get", key };
    else if (roll < 0.8) {
      input = { op: "put", key, value: `v${++state.serial}` };
      state.lastValue.set(key, `v${state.serial}`);
    } else input = casInput(key, state.lastValue.get(key) ?? null, `v${++state.serial}`);
    const pending = recorder.call(clientId, input);
    try {
      recorder.returned(pending, await execute(client, input));
    } catch {
      // A timeout or a dead member: the operation may or may not have happened.
      recorder.unknown(pending);
      clientId += CLIENTS; // the caller gave up; its next operation is a new process
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function runSeed(seed: number): Promise<void> {
  const random = rng(seed);
  const cluster = new Cluster();
  await cluster.init();
  const clients: EtcdGrpcClient[] = [];
  try {
    for (let i = 0; i < MEMBERS; i++) cluster.start(i);
    for (let c = 0; c < CLIENTS; c++) {
      clients.push(new EtcdGrpcClient(`127.0.0.1:${clientPort(c % MEMBERS)}`));
    }
    // Wait until a write commits: a leader exists.
    const deadline = performance.now() + 15_000;
    while (true) {
      try {
        await clients[0]!.unary(METHODS.KV.Put, {
          key: encoder.encode("ready"),
          value: encoder.encode("1"),
        }, { timeoutMs: 1000 });
        break;
      } catch (error) {
        if (performance.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const recorder: Recorder = new HistoryRecorder();
    const state = { stop: false, serial: 0, lastValue: new Map<string, string>() };
    const running = clients.map((client, i) =>
      runClient(i, client, recorder, rng(seed * 100 + i), state)
    );
    // The fault schedule: a SIGKILL and restart, or an isolated member, in turns.
    const faults: string[] = [];
    const end = performance.now() + DURATION_MS;
    while (performance.now() < end - 600) {
      await new Promise((resolve) => setTimeout(resolve, 200 + random() * 400));
      const victim = Math.floor(random() * MEMBERS);
      if (random() < 0.5) {
        faults.push(`kill m${victim}`);
        await cluster.kill(victim);
        await new Promise((resolve) => setTimeout(resolve, 300 + random() * 700));
        cluster.start(victim);
      } else {
        faults.push(`isolate m${victim}`);
        cluster.isolate(victim);
        await new Promise((resolve) => setTimeout(resolve, 500 + random() * 1000));
        cluster.heal();
      }
    }
    state.stop = true;
    await Promise.all(running);
    const history = recorder.history();
    const known = history.filter((op) => op.output !== undefined).length;
    const result = checkOperations(kvModel, history, { timeoutMs: CHECK_TIMEOUT_MS });
    console.log(
      `seed ${seed}: ${history.length} operations (${known} answered), faults: ${
        faults.join(", ")
      }; ` +
        `check ${result.verdict} in ${result.elapsedMs.toFixed(0)} ms`,
    );
    strictEqual(result.verdict, "ok", describeResult(kvModel, result));
    ok(faults.length >= 2, "faults were injected");
    ok(known >= 100, `only ${known} operations answered`);
    // The check is not vacuous: one answered read made to return a value never written.
    const reads = history.flatMap((
      op,
      i,
    ) => (op.input.op === "get" && op.output !== undefined ? [i] : []));
    const victim = reads[Math.floor(random() * reads.length)]!;
    const broken: Operation<KvInput, KvOutput>[] = history.map((op, i) =>
      i === victim ? { ...op, output: { op: "get", value: "never-written" } } : op
    );
    strictEqual(
      checkOperations(kvModel, broken, { timeoutMs: CHECK_TIMEOUT_MS }).verdict,
      "illegal",
    );
  } finally {
    for (const client of clients) client.close();
    await cluster.destroy();
  }
}

Deno.test({
  name: "histories recorded on a 3-member cluster under kills and partitions are linearizable",
  ignore: !AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (let seed = 1; seed <= SEEDS; seed++) await runSeed(seed);
  },
});

Deno.test({
  name: "the checker catches the stale reads of serializable gets on an isolated member",
  ignore: !AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Goal: a real anomaly, not a synthetic one. A serializable read is served from the
    // member's own state, so an isolated member answers with a value the majority has
    // already overwritten; the history must then be rejected.
    const cluster = new Cluster();
    await cluster.init();
    const clients = Array.from(
      { length: MEMBERS },
      (_, i) => new EtcdGrpcClient(`127.0.0.1:${clientPort(i)}`),
    );
    try {
      for (let i = 0; i < MEMBERS; i++) cluster.start(i);
      const recorder: Recorder = new HistoryRecorder();
      const run = async (member: number, input: KvInput, serializable = false) => {
        const pending = recorder.call(member, input);
        recorder.returned(pending, await execute(clients[member]!, input, serializable));
      };
      // Values are unique: a failed attempt stays in the history as an unknown put, which
      // could otherwise explain a later read of the same value.
      const deadline = performance.now() + 15_000;
      for (let attempt = 0;; attempt++) {
        try {
          await run(1, { op: "put", key: "ready", value: `attempt-${attempt}` });
          break;
        } catch (error) {
          if (performance.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await run(1, { op: "put", key: "x", value: "old" });
      // Member 0 has applied "old" before it is cut off.
      while (true) {
        const pending = recorder.call(0, { op: "get", key: "x" });
        const output = await execute(clients[0]!, { op: "get", key: "x" }, true);
        recorder.returned(pending, output);
        if (output.op === "get" && output.value === "old") break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      cluster.isolate(0);
      // If member 0 led, the others elect a new leader first: retry (unique values again).
      for (let attempt = 0;; attempt++) {
        try {
          await run(1, { op: "put", key: "x", value: `new-${attempt}` });
          break;
        } catch (error) {
          if (performance.now() > deadline + 10_000) throw error;
        }
      }
      await run(0, { op: "get", key: "x" }, true);
      const history = recorder.history();
      const stale = history[history.length - 1]!;
      strictEqual(stale.output?.op === "get" ? stale.output.value : undefined, "old");
      const result = checkOperations(kvModel, history, { timeoutMs: CHECK_TIMEOUT_MS });
      strictEqual(result.verdict, "illegal");
      const report = describeResult(kvModel, result);
      ok(report.includes(`get("x") -> "old"`) && report.includes("STUCK"), report);
      cluster.heal();
    } finally {
      for (const client of clients) client.close();
      await cluster.destroy();
    }
  },
});
