// Goal: etcd 3.4's v2 proxy (`--proxy on|readonly`, docs/v2-proxy.md) in front of a 3-member
// detcd cluster: `ETCDCTL_API=2 etcdctl` set/get through it, requests still served with a
// member killed behind it, readonly refusing writes with 501, the cluster file written and a
// restart from it; and its answers equal to the real etcd 3.4.23 proxy's (`/usr/bin/etcd
// --proxy on`) in front of the same cluster: keys, /version, /v2/members, its own
// /v2/config/local/proxy, 405, 501, and the 503 of a proxy with no reachable member.
// Method: real processes on 127.0.0.1, ports 28510-28539.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  clusterMemberArgs,
  ETCD_BIN,
  ETCDCTL_BIN,
  type Impl,
  type Member,
  run,
  type ServerProcess,
  spawnServer,
  startMember,
} from "./_harness.ts";
import { retry } from "./cluster_util.ts";

const _hasEtcd = await Deno.stat(ETCD_BIN).then(() => true, () => false);
const _BASE = 28510;
const _CLUSTER = [0, 1, 2].map((i) => `p${i}=http://127.0.0.1:${_BASE + 2 * i + 1}`).join(",");

function _v2ctl(endpoint: string, args: string[]) {
  // --no-sync: without it etcdctl asks /v2/members and then talks to the members directly.
  // --timeout (per request headers, 1 s by default): a request the proxy sends first to a
  // member just killed waits for the dial timeout and maybe an election before it is answered.
  const flags = [`--endpoints=${endpoint}`, "--no-sync", "--timeout=10s", "--total-timeout=15s"];
  return run(ETCDCTL_BIN, [...flags, ...args], {
    env: { ETCDCTL_API: "2" },
    timeoutMs: 15_000,
  });
}

async function _startCluster(root: string): Promise<Member[]> {
  return await Promise.all([0, 1, 2].map((i) =>
    startMember({
      impl: "detcd",
      clientPort: _BASE + 2 * i,
      peerPort: _BASE + 2 * i + 1,
      rawArgs: [
        ...clusterMemberArgs(`p${i}`, `${root}/p${i}`, _BASE + 2 * i, _CLUSTER),
        "--enable-v2",
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
      ],
      readyTimeoutMs: 30_000,
    })
  ));
}

/** A member that is not the leader, as the members' own `endpoint status` says. */
async function _follower(members: Member[]): Promise<Member> {
  const endpoints = members.map((m) => m.endpoint).join(",");
  const status = await run(ETCDCTL_BIN, [`--endpoints=${endpoints}`, "endpoint", "status"], {
    env: { ETCDCTL_API: "3" },
    timeoutMs: 15_000,
  });
  equal(status.code, 0, status.stderr);
  // Lines of "endpoint, ID, version, db size, is leader, ..." (the simple format: member IDs
  // stay hex text, where JSON would print them as numbers past 2^53).
  const follower = status.stdout.trim().split("\n").map((line) => line.split(", "))
    .find((fields) => fields[4] === "false");
  ok(follower !== undefined, status.stdout);
  const member = members.find((m) => follower[0] === m.endpoint);
  ok(member !== undefined, `${follower[0]} among ${endpoints}`);
  return member;
}

/** Starts a proxy and waits until it knows `endpoints` members (0: until it listens). */
async function _startProxy(
  impl: Impl,
  port: number,
  dataDir: string,
  extra: string[],
  endpoints: number,
): Promise<ServerProcess> {
  const proxy = spawnServer(impl, [
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    `http://127.0.0.1:${port}`,
    "--proxy-refresh-interval",
    "1000",
    "--proxy-failure-wait",
    "2000",
    ...extra,
  ], { endpoint: `127.0.0.1:${port}`, env: { ETCD_UNSUPPORTED_ARCH: "" } });
  try {
    await retry(`${impl} proxy on ${port}`, 20_000, async () => {
      if (proxy.exited !== undefined) throw new Error(`exited:\n${proxy.log}`);
      const response = await fetch(`http://127.0.0.1:${port}/v2/config/local/proxy`);
      const config = await response.json() as { endpoints: string[] };
      if (config.endpoints.length < endpoints) throw new Error(JSON.stringify(config));
    });
  } catch (error) {
    await proxy.stop(1000);
    throw new Error(`${(error as Error).message}\nthe proxy's log:\n${proxy.log}`);
  }
  return proxy;
}

/** One call: status, content type and body with indexes, times and IDs masked. */
async function _call(url: string, init: RequestInit = {}): Promise<string> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = (await response.text())
    .replace(/"(modifiedIndex|createdIndex|index)":\d+/g, '"$1":N')
    .replace(/"id":"[0-9a-f]+"/g, '"id":"ID"')
    .replace(/"endpoints":\[[^\]]*\]/, (all) => `"endpoints":${all.split(",").length}`);
  const type = response.headers.get("content-type") ?? "-";
  return `${init.method ?? "GET"} ${new URL(url).pathname} -> ${response.status} ${type} ${body}`;
}

async function _transcript(impl: Impl, root: string, port: number): Promise<string[]> {
  const form = { "content-type": "application/x-www-form-urlencoded" };
  const base = `http://127.0.0.1:${port}`;
  const lines: string[] = [];
  const on = await _startProxy(impl, port, `${root}/${impl}-on`, [
    "--proxy",
    "on",
    "--initial-cluster",
    _CLUSTER,
  ], 3);
  try {
    lines.push(
      await _call(`${base}/v2/keys/cmp-${impl}`, { method: "PUT", body: "value=x", headers: form }),
      // A quorum read: the proxy may send it to another member than the PUT (see above).
      await _call(`${base}/v2/keys/cmp-${impl}?quorum=true`),
      await _call(`${base}/v2/keys/missing`),
      await _call(`${base}/v2/members`),
      await _call(`${base}/v2/config/local/proxy`),
      await _call(`${base}/v2/config/local/proxy`, { method: "POST" }),
    );
    const version = await fetch(`${base}/version`);
    lines.push(`version ${version.status} ${Object.keys(await version.json()).join(",")}`);
  } finally {
    await on.stop();
  }
  const readonly = await _startProxy(impl, port + 1, `${root}/${impl}-ro`, [
    "--proxy",
    "readonly",
    "--initial-cluster",
    _CLUSTER,
  ], 3);
  try {
    lines.push(
      await _call(`http://127.0.0.1:${port + 1}/v2/keys/cmp-${impl}?quorum=true`),
      await _call(`http://127.0.0.1:${port + 1}/v2/keys/cmp-${impl}`, {
        method: "PUT",
        body: "value=y",
        headers: form,
      }),
      await _call(`http://127.0.0.1:${port + 1}/v2/keys/cmp-${impl}`, { method: "DELETE" }),
    );
  } finally {
    await readonly.stop();
  }
  // A cluster nobody serves: no endpoints, 503.
  const lonely = await _startProxy(impl, port + 2, `${root}/${impl}-none`, [
    "--proxy",
    "on",
    "--initial-cluster",
    `x=http://127.0.0.1:${_BASE + 29}`,
  ], 0);
  try {
    lines.push(await _call(`http://127.0.0.1:${port + 2}/v2/keys/a`));
  } finally {
    await lonely.stop();
  }
  return lines;
}

Deno.test({
  name: "v2 proxy: etcdctl through it, a member killed behind it, readonly, cluster file",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "detcd-v2proxy-" });
    const members: Member[] = [];
    const proxies: ServerProcess[] = [];
    try {
      members.push(...await _startCluster(root));
      const port = _BASE + 10;
      const endpoint = `http://127.0.0.1:${port}`;
      proxies.push(
        await _startProxy("detcd", port, `${root}/proxy`, [
          "--proxy",
          "on",
          "--initial-cluster",
          _CLUSTER,
        ], 3),
      );
      const set = await _v2ctl(endpoint, ["set", "/foo", "bar"]);
      equal(set.code, 0, set.stderr);
      equal(set.stdout.trim(), "bar");
      // --quorum on every read after a write: the proxy may send the read to another member
      // than the write, and a plain v2 GET is served from that member's local store, which may
      // not have applied the write yet (etcd's v2 semantics, not a proxy matter).
      const get = await _v2ctl(endpoint, ["get", "--quorum", "/foo"]);
      equal(get.stdout.trim(), "bar", get.stderr);
      // The cluster file: the peer URLs the cluster reported, as JSON.
      const file = JSON.parse(await Deno.readTextFile(`${root}/proxy/proxy/cluster`));
      deepStrictEqual(file, {
        PeerURLs: [0, 1, 2].map((i) => `http://127.0.0.1:${_BASE + 2 * i + 1}`),
      });

      // A member killed: every request still answered (the next endpoint is tried). The one
      // killed is a follower: with the leader killed, a write reaching a survivor before the
      // new election fails with 500 "request timed out" after about 6 s, with real etcd 3.4 as
      // with detcd (raft forwarded the proposal to the dead leader), which etcdctl reports as
      // "has no leader". That is raft's availability, not the proxy's failover.
      const killed = await _follower(members);
      await killed.kill();
      for (let i = 0; i < 10; i++) {
        const put = await _v2ctl(endpoint, ["set", `/after/${i}`, `v${i}`]);
        equal(put.code, 0, put.stderr);
      }
      const ls = await _v2ctl(endpoint, ["ls", "--quorum", "/after"]);
      equal(ls.stdout.trim().split("\n").length, 10, ls.stdout + ls.stderr);
      const metrics = await (await fetch(`${endpoint}/metrics`)).text();
      match(
        metrics.split("\n").filter((l) => l.startsWith("etcd_proxy")).join("\n"),
        /etcd_proxy_requests_total\{method="PUT"\} \d+/,
      );

      // Readonly: reads pass, writes are refused with 501.
      const ro = `http://127.0.0.1:${port + 1}`;
      proxies.push(
        await _startProxy("detcd", port + 1, `${root}/ro`, [
          "--proxy",
          "readonly",
          "--initial-cluster",
          _CLUSTER,
        ], 2),
      );
      const roGet = await _v2ctl(ro, ["get", "--quorum", "/foo"]);
      equal(roGet.stdout.trim(), "bar", roGet.stderr);
      const roSet = await _v2ctl(ro, ["set", "/foo", "baz"]);
      ok(roSet.code !== 0, roSet.stdout);
      equal((await fetch(`${ro}/v2/keys/foo`, { method: "PUT" })).status, 501);

      // Restarted with neither --proxy nor --initial-cluster: the data dir says proxy, and the
      // cluster file names the members. (Without --proxy, etcd's flag check wants advertised
      // client URLs.)
      await proxies.shift()!.stop();
      proxies.push(
        await _startProxy("detcd", port, `${root}/proxy`, ["--advertise-client-urls", endpoint], 1),
      );
      match(proxies.at(-1)!.log, /from cluster file/);
      const again = await _v2ctl(endpoint, ["get", "--quorum", "/after/9"]);
      equal(again.stdout.trim(), "v9", again.stderr);
    } finally {
      for (const proxy of proxies) await proxy.stop();
      for (const member of members) await member.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "v2 proxy answers as etcd 3.4's proxy",
  ignore: !_hasEtcd,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "detcd-v2proxy-" });
    const members: Member[] = [];
    try {
      members.push(...await _startCluster(root));
      const got = await _transcript("detcd", root, _BASE + 20);
      const want = (await _transcript("etcd", root, _BASE + 24)).map((line) =>
        line.replaceAll("cmp-etcd", "cmp-detcd")
      );
      deepStrictEqual(got, want);
    } finally {
      for (const member of members) await member.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
