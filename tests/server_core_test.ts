/**
 * The server core in-process: `startEtcd` on a temporary data directory, driven through
 * the gRPC client.
 *
 * Goal: the pieces between the API and the stores hold together across restarts: snapshots
 * every `--snapshot-count` entries with raft log compaction, restart from the newest snapshot
 * plus the WAL tail, leases restored with their keys, alarms persisted, auto-compaction in
 * revision mode, and response headers as etcd fills them.
 * Method: small snapshot count and fast raft timing; restart the same data directory and
 * compare what the client reads.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { bigintToLong, longToBigint, longToNumber } from "../etcdserverpb/mod.ts";
import type { ServerConfig } from "../server/config.ts";
import { createLogger } from "../server/log.ts";
import { type Etcd, startEtcd } from "../embed/mod.ts";
import { Snapshotter } from "../snap/mod.ts";
import { singleMemberConfig } from "./_member_config.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
const _opts = { sanitizeResources: false, sanitizeOps: false };

function _config(dataDir: string, clientPort: number, peerPort: number): ServerConfig {
  return singleMemberConfig({ name: "core", dataDir, clientPort, peerPort });
}

async function _start(cfg: ServerConfig): Promise<{ server: Etcd; client: EtcdGrpcClient }> {
  const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
  const server = await startEtcd(cfg, log);
  const client = new EtcdGrpcClient(server.clientAddrs[0]!);
  // Wait for the leader: the first linearizable read goes through once there is one.
  await client.unary(METHODS.KV.Range, { key: _encoder.encode("x") }, { timeoutMs: 10_000 });
  return { server, client };
}

Deno.test({
  name: "snapshots every --snapshot-count entries; a restart from snap + WAL keeps everything",
  ..._opts,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_core_" });
    const cfg = _config(dataDir, 23944, 23945);
    cfg.snapshotCount = 20;
    cfg.snapshotCatchUpEntries = 5;
    try {
      let { server, client } = await _start(cfg);
      const lease = await client.unary(METHODS.Lease.LeaseGrant, { TTL: 600 } as never);
      const leaseId = longToBigint(lease.ID ?? 0);
      ok(leaseId > 0n);
      for (let i = 0; i < 70; i++) {
        const put = await client.unary(METHODS.KV.Put, {
          key: _encoder.encode(`k${String(i).padStart(2, "0")}`),
          value: _encoder.encode(`v${i}`),
          ...(i % 10 === 0 ? { lease: bigintToLong(leaseId) } : {}),
        });
        const header = put.header!;
        strictEqual(longToBigint(header.memberId ?? 0), server.memberId);
        strictEqual(longToBigint(header.clusterId ?? 0), server.clusterId);
        ok(longToNumber(header.raftTerm ?? 0) >= 2);
      }
      const snaps = [...Deno.readDirSync(cfg.snapDir)].filter((e) => e.name.endsWith(".snap"));
      ok(snaps.length >= 3, `snapshots taken: ${snaps.map((e) => e.name)}`);
      const before = await client.unary(METHODS.KV.Range, {
        key: _encoder.encode("k"),
        rangeEnd: _encoder.encode("l"),
      });
      client.close();
      await server.stop();

      // A crash between writing a snap file and its WAL record leaves an orphan snap, newer
      // than any the WAL knows: the restart must skip it and use the WAL's newest.
      const snapshotter = new Snapshotter(cfg.snapDir);
      const newest = snapshotter.load();
      await snapshotter.saveSnap({
        data: newest.data,
        metadata: { ...newest.metadata, index: newest.metadata.index + 3 },
      });

      ({ server, client } = await _start(cfg));
      const after = await client.unary(METHODS.KV.Range, {
        key: _encoder.encode("k"),
        rangeEnd: _encoder.encode("l"),
      });
      strictEqual(after.kvs?.length, 70);
      deepStrictEqual(
        after.kvs?.map((kv) => [_decoder.decode(kv.key!), longToNumber(kv.modRevision!)]),
        before.kvs?.map((kv) => [_decoder.decode(kv.key!), longToNumber(kv.modRevision!)]),
      );
      ok(longToNumber(after.header!.revision!) >= longToNumber(before.header!.revision!));
      const ttl = await client.unary(METHODS.Lease.LeaseTimeToLive, {
        ID: bigintToLong(leaseId),
        keys: true,
      } as never);
      strictEqual(longToNumber(ttl.grantedTTL ?? 0), 600);
      strictEqual(ttl.keys?.length, 7, "the lease still holds its keys after the restart");
      await client.unary(METHODS.Lease.LeaseRevoke, { ID: bigintToLong(leaseId) } as never);
      const left = await client.unary(METHODS.KV.Range, {
        key: _encoder.encode("k"),
        rangeEnd: _encoder.encode("l"),
        countOnly: true,
      });
      strictEqual(longToNumber(left.count ?? 0), 63);
      client.close();
      await server.stop();
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "auto-compaction in revision mode compacts to current revision - retention",
  ..._opts,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_core_" });
    const cfg = _config(dataDir, 23946, 23947);
    cfg.autoCompactionMode = "revision";
    cfg.autoCompactionRetention = "5";
    try {
      const { server, client } = await _start(cfg);
      try {
        for (let i = 0; i < 20; i++) {
          await client.unary(METHODS.KV.Put, {
            key: _encoder.encode("a"),
            value: _encoder.encode(`${i}`),
          });
        }
        // The compactor runs on its interval; drive one check directly rather than wait.
        server.core.compactorCheckNow();
        const deadline = Date.now() + 5000;
        while (server.core.kv.compactRev <= 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const rev = server.core.kv.rev;
        strictEqual(server.core.kv.compactRev, rev - 5);
      } finally {
        client.close();
        await server.stop();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
