// Goal: DNS SRV discovery forms a cluster. Three detcd members started with
// `--discovery-srv example.test` (no --initial-cluster) find each other in the
// `_etcd-server._tcp.example.test` records, recognize themselves by resolving the records'
// targets (`localhost`) and their advertised peer URLs (`127.0.0.1`) to the same address,
// and form one cluster; with `--discovery-srv-name` the suffixed records are used. A member
// that is in no record is refused with etcd's error.
// Method: Debian's dnsmasq on 127.0.0.1:25653 serves the SRV and A records (skipped when it
// is not installed); detcd asks it through the test-only DETCD_DNS_RESOLVER variable. Ports
// 25650-25679.
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { etcdctl, type Member, serverCommand, startMember } from "./_harness.ts";
import { retry } from "./cluster_util.ts";

const DNSMASQ = "/usr/sbin/dnsmasq";
const DNSMASQ_AVAILABLE = await Deno.stat(DNSMASQ).then(() => true, () => false);
const DNS_PORT = 25653;
const CLIENT_BASE = 25660;
const PEER_BASE = 25670;

/** Runs dnsmasq with the given SRV records (service, port) pointing at `localhost`. */
async function startDns(records: { service: string; port: number }[]): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(DNSMASQ, {
    args: [
      "--no-daemon",
      `--port=${DNS_PORT}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      "--host-record=localhost,127.0.0.1",
      ...records.map((r) => `--srv-host=_${r.service}._tcp.example.test,localhost,${r.port}`),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Ready once it answers an SRV query.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await Deno.resolveDns(`_${records[0]!.service}._tcp.example.test`, "SRV", {
        nameServer: { ipAddr: "127.0.0.1", port: DNS_PORT },
      });
      return child;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`dnsmasq did not answer: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function stopDns(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Exited already.
  }
  await child.stderr.cancel();
  await child.status;
}

function memberFlags(i: number, dir: string, extra: string[]): string[] {
  return [
    "--name",
    `srv${i}`,
    "--data-dir",
    `${dir}/srv${i}`,
    "--listen-client-urls",
    `http://127.0.0.1:${CLIENT_BASE + i}`,
    "--advertise-client-urls",
    `http://127.0.0.1:${CLIENT_BASE + i}`,
    "--listen-peer-urls",
    `http://127.0.0.1:${PEER_BASE + i}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${PEER_BASE + i}`,
    "--heartbeat-interval",
    "50",
    "--election-timeout",
    "500",
    "--discovery-srv",
    "example.test",
    ...extra,
  ];
}

const ENV = { DETCD_DNS_RESOLVER: `127.0.0.1:${DNS_PORT}` };

Deno.test({
  name: "discovery-srv: three detcd members form a cluster from _etcd-server-blue._tcp records",
  ignore: !DNSMASQ_AVAILABLE,
  async fn() {
    const dns = await startDns(
      [0, 1, 2].map((i) => ({ service: "etcd-server-blue", port: PEER_BASE + i })),
    );
    const dir = await Deno.makeTempDir({ prefix: "detcd-srv-" });
    const started: Member[] = [];
    try {
      const members = await Promise.all([0, 1, 2].map((i) =>
        startMember({
          impl: "detcd",
          clientPort: CLIENT_BASE + i,
          peerPort: PEER_BASE + i,
          rawArgs: memberFlags(i, dir, ["--discovery-srv-name", "blue"]),
          env: ENV,
          readyTimeoutMs: 40_000,
        }).then((member) => {
          started.push(member);
          return member;
        })
      ));
      const list = await retry("member list", 10_000, async () => {
        const result = await etcdctl(members[0]!.endpoint, ["member", "list", "-w", "json"]);
        if (result.code !== 0) throw new Error(result.stderr);
        const parsed = JSON.parse(result.stdout) as {
          members: { name?: string; peerURLs: string[]; clientURLs?: string[] }[];
        };
        if (parsed.members.some((m) => (m.clientURLs ?? []).length === 0)) {
          throw new Error("not every member published yet");
        }
        return parsed.members;
      });
      deepStrictEqual(list.map((m) => m.name).sort(), ["srv0", "srv1", "srv2"]);
      // The peer URLs are the records' (host name kept), not the advertised IPs.
      deepStrictEqual(
        list.map((m) => m.peerURLs.join(",")).sort(),
        [0, 1, 2].map((i) => `http://localhost:${PEER_BASE + i}`),
      );
      strictEqual((await etcdctl(members[0]!.endpoint, ["put", "dns", "srv"])).code, 0);
      const get = await etcdctl(members[2]!.endpoint, ["get", "dns", "--print-value-only"]);
      strictEqual(get.stdout.trim(), "srv", get.stderr);
      for (const member of members) {
        match(member.output(), /got bootstrap from DNS for etcd-server/);
      }
    } finally {
      await Promise.all(started.map((member) => member.kill()));
      await stopDns(dns);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "discovery-srv: a member in no record, or with no record at all, is refused as etcd refuses it",
  ignore: !DNSMASQ_AVAILABLE,
  async fn() {
    const dns = await startDns([{ service: "etcd-server", port: PEER_BASE + 5 }]);
    const dir = await Deno.makeTempDir({ prefix: "detcd-srv-" });
    try {
      const refused = async (extra: string[]) => {
        const { path, args } = serverCommand("detcd", memberFlags(0, dir, extra));
        const output = await new Deno.Command(path, {
          args,
          env: ENV,
          stdin: "null",
          signal: AbortSignal.timeout(30_000),
        }).output();
        const decoder = new TextDecoder();
        return {
          code: output.code,
          text: decoder.decode(output.stdout) + decoder.decode(output.stderr),
        };
      };
      const absent = await refused([]);
      strictEqual(absent.code, 1, absent.text);
      match(absent.text, /cannot find local etcd member "srv0" in SRV records/);
      const none = await refused(["--discovery-srv-name", "green"]);
      strictEqual(none.code, 1, none.text);
      match(none.text, /error querying DNS SRV records for _etcd-server-ssl-green/);
      match(none.text, /error querying DNS SRV records for _etcd-server-green/);
    } finally {
      await stopDns(dns);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
