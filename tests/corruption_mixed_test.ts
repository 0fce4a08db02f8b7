// Goal: the corruption checks interoperate with a real etcd 3.4.23 member: each kind asks the
// other `GET /members/hashkv` with etcd's JSON body and gets an answer it accepts, and the
// hashes agree (no CORRUPT alarm is raised while the data is the same).
// Method: 2 detcd processes and 1 /usr/bin/etcd (ports 26520-26525), all with
// `--experimental-corrupt-check-time=1s`; leadership moved to etcd, then to a detcd member,
// each leader's periodic check must report both peers checked; then the etcd member and a
// detcd member restart with `--experimental-initial-corrupt-check` and pass it against the
// other kind. Skipped when etcd is not installed.
import { ok, strictEqual } from "node:assert/strict";
import { DetcdProcess, etcdctlOk } from "./_server_process.ts";
import { retry } from "./cluster_util.ts";
import { ETCD_AVAILABLE, MixedCluster } from "./_mixed_cluster.ts";

const AVAILABLE = ETCD_AVAILABLE;
const NAMES = ["d0", "d1", "e2"];
const CLUSTER = new MixedCluster(26520, NAMES, "detcd-corrupt-mixed");
const client = (i: number) => CLUSTER.client(i);

function spawn(i: number, dataDir: string, extra: string[] = []): DetcdProcess {
  return CLUSTER.spawn(i, dataDir, { flags: ["--experimental-corrupt-check-time=1s", ...extra] });
}

/** The hex member ID and leader flag of each member, from `etcdctl endpoint status`. */
async function statuses(): Promise<{ id: string; leader: boolean }[]> {
  const out = await etcdctlOk(NAMES.map((_, i) => client(i)).join(","), [
    "endpoint",
    "status",
    "-w",
    "json",
  ]);
  const parsed = JSON.parse(out) as {
    Status: { header: { member_id: number | string }; leader: number | string };
  }[];
  // etcdctl prints the 64-bit IDs as JSON numbers: read them as text to keep every bit.
  const ids = [...out.matchAll(/"member_id":(\d+)/g)].map((m) => BigInt(m[1]!).toString(16));
  const leaders = [...out.matchAll(/"leader":(\d+)/g)].map((m) => BigInt(m[1]!).toString(16));
  strictEqual(parsed.length, 3);
  return ids.map((id, i) => ({ id, leader: id === leaders[i] }));
}

/** Moves leadership to member `target` and waits until every member agrees. */
async function moveLeader(target: number): Promise<void> {
  const now = await statuses();
  const leader = now.findIndex((s) => s.leader);
  if (leader !== target) {
    await etcdctlOk(client(leader), ["move-leader", now[target]!.id]);
  }
  await retry("leader moved", 10_000, async () => {
    const after = await statuses();
    ok(after[target]!.leader, JSON.stringify(after));
  });
}

Deno.test({
  name: "2 detcd + 1 etcd: periodic and initial corruption checks ask across implementations",
  ignore: !AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "detcd-corrupt-mixed-" });
    const dirs = NAMES.map((name) => `${root}/${name}`);
    const members: DetcdProcess[] = [0, 1, 2].map((i) => spawn(i, dirs[i]!));
    try {
      const all = NAMES.map((_, i) => client(i)).join(",");
      await retry("cluster up", 30_000, () => etcdctlOk(all, ["put", "boot", "1"]));
      for (let i = 0; i < 3; i++) {
        await retry("put", 20_000, () => etcdctlOk(client(i), ["put", `from/${NAMES[i]}`, "x"]));
      }

      // etcd leads: its check asks both detcd members (capnslog: no count in its line).
      await moveLeader(2);
      const etcdLogFrom = members[2]!.log.length;
      await retry("etcd leader checked", 15_000, () => {
        const since = members[2]!.log.slice(etcdLogFrom);
        ok(since.includes("finished peer corruption check"), "no check finished yet");
        return Promise.resolve();
      });
      // detcd leads: its check asks the etcd member and the other detcd member.
      await moveLeader(0);
      const detcdLogFrom = members[0]!.log.length;
      await members[0]!.waitFor("finished peer corruption check (number-of-peers-checked=2)");
      for (const [i, from] of [[2, etcdLogFrom], [0, detcdLogFrom]] as const) {
        const since = members[i]!.log.slice(from);
        ok(!/hash-kv error|failed hash kv request|mismatch|must match/.test(since), since);
      }

      // The initial check, each way: the etcd member asks the detcd members, and a detcd member
      // asks etcd and detcd. Both pass.
      for (const i of [2, 1]) {
        await members[i]!.kill();
        members[i] = spawn(i, dirs[i]!, ["--experimental-initial-corrupt-check"]);
        const passed = i === 2
          ? "succeeded on initial corruption checking: no corruption"
          : "initial corruption checking passed; no corruption";
        await members[i]!.waitFor(passed, 20_000);
        ok(!/hash-kv error|failed hash kv request/.test(members[i]!.log), members[i]!.log);
        await retry("restarted member serves", 20_000, () => etcdctlOk(client(i), ["get", "boot"]));
      }
      strictEqual((await etcdctlOk(all, ["alarm", "list"])).trim(), "");
    } catch (error) {
      for (const [i, m] of members.entries()) console.error(`--- ${NAMES[i]} ---\n${m.log}`);
      throw error;
    } finally {
      await Promise.all(members.map((m) => m.kill()));
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
