/**
 * Test helper for the `tests/cluster_*` files: a detcd cluster of real processes on 127.0.0.1,
 * each member's advertised peer URL behind a {@link TcpProxy} the test controls, so that a
 * test can SIGKILL, restart and partition members. Ports: `basePort + 3 * i` (client),
 * `+ 1` (peer, real listener), `+ 2` (proxy, advertised) for member i.
 *
 * @module
 */

import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
// IDs come from the ground-floor ids/ module: this helper must not load the server into the
// test runner (the gRPC client here shares the process with killed members).
import { computeMemberId } from "../ids/mod.ts";
import { DetcdProcess } from "./_server_process.ts";
import { TcpProxy } from "./rafthttp_tcp_proxy.ts";

const _MAIN = new URL("../main.ts", import.meta.url).pathname;
const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/**
 * Members die with the test runner: if it crashes (or is killed), `setpriv --pdeathsig` has
 * the kernel SIGKILL them instead of leaving them holding the test ports.
 */
const _PARENT_DEATH_KILL: string[] = await (async () => {
  try {
    const probe = await new Deno.Command("setpriv", {
      args: ["--pdeathsig", "KILL", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return probe.success ? ["setpriv", "--pdeathsig", "KILL", "--"] : [];
  } catch {
    return [];
  }
})();

/** Raft timing of the test clusters: elections well above a busy 2-core machine's pauses. */
export const HEARTBEAT_MS = 50;
/** Election timeout of the test clusters. */
export const ELECTION_MS = 500;

/** Options of {@link LocalCluster}. */
export interface LocalClusterOptions {
  size: number;
  /** First of `3 * size` consecutive ports (plus 3 per member added later). */
  basePort: number;
  token?: string;
  /** Extra flags for every member. */
  flags?: string[];
}

/** One member slot. */
export interface MemberSlot {
  name: string;
  clientPort: number;
  peerPort: number;
  proxyPort: number;
  dataDir: string;
  /** Hex member ID (static members; joined members learn theirs from MemberAdd). */
  id: string;
  proxy: TcpProxy;
  process: DetcdProcess | undefined;
}

/** A cluster of detcd processes behind TCP proxies. */
export class LocalCluster {
  readonly members: MemberSlot[] = [];
  readonly token: string;
  readonly #options: LocalClusterOptions;
  readonly #clients = new Map<number, EtcdGrpcClient>();
  #root = "";

  /** Lays out `size` member slots; call {@link init} then {@link startAll}. */
  constructor(options: LocalClusterOptions) {
    this.#options = options;
    this.token = options.token ?? "detcd-cluster-test";
  }

  /** Makes the data directories and the proxies. */
  async init(): Promise<void> {
    this.#root = await Deno.makeTempDir({ prefix: "detcd-cluster-" });
    for (let i = 0; i < this.#options.size; i++) this.addSlot();
  }

  /** A new slot (a member not started yet); returns its index. */
  addSlot(): number {
    const i = this.members.length;
    const base = this.#options.basePort + 3 * i;
    // A member that cannot listen dies with a terse log; name the real cause up front (a
    // leftover process of an earlier run holding the port).
    for (const port of [base, base + 1]) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port }).close();
      } catch (error) {
        throw new Error(`port ${port} is not free (another test run?): ${error}`);
      }
    }
    const slot: MemberSlot = {
      name: `m${i}`,
      clientPort: base,
      peerPort: base + 1,
      proxyPort: base + 2,
      dataDir: `${this.#root}/m${i}`,
      id: computeMemberId([`http://127.0.0.1:${base + 2}`], this.token).toString(16),
      proxy: new TcpProxy(base + 2, base + 1),
      process: undefined,
    };
    this.members.push(slot);
    return i;
  }

  /** `name=url,...` of the static members (the first `size` slots) or of `indexes`. */
  initialCluster(indexes?: number[]): string {
    const which = indexes ?? Array.from({ length: this.#options.size }, (_, i) => i);
    return which.map((i) => {
      const m = this.members[i]!;
      return `${m.name}=http://127.0.0.1:${m.proxyPort}`;
    }).join(",");
  }

  /** The command-line flags of member `i`. */
  args(i: number, extra: { state?: "new" | "existing"; cluster?: string } = {}): string[] {
    const m = this.members[i]!;
    const client = `http://127.0.0.1:${m.clientPort}`;
    return [
      "--name",
      m.name,
      "--data-dir",
      m.dataDir,
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      `http://127.0.0.1:${m.peerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${m.proxyPort}`,
      "--initial-cluster",
      extra.cluster ?? this.initialCluster(),
      "--initial-cluster-state",
      extra.state ?? "new",
      "--initial-cluster-token",
      this.token,
      "--heartbeat-interval",
      String(HEARTBEAT_MS),
      "--election-timeout",
      String(ELECTION_MS),
      ...(this.#options.flags ?? []),
    ];
  }

  /** Spawns member `i` (does not wait). */
  spawn(i: number, extra: { state?: "new" | "existing"; cluster?: string; args?: string[] } = {}) {
    const m = this.members[i]!;
    const deno = [Deno.execPath(), "run", "--allow-all", "--quiet", _MAIN];
    const argv = [..._PARENT_DEATH_KILL, ...deno, ...(extra.args ?? this.args(i, extra))];
    const child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    m.process = new DetcdProcess(child, `127.0.0.1:${m.clientPort}`);
    return m.process;
  }

  /** Starts the static members together and waits until each has published itself. */
  async startAll(): Promise<void> {
    for (let i = 0; i < this.#options.size; i++) this.spawn(i);
    await Promise.all(
      this.members.slice(0, this.#options.size).map((m) =>
        m.process!.waitFor("enabled capabilities for version", 30_000)
      ),
    );
  }

  /** `host:port` of member i's client listener. */
  endpoint(i: number): string {
    return `127.0.0.1:${this.members[i]!.clientPort}`;
  }

  /** Comma-separated endpoints of `indexes` (default: every running member). */
  endpoints(indexes?: number[]): string {
    const which = indexes ??
      this.members.map((_, i) => i).filter((i) => this.members[i]!.process !== undefined);
    return which.map((i) => this.endpoint(i)).join(",");
  }

  /** A cached gRPC client to member `i`. */
  client(i: number): EtcdGrpcClient {
    let client = this.#clients.get(i);
    if (client === undefined) {
      client = new EtcdGrpcClient(this.endpoint(i));
      this.#clients.set(i, client);
    }
    return client;
  }

  /** Drops the cached client of member `i` (after a kill, a fresh connection is cleaner). */
  dropClient(i: number): void {
    this.#clients.get(i)?.close();
    this.#clients.delete(i);
  }

  /** Maintenance.Status of member `i`, or undefined when it does not answer in time. */
  async status(i: number, timeoutMs = 1000) {
    try {
      return await this.client(i).unary(METHODS.Maintenance.Status, {}, { timeoutMs });
    } catch {
      return undefined;
    }
  }

  /** The leader ID (hex) each of `indexes` reports ("" for none or no answer). */
  async leaders(indexes: number[]): Promise<string[]> {
    return await Promise.all(indexes.map(async (i) => {
      const s = await this.status(i);
      const lead = s === undefined ? "0" : BigInt(String(s.leader)).toString(16);
      return lead === "0" ? "" : lead;
    }));
  }

  /** Waits until every one of `indexes` reports the same leader; returns its hex ID. */
  async waitLeader(indexes: number[], timeoutMs = 10_000, not?: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leads = await this.leaders(indexes);
      const first = leads[0]!;
      if (first !== "" && first !== not && leads.every((l) => l === first)) return first;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no common leader among ${indexes.join(",")} in ${timeoutMs} ms`);
  }

  /** The slot index of the member with hex ID `id`. */
  indexOf(id: string): number {
    const i = this.members.findIndex((m) => m.id === id);
    if (i < 0) throw new Error(`no member ${id}`);
    return i;
  }

  /** Put through member i's client. */
  async put(i: number, key: string, value: string, timeoutMs = 3000): Promise<void> {
    await this.client(i).unary(METHODS.KV.Put, {
      key: _encoder.encode(key),
      value: _encoder.encode(value),
    }, { timeoutMs });
  }

  /** Get through member i's client (linearizable unless `serializable`). */
  async get(
    i: number,
    key: string,
    options: { serializable?: boolean; timeoutMs?: number } = {},
  ): Promise<string | null> {
    const response = await this.client(i).unary(METHODS.KV.Range, {
      key: _encoder.encode(key),
      serializable: options.serializable === true,
    }, { timeoutMs: options.timeoutMs ?? 3000 });
    const kv = response.kvs[0];
    return kv === undefined ? null : _decoder.decode(kv.value ?? new Uint8Array());
  }

  /** Every key under `prefix` as member i sees it (linearizable). */
  async getPrefix(i: number, prefix: string): Promise<Map<string, string>> {
    const key = _encoder.encode(prefix);
    const end = key.slice();
    end[end.length - 1]!++;
    const response = await this.client(i).unary(METHODS.KV.Range, { key, rangeEnd: end }, {
      timeoutMs: 5000,
    });
    const out = new Map<string, string>();
    for (const kv of response.kvs) {
      out.set(
        _decoder.decode(kv.key ?? new Uint8Array()),
        _decoder.decode(kv.value ?? new Uint8Array()),
      );
    }
    return out;
  }

  /** HashKV of member i at its current revision. */
  async hashKv(i: number): Promise<{ hash: number; revision: number }> {
    const response = await this.client(i).unary(METHODS.Maintenance.HashKV, {}, {
      timeoutMs: 5000,
    });
    return { hash: response.hash, revision: Number(response.header?.revision ?? 0) };
  }

  /** Symmetric partition: `isolated` members talk to nobody else and nobody to them. */
  partition(isolated: number[]): void {
    const isolatedIds = isolated.map((i) => this.members[i]!.id);
    const othersIds = this.members.map((m) => m.id).filter((id) => !isolatedIds.includes(id));
    this.members.forEach((m, i) => m.proxy.block(isolated.includes(i) ? othersIds : isolatedIds));
  }

  /** Removes every partition. */
  heal(): void {
    for (const m of this.members) m.proxy.block([]);
  }

  /** SIGKILLs member i. */
  async kill(i: number): Promise<void> {
    this.dropClient(i);
    await this.members[i]!.process?.kill();
    this.members[i]!.process = undefined;
  }

  /** Kills every process, closes proxies and clients, removes the data. */
  async cleanup(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    await Promise.all(this.members.map((m) => m.process?.kill()));
    await Promise.all(this.members.map((m) => m.proxy.close()));
    if (this.#root !== "") await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }

  /** Every member's log, for a failure message. */
  logs(): string {
    return this.members.map((m) => `--- ${m.name} ---\n${m.process?.log.slice(-4000) ?? ""}`)
      .join("\n");
  }
}

/**
 * Calls `body` until it resolves, every 200 ms, for up to `timeoutMs`; then throws its last
 * error, prefixed with `what`. For what a cluster reaches eventually (a learner catching up,
 * a promotion once it has).
 */
export async function retry<T>(
  what: string,
  timeoutMs: number,
  body: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await body();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Runs `body` over a started cluster and always cleans up. */
export async function withCluster<T>(
  options: LocalClusterOptions,
  body: (cluster: LocalCluster) => Promise<T>,
): Promise<T> {
  const cluster = new LocalCluster(options);
  try {
    await cluster.init();
    await cluster.startAll();
    return await body(cluster);
  } finally {
    await cluster.cleanup();
  }
}
