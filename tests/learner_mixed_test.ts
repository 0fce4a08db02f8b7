// Goal: learner promotion interoperates between detcd and a real etcd 3.4.23 member. detcd
// proposes a promotion with etcd's ConfChange context ({"id":N,"peerURLs":null,
// "isPromote":true}), so an etcd learner becomes a voter on every member; and when an etcd
// leader promotes a detcd learner, detcd applies it as a promotion (the member keeps its peer
// URLs and name) rather than as an add.
// Method: 2 detcd + 1 etcd (ports 26600-26605); with a detcd leader, add and promote an etcd
// learner (26606-26607); move leadership to etcd, add and promote a detcd learner
// (26608-26609). After each promotion `member list` and `endpoint status` agree on every
// member (IS LEARNER false everywhere, the same peer URLs), and a write reaches all of them.
// Skipped when etcd is not installed.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { DetcdProcess, etcdctlOk } from "./_server_process.ts";
import { retry } from "./cluster_util.ts";
import { ETCD_AVAILABLE, MixedCluster } from "./_mixed_cluster.ts";

const AVAILABLE = ETCD_AVAILABLE;
/** d*: detcd, e*: etcd; the first three start the cluster, the last two join as learners. */
const NAMES = ["d0", "d1", "e2", "e3", "d4"];
const CLUSTER = new MixedCluster(26600, NAMES, "detcd-learner-mixed");
const client = (i: number) => CLUSTER.client(i);
const peer = (i: number) => CLUSTER.peer(i);

function spawn(i: number, dataDir: string, clusterSize: number): DetcdProcess {
  return CLUSTER.spawn(i, dataDir, { clusterSize, state: clusterSize === 3 ? "new" : "existing" });
}

interface _Status {
  id: string;
  leader: string;
  learner: boolean;
}

/** `etcdctl endpoint status` of member `i`, IDs as hex text (read without a JS number). */
async function status(i: number): Promise<_Status> {
  const out = await etcdctlOk(client(i), ["endpoint", "status", "-w", "json"]);
  const id = BigInt(/"member_id":(\d+)/.exec(out)![1]!).toString(16);
  const leader = BigInt(/"leader":(\d+)/.exec(out)![1]!).toString(16);
  return { id, leader, learner: /"isLearner":true/.test(out) };
}

/** `member list` of member `i` as sorted "name peerURLs learner" lines. */
async function memberList(i: number): Promise<string[]> {
  const out = await etcdctlOk(client(i), ["member", "list"]);
  // "id, started, name, peer, client, isLearner"
  return out.trim().split("\n").map((line) => {
    const f = line.split(", ");
    return `${f[0]} ${f[2]} ${f[3]} ${f[5]}`;
  }).sort();
}

async function moveLeader(to: number, running: number[]): Promise<void> {
  const target = await status(to);
  const leaderId = target.leader;
  if (leaderId !== target.id) {
    const statuses = await Promise.all(running.map(status));
    const leaderIndex = running[statuses.findIndex((s) => s.id === leaderId)]!;
    await etcdctlOk(client(leaderIndex), ["move-leader", target.id]);
  }
  await retry("leader moved", 10_000, async () => {
    for (const i of running) strictEqual((await status(i)).leader, target.id);
  });
}

/** Adds member `i` as a learner through `via`, starts it, promotes it through `via`. */
async function addAndPromote(
  i: number,
  via: number,
  dirs: string[],
  members: DetcdProcess[],
): Promise<void> {
  // etcd refuses a member add while its peers have been connected under 5 s ("unhealthy
  // cluster"): retried.
  const added = await retry(
    "member add",
    20_000,
    () =>
      etcdctlOk(client(via), ["member", "add", NAMES[i]!, `--peer-urls=${peer(i)}`, "--learner"]),
  );
  // etcdctl prints the IDs with %16x: padded with spaces when shorter.
  const id = /Member\s+([0-9a-f]+) added/.exec(added)?.[1];
  ok(id !== undefined, added);
  members[i] = spawn(i, dirs[i]!, i + 1);
  await retry("learner serves", 30_000, async () => ok((await status(i)).learner));
  await retry("promoted", 30_000, () => etcdctlOk(client(via), ["member", "promote", id]));
}

/** Every running member: same member list, nobody a learner, a fresh write visible. */
async function checkAgree(running: number[], key: string): Promise<void> {
  await retry("members agree", 20_000, async () => {
    const lists = await Promise.all(running.map(memberList));
    for (const list of lists) deepStrictEqual(list, lists[0]);
    strictEqual(lists[0]!.length, running.length);
    for (const line of lists[0]!) ok(line.endsWith(" false") && line.includes("http://"), line);
    for (const i of running) strictEqual((await status(i)).learner, false, NAMES[i]!);
  });
  await etcdctlOk(client(running[0]!), ["put", key, "v"]);
  await retry("write everywhere", 20_000, async () => {
    for (const i of running) {
      strictEqual((await etcdctlOk(client(i), ["get", key, "--print-value-only"])).trim(), "v");
    }
  });
}

Deno.test({
  name: "2 detcd + 1 etcd: learners of each kind promoted from a detcd and an etcd leader",
  ignore: !AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "detcd-learner-mixed-" });
    const dirs = NAMES.map((name) => `${root}/${name}`);
    const members: DetcdProcess[] = [0, 1, 2].map((i) => spawn(i, dirs[i]!, 3));
    try {
      const all = [0, 1, 2].map(client).join(",");
      await retry("cluster up", 30_000, () => etcdctlOk(all, ["put", "boot", "1"]));
      await moveLeader(0, [0, 1, 2]);
      await addAndPromote(3, 0, dirs, members); // an etcd learner, promoted by detcd
      await checkAgree([0, 1, 2, 3], "after-e3");
      await moveLeader(2, [0, 1, 2, 3]);
      await addAndPromote(4, 2, dirs, members); // a detcd learner, promoted by etcd
      await checkAgree([0, 1, 2, 3, 4], "after-d4");
    } catch (error) {
      for (const [i, m] of members.entries()) console.error(`--- ${NAMES[i]} ---\n${m.log}`);
      throw error;
    } finally {
      await Promise.all(members.map((m) => m.kill()));
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
