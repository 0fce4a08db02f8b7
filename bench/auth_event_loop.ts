/**
 * Event-loop delay of a detcd member while clients authenticate (bcrypt at `--bcrypt-cost`),
 * and the Authenticate rate.
 *
 * The member runs in this process, so the delay measured is the delay every other client of
 * the member sees; the clients run in a child process (this script with `--client`), C
 * concurrent Authenticate loops for a fixed time. For scale, the script also times one
 * synchronous bcrypt compare: what each Authenticate would stall the loop for if the check
 * ran synchronously.
 *
 * Run: `deno run -A bench/auth_event_loop.ts [CLIENTS] [SECONDS] [COST] [right|wrong]`
 * (defaults 50 10 10 right), inside a private network namespace (it listens on
 * 127.0.0.1:31040-31041). With `wrong` every call gives a wrong password, so every call pays
 * a full bcrypt compare (a right password is compared once, then remembered).
 *
 * @module
 */

import bcrypt from "bcryptjs";
import { startEtcd } from "../embed/mod.ts";
import { createLogger, defaultConfig } from "../server/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";

const CLIENT_PORT = 31040;
const PEER_PORT = 31041;
const ENDPOINT = `127.0.0.1:${CLIENT_PORT}`;

async function clientMain(clients: number, seconds: number, password: string): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const loops = Array.from({ length: clients }, async () => {
    const client = new EtcdGrpcClient(ENDPOINT);
    while (Date.now() < deadline) {
      try {
        await client.unary(METHODS.Auth.Authenticate, { name: "root", password });
        done++;
      } catch {
        failed++;
      }
    }
  });
  await Promise.all(loops);
  console.log(JSON.stringify({ done, failed }));
  Deno.exit(0);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function serverMain(
  clients: number,
  seconds: number,
  cost: number,
  mode: string,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "detcd_auth_bench_" });
  const cfg = defaultConfig();
  cfg.name = "bench";
  cfg.dataDir = dataDir;
  cfg.walDir = `${dataDir}/member/wal`;
  cfg.snapDir = `${dataDir}/member/snap`;
  const client = new URL(`http://${ENDPOINT}`);
  const peer = new URL(`http://127.0.0.1:${PEER_PORT}`);
  cfg.listenClientUrls = [client];
  cfg.advertiseClientUrls = [client];
  cfg.listenPeerUrls = [peer];
  cfg.initialAdvertisePeerUrls = [peer];
  cfg.initialCluster = new Map([["bench", [peer]]]);
  cfg.bcryptCost = cost;
  const log = createLogger({ logger: "capnslog", level: "error", outputs: ["stderr"] });
  const etcd = await startEtcd(cfg, log);
  const admin = new EtcdGrpcClient(ENDPOINT);
  await admin.unary(METHODS.Auth.UserAdd, { name: "root", password: "rootpw" });
  await admin.unary(METHODS.Auth.UserGrantRole, { user: "root", role: "root" });
  await admin.unary(METHODS.Auth.AuthEnable, {});

  const hash = bcrypt.hashSync("rootpw", cost);
  const syncStart = performance.now();
  bcrypt.compareSync("rootpw", hash);
  const syncMs = performance.now() - syncStart;

  // Event-loop delay: how late a 10 ms timer fires, sampled all through the load.
  const lags: number[] = [];
  let expected = performance.now() + 10;
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - expected));
    expected = now + 10;
  }, 10);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--client",
      `${clients}`,
      `${seconds}`,
      mode === "wrong" ? "not-the-password" : "rootpw",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = await child.output();
  clearInterval(timer);
  if (!output.success) throw new Error("the client process failed");
  const result = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    done: number;
    failed: number;
  };
  lags.sort((a, b) => a - b);
  console.log(JSON.stringify({
    clients,
    seconds,
    bcryptCost: cost,
    passwords: mode,
    authenticatePerSecond: Math.round(result.done / seconds),
    failed: result.failed,
    loopDelayMs: {
      p50: +percentile(lags, 0.5).toFixed(1),
      p99: +percentile(lags, 0.99).toFixed(1),
      max: +(lags.at(-1) ?? 0).toFixed(1),
    },
    oneSyncBcryptCompareMs: +syncMs.toFixed(1),
  }));
  await etcd.stop();
  await Deno.remove(dataDir, { recursive: true });
}

if (Deno.args[0] === "--client") {
  await clientMain(Number(Deno.args[1] ?? 50), Number(Deno.args[2] ?? 10), Deno.args[3] ?? "");
} else {
  await serverMain(
    Number(Deno.args[0] ?? 50),
    Number(Deno.args[1] ?? 10),
    Number(Deno.args[2] ?? 10),
    Deno.args[3] ?? "right",
  );
}
