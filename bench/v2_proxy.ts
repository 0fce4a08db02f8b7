/**
 * What the v2 proxy and the shared http/https port cost per request: sequential GETs of one v2
 * key, median and p99 latency, on
 * - the member's plain port, and through a detcd v2 proxy (and the real etcd's, when
 *   /usr/bin/etcd is there) in front of it;
 * - https on a port that serves https only, and https on a port shared with http (TLS relayed
 *   to an internal listener).
 *
 * Run (ports 28540-28545, in a private network namespace):
 *   unshare -n bash -c 'ip link set lo up; deno run -A bench/v2_proxy.ts'
 * `V2_PROXY_BENCH_N` sets the requests per case (default 2000).
 *
 * @module
 */

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const N = Number(Deno.env.get("V2_PROXY_BENCH_N") ?? "2000");
const ROOT = new URL("..", import.meta.url).pathname;

const ETCD = "/usr/bin/etcd";

function spawn(args: string[], etcd = false): Deno.ChildProcess {
  return new Deno.Command(etcd ? ETCD : Deno.execPath(), {
    args: etcd ? args : ["run", "-A", `${ROOT}main.ts`, ...args],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitFor(url: string, client?: Deno.HttpClient): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(url, client === undefined ? {} : { client });
      await response.body?.cancel();
      if (response.status < 500) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} never answered`);
}

async function measure(name: string, url: string, client?: Deno.HttpClient): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < N + 100; i++) {
    const started = performance.now();
    const response = await fetch(url, client === undefined ? {} : { client });
    await response.arrayBuffer();
    if (i >= 100) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  console.log(
    `${name.padEnd(34)} median ${at(0.5).toFixed(3)} ms  p99 ${
      at(0.99).toFixed(3)
    } ms  (${N} GETs)`,
  );
}

const dir = await Deno.makeTempDir({ prefix: "detcd-bench-v2proxy-" });
const processes: Deno.ChildProcess[] = [];
const client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(`${FIXTURES}/ca.crt`)] });
try {
  processes.push(spawn([
    "--data-dir",
    `${dir}/m`,
    "--enable-v2",
    "--listen-client-urls",
    "http://127.0.0.1:28540,https://127.0.0.1:28540,https://127.0.0.1:28541",
    "--advertise-client-urls",
    "http://127.0.0.1:28540",
    "--listen-peer-urls",
    "http://127.0.0.1:28542",
    "--initial-advertise-peer-urls",
    "http://127.0.0.1:28542",
    "--initial-cluster",
    "default=http://127.0.0.1:28542",
    "--cert-file",
    `${FIXTURES}/server.crt`,
    "--key-file",
    `${FIXTURES}/server.key.insecure`,
  ]));
  await waitFor("http://127.0.0.1:28540/v2/keys/");
  await fetch("http://127.0.0.1:28540/v2/keys/bench", {
    method: "PUT",
    body: "value=x",
    headers: { "content-type": "application/x-www-form-urlencoded" },
  }).then((r) => r.arrayBuffer());
  processes.push(spawn([
    "--proxy",
    "on",
    "--data-dir",
    `${dir}/p`,
    "--listen-client-urls",
    "http://127.0.0.1:28543",
    "--initial-cluster",
    "default=http://127.0.0.1:28542",
  ]));
  await waitFor("http://127.0.0.1:28543/v2/keys/bench");
  const hasEtcd = await Deno.stat(ETCD).then(() => true, () => false);
  if (hasEtcd) {
    processes.push(spawn([
      "--proxy",
      "on",
      "--data-dir",
      `${dir}/e`,
      "--listen-client-urls",
      "http://127.0.0.1:28544",
      "--initial-cluster",
      "default=http://127.0.0.1:28542",
    ], true));
    await waitFor("http://127.0.0.1:28544/v2/keys/bench");
  }
  await measure("member, plain", "http://127.0.0.1:28540/v2/keys/bench");
  await measure("through the v2 proxy", "http://127.0.0.1:28543/v2/keys/bench");
  if (hasEtcd) {
    await measure("through etcd 3.4.23's v2 proxy", "http://127.0.0.1:28544/v2/keys/bench");
  }
  await measure("member, https-only port", "https://127.0.0.1:28541/v2/keys/bench", client);
  await measure(
    "member, https on the shared port",
    "https://127.0.0.1:28540/v2/keys/bench",
    client,
  );
} finally {
  client.close();
  for (const child of processes) {
    try {
      child.kill("SIGTERM");
    } catch {
      // exited
    }
    await child.status;
  }
  await Deno.remove(dir, { recursive: true });
}
