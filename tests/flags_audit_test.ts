// Goal: no flag of etcd 3.4 is parsed and ignored. Every flag that `/usr/bin/etcd --help` lists
// (read at test time, so a flag etcd has and this table lacks fails the test) is known to
// detcd, and detcd started with it and a valid value either serves (with the flag's effect
// checked where that is cheap), or exits 2 with a message naming the flag, or fails as etcd
// fails for that value.
// Method: one detcd process per flag on a one-member base command line (the flag comes last,
// and a later flag wins as in Go's flag package), several at once, each bounded by a short
// timeout; readiness is GET /health == 200. Ports 34100-34339.
import { equal, ok } from "node:assert/strict";
import {
  ETCD_BIN,
  REPO_ROOT,
  run,
  ServerProcess,
  singleMemberArgs,
  spawnServer,
} from "./_harness.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _PORT_BASE = 34100;
const _PARALLEL = 6;
const _SERVE_TIMEOUT_MS = 40_000;

/** What one start is given and must do. */
interface _Case {
  /** The value given (`--flag=value`). */
  value: (ctx: _Context) => string;
  /** serves: answers /health; refused: exit 2 naming the flag; fails: exits with `fails`. */
  expect: "serves" | "refused" | { fails: string };
  /** Leave `--initial-cluster` out of the base command line (bootstrap by discovery). */
  withoutInitialCluster?: boolean;
  /** A cheap check of the flag's effect while it serves. */
  check?: (ctx: _Context, server: ServerProcess) => Promise<void>;
}

interface _Context {
  dir: string;
  clientPort: number;
  peerPort: number;
  extraPort: number;
}

const _serves = (value: string, check?: _Case["check"]): _Case => ({
  value: () => value,
  expect: "serves",
  ...(check === undefined ? {} : { check }),
});
const _refused = (value: string): _Case => ({ value: () => value, expect: "refused" });
const _client = (ctx: _Context) => `http://127.0.0.1:${ctx.clientPort}`;
const _peer = (ctx: _Context) => `http://127.0.0.1:${ctx.peerPort}`;

async function _get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
}

// deno-lint-ignore no-explicit-any
type _Json = any;

async function _postJson(url: string, body: unknown): Promise<{ status: number; json: _Json }> {
  const response = await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return { status: response.status, json: await response.json() };
}

const _b64 = (text: string) => btoa(text);

/** The status line of GET /version sent with `host` as Host header (fetch would replace it). */
async function _rawStatusLine(port: number, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET /version HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const buffer = new Uint8Array(4096);
    const size = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, size ?? 0)).split("\r\n")[0]!;
  } finally {
    conn.close();
  }
}

/** One entry per flag of etcd 3.4's `--help`; the value is valid for etcd. */
const _CASES: Record<string, _Case> = {
  "name": _serves("m1", async (ctx) => {
    const list = await _postJson(`${_client(ctx)}/v3/cluster/member/list`, {});
    equal(list.json.members[0].name, "m1");
  }),
  "data-dir": {
    value: (ctx) => `${ctx.dir}/other-data`,
    expect: "serves",
    check: async (ctx) => {
      ok((await Deno.stat(`${ctx.dir}/other-data/member/snap/db`)).isFile, "db in --data-dir");
    },
  },
  "wal-dir": {
    value: (ctx) => `${ctx.dir}/wal`,
    expect: "serves",
    check: (ctx) => {
      const names = [...Deno.readDirSync(`${ctx.dir}/wal`)].map((entry) => entry.name);
      ok(names.some((name) => name.endsWith(".wal")), `a .wal in --wal-dir: ${names}`);
      return Promise.resolve();
    },
  },
  "snapshot-count": _serves("50"),
  "heartbeat-interval": _serves("50"),
  "election-timeout": _serves("500"),
  "initial-election-tick-advance": _serves("false"),
  "listen-peer-urls": { value: _peer, expect: "serves" },
  "listen-client-urls": { value: _client, expect: "serves" },
  "max-snapshots": _serves("3"),
  "max-wals": _serves("3"),
  "quota-backend-bytes": _serves("100000000"),
  "backend-batch-interval": _serves("10ms"),
  "backend-batch-limit": _serves("100"),
  "max-txn-ops": _serves("2", async (ctx) => {
    const put = { request_put: { key: _b64("k"), value: _b64("v") } };
    const txn = await _postJson(`${_client(ctx)}/v3/kv/txn`, { success: [put, put, put] });
    ok(JSON.stringify(txn.json).includes("too many operations in txn request"), txn.json);
  }),
  "max-request-bytes": _serves("1024", async (ctx) => {
    const body = { key: _b64("k"), value: _b64("x".repeat(2048)) };
    const put = await _postJson(`${_client(ctx)}/v3/kv/put`, body);
    ok(JSON.stringify(put.json).includes("request is too large"), put.json);
  }),
  "max-concurrent-streams": _serves("100"),
  "grpc-keepalive-min-time": _serves("10s"),
  "grpc-keepalive-interval": _serves("1h"),
  "grpc-keepalive-timeout": _serves("10s"),
  "initial-advertise-peer-urls": { value: _peer, expect: "serves" },
  "initial-cluster": { value: (ctx) => `m1=${_peer(ctx)}`, expect: "serves" },
  "initial-cluster-state": {
    value: () => "existing",
    expect: { fails: "could not retrieve cluster information from the given URLs" },
  },
  "initial-cluster-token": _serves("audit-token"),
  "advertise-client-urls": {
    value: _client,
    expect: "serves",
    check: async (ctx) => {
      const list = await _postJson(`${_client(ctx)}/v3/cluster/member/list`, {});
      equal(list.json.members[0].clientURLs[0], _client(ctx));
    },
  },
  // Without --initial-cluster: etcd refuses two bootstrap methods at once. The discovery
  // itself is tested in tests/discovery_test.ts and tests/discovery_srv_test.ts; here, a URL
  // Go cannot parse fails at once, as in etcd, and an SRV domain nobody serves fails too.
  "discovery": {
    value: (ctx) => `http://127.0.0.1:${ctx.extraPort}/v2/keys/%zz`,
    expect: { fails: 'invalid URL escape "%zz"' },
    withoutInitialCluster: true,
  },
  "discovery-fallback": _serves("exit"),
  "discovery-proxy": _serves("http://127.0.0.1:3128"),
  "discovery-srv": {
    value: () => "example.invalid",
    expect: { fails: "error querying DNS SRV records for _etcd-server-ssl" },
    withoutInitialCluster: true,
  },
  "discovery-srv-name": _serves("audit"),
  "strict-reconfig-check": _serves("false"),
  "pre-vote": _serves("true"),
  "auto-compaction-retention": _serves("1"),
  "auto-compaction-mode": _serves("revision"),
  "enable-v2": _serves("true", async (ctx) => {
    const response = await _get(`${_client(ctx)}/v2/keys/`);
    equal(response.status, 200);
    equal(JSON.parse(await response.text()).action, "get");
    const machines = await _get(`${_client(ctx)}/v2/machines`);
    equal(await machines.text(), _client(ctx));
  }),
  "cert-file": _serves(`${_FIXTURES}/server.crt`),
  "key-file": _serves(`${_FIXTURES}/server.key.insecure`),
  "client-cert-auth": _serves("true"),
  "client-crl-file": _serves(`${_FIXTURES}/revoke.crl`),
  "client-cert-allowed-hostname": _serves("example.com"),
  "trusted-ca-file": _serves(`${_FIXTURES}/ca.crt`),
  "auto-tls": _serves("true"),
  "peer-cert-file": _serves(`${_FIXTURES}/server.crt`),
  "peer-key-file": _serves(`${_FIXTURES}/server.key.insecure`),
  "peer-client-cert-auth": _serves("true"),
  "peer-trusted-ca-file": _serves(`${_FIXTURES}/ca.crt`),
  "peer-cert-allowed-cn": _serves("example.com"),
  "peer-cert-allowed-hostname": _serves("example.com"),
  "peer-auto-tls": _serves("true"),
  "peer-crl-file": _serves(`${_FIXTURES}/revoke.crl`),
  "cipher-suites": _serves("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
  // etcd 3.4 parses --cors as URLs with a port (types.NewURLs).
  "cors": _serves("http://a.example:8080", async (ctx) => {
    const allowed = await _get(`${_client(ctx)}/version`, { origin: "http://a.example:8080" });
    await allowed.body?.cancel();
    equal(allowed.headers.get("access-control-allow-origin"), "http://a.example:8080");
    const other = await _get(`${_client(ctx)}/version`, { origin: "http://b.example" });
    await other.body?.cancel();
    equal(other.headers.get("access-control-allow-origin"), null);
  }),
  "host-whitelist": _serves("127.0.0.1", async (ctx) => {
    ok((await _rawStatusLine(ctx.clientPort, "evil.example")).includes(" 421 "), "421 for Host");
    ok((await _rawStatusLine(ctx.clientPort, "127.0.0.1")).includes(" 200 "), "200 for listed");
  }),
  "auth-token": _serves("simple"),
  "bcrypt-cost": _serves("4"),
  "auth-token-ttl": _serves("60"),
  "enable-pprof": _serves("true", async (ctx) => {
    const index = await _get(`${_client(ctx)}/debug/pprof/`);
    await index.body?.cancel();
    equal(index.status, 200);
  }),
  "metrics": _serves("extensive"),
  "listen-metrics-urls": {
    value: (ctx) => `http://127.0.0.1:${ctx.extraPort}`,
    expect: "serves",
    check: async (ctx) => {
      const metrics = await _get(`http://127.0.0.1:${ctx.extraPort}/metrics`);
      equal(metrics.status, 200);
      ok((await metrics.text()).includes("etcd_server_has_leader"));
    },
  },
  "logger": _serves("zap", (_ctx, server) => {
    ok(server.log.includes('"msg":"ready to serve client requests"'), "zap JSON lines");
    return Promise.resolve();
  }),
  "log-outputs": {
    value: (ctx) => `${ctx.dir}/detcd.log`,
    expect: "serves",
    check: async (ctx) => {
      const text = await Deno.readTextFile(`${ctx.dir}/detcd.log`);
      ok(text.includes("ready to serve client requests"), "log lines in the --log-outputs file");
    },
  },
  "log-level": _serves("warn", (_ctx, server) => {
    ok(!server.log.includes(" I | "), "no info lines at --log-level=warn");
    return Promise.resolve();
  }),
  // The v2 proxy (--proxy on|readonly) answers /health only through members, so it is tested
  // in tests/v2_proxy_test.ts; here the tuning flags are accepted by a member (where, as in
  // etcd, they matter only if a discovery falls back to the proxy).
  "proxy": _serves("off"),
  "proxy-failure-wait": _serves("1000"),
  "proxy-refresh-interval": _serves("1000"),
  "proxy-dial-timeout": _serves("500"),
  "proxy-write-timeout": _serves("1000"),
  "proxy-read-timeout": _serves("1000"),
  // A new member has nothing to compare: etcd checks only a member that had a WAL
  // (tests/corruption_test.ts restarts one).
  "experimental-initial-corrupt-check": _serves("true", (_ctx, server) => {
    ok(!server.log.includes("starting initial corruption check"), "a new member is not checked");
    return Promise.resolve();
  }),
  "experimental-corrupt-check-time": _serves("1m", (_ctx, server) => {
    ok(server.log.includes("enabled corruption checking"), "periodic check on");
    return Promise.resolve();
  }),
  "experimental-enable-v2v3": _refused("v2/"),
  "experimental-backend-bbolt-freelist-type": _serves("array"),
  "experimental-enable-lease-checkpoint": _serves("true", (_ctx, server) => {
    ok(
      server.log.includes("Detected that checkpointing is enabled without persistence"),
      "etcd's warning when checkpoints are not persisted",
    );
    return Promise.resolve();
  }),
  "experimental-compaction-batch-limit": _serves("10"),
  "experimental-peer-skip-client-san-verification": _serves("true"),
  "experimental-watch-progress-notify-interval": _serves("5s"),
  "experimental-warning-apply-duration": _serves("200ms"),
  "force-new-cluster": _serves("true"),
  "debug": _serves("true"),
  "log-package-levels": _refused("etcdmain=DEBUG"),
};

/** The flags of a `--help` text: lines `  --name 'default'` or `  --name 5000`. */
function _helpFlags(text: string): string[] {
  const flags = new Set<string>();
  for (const line of text.split("\n")) {
    const match = /^ {2}--([a-z0-9-]+)(?: .*)?$/.exec(line);
    if (match !== null) flags.add(match[1]!);
  }
  return [...flags].sort();
}

async function _waitHealthy(server: ServerProcess, clientPort: number): Promise<void> {
  const deadline = Date.now() + _SERVE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exited !== undefined) {
      throw new Error(`exited ${server.exited.code} before serving:\n${server.log.slice(-2000)}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${clientPort}/health`, {
        headers: { host: "127.0.0.1" },
        signal: AbortSignal.timeout(1000),
      });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not healthy within ${_SERVE_TIMEOUT_MS} ms:\n${server.log.slice(-2000)}`);
}

async function _exitWithin(server: ServerProcess, ms: number): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  const status = await Promise.race([server.status, timeout]);
  clearTimeout(timer);
  if (status === undefined) {
    await server.stop(1000);
    throw new Error(`still running after ${ms} ms:\n${server.log.slice(-2000)}`);
  }
  await server.drained();
  return status;
}

/** Starts detcd with `--flag=value` and checks what the case expects; returns a report line. */
async function _runCase(flag: string, entry: _Case, index: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "detcd-flag-" });
  const ctx: _Context = {
    dir,
    clientPort: _PORT_BASE + 3 * index,
    peerPort: _PORT_BASE + 3 * index + 1,
    extraPort: _PORT_BASE + 3 * index + 2,
  };
  const value = entry.value(ctx);
  const base = singleMemberArgs({
    name: "m1",
    dataDir: `${dir}/data`,
    clientPort: ctx.clientPort,
    peerPort: ctx.peerPort,
  });
  if (entry.withoutInitialCluster === true) base.splice(base.indexOf("--initial-cluster"), 2);
  const args = [...base, `--${flag}=${value}`];
  const server = spawnServer("detcd", args, { endpoint: `127.0.0.1:${ctx.clientPort}` });
  try {
    if (entry.expect === "serves") {
      await _waitHealthy(server, ctx.clientPort);
      await entry.check?.(ctx, server);
      const status = await server.stop(5000);
      equal(status.code, 0, `clean stop:\n${server.log.slice(-2000)}`);
      return `--${flag}=${value}: serves${entry.check === undefined ? "" : " (effect checked)"}`;
    }
    const status = await _exitWithin(server, _SERVE_TIMEOUT_MS);
    if (entry.expect === "refused") {
      equal(status.code, 2, `exit 2:\n${server.log}`);
      ok(server.log.includes(`--${flag}`), `the message names --${flag}:\n${server.log}`);
      return `--${flag}=${value}: refused: ${server.log.trim().split("\n")[0]}`;
    }
    ok(status.code !== 0, `fails:\n${server.log}`);
    ok(server.log.includes(entry.expect.fails), `fails with "${entry.expect.fails}"`);
    return `--${flag}=${value}: fails as etcd (${entry.expect.fails})`;
  } catch (error) {
    throw new Error(`--${flag}=${value}: ${(error as Error).message}`);
  } finally {
    await server.stop(1000);
    await Deno.remove(dir, { recursive: true });
  }
}

const _hasEtcd = await Deno.stat(ETCD_BIN).then(() => true, () => false);
const _hasFixtures = await Deno.stat(`${_FIXTURES}/ca.crt`).then(() => true, () => false);

Deno.test({
  name: "every flag of etcd 3.4's --help is known to detcd and has a case here",
  ignore: !_hasEtcd,
  async fn() {
    const etcdHelp = await run(ETCD_BIN, ["--help"]);
    const etcdFlags = _helpFlags(etcdHelp.stdout + etcdHelp.stderr);
    ok(etcdFlags.length >= 80, `parsed ${etcdFlags.length} flags from etcd --help`);
    const detcdHelp = await run(Deno.execPath(), [
      "run",
      "-A",
      "--quiet",
      `${REPO_ROOT}/main.ts`,
      "--help",
    ]);
    const detcdFlags = new Set(_helpFlags(detcdHelp.stdout));
    equal(etcdFlags.filter((flag) => !detcdFlags.has(flag)).join(" "), "", "missing in detcd");
    equal(etcdFlags.filter((flag) => _CASES[flag] === undefined).join(" "), "", "no case");
  },
});

Deno.test({
  name: "detcd started with each flag of etcd 3.4 serves, or exits 2 naming it",
  ignore: !_hasEtcd || !_hasFixtures || Deno.build.os !== "linux",
  sanitizeResources: false,
  async fn() {
    const etcdHelp = await run(ETCD_BIN, ["--help"]);
    const flags = _helpFlags(etcdHelp.stdout + etcdHelp.stderr).filter((flag) =>
      _CASES[flag] !== undefined
    );
    const reports: string[] = [];
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < flags.length) {
        const index = next++;
        const flag = flags[index]!;
        try {
          reports.push(await _runCase(flag, _CASES[flag]!, index));
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: _PARALLEL }, worker));
    if (Deno.env.get("FLAGS_AUDIT_REPORT") === "1") console.log(reports.sort().join("\n"));
    if (failures.length > 0) {
      throw new Error(
        `${failures.length} of ${flags.length} flags failed:\n${failures.join("\n\n")}`,
      );
    }
    equal(reports.length, flags.length);
  },
});
