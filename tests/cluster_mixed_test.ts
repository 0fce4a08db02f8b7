// Goal: detcd members and a real etcd 3.4.23 member form one cluster. Both kinds serve reads
// and writes; with etcd down and the detcd leader's raft log compacted past it, the restarted
// etcd catches up through a db snapshot sent by detcd (our bolt file, our v2 store JSON, our
// rafthttp snapshot POST) and ends with the same HashKV as the detcd members.
// Method: 2 detcd processes and 1 /usr/bin/etcd on 127.0.0.1 (ports 24080-24085), small
// --snapshot-count, the real etcdctl and a gRPC client. Skipped when etcd is not installed.
import { ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { DetcdProcess, etcdctlOk } from "./_server_process.ts";
import { retry } from "./cluster_util.ts";
import { ETCD_AVAILABLE, MixedCluster } from "./_mixed_cluster.ts";

const AVAILABLE = ETCD_AVAILABLE;
const NAMES = ["d0", "d1", "e2"];
const CLUSTER = new MixedCluster(24080, NAMES, "detcd-mixed");
const client = (i: number) => CLUSTER.client(i);
const encoder = new TextEncoder();

function spawn(i: number, dataDir: string): DetcdProcess {
  return CLUSTER.spawn(i, dataDir, {
    flags: ["--snapshot-count=20"],
    detcdFlags: ["--experimental-snapshot-catchup-entries=5"],
  });
}

async function hashes(indexes: number[]): Promise<string[]> {
  return await Promise.all(indexes.map(async (i) => {
    const c = new EtcdGrpcClient(client(i));
    try {
      const r = await c.unary(METHODS.Maintenance.HashKV, {}, { timeoutMs: 3000 });
      return `${r.hash}@${r.header?.revision}`;
    } finally {
      c.close();
    }
  }));
}

Deno.test({
  name: "2 detcd + 1 etcd: one cluster; etcd catches up through a detcd db snapshot",
  ignore: !AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "detcd-mixed-" });
    const dirs = NAMES.map((name) => `${root}/${name}`);
    const members: (DetcdProcess | undefined)[] = [0, 1, 2].map((i) => spawn(i, dirs[i]!));
    try {
      const all = NAMES.map((_, i) => client(i)).join(",");
      await retry("cluster up", 30_000, () => etcdctlOk(all, ["put", "boot", "1"]));
      // etcd serves clients only once it has published itself through raft.
      for (let i = 0; i < 3; i++) {
        await retry("put", 20_000, () => etcdctlOk(client(i), ["put", `from/${NAMES[i]}`, "x"]));
      }
      for (let i = 0; i < 3; i++) {
        const out = await etcdctlOk(client(i), ["get", "from/", "--prefix", "--keys-only"]);
        strictEqual(out, "from/d0\n\nfrom/d1\n\nfrom/e2\n\n", `member ${NAMES[i]} reads all`);
      }
      // etcd goes down; the detcd pair keeps a quorum and compacts its log past etcd.
      await members[2]!.kill();
      members[2] = undefined;
      const writer = new EtcdGrpcClient(client(0));
      try {
        for (let n = 0; n < 60; n++) {
          await retry("write", 10_000, () =>
            writer.unary(METHODS.KV.Put, {
              key: encoder.encode(`bulk/${n}`),
              value: encoder.encode(`v${n}`),
            }, { timeoutMs: 2000 }));
        }
      } finally {
        writer.close();
      }
      members[2] = spawn(2, dirs[2]!);
      await members[2].waitFor("restored snapshot", 20_000);
      ok(members[2].log.includes("receiving database snapshot"), "etcd received a db");
      let last: string[] = [];
      await retry("one HashKV", 15_000, async () => {
        last = await hashes([0, 1, 2]);
        if (new Set(last).size !== 1) throw new Error(`hashes differ: ${last}`);
      });
      const value = await etcdctlOk(client(2), ["get", "bulk/59", "--print-value-only"]);
      strictEqual(value, "v59\n");
    } finally {
      await Promise.all(members.map((m) => m?.kill()));
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
