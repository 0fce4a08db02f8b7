/**
 * Goal: `main.ts gateway start` (etcd 3.4's L4 gateway) proxies etcdctl to a 3-member detcd
 * cluster and fails over: a killed member is taken out of rotation with etcd's
 * "deactivated endpoint" line, clients keep working through the others, and once the member is
 * back the monitor logs "activated" after `--retry-delay`.
 *
 * Method: members on ports 26200-26221, the gateway on 26250 with `--retry-delay=1s`; every
 * etcdctl call opens a new connection, which the gateway hands to the next endpoint in turn.
 */

import { ok, strictEqual } from "node:assert/strict";
import { etcdctl, spawnServer } from "./_harness.ts";
import { retryCtl, startCluster, until } from "./_proxy_cluster.ts";

const MEMBER_PORTS = [26200, 26210, 26220];
const GATEWAY = "127.0.0.1:26250";

Deno.test({
  name: "gateway: etcdctl through the TCP gateway, failover when a member dies",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cluster = await startCluster(MEMBER_PORTS);
    const gateway = spawnServer("detcd", [
      "gateway",
      `--endpoints=${cluster.endpoints.map((e) => `http://${e}`).join(",")}`,
      "start",
      `--listen-addr=${GATEWAY}`,
      "--retry-delay=1s",
    ], { endpoint: GATEWAY });
    try {
      await gateway.waitFor("ready to proxy client requests");
      ok(gateway.log.includes(`"endpoints":["${cluster.endpoints.join('","')}"]`), gateway.log);
      for (let i = 0; i < 3; i++) {
        strictEqual((await retryCtl(GATEWAY, ["put", `g${i}`, `v${i}`])).stdout, "OK\n");
      }
      // Round robin: connections reach every member; each answers with its own ID. (etcdctl
      // may open more than one connection per run, so it takes a few runs.)
      const ids = new Set<string>();
      for (let i = 0; i < 30 && ids.size < 3; i++) {
        const status = await etcdctl(GATEWAY, ["endpoint", "status", "-w", "json"]);
        ids.add(String(JSON.parse(status.stdout)[0].Status.header.member_id));
      }
      strictEqual(ids.size, 3);

      await cluster.members[1]!.kill();
      for (let i = 0; i < 6; i++) {
        strictEqual((await retryCtl(GATEWAY, ["put", "after", `${i}`])).stdout, "OK\n");
      }
      strictEqual((await etcdctl(GATEWAY, ["get", "after"])).stdout, "after\n5\n");
      await gateway.waitFor('"msg":"deactivated endpoint"');
      ok(gateway.log.includes(`"address":"${cluster.endpoints[1]}"`), gateway.log);
      await until(
        "a failed re-activation",
        () =>
          gateway.log.includes("failed to activate endpoint (stay inactive for another interval)"),
      );
    } finally {
      await gateway.stop(3000);
      await gateway.drained();
      await cluster.stop();
    }
  },
});
