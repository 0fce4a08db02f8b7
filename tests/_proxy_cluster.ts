/**
 * A 3-member detcd cluster on loopback for the proxy tests (grpc-proxy and gateway), with fast
 * elections, and the helpers they share: wait for health, retry an etcdctl command while the
 * cluster elects, stop everything.
 *
 * @module
 */

import {
  clusterMemberArgs,
  etcdctl,
  type RunResult,
  ServerProcess,
  spawnServer,
} from "./_harness.ts";

/** A running loopback cluster. */
export interface ProxyTestCluster {
  members: ServerProcess[];
  endpoints: string[];
  /** Stops every member still running and removes the data dirs. */
  stop(): Promise<void>;
}

/** Starts members on `ports` (client port p, peer port p + 1) and waits until all are healthy. */
export async function startCluster(ports: number[]): Promise<ProxyTestCluster> {
  const root = await Deno.makeTempDir({ prefix: "detcd-proxy-" });
  const initial = ports.map((p, i) => `p${i}=http://127.0.0.1:${p + 1}`).join(",");
  const members = ports.map((p, i) =>
    spawnServer("detcd", [
      ...clusterMemberArgs(`p${i}`, `${root}/p${i}`, p, initial),
      "--heartbeat-interval",
      "50",
      "--election-timeout",
      "500",
    ], { endpoint: `127.0.0.1:${p}` })
  );
  const endpoints = members.map((m) => m.endpoint);
  const stop = async () => {
    await Promise.all(members.map((m) => m.exited === undefined ? m.stop(3000) : undefined));
    await Promise.all(members.map((m) => m.drained()));
    await Deno.remove(root, { recursive: true });
  };
  try {
    await retryCtl(endpoints.join(","), ["endpoint", "health", "--cluster=false"], 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { members, endpoints, stop };
}

/** Runs etcdctl until it exits 0 (elections, a killed member) or `ms` pass. */
export async function retryCtl(
  endpoint: string,
  args: string[],
  ms = 15_000,
  stdin?: string,
): Promise<RunResult> {
  const deadline = Date.now() + ms;
  for (;;) {
    const result = await etcdctl(endpoint, args, {
      timeoutMs: 10_000,
      ...(stdin === undefined ? {} : { stdin }),
    });
    if (result.code === 0) return result;
    if (Date.now() > deadline) {
      throw new Error(`etcdctl ${args.join(" ")} kept failing: ${result.stderr}${result.stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Polls `check` until it holds or `ms` pass. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
