// Goal: v2 requests are proposed in etcd's encoding and applied with etcd's semantics, so a
// cluster of detcd and real etcd members holds one v2 store: the same tree at the same v2
// index on every member, TTL keys expired by the leader's SYNC everywhere, and a real etcd
// that fell behind the compacted log catches up from detcd's snapshot (its v2 JSON included).
// Method: 2 detcd + 1 /usr/bin/etcd with --enable-v2 on 127.0.0.1 (ports 25020-25025), v2
// writes through both kinds, quorum listings compared member by member (body and
// X-Etcd-Index); etcd stopped, 40 more writes on detcd (--snapshot-count=20), etcd restarted.
// About 25 s: runs when V2_MIXED=1 (`V2_MIXED=1 deno test -A tests/v2_mixed_test.ts`).
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { DetcdProcess } from "./_server_process.ts";
import { retry } from "./cluster_util.ts";
import { ETCD_AVAILABLE, MixedCluster } from "./_mixed_cluster.ts";

const AVAILABLE = ETCD_AVAILABLE;
const ENABLED = Deno.env.get("V2_MIXED") === "1";
const NAMES = ["d0", "d1", "e2"];
const CLUSTER = new MixedCluster(25020, NAMES, "detcd-v2-mixed");
const client = (i: number) => CLUSTER.client(i);

function spawn(i: number, dataDir: string): DetcdProcess {
  return CLUSTER.spawn(i, dataDir, {
    flags: ["--snapshot-count=20", "--enable-v2"],
    detcdFlags: ["--experimental-snapshot-catchup-entries=5"],
  });
}

async function v2(i: number, method: string, path: string, body?: string): Promise<Response> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(5000) };
  if (body !== undefined) {
    init.body = body;
    init.headers = { "Content-Type": "application/x-www-form-urlencoded" };
  }
  return await fetch(`http://${client(i)}${path}`, init);
}

async function put(i: number, key: string, body: string): Promise<void> {
  const r = await v2(i, "PUT", `/v2/keys/${key}`, body);
  await r.body?.cancel();
  if (r.status >= 300) throw new Error(`PUT ${key} on ${NAMES[i]}: ${r.status}`);
}

async function listing(i: number): Promise<{ index: string | null; body: string }> {
  const r = await v2(i, "GET", "/v2/keys/?recursive=true&sorted=true&quorum=true");
  return { index: r.headers.get("x-etcd-index"), body: await r.text() };
}

Deno.test({
  name: "2 detcd + 1 etcd with --enable-v2: one v2 store, SYNC expiry and snapshot catch-up",
  ignore: !AVAILABLE || !ENABLED,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "detcd-v2-mixed-" });
    const dirs = NAMES.map((name) => `${root}/${name}`);
    const members: (DetcdProcess | undefined)[] = [0, 1, 2].map((i) => spawn(i, dirs[i]!));
    try {
      for (let i = 0; i < 3; i++) {
        await retry(`v2 on ${NAMES[i]}`, 30_000, () => put(i, `hello/${NAMES[i]}`, "value=x"));
      }
      await put(0, "dir/a", "value=1");
      await put(2, "dir/b", "value=2");
      await put(1, "dir/a", "value=3&prevValue=1");
      await put(2, "short", "value=gone&ttl=1");
      await put(0, "queue", "dir=true");
      await (await v2(2, "POST", "/v2/keys/queue", "value=job")).body?.cancel();
      // The leader's SYNC (whichever kind leads) expires the TTL key on every member.
      await retry("TTL expiry", 10_000, async () => {
        const r = await v2(0, "GET", "/v2/keys/short?quorum=true");
        await r.body?.cancel();
        equal(r.status, 404);
      });
      const views = await Promise.all([0, 1, 2].map(listing));
      deepStrictEqual(views[0], views[2], "detcd and etcd hold the same v2 store");
      deepStrictEqual(views[1], views[2], "detcd and etcd hold the same v2 store");
      // etcd falls behind the compacted log and catches up from a detcd snapshot.
      await members[2]!.stop(5000);
      members[2] = undefined;
      for (let n = 0; n < 40; n++) await put(n % 2, `later/${n % 5}`, `value=${n}`);
      members[2] = spawn(2, dirs[2]!);
      await retry("etcd catches up", 30_000, async () => {
        const [a, e] = await Promise.all([listing(0), listing(2)]);
        deepStrictEqual(e, a);
      });
      const etcdLog = members[2]!.log;
      ok(
        /applied snapshot|applying snapshot|finished applying incoming snapshot/.test(etcdLog),
        etcdLog.split("\n").filter((l) => /snap/i.test(l)).join("\n"),
      );
    } finally {
      for (const m of members) await m?.stop(5000).catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
