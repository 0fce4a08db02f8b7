/**
 * Loopback clusters of detcd and real etcd members for the interop tests: member `i` serves
 * clients on `basePort + 2i` and peers on `basePort + 2i + 1`; a name starting with `d` is a
 * detcd member (`deno run main.ts`), one starting with `e` is `/usr/bin/etcd`. Each process is
 * started under `setpriv --pdeathsig KILL`, so a crashed test leaves no member behind.
 *
 * @module
 */

import { DetcdProcess } from "./_server_process.ts";

export const ETCD = "/usr/bin/etcd";
/** Whether the real etcd is installed (the mixed tests are skipped without it). */
export const ETCD_AVAILABLE = await Deno.stat(ETCD).then(() => true, () => false);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** How to start one member of a {@link MixedCluster}. */
export interface MixedSpawnOptions {
  /** The first `clusterSize` names form `--initial-cluster` (default: all names). */
  clusterSize?: number;
  /** `--initial-cluster-state` (default: `new`). */
  state?: "new" | "existing";
  /** Flags for every member kind. */
  flags?: string[];
  /** Flags only a detcd member gets. */
  detcdFlags?: string[];
}

/** A cluster of named members on fixed loopback ports. */
export class MixedCluster {
  constructor(
    readonly basePort: number,
    readonly names: readonly string[],
    readonly token: string,
  ) {}

  /** Member `i`'s client address (host:port). */
  client(i: number): string {
    return `127.0.0.1:${this.basePort + 2 * i}`;
  }

  /** Member `i`'s peer URL. */
  peer(i: number): string {
    return `http://127.0.0.1:${this.basePort + 2 * i + 1}`;
  }

  /** `--initial-cluster` of the first `n` members. */
  initial(n = this.names.length): string {
    return this.names.slice(0, n).map((name, i) => `${name}=${this.peer(i)}`).join(",");
  }

  /** Whether member `i` is a detcd member. */
  isDetcd(i: number): boolean {
    return this.names[i]!.startsWith("d");
  }

  /** The flags member `i` starts with (heartbeat 50 ms, election 500 ms). */
  args(i: number, dataDir: string, options: MixedSpawnOptions = {}): string[] {
    return [
      `--name=${this.names[i]}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=http://${this.client(i)}`,
      `--advertise-client-urls=http://${this.client(i)}`,
      `--listen-peer-urls=${this.peer(i)}`,
      `--initial-advertise-peer-urls=${this.peer(i)}`,
      `--initial-cluster=${this.initial(options.clusterSize)}`,
      `--initial-cluster-token=${this.token}`,
      `--initial-cluster-state=${options.state ?? "new"}`,
      "--heartbeat-interval=50",
      "--election-timeout=500",
      ...(options.flags ?? []),
      ...(this.isDetcd(i) ? options.detcdFlags ?? [] : []),
    ];
  }

  /** Starts member `i`. */
  spawn(i: number, dataDir: string, options: MixedSpawnOptions = {}): DetcdProcess {
    const args = this.args(i, dataDir, options);
    const argv = this.isDetcd(i)
      ? [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN, ...args]
      : [ETCD, ...args];
    const child = new Deno.Command("setpriv", {
      args: ["--pdeathsig", "KILL", "--", ...argv],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    return new DetcdProcess(child, this.client(i));
  }
}
