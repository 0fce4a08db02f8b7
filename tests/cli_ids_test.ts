/**
 * Goal: detcd's member and cluster IDs are the ones real etcd computes for the same flags.
 * Method: start /usr/bin/etcd with a random --initial-cluster-token, read the IDs it reports
 * (`etcdctl member list -w json`), and compute them with ids/ids.ts. When detcd's server
 * runs, it must report the same IDs for the same flags.
 */
import { strictEqual } from "node:assert/strict";
import { computeClusterId, computeMemberId } from "../ids/mod.ts";
import { diffTarget, etcdctl, type Impl, withMember } from "./_harness.ts";

async function _reportedIds(
  impl: Impl,
  token: string,
): Promise<{ member: bigint; cluster: bigint }> {
  return await withMember({ impl, clientPort: 23850, peerPort: 23851, token }, async (member) => {
    const list = await etcdctl(member.endpoint, ["member", "list", "-w", "json"]);
    // JSON numbers above 2^53 lose precision in JSON.parse; read the digits as text.
    const cluster = /"cluster_id":(\d+)/.exec(list.stdout)?.[1];
    const id = /"ID":(\d+)/.exec(list.stdout)?.[1];
    return { member: BigInt(id ?? "-1"), cluster: BigInt(cluster ?? "-1") };
  });
}

Deno.test("member and cluster IDs equal real etcd's for a random token", async () => {
  const token = `token-${crypto.randomUUID()}`;
  const member = computeMemberId(["http://127.0.0.1:23851"], token);
  const cluster = computeClusterId([member]);
  const etcd = await _reportedIds("etcd", token);
  strictEqual(etcd.member, member);
  strictEqual(etcd.cluster, cluster);
  if ((await diffTarget()) === "detcd") {
    const detcd = await _reportedIds("detcd", token);
    strictEqual(detcd.member, member);
    strictEqual(detcd.cluster, cluster);
  }
});
