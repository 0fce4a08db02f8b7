// Goal: the seed's dynamic cluster. A one-member static cluster serves a discovery channel
// (`PUT /v2/keys/discovery/<token>/_config/size value=3`); three members started with
// `--discovery <url>` instead of `--initial-cluster` form one cluster: `member list` shows
// all three, a put on one is read on another. A fourth member finds the cluster full and
// exits (1 with --discovery-fallback=exit) or, with the default `proxy`, runs as a v2 proxy
// that serves the cluster's data;
// a member that lost its data dir re-registers and is told it is a duplicate; a restarted
// member ignores the token and rejoins from its WAL.
// Method: real processes on 127.0.0.1 (ports 25500-25599). The discovery service is the
// real etcd 3.4.23 with --enable-v2, or detcd with --enable-v2 (only when detcd serves
// /v2/keys); the members are detcd, detcd with a real etcd among them (member IDs must agree,
// since both derive them from the discovery URL), or real etcd members with detcd serving
// discovery.
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import {
  ETCD_BIN,
  etcdctl,
  type Impl,
  type Member,
  serverCommand,
  spawnServer,
  startMember,
} from "./_harness.ts";
import { retry } from "./cluster_util.ts";

const ETCD_AVAILABLE = await Deno.stat(ETCD_BIN).then(() => true, () => false);
const V2_KEYS = await _detcdServesV2Keys(25598);

/** Whether detcd, started with --enable-v2, answers `/v2/keys` (the v2 store is merged). */
async function _detcdServesV2Keys(port: number): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "detcd-discovery-probe-" });
  const { path, args } = serverCommand("detcd", [
    "--enable-v2",
    "--data-dir",
    `${dir}/data`,
    "--listen-client-urls",
    `http://127.0.0.1:${port}`,
    "--advertise-client-urls",
    `http://127.0.0.1:${port}`,
    "--listen-peer-urls",
    `http://127.0.0.1:${port + 1}`,
  ]);
  const child = new Deno.Command(path, { args, stdout: "null", stderr: "null" }).spawn();
  try {
    for (let i = 0; i < 100; i++) {
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 100)),
      ]);
      if (exited) return false;
      try {
        const response = await fetch(`http://127.0.0.1:${port}/v2/keys/`);
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        // Not listening yet.
      }
    }
    return false;
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

interface Scenario {
  registry: Impl;
  members: Impl[];
  /** Client port of the registry; its peer port is +1; members use +10.. and +20... */
  basePort: number;
  /**
   * Also check the late members: a fourth finds the cluster full, member 0 without its data
   * is a duplicate, member 0 with its data ignores the token.
   */
  lateMembers: boolean;
}

function memberFlags(name: string, dataDir: string, clientPort: number, peerPort: number) {
  return [
    "--name",
    name,
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    `http://127.0.0.1:${clientPort}`,
    "--advertise-client-urls",
    `http://127.0.0.1:${clientPort}`,
    "--listen-peer-urls",
    `http://127.0.0.1:${peerPort}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${peerPort}`,
    "--heartbeat-interval",
    "50",
    "--election-timeout",
    "500",
  ];
}

async function startRegistry(impl: Impl, port: number, dir: string): Promise<Member> {
  return await startMember({
    impl,
    clientPort: port,
    peerPort: port + 1,
    rawArgs: [
      ...memberFlags("registry", `${dir}/registry`, port, port + 1),
      "--initial-cluster",
      `registry=http://127.0.0.1:${port + 1}`,
      "--enable-v2",
    ],
  });
}

async function createToken(registryPort: number, token: string, size: number): Promise<string> {
  const base = `http://127.0.0.1:${registryPort}/v2/keys/discovery/${token}`;
  const response = await fetch(`${base}/_config/size`, {
    method: "PUT",
    body: new URLSearchParams({ value: String(size) }),
  });
  const body = await response.json();
  strictEqual(response.status, 201, JSON.stringify(body));
  return base;
}

/** Runs a member to its exit (it must fail to bootstrap) and returns code and output. */
async function runToExit(impl: Impl, args: string[]): Promise<{ code: number; output: string }> {
  const { path, args: full } = serverCommand(impl, args);
  const output = await new Deno.Command(path, {
    args: full,
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    output: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

async function runScenario(scenario: Scenario): Promise<void> {
  const { basePort } = scenario;
  const dir = await Deno.makeTempDir({ prefix: "detcd-discovery-" });
  const started: Member[] = [];
  try {
    started.push(await startRegistry(scenario.registry, basePort, dir));
    const url = await createToken(basePort, "seed", 3);
    const names = scenario.members.map((impl, i) => `${impl}${i}`);
    const flags = (i: number) => [
      ...memberFlags(names[i]!, `${dir}/m${i}`, basePort + 10 + i, basePort + 20 + i),
      "--discovery",
      url,
    ];
    // All three at once: each waits on the discovery service until the others registered.
    const members = await Promise.all(
      scenario.members.map((impl, i) =>
        startMember({
          impl,
          clientPort: basePort + 10 + i,
          peerPort: basePort + 20 + i,
          rawArgs: flags(i),
          readyTimeoutMs: 40_000,
        })
      ),
    );
    started.push(...members);
    const endpoints = members.map((member) => member.endpoint);
    const list = await retry("member list", 10_000, async () => {
      const result = await etcdctl(endpoints[0]!, ["member", "list", "-w", "json"]);
      if (result.code !== 0) throw new Error(result.stderr);
      const parsed = JSON.parse(result.stdout) as {
        members: { name?: string; peerURLs: string[]; clientURLs?: string[] }[];
      };
      if (parsed.members.some((m) => (m.clientURLs ?? []).length === 0)) {
        throw new Error("not every member published yet");
      }
      return parsed.members;
    });
    deepStrictEqual(list.map((m) => m.name).sort(), [...names].sort());
    deepStrictEqual(
      list.map((m) => m.peerURLs[0]).sort(),
      names.map((_, i) => `http://127.0.0.1:${basePort + 20 + i}`),
    );
    const put = await etcdctl(endpoints[0]!, ["put", "seed-key", "seed-value"]);
    strictEqual(put.code, 0, put.stderr);
    const get = await etcdctl(endpoints[2]!, ["get", "seed-key", "--print-value-only"]);
    strictEqual(get.stdout.trim(), "seed-value", get.stderr);
    // The registrations: each member under its ID, `name=peerURL`.
    const registered = await (await fetch(url)).json() as {
      node: { nodes: { key: string; value: string }[] };
    };
    deepStrictEqual(
      registered.node.nodes.filter((n) => !n.key.endsWith("/_config")).map((n) => n.value).sort(),
      names.map((name, i) => `${name}=http://127.0.0.1:${basePort + 20 + i}`).sort(),
    );

    if (!scenario.lateMembers) return;
    // A fourth detcd member: the cluster is full.
    const late = (fallback: string[]) => [
      ...memberFlags("late", `${dir}/late`, basePort + 13, basePort + 23),
      "--discovery",
      url,
      ...fallback,
    ];
    const exit = await runToExit("detcd", late(["--discovery-fallback", "exit"]));
    strictEqual(exit.code, 1, exit.output);
    match(exit.output, /discovery: cluster is full/);
    // With the default --discovery-fallback=proxy it runs as etcd's v2 proxy: the cluster from
    // the discovery channel, HTTP requests sent to the members (docs/v2-proxy.md).
    const proxyArgs = late([]).map((arg) => arg === `${dir}/late` ? `${dir}/late-proxy` : arg);
    const proxy = spawnServer("detcd", proxyArgs, { endpoint: `127.0.0.1:${basePort + 13}` });
    try {
      const value = await retry("a read through the fallback proxy", 20_000, async () => {
        if (proxy.exited !== undefined) throw new Error(`proxy exited:\n${proxy.log}`);
        const response = await fetch(`http://127.0.0.1:${basePort + 13}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: btoa("seed-key") }),
        });
        const body = await response.json() as { kvs?: { value: string }[] };
        return atob(body.kvs?.[0]?.value ?? "");
      });
      strictEqual(value, "seed-value");
      match(proxy.log, /discovery cluster full, falling back to proxy/);
      const clusterFile = JSON.parse(await Deno.readTextFile(`${dir}/late-proxy/proxy/cluster`));
      strictEqual(clusterFile.PeerURLs.length, 3);
    } finally {
      await proxy.stop();
    }

    // Member 0 again with no data: same name and peer URL, so the same member ID: etcd's
    // duplicate id. With its data dir it restarts from its WAL and ignores the token.
    await members[0]!.kill();
    const fresh = flags(0).map((arg) => arg === `${dir}/m0` ? `${dir}/fresh` : arg);
    const again = await runToExit(scenario.members[0]!, fresh);
    strictEqual(again.code, 1, again.output);
    match(again.output, /has previously registered with discovery service token/);
    const restarted = await startMember({
      impl: scenario.members[0]!,
      clientPort: basePort + 10,
      peerPort: basePort + 20,
      rawArgs: flags(0),
    });
    started.push(restarted);
    match(restarted.output(), /discovery token ignored since a cluster has already been init/);
    const reread = await etcdctl(restarted.endpoint, ["get", "seed-key", "--print-value-only"]);
    strictEqual(reread.stdout.trim(), "seed-value", reread.stderr);
  } finally {
    // SIGKILL: quicker than a graceful stop, and the directory goes anyway.
    await Promise.all(started.map((member) => member.kill()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "discovery: three detcd members bootstrap from a real etcd's discovery channel",
  ignore: !ETCD_AVAILABLE,
  async fn() {
    await runScenario({
      registry: "etcd",
      members: ["detcd", "detcd", "detcd"],
      basePort: 25500,
      lateMembers: true,
    });
  },
});

Deno.test({
  name: "discovery: detcd and real etcd members agree on the cluster from one channel",
  ignore: !ETCD_AVAILABLE,
  async fn() {
    await runScenario({
      registry: "etcd",
      members: ["detcd", "etcd", "detcd"],
      basePort: 25530,
      lateMembers: false,
    });
  },
});

Deno.test({
  name: "discovery: detcd serves the discovery channel for three detcd members",
  ignore: !V2_KEYS,
  async fn() {
    await runScenario({
      registry: "detcd",
      members: ["detcd", "detcd", "detcd"],
      basePort: 25560,
      lateMembers: true,
    });
  },
});

Deno.test({
  name: "discovery: detcd serves the discovery channel for three real etcd members",
  ignore: !V2_KEYS || !ETCD_AVAILABLE,
  async fn() {
    await runScenario({
      registry: "detcd",
      members: ["etcd", "etcd", "etcd"],
      basePort: 25590,
      lateMembers: false,
    });
  },
});
