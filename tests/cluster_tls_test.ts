// Goal: a detcd cluster whose peers talk TLS works as etcd's does: with `--peer-auto-tls` the
// members dial each other's self-signed certificates without verifying them (etcd's
// InsecureSkipVerify for self certs), and with explicit `--peer-cert-file`, `--peer-key-file`,
// `--peer-trusted-ca-file` and `--peer-client-cert-auth` they verify the peer against the CA
// and present their certificate as client certificate.
// Method: 3 `deno run main.ts` processes on 127.0.0.1 with https peer URLs; a leader must be
// elected and a put through one member must be read by etcdctl on every member (followers
// read linearizably, so the write went through raft over the TLS streams).
// Ports 24200-24299 and 37050-37071.
import { rejects, strictEqual } from "node:assert/strict";
import { PeerClient } from "../rafthttp/mod.ts";
import { DetcdProcess, etcdctlOk } from "./_server_process.ts";

const _MAIN = new URL("../main.ts", import.meta.url).pathname;
const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _ETCD = "/usr/bin/etcd";
const _ETCD_AVAILABLE = await Deno.stat(_ETCD).then(() => true, () => false);
const _CERT_FLAGS = [
  ...["--peer-cert-file", `${_FIXTURES}/server.crt`],
  ...["--peer-key-file", `${_FIXTURES}/server.key.insecure`],
  ...["--peer-trusted-ca-file", `${_FIXTURES}/ca.crt`],
  "--peer-client-cert-auth",
];

/** Members die with the test runner (the kernel SIGKILLs them), as in cluster_util.ts. */
const _PARENT_DEATH_KILL: string[] = await new Deno.Command("setpriv", {
  args: ["--pdeathsig", "KILL", "true"],
  stdout: "null",
  stderr: "null",
}).output().then((probe) => probe.success ? ["setpriv", "--pdeathsig", "KILL", "--"] : []).catch(
  () => [],
);

/** Starts 3 members with https peer URLs and `flags`; ports from `basePort`. */
async function _startTlsCluster(
  basePort: number,
  flags: string[],
  realEtcd: boolean,
): Promise<{ members: DetcdProcess[]; endpoints: string[]; dirs: string[] }> {
  const names = [0, 1, 2].map((i) => `tls${i}`);
  const peer = (i: number) => `https://127.0.0.1:${basePort + 10 * i + 1}`;
  const initialCluster = names.map((name, i) => `${name}=${peer(i)}`).join(",");
  const members: DetcdProcess[] = [];
  const endpoints: string[] = [];
  const dirs: string[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = await Deno.makeTempDir({ prefix: "detcd-tls-" });
    dirs.push(dir);
    const client = `http://127.0.0.1:${basePort + 10 * i}`;
    // With `realEtcd`, the last member is etcd 3.4 itself (interoperability of the TLS peers).
    const program = realEtcd && i === 2
      ? [_ETCD]
      : [Deno.execPath(), "run", "--allow-all", "--quiet", _MAIN];
    const args = [
      ..._PARENT_DEATH_KILL,
      ...program,
      ...["--name", names[i]!, "--data-dir", `${dir}/data`],
      ...["--listen-client-urls", client, "--advertise-client-urls", client],
      ...["--listen-peer-urls", peer(i), "--initial-advertise-peer-urls", peer(i)],
      ...["--initial-cluster", initialCluster, "--initial-cluster-token", `tls-${basePort}`],
      ...["--heartbeat-interval", "50", "--election-timeout", "500"],
      ...flags,
    ];
    const child = new Deno.Command(args[0]!, {
      args: args.slice(1),
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    members.push(new DetcdProcess(child, client));
    endpoints.push(client);
  }
  return { members, endpoints, dirs };
}

/** Waits for a leader, writes through member 0 and reads back on every member. */
async function _putAndReadEverywhere(
  basePort: number,
  flags: string[],
  options: { realEtcd?: boolean; check?: (peerUrl: string) => Promise<void> } = {},
): Promise<void> {
  const { members, endpoints, dirs } = await _startTlsCluster(
    basePort,
    flags,
    options.realEtcd ?? false,
  );
  try {
    await Promise.all(members.map((m) => m.waitFor("enabled capabilities for version", 30_000)));
    await etcdctlOk(endpoints[0]!, ["put", "tls-key", "over-tls"]);
    for (const [i, endpoint] of endpoints.entries()) {
      const value = await etcdctlOk(endpoint, ["get", "tls-key", "--print-value-only"]);
      strictEqual(value, "over-tls\n", `member ${i} reads the put linearizably`);
    }
    const status = await etcdctlOk(endpoints.join(","), ["endpoint", "status", "-w", "json"]);
    const leaders = new Set(
      (JSON.parse(status) as { Status: { leader: string } }[]).map((s) => s.Status.leader),
    );
    strictEqual(leaders.size, 1, "every member names the same leader");
    await options.check?.(`https://127.0.0.1:${basePort + 1}`);
  } finally {
    await Promise.all(members.map((m) => m.kill()));
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "a 3-member cluster with --peer-auto-tls elects a leader and replicates a put",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => _putAndReadEverywhere(24200, ["--peer-auto-tls"]),
});

Deno.test({
  name: "a 3-member cluster with peer certs, a trusted CA and client cert auth replicates a put",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => _putAndReadEverywhere(24240, _CERT_FLAGS, { check: _checkClientCertRequired }),
});

Deno.test({
  name: "2 detcd + 1 etcd with --peer-auto-tls: each side dials the other's self-signed cert",
  ignore: !_ETCD_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => _putAndReadEverywhere(24270, ["--peer-auto-tls"], { realEtcd: true }),
});

Deno.test({
  name: "2 detcd + 1 etcd with peer certs and client cert auth: each side accepts the other",
  ignore: !_ETCD_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => _putAndReadEverywhere(24210, _CERT_FLAGS, { realEtcd: true }),
});

// With an allowed CN and a cipher list, detcd's peer listener and client are OpenSSL's
// (tls/): they must still speak with etcd's Go TLS both ways. Ports 37050-37071.
Deno.test({
  name: "2 detcd + 1 etcd with an allowed CN and cipher suites (OpenSSL peers) replicate a put",
  ignore: !_ETCD_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    _putAndReadEverywhere(37050, [
      ..._CERT_FLAGS,
      ...["--peer-cert-allowed-cn", "example.com"],
      ...["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256"],
    ], { realEtcd: true }),
});

/** The peer listener refuses a client without a certificate and serves one with it. */
async function _checkClientCertRequired(peerUrl: string): Promise<void> {
  const caPem = await Deno.readTextFile(`${_FIXTURES}/ca.crt`);
  const anonymous = new PeerClient({ tls: { caPem, insecureSkipVerify: false } });
  const member = new PeerClient({
    tls: {
      caPem,
      certPem: await Deno.readTextFile(`${_FIXTURES}/server.crt`),
      keyPem: await Deno.readTextFile(`${_FIXTURES}/server.key.insecure`),
      insecureSkipVerify: false,
    },
  });
  try {
    await rejects(
      anonymous.request(`${peerUrl}/members`, { signal: AbortSignal.timeout(5000) }),
      "a peer request without a client certificate is refused",
    );
    const response = await member.request(`${peerUrl}/members`, {
      signal: AbortSignal.timeout(5000),
    });
    const members = JSON.parse(await response.text()) as unknown[];
    strictEqual(response.status, 200);
    strictEqual(members.length, 3, "/members lists the 3 members");
  } finally {
    anonymous.close();
    member.close();
  }
}
