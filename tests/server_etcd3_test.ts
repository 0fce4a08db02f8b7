/**
 * The npm `etcd3` client (an application's etcd client, over @grpc/grpc-js) against detcd.
 *
 * Goal: an application written for etcd 3.4 works unchanged: put/get, prefix reads, txn
 * (the client's `if().then().else()` builder), watch, and a lease with keep-alive and
 * revocation.
 * Method: one detcd child process; each step checks what the client returns.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { startDetcd } from "./_server_process.ts";

Deno.test({
  name: "etcd3 client: put/get, txn, watch, lease against detcd",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_etcd3_" });
    const proc = await startDetcd({ dataDir, clientPort: 23926, peerPort: 23927, fast: true });
    const client = new Etcd3({ hosts: `http://${proc.endpoint}` });
    try {
      await client.put("app/a").value("1");
      await client.put("app/b").value("2");
      strictEqual(await client.get("app/a").string(), "1");
      deepStrictEqual(await client.getAll().prefix("app/").strings(), {
        "app/a": "1",
        "app/b": "2",
      });
      strictEqual(await client.getAll().prefix("app/").count(), 2);

      // Txn: compare-and-swap, both branches.
      const swapped = await client.if("app/a", "Value", "==", "1").then(
        client.put("app/a").value("10"),
      )
        .else(client.put("app/a").value("never")).commit();
      strictEqual(swapped.succeeded, true);
      const refused = await client.if("app/a", "Value", "==", "1").then(
        client.put("app/a").value("x"),
      )
        .commit();
      strictEqual(refused.succeeded, false);
      strictEqual(await client.get("app/a").string(), "10");

      // Watch: events of later writes, in order.
      const watcher = await client.watch().prefix("app/").create();
      const seen: string[] = [];
      const got = new Promise<void>((resolve) => {
        watcher.on("put", (kv) => {
          seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`);
          if (seen.length === 3) resolve();
        });
        watcher.on("delete", (kv) => {
          seen.push(`delete ${kv.key.toString()}`);
          if (seen.length === 3) resolve();
        });
      });
      await client.put("app/c").value("3");
      await client.delete().key("app/b");
      await client.put("app/c").value("4");
      await got;
      deepStrictEqual(seen, ["put app/c=3", "delete app/b", "put app/c=4"]);
      await watcher.cancel();

      // Lease: a key attached to it, a keep-alive, then revocation removes the key.
      const lease = client.lease(30, { autoKeepAlive: false });
      await lease.put("app/leased").value("L");
      strictEqual(await client.get("app/leased").string(), "L");
      const renewed = await lease.keepaliveOnce();
      strictEqual(Number(renewed.TTL), 30);
      ok(BigInt(renewed.ID) === BigInt(await lease.grant()), "the renewed lease is ours");
      await lease.revoke();
      strictEqual(await client.get("app/leased").string(), null);
    } finally {
      client.close();
      await proc.kill();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
