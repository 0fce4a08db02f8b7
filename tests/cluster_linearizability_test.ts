// Goal: detcd clusters are linearizable under faults. Concurrent puts, linearizable gets and
// compare-and-swap txns go to every member of a 3-member detcd cluster while members are
// SIGKILLed and restarted from disk, or cut off by the TCP proxies; the recorded history must
// pass the Wing-Gong/Porcupine search over the KV model (linearizability/), within a time
// bound, and a violation prints the offending history. The check is shown not to be vacuous:
// the same history with one answered read altered must be rejected.
// Method: tests/cluster_util.ts (real processes, proxies on the advertised peer URLs) driven by
// tests/_linearizability_driver.ts (the workload, the seeded fault schedule and the checks,
// shared with tests/linearizability_etcd_cluster_test.ts). CI runs one short seed; `deno task
// test:cluster-lin` runs more (CLUSTER_LIN_SEEDS, CLUSTER_LIN_DURATION_MS). Ports 24090-24098.
import { type FaultableCluster, runLinearizabilityWorkload } from "./_linearizability_driver.ts";
import { type LocalCluster, withCluster } from "./cluster_util.ts";

const BASE_PORT = 24090;
const SEEDS = Number(Deno.env.get("CLUSTER_LIN_SEEDS") ?? 1);
const FIRST_SEED = Number(Deno.env.get("CLUSTER_LIN_FIRST_SEED") ?? 1);
const DURATION_MS = Number(Deno.env.get("CLUSTER_LIN_DURATION_MS") ?? 6000);
const MEMBERS = 3;

/** The driver's view of a detcd cluster: client i talks to member i mod 3. */
function faultable(cluster: LocalCluster): FaultableCluster {
  return {
    members: MEMBERS,
    client: (index) => cluster.client(index % MEMBERS),
    kill: (member) => cluster.kill(member),
    async restart(member) {
      await cluster.spawn(member).waitFor("ready to serve client requests", 20_000);
    },
    isolate: (member) => cluster.partition([member]),
    heal: () => cluster.heal(),
  };
}

async function runSeed(seed: number): Promise<void> {
  await withCluster({ size: MEMBERS, basePort: BASE_PORT }, async (cluster) => {
    await cluster.waitLeader([0, 1, 2]);
    await runLinearizabilityWorkload(faultable(cluster), {
      seed,
      clients: 6,
      keys: 8,
      durationMs: DURATION_MS,
      quietEndMs: 1500,
      settleMs: 500,
      opTimeoutMs: 1500,
      retryDelayMs: 150,
      gap: { baseMs: 300, spreadMs: 500 },
      down: { baseMs: 200, spreadMs: 600 },
      isolated: { baseMs: 600, spreadMs: 1200 },
      minAnswered: 50,
    });
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
