/**
 * The corruption checks on a 3-member detcd cluster (etcd 3.4 etcdserver/corrupt.go, e2e
 * TestEtcdCorruptHash).
 *
 * Method: write keys, stop one follower, change the value of every key revision in its db file
 * while it is stopped (through the bolt API, as the e2e test does with bbolt), then:
 * - restart it with `--experimental-initial-corrupt-check`: it refuses to start with etcd's
 *   "<id> found data inconsistency with peers" and exit status 1 (an unmodified restart passes
 *   first, so the check is shown to tell the two apart);
 * - restart it without the initial check while the members run
 *   `--experimental-corrupt-check-time`: the leader's periodic check finds the follower's hash
 *   different at the same compact revision and raises the CORRUPT alarm (member ID 0), which
 *   `etcdctl alarm list` shows on every member; writes are then refused ("etcdserver: corrupt
 *   cluster", as etcd's corrupt applier) while reads still answer.
 * Ports 26500-26508.
 *
 * @module
 */

import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { DB } from "../backend/mod.ts";
import { LocalCluster } from "./cluster_util.ts";
import { etcdctl, etcdctlOk } from "./_server_process.ts";

const _encoder = new TextEncoder();

/** Flips the last byte of every stored revision (the end of its value) in a stopped member's db. */
function _corruptDb(path: string): number {
  const db = DB.open(path);
  try {
    return db.update((tx) => {
      const bucket = tx.bucket(_encoder.encode("key"));
      assert(bucket !== null, "the db has no key bucket");
      const changed: [Uint8Array, Uint8Array][] = [];
      bucket.forEach((key, value) => {
        if (value === null || value.length === 0) return;
        const copy = value.slice();
        copy[copy.length - 1]! ^= 0x01;
        changed.push([key.slice(), copy]);
      });
      for (const [key, value] of changed) bucket.put(key, value);
      return changed.length;
    });
  } finally {
    db.close();
  }
}

/** Waits until every running member reports the same hash at the same revision. */
async function _waitSameHash(cluster: LocalCluster, indexes: number[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = "";
  while (Date.now() < deadline) {
    const hashes = await Promise.all(indexes.map((i) => cluster.hashKv(i)));
    last = JSON.stringify(hashes);
    if (hashes.every((h) => h.hash === hashes[0]!.hash && h.revision === hashes[0]!.revision)) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`members did not converge: ${last}`);
}

/**
 * Stops member `i` once its backend has committed what it applied (the batch commits every
 * 100 ms): SIGKILL, since a SIGTERM of a clustered member can hang in the transport's stop.
 */
async function _quiesceAndKill(cluster: LocalCluster, i: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 500));
  await cluster.kill(i);
}

Deno.test({
  name: "a member whose db was changed while stopped: refused by the initial check, " +
    "CORRUPT raised by the leader's periodic check",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cluster = new LocalCluster({
      size: 3,
      basePort: 26500,
      flags: ["--experimental-corrupt-check-time", "1s"],
    });
    try {
      await cluster.init();
      await cluster.startAll();
      for (let i = 0; i < 10; i++) await cluster.put(0, `foo${i}`, `v${i}`);
      await _waitSameHash(cluster, [0, 1, 2]);
      const leader = cluster.indexOf(await cluster.waitLeader([0, 1, 2]));
      const victim = leader === 0 ? 1 : 0;
      const slot = cluster.members[victim]!;
      const withCheck = [...cluster.args(victim), "--experimental-initial-corrupt-check"];

      // An unmodified member passes the initial check.
      await _quiesceAndKill(cluster, victim);
      let restarted = cluster.spawn(victim, { args: withCheck });
      await restarted.waitFor("initial corruption checking passed; no corruption", 20_000);
      await restarted.waitFor("enabled capabilities for version", 20_000);
      await _waitSameHash(cluster, [0, 1, 2]);
      await _quiesceAndKill(cluster, victim);

      // A changed db: the member refuses to start.
      const flipped = _corruptDb(`${slot.dataDir}/member/snap/db`);
      assert(flipped >= 10, `only ${flipped} revisions changed`);
      restarted = cluster.spawn(victim, { args: withCheck });
      const status = await restarted.status;
      assertEquals(status.code, 1, restarted.log);
      const refusal = `etcdmain: ${slot.id} found data inconsistency with peers`;
      assert(restarted.log.includes(refusal), restarted.log);
      assert(restarted.log.includes("found different hash values from remote peer"));

      // Without the initial check it serves; the leader's periodic check raises CORRUPT.
      cluster.spawn(victim);
      const leaderLog = cluster.members[leader]!.process!;
      await leaderLog.waitFor("same compact revision then hashes must match", 20_000);
      await leaderLog.waitFor("alarm raised", 10_000);
      for (const i of [0, 1, 2]) {
        const deadline = Date.now() + 10_000;
        let alarms = "";
        while (Date.now() < deadline) {
          alarms = await etcdctlOk(cluster.endpoint(i), ["alarm", "list"]);
          if (alarms.includes("CORRUPT")) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        // Member ID 0, which etcdctl leaves out as it prints the alarm (as for real etcd).
        assertEquals(alarms.trim(), "alarm:CORRUPT", `member ${i}`);
      }
      // etcd's corrupt applier: writes are refused with DataLoss, reads still answer.
      const put = await etcdctl(cluster.endpoint(leader), ["put", "after", "corrupt"]);
      assert(put.code !== 0 && put.stderr.includes("etcdserver: corrupt cluster"), put.stderr);
      const get = await etcdctlOk(cluster.endpoint(leader), ["get", "foo1", "--print-value-only"]);
      assertEquals(get.trim(), "v1");
    } catch (error) {
      console.error(cluster.logs());
      throw error;
    } finally {
      await cluster.cleanup();
    }
  },
});
