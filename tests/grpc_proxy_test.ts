/**
 * Goal: `main.ts grpc-proxy start` in front of a 3-member detcd cluster serves the real
 * etcdctl and the npm `etcd3` client as etcd 3.4's proxy does: KV and txn with the
 * serializable-read cache invalidated by writes through the proxy, watch coalescing (100 client
 * watchers on one key cost the cluster one watcher), lease keep-alive, `--namespace`, resolver
 * registration, and clients that keep working when the member the proxy talks to is killed.
 *
 * Method: three members (ports 26000-26021) and three proxy processes (26100 plain, 26110
 * with `--namespace`, 26120 registering under a resolver prefix); the cluster's own view is
 * read on the members directly (etcdctl, `/metrics`'s `etcd_debugging_mvcc_watcher_total`),
 * the proxy's on `/proxy/metrics`.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Etcd3 } from "etcd3";
import Long from "long";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import { etcdctl, run, type ServerProcess, spawnServer } from "./_harness.ts";
import { scrape, sumOf } from "./_prom_text.ts";
import { retryCtl, startCluster, until } from "./_proxy_cluster.ts";

const MEMBER_PORTS = [26000, 26010, 26020];
const PROXY = "127.0.0.1:26100";
const NS_PROXY = "127.0.0.1:26110";
const RESOLVER_PROXY = "127.0.0.1:26120";

function startProxy(listen: string, endpoints: string[], extra: string[] = []): ServerProcess {
  return spawnServer("detcd", [
    "grpc-proxy",
    "start",
    `--listen-addr=${listen}`,
    `--endpoints=${endpoints.join(",")}`,
    ...extra,
  ], { endpoint: listen });
}

async function watchersOnCluster(endpoints: string[]): Promise<number> {
  let total = 0;
  for (const endpoint of endpoints) {
    total += sumOf(await scrape(endpoint), "etcd_debugging_mvcc_watcher_total");
  }
  return total;
}

async function proxyMetric(endpoint: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${endpoint}/proxy/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? NaN : Number(line.split(" ")[1]);
}

Deno.test({
  name: "grpc-proxy: etcdctl and etcd3 through the proxy, coalescing, namespace, failover",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const cluster = await startCluster(MEMBER_PORTS);
    const proxies: ServerProcess[] = [];
    const clients: Etcd3[] = [];
    try {
      proxies.push(startProxy(PROXY, cluster.endpoints));
      proxies.push(startProxy(NS_PROXY, cluster.endpoints, ["--namespace=ns/"]));
      proxies.push(startProxy(RESOLVER_PROXY, cluster.endpoints, [
        "--resolver-prefix=__proxies",
        "--resolver-ttl=2",
        `--advertise-client-url=${RESOLVER_PROXY}`,
      ]));
      for (const proxy of proxies) await proxy.waitFor("started gRPC proxy");

      await t.step("KV and txn, serializable reads cached and invalidated", async () => {
        strictEqual((await retryCtl(PROXY, ["put", "k1", "v1"])).stdout, "OK\n");
        strictEqual((await etcdctl(PROXY, ["get", "k1"])).stdout, "k1\nv1\n");
        const hitsBefore = await proxyMetric(PROXY, "etcd_grpc_proxy_cache_hits_total");
        strictEqual((await etcdctl(PROXY, ["get", "k1", "--consistency=s"])).stdout, "k1\nv1\n");
        strictEqual(
          await proxyMetric(PROXY, "etcd_grpc_proxy_cache_hits_total"),
          hitsBefore + 1,
          "the linearizable read filled the cache",
        );
        // A write through the proxy drops the cached range; a serializable read sees it.
        strictEqual((await etcdctl(PROXY, ["put", "k1", "v2"])).code, 0);
        strictEqual((await etcdctl(PROXY, ["get", "k1", "--consistency=s"])).stdout, "k1\nv2\n");
        const txn = await etcdctl(PROXY, ["txn"], {
          stdin: 'value("k1") = "v2"\n\nput k1 v3\nget k1\n\nput k1 nope\n\n',
        });
        strictEqual(txn.code, 0, txn.stderr);
        strictEqual(txn.stdout, "SUCCESS\n\nOK\n\nk1\nv3\n");
        strictEqual((await etcdctl(PROXY, ["get", "k1", "--consistency=s"])).stdout, "k1\nv3\n");
        strictEqual((await etcdctl(cluster.endpoints[1]!, ["get", "k1"])).stdout, "k1\nv3\n");
      });

      await t.step("100 client watchers on one key share one upstream watcher", async () => {
        const client = new Etcd3({ hosts: `http://${PROXY}` });
        clients.push(client);
        const before = await watchersOnCluster(cluster.endpoints);
        const seen: string[][] = [];
        const watchers = [];
        for (let i = 0; i < 100; i++) {
          const values: string[] = [];
          seen.push(values);
          const watcher = await client.watch().key("wkey").create();
          watcher.on("put", (kv) => values.push(kv.value.toString()));
          watchers.push(watcher);
        }
        await until(
          "the upstream watcher",
          async () => (await watchersOnCluster(cluster.endpoints)) === before + 1,
        );
        await client.put("wkey").value("w1");
        await until("every watcher's event", () => seen.every((values) => values.length === 1));
        deepStrictEqual(new Set(seen.flat()), new Set(["w1"]));
        ok(await proxyMetric(PROXY, "etcd_grpc_proxy_events_coalescing_total") >= 99);
        // A watcher from a past revision gets its history on an upstream watcher of its own,
        // then, caught up, moves over to the running broadcast.
        const rev = (await client.get("wkey").exec()).kvs[0]!.mod_revision;
        const past: string[] = [];
        const pastWatcher = await client.watch().key("wkey").startRevision(rev).create();
        pastWatcher.on("put", (kv) => past.push(kv.value.toString()));
        await until("the history event", () => past.length === 1);
        await until(
          "the caught-up watcher coalesced",
          async () => (await watchersOnCluster(cluster.endpoints)) === before + 1,
        );
        for (const watcher of watchers.slice(50)) await watcher.cancel();
        await client.put("wkey").value("w2");
        await until(
          "the remaining watchers' event",
          () => seen.slice(0, 50).every((values) => values.length === 2),
        );
        ok(seen.slice(50).every((values) => values.length === 1), "cancelled watchers stay quiet");
        await until("the coalesced watcher's event", () => past.length === 2);
        deepStrictEqual(past, ["w1", "w2"]);
        await pastWatcher.cancel();
        strictEqual(await watchersOnCluster(cluster.endpoints), before + 1);
        for (const watcher of watchers.slice(0, 50)) await watcher.cancel();
        await until(
          "the upstream watcher's end",
          async () => (await watchersOnCluster(cluster.endpoints)) === before,
        );
      });

      await t.step("lease grant, keep-alive and time-to-live", async () => {
        const client = clients[0]!;
        const lease = client.lease(2, { autoKeepAlive: true });
        await lease.put("leased").value("x");
        const id = BigInt(await lease.grant()).toString(16);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        // Past its TTL, kept alive through the proxy: the key is still there on a member.
        strictEqual(
          (await etcdctl(cluster.endpoints[2]!, ["get", "leased"])).stdout,
          "leased\nx\n",
        );
        const once = await etcdctl(PROXY, ["lease", "keep-alive", "--once", id]);
        strictEqual(once.stdout, `lease ${id} keepalived with TTL(2)\n`, once.stderr);
        const ttl = await etcdctl(PROXY, ["lease", "timetolive", "--keys", id]);
        ok(ttl.stdout.includes("attached keys([leased])"), ttl.stdout);
        // Keep-alives for one lease from ten client streams at once: one upstream renewal
        // answers them all (etcd_debugging_lease_renewed_total counts renewals on the leader).
        const renewedTotal = async () => {
          let total = 0;
          for (const endpoint of cluster.endpoints) {
            total += sumOf(await scrape(endpoint), "etcd_debugging_lease_renewed_total");
          }
          return total;
        };
        const renewedBefore = await renewedTotal();
        const grpc = new EtcdGrpcClient(PROXY);
        const calls = Array.from({ length: 10 }, () => grpc.bidi(METHODS.Lease.LeaseKeepAlive));
        for (const call of calls) call.send({ ID: Long.fromString(BigInt(`0x${id}`).toString()) });
        const answers = await Promise.all(calls.map(async (call) => {
          for await (const response of call.responses) return response;
          throw new Error("no keep-alive answer");
        }));
        for (const call of calls) call.cancel();
        grpc.close();
        ok(answers.every((answer) => Number(answer.TTL) === 2), JSON.stringify(answers));
        const renewed = (await renewedTotal()) - renewedBefore;
        ok(renewed >= 1 && renewed < 10, `${renewed} upstream renewals for 10 keep-alives`);
        await lease.revoke();
        strictEqual((await etcdctl(PROXY, ["get", "leased"])).stdout, "");
      });

      await t.step("--namespace prefixes keys, ranges, watches and txns", async () => {
        strictEqual((await retryCtl(NS_PROXY, ["put", "a", "1"])).code, 0);
        strictEqual((await etcdctl(NS_PROXY, ["put", "b", "2"])).code, 0);
        strictEqual((await etcdctl(cluster.endpoints[0]!, ["get", "ns/a"])).stdout, "ns/a\n1\n");
        strictEqual(
          (await etcdctl(NS_PROXY, ["get", "", "--from-key"])).stdout,
          "a\n1\nb\n2\n",
          "a from-key range stays inside the namespace",
        );
        const rev = (await etcdctl(cluster.endpoints[0]!, ["get", "ns/a", "-w", "json"])).stdout;
        const modRevision = JSON.parse(rev).kvs[0].mod_revision;
        const watched = await etcdctl(
          NS_PROXY,
          ["watch", "a", `--rev=${modRevision}`, "--prev-kv"],
          {
            timeoutMs: 1500,
          },
        );
        ok(watched.stdout.startsWith("PUT\na\n1\n"), watched.stdout);
        const txn = await etcdctl(NS_PROXY, ["txn"], {
          stdin: 'value("a") = "1"\n\ndel b\n\n\n',
        });
        strictEqual(txn.stdout, "SUCCESS\n\n1\n", txn.stderr);
        strictEqual((await etcdctl(cluster.endpoints[0]!, ["get", "ns/b"])).stdout, "");
      });

      await t.step("resolver registration and MemberList", async () => {
        const listed = await retryCtl(cluster.endpoints[0]!, [
          "get",
          "__proxies/",
          "--prefix",
          "-w",
          "json",
        ]);
        const kvs = JSON.parse(listed.stdout).kvs ?? [];
        strictEqual(kvs.length, 1, listed.stdout);
        strictEqual(atob(kvs[0].key), `__proxies/${RESOLVER_PROXY}`);
        const value = JSON.parse(atob(kvs[0].value));
        strictEqual(value.Addr, RESOLVER_PROXY);
        strictEqual(value.Op, 0);
        ok(kvs[0].lease !== undefined && kvs[0].lease !== 0, "registered with a lease");
        await until(
          "the registration seen by MemberList",
          async () =>
            (await etcdctl(RESOLVER_PROXY, ["member", "list"])).stdout.includes(RESOLVER_PROXY),
        );
        // The lease is kept alive: still there after twice its TTL.
        await new Promise((resolve) => setTimeout(resolve, 4000));
        const again = await etcdctl(cluster.endpoints[1]!, ["get", "__proxies/", "--prefix"]);
        ok(again.stdout.includes(RESOLVER_PROXY), again.stdout);
      });

      await t.step("a member killed behind the proxy", async () => {
        const client = clients[0]!;
        const perMember = () =>
          Promise.all(cluster.endpoints.map((endpoint) => watchersOnCluster([endpoint])));
        const watchersBefore = await perMember();
        const watcher = await client.watch().key("fk").create();
        const values: string[] = [];
        watcher.on("put", (kv) => values.push(kv.value.toString()));
        await client.put("fk").value("before");
        await until("the event before the kill", () => values.length === 1);
        // Kill the member that holds the proxy's upstream watcher (the one it talks to).
        const watchersAfter = await perMember();
        const used = watchersAfter.findIndex((count, i) => count > watchersBefore[i]!);
        ok(used >= 0, `${watchersBefore} -> ${watchersAfter}`);
        await cluster.members[used]!.kill();
        await retryCtl(PROXY, ["put", "fk", "after"], 20_000);
        strictEqual((await etcdctl(PROXY, ["get", "fk"])).stdout, "fk\nafter\n");
        await until("the watch resumed on another member", () => values.includes("after"), 20_000);
        deepStrictEqual(values, ["before", "after"]);
        strictEqual(await client.get("fk").string(), "after");
      });
    } finally {
      for (const client of clients) client.close();
      await Promise.all(proxies.map((p) => p.stop(3000)));
      await Promise.all(proxies.map((p) => p.drained()));
      await cluster.stop();
    }
  },
});

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const TLS_MEMBER_PORT = 26300;
const TLS_PROXY = "127.0.0.1:26310";

Deno.test({
  name: "grpc-proxy: TLS to the cluster (a CN-less client cert) and TLS to its own clients",
  ignore: !(await Deno.stat(`${FIXTURES}/ca.crt`).then(() => true, () => false)),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // etcd's e2e fixtures: server.crt (CN example.com, SAN 127.0.0.1) is the server and the
    // client certificate; client-nocn.crt is what the proxy presents to the member, since a
    // proxy certificate with a CN would make every proxied request that user's.
    const tlsFlags = [
      `--cert-file=${FIXTURES}/server.crt`,
      `--key-file=${FIXTURES}/server.key.insecure`,
      `--trusted-ca-file=${FIXTURES}/ca.crt`,
    ];
    const root = await Deno.makeTempDir({ prefix: "detcd-proxy-tls-" });
    const url = `https://127.0.0.1:${TLS_MEMBER_PORT}`;
    const member = spawnServer("detcd", [
      "--data-dir",
      `${root}/m`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${TLS_MEMBER_PORT + 1}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${TLS_MEMBER_PORT + 1}`,
      `--initial-cluster=default=http://127.0.0.1:${TLS_MEMBER_PORT + 1}`,
      "--client-cert-auth",
      ...tlsFlags,
    ], { endpoint: `127.0.0.1:${TLS_MEMBER_PORT}` });
    const refused = spawnServer("detcd", [
      "grpc-proxy",
      "start",
      `--endpoints=${url}`,
      `--cert=${FIXTURES}/server.crt`,
      `--key=${FIXTURES}/server.key.insecure`,
      `--cacert=${FIXTURES}/ca.crt`,
    ], { endpoint: TLS_PROXY });
    const proxy = spawnServer("detcd", [
      "grpc-proxy",
      "start",
      `--listen-addr=${TLS_PROXY}`,
      `--endpoints=${url}`,
      `--cert=${FIXTURES}/client-nocn.crt`,
      `--key=${FIXTURES}/client-nocn.key.insecure`,
      `--cacert=${FIXTURES}/ca.crt`,
      ...tlsFlags,
    ], { endpoint: TLS_PROXY });
    const clientFlags = [
      `--cacert=${FIXTURES}/ca.crt`,
      `--cert=${FIXTURES}/server.crt`,
      `--key=${FIXTURES}/server.key.insecure`,
    ];
    try {
      strictEqual((await refused.status).code, 1);
      ok(refused.log.includes("cert has non empty Common Name (example.com)"), refused.log);
      await proxy.waitFor("started gRPC proxy");
      const endpoint = `https://${TLS_PROXY}`;
      strictEqual((await retryCtl(endpoint, [...clientFlags, "put", "t", "1"])).stdout, "OK\n");
      strictEqual((await etcdctl(endpoint, [...clientFlags, "get", "t"])).stdout, "t\n1\n");
      // Without a client certificate the proxy refuses the handshake.
      const anonymous = await etcdctl(endpoint, [`--cacert=${FIXTURES}/ca.crt`, "get", "t"], {
        timeoutMs: 10_000,
      });
      ok(anonymous.code !== 0, anonymous.stdout);
      const health = await run("curl", [
        "-s",
        "--cacert",
        `${FIXTURES}/ca.crt`,
        "--cert",
        `${FIXTURES}/server.crt`,
        "--key",
        `${FIXTURES}/server.key.insecure`,
        `${endpoint}/health`,
      ]);
      strictEqual(health.stdout, '{"health":"true"}');
    } finally {
      await Promise.all([proxy.stop(3000), refused.stop(1000), member.stop(3000)]);
      await Promise.all([proxy.drained(), refused.drained(), member.drained()]);
      await Deno.remove(root, { recursive: true });
    }
  },
});
