/**
 * Test helper: runs detcd (`main.ts`) as a child process on 127.0.0.1 and drives it with the
 * real `etcdctl`. Used by the `tests/server_*` files; each file uses ports of its own within
 * 23900-23949.
 *
 * @module
 */

import {
  ETCDCTL_BIN,
  run,
  type RunResult,
  ServerProcess,
  singleMemberArgs,
  spawnServer,
} from "./_harness.ts";

/** A running detcd child process (the launcher `tests/_harness.ts` shares with etcd). */
export { ServerProcess as DetcdProcess };

/** Options of {@link startDetcd}. */
export interface DetcdOptions {
  dataDir: string;
  clientPort: number;
  peerPort: number;
  name?: string;
  /** Extra flags, e.g. `["--quota-backend-bytes", "100000"]`. */
  flags?: string[];
  /** Fast raft timing (10 ms heartbeat, 50 ms election) so that restarts elect at once. */
  fast?: boolean;
  /** Resolve only once the member published (default true). */
  waitReady?: boolean;
}

/** The command-line flags of a one-member detcd on 127.0.0.1. */
export function detcdArgs(options: DetcdOptions): string[] {
  const args = singleMemberArgs({
    name: options.name ?? "s1",
    dataDir: options.dataDir,
    clientPort: options.clientPort,
    peerPort: options.peerPort,
  });
  if (options.fast === true) args.push("--heartbeat-interval", "10", "--election-timeout", "50");
  args.push(...(options.flags ?? []));
  return args;
}

/** Starts detcd; by default waits until it is the leader and has published itself. */
export async function startDetcd(options: DetcdOptions): Promise<ServerProcess> {
  const proc = spawnServer("detcd", detcdArgs(options), {
    endpoint: `127.0.0.1:${options.clientPort}`,
  });
  if (options.waitReady !== false) {
    try {
      await proc.waitFor("enabled capabilities for version");
    } catch (error) {
      await proc.kill();
      throw error;
    }
  }
  return proc;
}

/** The result of one etcdctl run. */
export type CtlResult = RunResult;

/** Runs etcdctl (API v3) against `endpoint`; `input` goes to its stdin. */
export function etcdctl(endpoint: string, args: string[], input?: string): Promise<CtlResult> {
  return run(ETCDCTL_BIN, ["--endpoints", endpoint, "--dial-timeout", "3s", ...args], {
    ...(input === undefined ? {} : { stdin: input }),
    env: { ETCDCTL_API: "3" },
  });
}

/** Runs etcdctl and throws with its stderr unless it exits 0; returns stdout. */
export async function etcdctlOk(endpoint: string, args: string[], input?: string): Promise<string> {
  const result = await etcdctl(endpoint, args, input);
  if (result.code !== 0) {
    throw new Error(`etcdctl ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  }
  return result.stdout;
}
