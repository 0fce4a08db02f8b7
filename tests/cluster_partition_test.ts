// Goal: a minority never answers as if it were the cluster. With the leader cut off from the
// other two members by the TCP proxies, it refuses writes and linearizable reads with etcd's
// errors (`etcdserver: request timed out` / `etcdserver: no leader`) instead of hanging or
// succeeding, while the majority elects a leader and serves both; after healing, every member
// converges to the same HashKV and the minority's unacknowledged write is gone.
// Method: a 3-member cluster of real processes (tests/cluster_util.ts), a symmetric
// partition through the proxies, gRPC clients with a deadline beyond the server's request
// timeout so that the server's own error is observed. Ports 24070-24078.
import { ok, strictEqual } from "node:assert/strict";
import { ELECTION_MS, withCluster } from "./cluster_util.ts";

const BASE_PORT = 24070;
/** etcd's request timeout: 5 s + 2 election timeouts; the client waits a little longer. */
const CLIENT_TIMEOUT_MS = 5000 + 2 * ELECTION_MS + 3000;
const REFUSAL = /etcdserver: (request timed out|no leader|leader changed)/;

async function refused(what: string, call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    const message = (error as Error).message;
    ok(REFUSAL.test(message), `${what}: unexpected error ${message}`);
    return message;
  }
  throw new Error(`${what}: the minority answered`);
}

Deno.test({
  name: "a partitioned minority refuses writes and linearizable reads; healing converges",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ size: 3, basePort: BASE_PORT }, async (cluster) => {
      const all = [0, 1, 2];
      const oldLeader = await cluster.waitLeader(all);
      const minority = cluster.indexOf(oldLeader);
      const majority = all.filter((i) => i !== minority);
      await cluster.put(minority, "k", "before");
      cluster.partition([minority]);
      // The minority: neither a write nor a linearizable read succeeds.
      const write = refused(
        "write on the minority",
        cluster.put(minority, "k", "minority", CLIENT_TIMEOUT_MS),
      );
      const read = refused(
        "linearizable read on the minority",
        cluster.get(minority, "k", { timeoutMs: CLIENT_TIMEOUT_MS }),
      );
      // The majority elects a leader of its own and serves.
      const newLeader = await cluster.waitLeader(majority, 10_000, oldLeader);
      ok(newLeader !== oldLeader);
      await cluster.put(majority[0]!, "k", "majority", 5000);
      strictEqual(await cluster.get(majority[1]!, "k"), "majority");
      const [writeError, readError] = await Promise.all([write, read]);
      console.log(`minority refused: write "${writeError}", read "${readError}"`);
      // A serializable read on the minority is local, hence stale: that is its contract.
      strictEqual(await cluster.get(minority, "k", { serializable: true }), "before");
      cluster.heal();
      await cluster.waitLeader(all, 15_000);
      const deadline = Date.now() + 15_000;
      let hashes: string[] = [];
      while (Date.now() < deadline) {
        hashes = (await Promise.all(all.map((i) => cluster.hashKv(i).catch(() => undefined))))
          .map((h) => h === undefined ? "?" : `${h.hash}@${h.revision}`);
        if (!hashes.includes("?") && new Set(hashes).size === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      strictEqual(new Set(hashes).size, 1, `one HashKV everywhere after healing: ${hashes}`);
      for (const i of all) strictEqual(await cluster.get(i, "k"), "majority");
    }),
});
