// Goal: the v2 cluster endpoints of detcd (`--enable-v2`) answer as etcd 3.4's do: the same
// status codes, bodies and headers for /v2/members (list, leader, add, update, remove and their
// errors), /v2/machines, /v2/stats/self, /v2/stats/leader and /v2/stats/store; and `ETCDCTL_API=2 etcdctl
// member list|add|update|remove` and `cluster-health` print the same against both.
// Method: a 3-member real etcd 3.4.23 cluster and a 3-member detcd cluster run side by side
// (ports 25700-25725); the same requests go to both and the answers are compared after
// member IDs, the cluster ID and ports are replaced by names (the clusters differ in ports,
// hence in IDs). Timing-dependent fields (stats values, who leads) are compared by shape.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ETCD_BIN, ETCDCTL_BIN, type Impl, type Member, run, startMember } from "./_harness.ts";
import { retry } from "./cluster_util.ts";

const ETCD_AVAILABLE = await Deno.stat(ETCD_BIN).then(() => true, () => false);
const BASE: Record<Impl, number> = { etcd: 25700, detcd: 25710 };

interface Cluster {
  impl: Impl;
  members: Member[];
  clients: string[];
  /** Every ID (member and cluster) in the answers, hex, mapped to a stable name. */
  names: Map<string, string>;
}

async function startCluster(impl: Impl, dir: string): Promise<Cluster> {
  const base = BASE[impl];
  const peer = (i: number) => `http://127.0.0.1:${base + 4 + i}`;
  const initial = [0, 1, 2].map((i) => `v${i}=${peer(i)}`).join(",");
  const members = await Promise.all([0, 1, 2].map((i) =>
    startMember({
      impl,
      clientPort: base + i,
      peerPort: base + 4 + i,
      rawArgs: [
        "--enable-v2",
        "--name",
        `v${i}`,
        "--data-dir",
        `${dir}/${impl}${i}`,
        "--listen-client-urls",
        `http://127.0.0.1:${base + i}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${base + i}`,
        "--listen-peer-urls",
        peer(i),
        "--initial-advertise-peer-urls",
        peer(i),
        "--initial-cluster",
        initial,
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
      ],
      readyTimeoutMs: 40_000,
    })
  ));
  const clients = [0, 1, 2].map((i) => `http://127.0.0.1:${base + i}`);
  const names = new Map<string, string>();
  const listed = await retry(`${impl}: members published`, 10_000, async () => {
    const response = await fetch(`${clients[0]}/v2/members`);
    const body = await response.json() as {
      members: { id: string; name: string; clientURLs: string[] }[];
    };
    if (body.members.some((m) => m.clientURLs.length === 0)) throw new Error("not published");
    names.set(response.headers.get("X-Etcd-Cluster-Id")!, "<cluster>");
    return body.members;
  });
  for (const member of listed) names.set(member.id, `<id:${member.name}>`);
  return { impl, members, clients, names };
}

/** etcdctl's lines in name order (it prints members in ID order, and the IDs differ). */
function sortedLines(text: string): string {
  return text.split("\n").sort().join("\n");
}

/** The text with IDs and this cluster's ports replaced by names. */
function normalize(cluster: Cluster, text: string): string {
  let out = text;
  for (const [id, name] of cluster.names) out = out.replaceAll(id, name);
  out = out.replace(/127\.0\.0\.1:(257\d\d)/g, (all, text) => {
    const port = Number(text) - BASE[cluster.impl];
    return port >= 0 && port < 10 ? `127.0.0.1:<port+${port}>` : all;
  });
  // etcdctl prints ETCD_INITIAL_CLUSTER from a Go map: in no particular order.
  return out.replace(
    /ETCD_INITIAL_CLUSTER="([^"]*)"/,
    (_all, list: string) => `ETCD_INITIAL_CLUSTER="${list.split(",").sort().join(",")}"`,
  );
}

interface Answer {
  status: number;
  contentType: string | null;
  allow: string | null;
  clusterHeader: boolean;
  body: string;
}

async function ask(
  cluster: Cluster,
  member: number,
  path: string,
  init: RequestInit = {},
): Promise<Answer> {
  const response = await fetch(`${cluster.clients[member]}${path}`, init);
  let text = await response.text();
  // The list is sorted by member ID, and the two clusters' IDs differ: sort by name.
  if (text.startsWith('{"members":')) {
    const list = JSON.parse(text) as { members: { name: string }[] };
    list.members.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    text = JSON.stringify(list) + (text.endsWith("\n") ? "\n" : "");
  }
  const body = normalize(cluster, text);
  return {
    status: response.status,
    contentType: response.headers.get("Content-Type"),
    allow: response.headers.get("Allow"),
    clusterHeader: response.headers.has("X-Etcd-Cluster-Id"),
    body,
  };
}

const JSON_TYPE = { "Content-Type": "application/json" };

/** Requests whose answers must be equal, byte for byte after normalization. */
const EXACT: { path: string; init?: RequestInit }[] = [
  { path: "/v2/members" },
  { path: "/v2/members/" },
  { path: "/v2/machines" },
  { path: "/v2/members/xyz" },
  { path: "/v2/stats/" },
  { path: "/v2/members", init: { method: "PATCH" } },
  { path: "/v2/members", init: { method: "DELETE" } },
  { path: "/v2/members/zz", init: { method: "DELETE" } },
  { path: "/v2/members/1234", init: { method: "DELETE" } },
  { path: "/v2/machines", init: { method: "POST" } },
  { path: "/v2/stats/self", init: { method: "POST" } },
  { path: "/v2/stats/leader", init: { method: "PUT" } },
  {
    path: "/v2/members",
    init: { method: "POST", body: '{"peerURLs":["http://127.0.0.1:25799"]}' },
  },
  {
    path: "/v2/members",
    init: { method: "POST", headers: JSON_TYPE, body: '{"peerURLs":["nope"]}' },
  },
  { path: "/v2/members", init: { method: "POST", headers: JSON_TYPE, body: "" } },
  { path: "/v2/members", init: { method: "POST", headers: JSON_TYPE, body: '{"peerURLs":[]}' } },
  {
    path: "/v2/members",
    init: { method: "POST", headers: JSON_TYPE, body: '{"peerURLs":["http://127.0.0.1"]}' },
  },
  {
    path: "/v2/members",
    init: { method: "POST", headers: JSON_TYPE, body: '{"peerURLs":["http://127.0.0.1:1/x"]}' },
  },
  {
    path: "/v2/members/1234",
    init: { method: "PUT", headers: JSON_TYPE, body: '{"peerURLs":["http://127.0.0.1:25798"]}' },
  },
];

function etcdctl2(cluster: Cluster, args: string[]) {
  return run(ETCDCTL_BIN, ["--endpoints", cluster.clients.join(","), ...args], {
    env: { ETCDCTL_API: "2" },
  });
}

/** The member-change script through `ETCDCTL_API=2 etcdctl`; its outputs, normalized. */
async function memberScript(cluster: Cluster): Promise<string[]> {
  const outputs: string[] = [];
  const record = (result: { code: number; stdout: string; stderr: string }) => {
    const text = normalize(cluster, result.stdout + result.stderr);
    outputs.push(`rc=${result.code}\n${sortedLines(text)}`);
  };
  record(await etcdctl2(cluster, ["member", "list"]));
  // etcd refuses to add a voter until every member has been connected for a while (its
  // strict reconfiguration check): retry until the add goes through.
  const added = await retry(`${cluster.impl}: member add`, 20_000, async () => {
    const result = await etcdctl2(cluster, ["member", "add", "v3", "http://127.0.0.1:25799"]);
    if (result.code !== 0) throw new Error(result.stdout + result.stderr);
    return result;
  });
  const id = /with ID ([0-9a-f]+)/.exec(added.stdout)![1]!;
  cluster.names.set(id, "<id:new>");
  record(added);
  record(await etcdctl2(cluster, ["member", "list"]));
  record(await etcdctl2(cluster, ["member", "update", id, "http://127.0.0.1:25798"]));
  record(await etcdctl2(cluster, ["member", "list"]));
  record(await etcdctl2(cluster, ["member", "remove", id]));
  record(await etcdctl2(cluster, ["member", "remove", id]));
  record(await etcdctl2(cluster, ["member", "list"]));
  return outputs;
}

Deno.test({
  name: "v2 cluster endpoints: detcd answers /v2/members, /v2/machines and /v2/stats as etcd does",
  ignore: !ETCD_AVAILABLE,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "detcd-v2-cluster-" });
    const clusters: Cluster[] = [];
    try {
      clusters.push(...await Promise.all([startCluster("etcd", dir), startCluster("detcd", dir)]));
      const [etcd, detcd] = clusters as [Cluster, Cluster];
      for (const { path, init } of EXACT) {
        const [want, got] = [await ask(etcd, 0, path, init), await ask(detcd, 0, path, init)];
        deepStrictEqual(got, want, `${init?.method ?? "GET"} ${path}`);
      }
      // Exactly one member serves /v2/stats/leader, naming the others as followers; the
      // others answer 403. /v2/members/leader names the same member.
      for (const cluster of clusters) {
        const answers = await Promise.all(
          [0, 1, 2].map((i) => ask(cluster, i, "/v2/stats/leader")),
        );
        const leading = answers.filter((a) => a.status === 200);
        strictEqual(leading.length, 1, `${cluster.impl}: ${JSON.stringify(answers)}`);
        for (const answer of answers.filter((a) => a.status !== 200)) {
          deepStrictEqual([answer.status, answer.body], [403, '{"message":"not current leader"}']);
        }
        const stats = JSON.parse(leading[0]!.body) as {
          leader: string;
          followers: Record<string, { latency: Record<string, number>; counts: object }>;
        };
        const leader = JSON.parse((await ask(cluster, 1, "/v2/members/leader")).body) as {
          id: string;
        };
        strictEqual(stats.leader, leader.id, cluster.impl);
        strictEqual(Object.keys(stats.followers).length, 2, cluster.impl);
        for (const follower of Object.values(stats.followers)) {
          deepStrictEqual(Object.keys(follower), ["latency", "counts"]);
          deepStrictEqual(Object.keys(follower.latency), [
            "current",
            "average",
            "standardDeviation",
            "minimum",
            "maximum",
          ]);
        }
        const self = JSON.parse((await ask(cluster, 0, "/v2/stats/self")).body) as Record<
          string,
          unknown
        >;
        strictEqual(self.name, "v0");
        strictEqual(self.id, "<id:v0>");
        ok(["StateLeader", "StateFollower"].includes(self.state as string), cluster.impl);
        strictEqual(
          (self.leaderInfo as { leader: string }).leader,
          leader.id,
          `${cluster.impl}: ${JSON.stringify(self)}`,
        );
      }
      // /v2/stats/store (the v2 store's counters): the same fields in the same order.
      const [etcdStore, detcdStore] = await Promise.all(
        clusters.map(async (cluster) => await ask(cluster, 0, "/v2/stats/store")),
      );
      strictEqual(detcdStore!.status, etcdStore!.status);
      deepStrictEqual(
        Object.keys(JSON.parse(detcdStore!.body)),
        Object.keys(JSON.parse(etcdStore!.body)),
      );
      const health = await Promise.all(
        clusters.map(async (cluster) =>
          sortedLines(normalize(cluster, (await etcdctl2(cluster, ["cluster-health"])).stdout))
        ),
      );
      deepStrictEqual(health[1], health[0]);
      const [etcdScript, detcdScript] = await Promise.all(clusters.map(memberScript));
      // Who leads differs between the clusters: mask `isLeader`.
      const masked = (lines: string[]) =>
        lines.map((text) => text.replace(/isLeader=(true|false)/g, "isLeader=?"));
      deepStrictEqual(masked(detcdScript!), masked(etcdScript!));
    } finally {
      await Promise.all(clusters.flatMap((c) => c.members.map((m) => m.kill())));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
