// Goal: the linearizability checker and its history recorder work on a real cluster under
// faults: a history of concurrent gets, puts and compare-and-swaps recorded against a 3-member
// etcd 3.4 while members are SIGKILLed and partitioned must check as linearizable, within a
// time bound, and the same history with one read broken must not. Method: three real etcd
// processes on 127.0.0.1 whose advertised peer URLs go through TCP proxies this test controls
// (a partition refuses the X-Server-From of the isolated member on every other proxy and vice
// versa), clients on every member, a seeded fault schedule; the workload and the checks are
// tests/_linearizability_driver.ts, shared with tests/cluster_linearizability_test.ts. The same harness is meant to
// drive detcd clusters: LIN_COMMAND="deno run -A main.ts". LIN_SEEDS and LIN_DURATION_MS run
// longer (`deno task lin:cluster`).
import { ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../client/mod.ts";
import {
  checkOperations,
  describeResult,
  HistoryRecorder,
  type KvInput,
  kvModel,
} from "../linearizability/mod.ts";
import { computeMemberId } from "../server/mod.ts";
import {
  CHECK_TIMEOUT_MS,
  executeKv,
  type FaultableCluster,
  type KvRecorder,
  runLinearizabilityWorkload,
} from "./_linearizability_driver.ts";
import { TcpProxy } from "./rafthttp_tcp_proxy.ts";

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
const OP_TIMEOUT_MS = 1000;

// Ports 23980-23988: real peer ports, proxies (advertised), client ports.
const peerPort = (i: number) => 23980 + i;
const proxyPort = (i: number) => 23983 + i;
const clientPort = (i: number) => 23986 + i;
const advertised = (i: number) => `http://127.0.0.1:${proxyPort(i)}`;

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

async function runSeed(seed: number): Promise<void> {
  const cluster = new Cluster();
  await cluster.init();
  // Client c talks to member c mod 3 over a connection of its own.
  const clients: EtcdGrpcClient[] = [];
  try {
    for (let i = 0; i < MEMBERS; i++) cluster.start(i);
    for (let c = 0; c < 6; c++) {
      clients.push(new EtcdGrpcClient(`127.0.0.1:${clientPort(c % MEMBERS)}`));
    }
    // Wait until a write commits: a leader exists.
    const deadline = performance.now() + 15_000;
    while (true) {
      try {
        await executeKv(clients[0]!, { op: "put", key: "ready", value: "1" }, {
          timeoutMs: 1000,
        });
        break;
      } catch (error) {
        if (performance.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const faultable: FaultableCluster = {
      members: MEMBERS,
      client: (index) => clients[index]!,
      kill: (member) => cluster.kill(member),
      restart: (member) => Promise.resolve(cluster.start(member)),
      isolate: (member) => cluster.isolate(member),
      heal: () => cluster.heal(),
    };
    await runLinearizabilityWorkload(faultable, {
      seed,
      clients: clients.length,
      keys: 12,
      durationMs: DURATION_MS,
      quietEndMs: 600,
      settleMs: 0,
      opTimeoutMs: OP_TIMEOUT_MS,
      retryDelayMs: 50,
      gap: { baseMs: 200, spreadMs: 400 },
      down: { baseMs: 300, spreadMs: 700 },
      isolated: { baseMs: 500, spreadMs: 1000 },
      minAnswered: 100,
    });
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
      const recorder: KvRecorder = new HistoryRecorder();
      const execute = (member: number, input: KvInput, serializable = false) =>
        executeKv(clients[member]!, input, { timeoutMs: OP_TIMEOUT_MS, serializable });
      const run = async (member: number, input: KvInput, serializable = false) => {
        const pending = recorder.call(member, input);
        recorder.returned(pending, await execute(member, input, serializable));
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
        const output = await execute(0, { op: "get", key: "x" }, true);
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
