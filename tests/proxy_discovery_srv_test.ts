/**
 * Goal: `gateway start` and `grpc-proxy start` find a 3-member detcd cluster through DNS SRV
 * client records (`--discovery-srv`, `--discovery-srv-name`) and serve etcdctl, with etcd
 * 3.4's validation: `--insecure-discovery` keeps every record; without it only `https`
 * records whose port accepts a TCP connection are kept (etcd dials, it does not handshake),
 * and when none is left the proxy falls back to `--endpoints`. No record at all is etcd's
 * "dns lookup errors: ..." with exit status 1.
 *
 * Method: dnsmasq on 127.0.0.1:29053 (skipped when it is not installed), asked through the
 * test-only DETCD_DNS_RESOLVER. Members on 29100/29110/29120 (peers +1). Records:
 * - `_etcd-client-ssl-blue._tcp`: member 1's port and 29199, where nothing listens;
 * - `_etcd-client-blue._tcp`: the three members;
 * - `_etcd-client-red._tcp`: the three members (http only).
 * Gateways on 29300 (insecure: all three members answer in turn) and 29310 (validated: only
 * member 1 is left, so every connection reaches it); grpc-proxies on 29320 (red, insecure,
 * with a dead `--endpoints` so that only discovery can make it work) and 29330 (red,
 * validated: nothing is left and it serves through its `--endpoints`).
 *
 * A second test takes the production path: a TLS member behind `_etcd-client-ssl-tls._tcp`
 * (etcd's e2e fixtures: server.crt has SAN localhost and 127.0.0.1), a validated grpc-proxy
 * with `--cacert` dialling it with TLS (member on 29200, proxy on 29210, DNS on 29054), and a
 * validated gateway with `--trusted-ca-file` that passes etcdctl's TLS through (29220).
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { run, serverCommand, type ServerProcess, spawnServer } from "./_harness.ts";
import { DNSMASQ_AVAILABLE, type SrvHost, startDnsmasq } from "./_dnsmasq.ts";
import { retryCtl, startCluster } from "./_proxy_cluster.ts";

const DNS_PORT = 29053;
const MEMBER_PORTS = [29100, 29110, 29120];
const DEAD_PORT = 29199;
const GATEWAY_INSECURE = "127.0.0.1:29300";
const GATEWAY_VALIDATED = "127.0.0.1:29310";
const PROXY_INSECURE = "127.0.0.1:29320";
const PROXY_FALLBACK = "127.0.0.1:29330";
const DOMAIN = "example.test";

function records(): SrvHost[] {
  const srv = (service: string, port: number): SrvHost => ({
    name: `_${service}._tcp.${DOMAIN}`,
    target: "localhost",
    port,
  });
  return [
    srv("etcd-client-ssl-blue", MEMBER_PORTS[1]!),
    srv("etcd-client-ssl-blue", DEAD_PORT),
    ...MEMBER_PORTS.map((port) => srv("etcd-client-blue", port)),
    ...MEMBER_PORTS.map((port) => srv("etcd-client-red", port)),
  ];
}

/** The `endpoints` field of the first zap line with message `msg` in `log`. */
function _loggedEndpoints(log: string, msg: string): string[] {
  const line = log.split("\n").find((text) => text.includes(`"msg":"${msg}"`));
  if (line === undefined) throw new Error(`no "${msg}" line in:\n${log}`);
  return (JSON.parse(line) as { endpoints: string[] }).endpoints;
}

/** The member ID that answers `endpoint status` through `endpoint` (one new connection). */
async function memberIdBehind(endpoint: string): Promise<string> {
  const status = await retryCtl(endpoint, ["endpoint", "status", "-w", "json"]);
  return String(JSON.parse(status.stdout)[0].Status.header.member_id);
}

Deno.test({
  name: "proxy discovery-srv: gateways and grpc-proxies found by DNS SRV serve etcdctl",
  ignore: !DNSMASQ_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const [dns, cluster] = await Promise.all([
      startDnsmasq(DNS_PORT, records()),
      startCluster(MEMBER_PORTS),
    ]);
    const env = { DETCD_DNS_RESOLVER: dns.address };
    const spawned: ServerProcess[] = [];
    const spawn = (args: string[], listen: string) => {
      const process = spawnServer("detcd", [...args, `--listen-addr=${listen}`], {
        endpoint: listen,
        env,
      });
      spawned.push(process);
      return process;
    };
    const discovery = (name: string, insecure: boolean) => [
      `--discovery-srv=${DOMAIN}`,
      `--discovery-srv-name=${name}`,
      ...(insecure ? ["--insecure-discovery"] : []),
    ];
    try {
      const gatewayInsecure = spawn(
        ["gateway", "start", ...discovery("blue", true)],
        GATEWAY_INSECURE,
      );
      const gatewayValidated = spawn(
        ["gateway", "start", ...discovery("blue", false)],
        GATEWAY_VALIDATED,
      );
      const proxyInsecure = spawn(
        ["grpc-proxy", "start", ...discovery("red", true), `--endpoints=127.0.0.1:${DEAD_PORT}`],
        PROXY_INSECURE,
      );
      const proxyFallback = spawn(
        ["grpc-proxy", "start", ...discovery("red", false), `--endpoints=${cluster.endpoints[2]}`],
        PROXY_FALLBACK,
      );

      // Insecure gateway: every record, https first, targets with their root dot as etcd
      // prints them (in the DNS server's order within a scheme, as Go's LookupSRV keeps it
      // for records of weight 0); connections go round robin over the members.
      await gatewayInsecure.waitFor("ready to proxy client requests");
      const discovered = _loggedEndpoints(gatewayInsecure.log, "discovered cluster from SRV");
      deepStrictEqual(discovered.slice(0, 2).sort(), [
        `https://localhost.:${MEMBER_PORTS[1]}`,
        `https://localhost.:${DEAD_PORT}`,
      ]);
      deepStrictEqual(
        discovered.slice(2).sort(),
        MEMBER_PORTS.map((p) => `http://localhost.:${p}`),
      );
      deepStrictEqual(
        _loggedEndpoints(gatewayInsecure.log, "ready to proxy client requests"),
        discovered.map((url) => url.replace(/^https?:\/\//, "")),
      );
      strictEqual((await retryCtl(GATEWAY_INSECURE, ["put", "dns", "srv"])).stdout, "OK\n");
      const ids = new Set<string>();
      for (let i = 0; i < 40 && ids.size < 3; i++) ids.add(await memberIdBehind(GATEWAY_INSECURE));
      strictEqual(ids.size, 3, `members reached: ${[...ids]}`);

      // Validated gateway: the http records are insecure, 29199 does not answer; member 1 is
      // the only endpoint left, so every connection reaches it.
      await gatewayValidated.waitFor("ready to proxy client requests");
      match(gatewayValidated.log, /"msg":"failed to validate discovered endpoints"/);
      match(
        gatewayValidated.log,
        /"https:\/\/localhost\.:29199\\" failed to dial \(dial tcp 127\.0\.0\.1:29199: connect: connection refused\)/,
      );
      match(gatewayValidated.log, /"http:\/\/localhost\.:29100\\" is insecure/);
      ok(
        gatewayValidated.log.includes(`"endpoints":["localhost.:${MEMBER_PORTS[1]}"]`),
        gatewayValidated.log,
      );
      const member1 = await memberIdBehind(cluster.endpoints[1]!);
      for (let i = 0; i < 4; i++) strictEqual(await memberIdBehind(GATEWAY_VALIDATED), member1);
      strictEqual(
        (await retryCtl(GATEWAY_VALIDATED, ["get", "dns", "--print-value-only"])).stdout,
        "srv\n",
      );

      // grpc-proxy, insecure: its --endpoints is dead, so it serves through the records.
      await proxyInsecure.waitFor("started gRPC proxy");
      match(proxyInsecure.log, /"msg":"discovered cluster from SRV"/);
      strictEqual((await retryCtl(PROXY_INSECURE, ["put", "via", "proxy"])).stdout, "OK\n");
      strictEqual(
        (await retryCtl(PROXY_INSECURE, ["get", "dns", "--print-value-only"])).stdout,
        "srv\n",
      );

      // grpc-proxy, validated: every red record is http, none is left, --endpoints serves.
      await proxyFallback.waitFor("started gRPC proxy");
      match(proxyFallback.log, /"msg":"failed to validate discovered endpoints"/);
      match(proxyFallback.log, /"endpoints":\[\]/);
      strictEqual(
        (await retryCtl(PROXY_FALLBACK, ["get", "via", "--print-value-only"])).stdout,
        "proxy\n",
      );

      // No record under this name: both lookups fail, both commands exit 1 with etcd's words.
      for (const command of ["gateway", "grpc-proxy"]) {
        const { path, args } = serverCommand("detcd", [
          command,
          "start",
          ...discovery("green", false),
          "--listen-addr=127.0.0.1:29340",
        ]);
        const refused = await run(path, args, { env, timeoutMs: 20_000 });
        strictEqual(refused.code, 1, `${command}: ${refused.stderr}`);
        match(
          refused.stderr,
          /dns lookup errors: lookup _etcd-client-ssl-green\._tcp\.example\.test on 127\.0\.0\.1:29053: .* and lookup _etcd-client-green\._tcp\.example\.test on /,
        );
      }
      deepStrictEqual(spawned.map((p) => p.exited), spawned.map(() => undefined));
    } finally {
      await Promise.all(spawned.map((p) => p.stop(3000)));
      await Promise.all(spawned.map((p) => p.drained()));
      await cluster.stop();
      await dns.stop();
    }
  },
});

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const FIXTURES_AVAILABLE = await Deno.stat(`${FIXTURES}/ca.crt`).then(() => true, () => false);
const TLS_DNS_PORT = 29054;
const TLS_MEMBER_PORT = 29200;
const TLS_PROXY = "127.0.0.1:29210";
const TLS_GATEWAY = "127.0.0.1:29220";

Deno.test({
  name: "proxy discovery-srv: _etcd-client-ssl records, TLS to the member through both proxies",
  ignore: !DNSMASQ_AVAILABLE || !FIXTURES_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dns = await startDnsmasq(TLS_DNS_PORT, [{
      name: `_etcd-client-ssl-tls._tcp.${DOMAIN}`,
      target: "localhost",
      port: TLS_MEMBER_PORT,
    }]);
    const env = { DETCD_DNS_RESOLVER: dns.address };
    const root = await Deno.makeTempDir({ prefix: "detcd-proxy-srv-tls-" });
    const url = `https://127.0.0.1:${TLS_MEMBER_PORT}`;
    const peer = `http://127.0.0.1:${TLS_MEMBER_PORT + 1}`;
    const ca = `--cacert=${FIXTURES}/ca.crt`;
    const member = spawnServer("detcd", [
      "--data-dir",
      `${root}/m`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      `--cert-file=${FIXTURES}/server.crt`,
      `--key-file=${FIXTURES}/server.key.insecure`,
    ], { endpoint: `127.0.0.1:${TLS_MEMBER_PORT}` });
    const processes = [member];
    const spawn = (args: string[], listen: string) => {
      const process = spawnServer("detcd", args, { endpoint: listen, env });
      processes.push(process);
      return process;
    };
    try {
      // Discovery validates at start, so the member must listen first.
      await retryCtl(url, [ca, "endpoint", "health"], 30_000);
      const proxy = spawn([
        "grpc-proxy",
        "start",
        `--discovery-srv=${DOMAIN}`,
        "--discovery-srv-name=tls",
        ca,
        `--endpoints=127.0.0.1:${DEAD_PORT}`,
        `--listen-addr=${TLS_PROXY}`,
      ], TLS_PROXY);
      const gateway = spawn([
        "gateway",
        "start",
        `--discovery-srv=${DOMAIN}`,
        "--discovery-srv-name=tls",
        `--trusted-ca-file=${FIXTURES}/ca.crt`,
        `--listen-addr=${TLS_GATEWAY}`,
      ], TLS_GATEWAY);
      // The proxy is plain towards etcdctl and TLS towards the member it found.
      await proxy.waitFor("started gRPC proxy");
      match(proxy.log, /"msg":"using validated discovered SRV endpoints"/);
      strictEqual((await retryCtl(TLS_PROXY, ["put", "tls", "found"])).stdout, "OK\n");
      // The gateway moves etcdctl's TLS bytes to the member untouched.
      await gateway.waitFor("ready to proxy client requests");
      ok(
        gateway.log.includes(`"endpoints":["localhost.:${TLS_MEMBER_PORT}"]`),
        gateway.log,
      );
      strictEqual(
        (await retryCtl(`https://${TLS_GATEWAY}`, [ca, "get", "tls", "--print-value-only"]))
          .stdout,
        "found\n",
      );
    } finally {
      await Promise.all(processes.map((p) => p.stop(3000)));
      await Promise.all(processes.map((p) => p.drained()));
      await Deno.remove(root, { recursive: true }).catch(() => {});
      await dns.stop();
    }
  },
});
