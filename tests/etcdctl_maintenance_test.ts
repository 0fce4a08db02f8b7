/**
 * Goal: the real etcdctl's maintenance commands work on detcd as on etcd 3.4: endpoint status,
 * health and hashkv; defrag; member list; snapshot save, status and restore, then a member
 * started on the restored data dir serves the keys; and the NOSPACE alarm with a tiny quota:
 * raised when the backend passes `--quota-backend-bytes`, puts refused, then compact, defrag,
 * `alarm disarm`, and puts work again.
 * Method: each script runs against a real etcd and against detcd concurrently; transcripts must
 * match once IDs, sizes and timings are masked. Values that depend on the db file layout (db
 * size, snapshot hash and size, how many puts fill the quota) are reduced to what both must
 * share. The HashKV of the key space is compared as is: detcd must compute it as etcd does.
 */
import { ok, strictEqual } from "node:assert/strict";
import {
  differential,
  etcdctl,
  type Member,
  normalize,
  restoreSnapshot,
  type ScriptStep,
  startMember,
} from "./_harness.ts";

const _SEED: ScriptStep[] = [
  ["a", "1"],
  ["b", "2"],
  ["c", "3"],
  ["a", "4"],
].map(([key, value]) => ({ args: ["put", key!, value!] }));

/** `endpoint status -w json`, reduced to what two servers with the same history share. */
async function _status(member: Member): Promise<string> {
  const result = await etcdctl(member.endpoint, ["endpoint", "status", "-w", "json"]);
  const [status] = JSON.parse(result.stdout) as {
    Status: { header: { member_id: number; revision: number }; version: string; leader: number };
  }[];
  const header = status!.Status.header;
  return `status version=${status!.Status.version} revision=${header.revision} leader-is-self=${
    status!.Status.leader === header.member_id
  }`;
}

/** Snapshot save, status and restore; then a member on the restored dir reads the keys back. */
function _snapshotRoundTrip(restoredPorts: { clientPort: number; peerPort: number }) {
  return async (member: Member): Promise<string> => {
    const dir = await Deno.makeTempDir({ prefix: "detcd-snap-" });
    try {
      const file = `${dir}/snap.db`;
      const save = await etcdctl(member.endpoint, ["snapshot", "save", file]);
      const status = await etcdctl("127.0.0.1:1", ["snapshot", "status", file, "-w", "json"]);
      const { revision, totalKey } = JSON.parse(status.stdout) as {
        revision: number;
        totalKey: number;
      };
      const restore = await restoreSnapshot(file, {
        dataDir: `${dir}/restored`,
        peerPort: restoredPorts.peerPort,
      });
      const restored = await startMember({
        impl: member.impl,
        ...restoredPorts,
        dataDir: `${dir}/restored`,
      });
      let keys: string;
      try {
        keys = (await etcdctl(restored.endpoint, ["get", "", "--from-key", "-w", "json"])).stdout;
      } finally {
        await restored.stop();
      }
      const kvs =
        (JSON.parse(keys) as { kvs: { key: string; value: string; mod_revision: number }[] }).kvs;
      return [
        `snapshot save exit=${save.code} ${save.stdout.trim()}`,
        `snapshot status revision=${revision} totalKey=${totalKey}`,
        `snapshot restore exit=${restore.code}`,
        `restored keys: ${
          kvs.map((kv) => `${atob(kv.key)}=${atob(kv.value)}@${kv.mod_revision}`).join(" ")
        }`,
      ].join("\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
}

Deno.test("etcdctl endpoint/defrag/member list/snapshot save+restore: detcd as etcd", async () => {
  const restoredPorts = [{ clientPort: 23870, peerPort: 23871 }, {
    clientPort: 23874,
    peerPort: 23875,
  }];
  let side = 0;
  const steps: ScriptStep[] = [
    ..._SEED,
    { args: [], run: _status },
    { args: ["endpoint", "health"] },
    { args: ["endpoint", "hashkv"] },
    { args: ["endpoint", "hashkv", "--rev", "3"] },
    { args: ["member", "list"] },
    { args: ["member", "list", "-w", "json"] },
    { args: ["compaction", "3"] },
    { args: ["defrag"] },
    // With a scheme in the endpoint, etcdctl's maintenance client sends it in :authority
    // (`http://127.0.0.1:port`); etcd's gRPC server accepts that, and so must detcd's.
    {
      args: [],
      run: async (member) => {
        const result = await etcdctl(`http://${member.endpoint}`, ["endpoint", "status"]);
        return `status via http:// endpoint: exit ${result.code}`;
      },
    },
    { args: ["endpoint", "hashkv"] },
    { args: ["get", "a"] },
    // Each side restores onto its own ports; the order of the two calls is not fixed.
    { args: [], run: (member) => _snapshotRoundTrip(restoredPorts[side++]!)(member) },
  ];
  const { etcd, target, targetImpl } = await differential({
    etcdPorts: { clientPort: 23866, peerPort: 23867 },
    targetPorts: { clientPort: 23868, peerPort: 23869 },
    steps,
  });
  ok(etcd.includes("status version=3.4.23 revision=5 leader-is-self=true"), etcd);
  ok(etcd.includes("Finished defragmenting etcd member"), etcd);
  ok(etcd.includes("restored keys: a=4@5 b=2@3 c=3@4"), etcd);
  ok(etcd.includes("status via http:// endpoint: exit 0"), etcd);
  strictEqual(normalize(target), normalize(etcd), `${targetImpl} differs from etcd`);
});

/** Puts 4 KiB values until the quota alarm refuses one; reports only that it happened. */
async function _fillQuota(member: Member): Promise<string> {
  const value = "b".repeat(4096);
  for (let attempt = 0; attempt < 200; attempt++) {
    const put = await etcdctl(member.endpoint, ["put", "big", value]);
    if (put.code !== 0) return `quota filled: ${put.stderr.trim().split("\n").at(-1)}`;
  }
  return "quota never filled";
}

async function _compactLatest(member: Member): Promise<string> {
  const get = await etcdctl(member.endpoint, ["get", "big", "-w", "json"]);
  const revision = JSON.parse(get.stdout).header.revision;
  const compact = await etcdctl(member.endpoint, ["compaction", "--physical", String(revision)]);
  return `compaction exit=${compact.code}`;
}

Deno.test("etcdctl alarm list/disarm with a tiny --quota-backend-bytes: detcd as etcd", async () => {
  const steps: ScriptStep[] = [
    { args: ["put", "small", "a".repeat(64)] },
    { args: [], run: _fillQuota },
    { args: ["alarm", "list"] },
    { args: ["put", "small2", "x"] },
    { args: ["get", "small"] },
    { args: [], run: _compactLatest },
    { args: ["defrag"] },
    { args: ["alarm", "disarm"] },
    { args: ["alarm", "list"] },
    { args: ["put", "small3", "y"] },
  ];
  const { etcd, target, targetImpl } = await differential({
    etcdPorts: { clientPort: 23876, peerPort: 23877 },
    targetPorts: { clientPort: 23878, peerPort: 23879 },
    extraArgs: ["--quota-backend-bytes", String(13 * 4096)],
    steps,
  });
  ok(etcd.includes("quota filled: Error: etcdserver: mvcc: database space exceeded"), etcd);
  ok(etcd.includes("alarm:NOSPACE"), etcd);
  strictEqual(normalize(target), normalize(etcd), `${targetImpl} differs from etcd`);
});
