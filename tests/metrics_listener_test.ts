// Goal: `--listen-metrics-urls` serves /metrics and /health (and nothing else) on extra
// listeners, plain and https with the client TLS files, and /health answers as etcd 3.4 decides
// it: 405 for a non-GET, 503 `{"health":"false"}` while the NOSPACE alarm is raised, 200 again
// with `?exclude=NOSPACE`. `--enable-pprof` serves V8 profiles under /debug/pprof/.
// Method: the same probes run against the real etcd 3.4 and detcd; the transcripts (status
// codes and bodies) must be equal. The NOSPACE alarm comes from a tiny --quota-backend-bytes
// filled with 4 KiB puts. Ports 34020-34043.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ETCD_BIN, etcdctl, type Impl, type Member, startMember } from "./_harness.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _hasFixtures = await Deno.stat(`${_FIXTURES}/ca.crt`).then(() => true, () => false);
const _hasEtcd = await Deno.stat(ETCD_BIN).then(() => true, () => false);

async function _probe(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<string> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
    const body = (await response.text()).trim();
    // /metrics bodies differ between servers; what matters is that one is served.
    const shown = url.includes("/metrics")
      ? `has etcd_server_has_leader=${/^etcd_server_has_leader 1$/m.test(body)}`
      : body;
    return `${init.method ?? "GET"} ${new URL(url).pathname}${
      new URL(url).search
    } -> ${response.status} ${shown}`;
  } catch (error) {
    return `${url} failed: ${(error as Error).message}`;
  }
}

async function _fillQuota(member: Member): Promise<string> {
  const value = "b".repeat(4096);
  for (let attempt = 0; attempt < 200; attempt++) {
    const put = await etcdctl(member.endpoint, ["put", "big", value]);
    if (put.code !== 0) return put.stderr.trim().split("\n").at(-1) ?? "";
  }
  return "quota never filled";
}

async function _transcript(impl: Impl, base: number): Promise<string[]> {
  const plain = `http://127.0.0.1:${base + 2}`;
  const secure = `https://127.0.0.1:${base + 3}`;
  const member = await startMember({
    impl,
    clientPort: base,
    peerPort: base + 1,
    extraArgs: [
      "--listen-metrics-urls",
      `${plain},${secure}`,
      "--cert-file",
      `${_FIXTURES}/server.crt`,
      "--key-file",
      `${_FIXTURES}/server.key.insecure`,
      "--quota-backend-bytes",
      String(13 * 4096),
    ],
  });
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(`${_FIXTURES}/ca.crt`)],
  });
  try {
    const lines = [
      await _probe(`${plain}/metrics`),
      await _probe(`${plain}/health`),
      await _probe(`${plain}/version`),
      await _probe(`${plain}/v3/kv/range`, { method: "POST", body: "{}" }),
      await _probe(`${plain}/health`, { method: "POST" }),
      await _probe(`${secure}/metrics`, { client }),
      await _probe(`${secure}/health`, { client }),
      `fill: ${await _fillQuota(member)}`,
      await _probe(`${plain}/health`),
      await _probe(`${plain}/health?exclude=NOSPACE`),
      await _probe(`${plain}/health?exclude=CORRUPT`),
      await _probe(`${secure}/health`, { client }),
    ];
    return lines;
  } finally {
    client.close();
    await member.stop();
  }
}

Deno.test({
  name: "--listen-metrics-urls and /health: detcd answers as etcd 3.4",
  ignore: !_hasFixtures || !_hasEtcd,
  async fn() {
    const [etcd, detcd] = await Promise.all([
      _transcript("etcd", 34020),
      _transcript("detcd", 34030),
    ]);
    ok(etcd.includes('GET /health -> 503 {"health":"false"}'), etcd.join("\n"));
    ok(etcd.includes("GET /metrics -> 200 has etcd_server_has_leader=true"), etcd.join("\n"));
    if (Deno.env.get("SHOW") === "1") console.log(etcd.join("\n"));
    deepStrictEqual(detcd, etcd);
  },
});

Deno.test("--enable-pprof serves a V8 CPU profile and heap snapshot under /debug/pprof/", async () => {
  const member = await startMember({
    impl: "detcd",
    clientPort: 34040,
    peerPort: 34041,
    extraArgs: ["--enable-pprof"],
  });
  try {
    const base = `http://${member.endpoint}/debug/pprof`;
    const index = await fetch(`${base}/`);
    equal(index.status, 200);
    ok((await index.text()).includes("heap"));
    const started = Date.now();
    const cpu = await fetch(`${base}/profile?seconds=1`);
    equal(cpu.status, 200);
    const profile = await cpu.json();
    ok(Date.now() - started >= 900, "sampled for the asked second");
    ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, "V8 cpuprofile nodes");
    ok(profile.endTime > profile.startTime);
    const heap = await fetch(`${base}/heap`);
    equal(heap.status, 200);
    const snapshot = await heap.json();
    ok(snapshot.snapshot.node_count > 1000, "V8 heapsnapshot with nodes");
    const unknown = await fetch(`${base}/goroutine`);
    equal(unknown.status, 404);
    await unknown.body?.cancel();
    const bad = await fetch(`${base}/profile?seconds=abc`);
    equal(bad.status, 400);
    await bad.body?.cancel();
    // The member still serves after profiling.
    equal((await etcdctl(member.endpoint, ["put", "k", "v"])).code, 0);
  } finally {
    await member.stop();
  }
});

Deno.test("without --enable-pprof there is no /debug/pprof/", async () => {
  const member = await startMember({ impl: "detcd", clientPort: 34042, peerPort: 34043 });
  try {
    const response = await fetch(`http://${member.endpoint}/debug/pprof/heap`);
    equal(response.status, 404);
    await response.body?.cancel();
  } finally {
    await member.stop();
  }
});
