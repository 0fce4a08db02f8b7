// Goal: a member added at runtime that crashed before its first save (its WAL exists and holds
// only the metadata: member and cluster ID) restarts as that member: it does not bootstrap a
// cluster of its own from --initial-cluster, it takes its log from the leader, and the cluster
// ends with two started members that agree on the data.
// Method: a one-member detcd cluster (ports 26560-26565), `etcdctl member add`, the new
// member's WAL written with that metadata only (the state such a crash leaves), then the new
// member started with --initial-cluster-state=existing.
import { ok, strictEqual } from "node:assert/strict";
import { encodeMetadata, Wal } from "../wal/mod.ts";
import { etcdctlOk } from "./_server_process.ts";
import { LocalCluster, retry } from "./cluster_util.ts";

Deno.test({
  name: "a runtime-added member with an empty WAL restarts by joining, not by bootstrapping",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = new LocalCluster({ size: 1, basePort: 26560 });
    try {
      await cluster.init();
      await cluster.startAll();
      await cluster.put(0, "before", "join");
      const added = cluster.addSlot();
      const slot = cluster.members[added]!;
      const out = await etcdctlOk(cluster.endpoint(0), [
        "member",
        "add",
        slot.name,
        `--peer-urls=http://127.0.0.1:${slot.proxyPort}`,
      ]);
      const match = /Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)/.exec(out);
      ok(match !== null, out);
      const nodeId = BigInt(`0x${match[1]}`);
      const clusterId = BigInt(`0x${match[2]}`);
      // What a crash right after the WAL was created leaves behind.
      await Deno.mkdir(`${slot.dataDir}/member`, { recursive: true, mode: 0o700 });
      const wal = await Wal.create(
        `${slot.dataDir}/member/wal`,
        encodeMetadata({ nodeId, clusterId }),
      );
      await wal.close();
      cluster.spawn(added, { state: "existing", cluster: cluster.initialCluster([0, added]) });
      await slot.process!.waitFor("enabled capabilities for version", 30_000);
      await retry("the joined member has the data", 20_000, async () => {
        strictEqual(await cluster.get(added, "before", { serializable: true }), "join");
      });
      await cluster.put(added, "after", "join");
      strictEqual(await cluster.get(0, "after"), "join");
      // The joined member serves clients only once its attributes are published (as etcd's
      // serve() waits for ReadyNotify); the leader's view of that publish may still be a commit
      // behind when the list is read, so the count is retried.
      await retry("both members started", 10_000, async () => {
        const list = await etcdctlOk(cluster.endpoint(0), ["member", "list"]);
        strictEqual(
          list.trim().split("\n").filter((l) => l.includes(", started, ")).length,
          2,
          list,
        );
      });
      ok(slot.process!.log.includes(`restarting local member`), "restarted from its WAL");
    } catch (error) {
      console.error(cluster.logs());
      throw error;
    } finally {
      await cluster.cleanup();
    }
  },
});
