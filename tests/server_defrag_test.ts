/**
 * The seeds' scenario: one key overwritten with the same 1 MiB value many times, then a
 * compaction to the latest revision and a defragmentation.
 *
 * Goal: compaction frees the old revisions and defrag gives the space back, so that the db
 * ends close to the live data (one 1 MiB value).
 * Method: puts through the gRPC client, sizes read from Maintenance.Status before and after;
 * printed, and the final size bounded. `DEFRAG_PUTS` sets the count (`deno task
 * scenario:defrag` runs the full 1000; the test suite runs 100 to stay fast).
 */

import { ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { longToNumber } from "../etcdserverpb/mod.ts";
import { startDetcd } from "./_server_process.ts";

const MIB = 1024 * 1024;

Deno.test({
  name: "1 MiB value put N times, compact to latest, defrag: db shrinks to about the live data",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const puts = Number(Deno.env.get("DEFRAG_PUTS") ?? "100");
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_defrag_" });
    const proc = await startDetcd({ dataDir, clientPort: 23928, peerPort: 23929, fast: true });
    const client = new EtcdGrpcClient(proc.endpoint);
    try {
      const value = new Uint8Array(MIB);
      for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
      const key = new TextEncoder().encode("big");
      const started = performance.now();
      let revision = 0;
      for (let i = 0; i < puts; i++) {
        const response = await client.unary(METHODS.KV.Put, { key, value }, { timeoutMs: 30_000 });
        revision = longToNumber(response.header?.revision ?? 0);
      }
      const putSeconds = (performance.now() - started) / 1000;
      const status = () => client.unary(METHODS.Maintenance.Status, {});
      const before = await status();
      await client.unary(METHODS.KV.Compact, { revision, physical: true } as never, {
        timeoutMs: 120_000,
      });
      const compacted = await status();
      await client.unary(METHODS.Maintenance.Defragment, {}, { timeoutMs: 120_000 });
      const after = await status();
      const size = (s: typeof before) => longToNumber(s.dbSize ?? 0);
      const inUse = (s: typeof before) => longToNumber(s.dbSizeInUse ?? 0);
      console.log(
        `${puts} puts of 1 MiB in ${putSeconds.toFixed(1)} s; db size before compaction ` +
          `${(size(before) / MIB).toFixed(1)} MiB (in use ${(inUse(before) / MIB).toFixed(1)}), ` +
          `after compaction ${(size(compacted) / MIB).toFixed(1)} MiB ` +
          `(in use ${(inUse(compacted) / MIB).toFixed(1)}), after defrag ` +
          `${(size(after) / MIB).toFixed(2)} MiB (in use ${(inUse(after) / MIB).toFixed(2)})`,
      );
      ok(size(before) >= puts * MIB * 0.9, "every revision was kept before compaction");
      ok(size(after) < 3 * MIB, `after defrag the db is close to the live 1 MiB: ${size(after)}`);
      // The live value is intact.
      const got = await client.unary(METHODS.KV.Range, { key });
      strictEqual(got.kvs?.[0]?.value?.length, MIB);
      strictEqual(longToNumber(got.kvs?.[0]?.modRevision ?? 0), revision);
    } finally {
      client.close();
      await proc.kill();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
