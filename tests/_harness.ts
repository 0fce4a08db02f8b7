/**
 * Test harness: start a detcd process (`deno run -A main.ts ...`) or the real `/usr/bin/etcd` on
 * given ports with a temporary data dir, wait until it serves, run the real `etcdctl` against
 * it, and always stop it (SIGTERM, then SIGKILL after a grace period). Every process started
 * here is tracked, and anything still alive when the test process unloads is killed, so a
 * failing test leaks no server.
 *
 * The differential tests run one script against real etcd and against detcd and compare the
 * outputs after {@link normalize}. `DETCD_DIFF_TARGET=etcd` makes the "detcd" side a second
 * real etcd (to check the scripts themselves); unset or `=detcd`, it is detcd.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The repository root (the folder holding main.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");
/** The real etcd and etcdctl binaries (Debian's etcd-server and etcd-client). */
export const ETCD_BIN = Deno.env.get("ETCD_BIN") ?? "/usr/bin/etcd";
export const ETCDCTL_BIN = Deno.env.get("ETCDCTL_BIN") ?? "/usr/bin/etcdctl";

/** Which server a member runs. */
export type Impl = "etcd" | "detcd";

/** Options of {@link startMember}. */
export interface MemberOptions {
  impl: Impl;
  clientPort: number;
  peerPort: number;
  /** Data dir to use (kept); default: a fresh temporary dir removed on stop. */
  dataDir?: string;
  name?: string;
  token?: string;
  /** Flags appended after the harness's own (later flags win in Go's flag package). */
  extraArgs?: string[];
  /** Extra environment for the process. */
  env?: Record<string, string>;
  /** The whole command line instead of the harness's flags (config file or env tests). */
  rawArgs?: string[];
  readyTimeoutMs?: number;
}

/** A running member. */
export interface Member {
  readonly impl: Impl;
  readonly endpoint: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; removes a temporary data dir. Idempotent. */
  stop(graceMs?: number): Promise<{ code: number; signal: string | null }>;
  /** SIGKILL now and wait for the exit; keeps the data dir. */
  kill(): Promise<void>;
}

const _live = new Set<Deno.ChildProcess>();

globalThis.addEventListener("unload", () => {
  for (const child of _live) _signal(child, "SIGKILL");
});

/** The implementation the "detcd" side of a differential test runs (see module doc). */
export function diffTarget(): Impl {
  const forced = Deno.env.get("DETCD_DIFF_TARGET");
  if (forced === "etcd" || forced === "detcd") return forced;
  return "detcd";
}

/** The command line that runs `impl` with `args`: the etcd binary, or `deno run main.ts`. */
export function serverCommand(impl: Impl, args: string[]): { path: string; args: string[] } {
  if (impl === "etcd") return { path: ETCD_BIN, args };
  return {
    path: Deno.execPath(),
    args: ["run", "--allow-all", "--quiet", `${REPO_ROOT}/main.ts`, ...args],
  };
}

/** Options of {@link singleMemberArgs}. */
export interface SingleMemberArgs {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** `--initial-cluster-token`; left to the server's default when absent. */
  token?: string;
}

/** The flags of a one-member cluster on 127.0.0.1 (the peer URL is advertised as is). */
export function singleMemberArgs(options: SingleMemberArgs): string[] {
  const client = `http://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  const args = [
    "--name",
    options.name,
    "--data-dir",
    options.dataDir,
    "--listen-client-urls",
    client,
    "--advertise-client-urls",
    client,
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `${options.name}=${peer}`,
  ];
  if (options.token !== undefined) args.push("--initial-cluster-token", options.token);
  return args;
}

/**
 * The flags of member `name` of a loopback cluster: clients on `port`, peers on `port + 1`,
 * bootstrapped with `initialCluster`.
 */
export function clusterMemberArgs(
  name: string,
  dataDir: string,
  port: number,
  initialCluster: string,
): string[] {
  return [
    "--name",
    name,
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    `http://127.0.0.1:${port}`,
    "--advertise-client-urls",
    `http://127.0.0.1:${port}`,
    "--listen-peer-urls",
    `http://127.0.0.1:${port + 1}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${port + 1}`,
    "--initial-cluster",
    initialCluster,
  ];
}

/** The flags a single test member runs with: localhost-only ports, a fast election. */
export function memberArgs(options: MemberOptions, dataDir: string): string[] {
  return [
    ...singleMemberArgs({
      name: options.name ?? "m1",
      dataDir,
      clientPort: options.clientPort,
      peerPort: options.peerPort,
      token: options.token ?? "detcd-test",
    }),
    ...(options.extraArgs ?? []),
  ];
}

/**
 * A server child process (detcd or etcd): collects everything it writes to stdout and stderr,
 * waits for a line of it, and stops it. Every one is SIGKILLed if the test process unloads
 * first, so a failing test leaks no server.
 */
export class ServerProcess {
  /** `host:port` of its client listener. */
  readonly endpoint: string;
  readonly pid: number;
  readonly #child: Deno.ChildProcess;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #drained: Promise<void>;
  #log = "";
  #exit: Deno.CommandStatus | undefined;
  #waiters: { text: string; resolve: () => void }[] = [];

  /** Takes over `child`, spawned with piped stdout and stderr. */
  constructor(child: Deno.ChildProcess, endpoint: string) {
    this.#child = child;
    this.endpoint = endpoint;
    this.pid = child.pid;
    _live.add(child);
    this.#status = child.status.then((status) => {
      _live.delete(child);
      this.#exit = status;
      return status;
    });
    this.#drained = Promise.all([this.#pump(child.stdout), this.#pump(child.stderr)]).then(
      () => {},
      () => {},
    );
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.#log += decoder.decode(chunk, { stream: true });
      this.#waiters = this.#waiters.filter((waiter) => {
        if (!this.#log.includes(waiter.text)) return true;
        waiter.resolve();
        return false;
      });
    }
  }

  /** Everything the process wrote to stdout and stderr so far. */
  get log(): string {
    return this.#log;
  }

  /** The process's exit status, once it exits. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  /** The exit status if the process has exited, else undefined. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** Resolves once both output streams are closed. */
  drained(): Promise<void> {
    return this.#drained;
  }

  /** Resolves once `text` appears in the output; rejects if the process exits first. */
  waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    if (this.#log.includes(text)) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ text, resolve });
      timer = setTimeout(
        () => reject(new Error(`detcd: no "${text}" within ${timeoutMs} ms:\n${this.#log}`)),
        timeoutMs,
      );
      this.#status.then((s) => reject(new Error(`detcd exited (${s.code}):\n${this.#log}`)));
    }).finally(() => clearTimeout(timer));
  }

  /** SIGKILL, then wait for the exit. */
  async kill(): Promise<void> {
    _signal(this.#child, "SIGKILL");
    await this.#status;
  }

  /**
   * SIGTERM (graceful stop), then wait for the exit; with `graceMs`, SIGKILL if the process is
   * still alive that long after.
   */
  async stop(graceMs?: number): Promise<Deno.CommandStatus> {
    if (this.#exit !== undefined) return this.#exit;
    _signal(this.#child, "SIGTERM");
    const timer = graceMs === undefined
      ? undefined
      : setTimeout(() => _signal(this.#child, "SIGKILL"), graceMs);
    const status = await this.#status;
    clearTimeout(timer);
    return status;
  }
}

/** Spawns `impl` with `args` from the repository root, its output piped. */
export function spawnServer(
  impl: Impl,
  args: string[],
  options: { endpoint: string; env?: Record<string, string> },
): ServerProcess {
  const command = serverCommand(impl, args);
  const child = new Deno.Command(command.path, {
    args: command.args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: REPO_ROOT,
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
  return new ServerProcess(child, options.endpoint);
}

/** Starts a member and waits until it answers `etcdctl endpoint health`. */
export async function startMember(options: MemberOptions): Promise<Member> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? `${await Deno.makeTempDir({ prefix: "detcd-test-" })}/data`;
  const process = spawnServer(options.impl, options.rawArgs ?? memberArgs(options, dataDir), {
    endpoint: `127.0.0.1:${options.clientPort}`,
    env: { ETCD_UNSUPPORTED_ARCH: "", ...options.env },
  });
  const exitOf = (status: Deno.CommandStatus) => ({ code: status.code, signal: status.signal });
  let stopped: Promise<{ code: number; signal: string | null }> | undefined;
  const member: Member = {
    impl: options.impl,
    endpoint: process.endpoint,
    dataDir,
    pid: process.pid,
    output: () => process.log,
    stop(graceMs = 5000) {
      stopped ??= (async () => {
        const status = await process.stop(graceMs);
        await process.drained();
        if (temporary) await Deno.remove(dataDir.replace(/\/data$/, ""), { recursive: true });
        return exitOf(status);
      })();
      return stopped;
    },
    async kill() {
      await process.kill();
      await process.drained();
    },
  };
  try {
    await _waitReady(member, () => process.exited, options.readyTimeoutMs ?? 20000);
  } catch (error) {
    await member.stop(1000);
    throw error;
  }
  return member;
}

function _signal(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // The process has exited already.
  }
}

async function _waitReady(
  member: Member,
  exited: () => { code: number } | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    const exit = exited();
    if (exit !== undefined) {
      throw new Error(
        `${member.impl} exited with ${exit.code} before it was ready:\n${
          member.output().slice(-3000)
        }`,
      );
    }
    const output = member.output();
    const ready = output.includes("enabled capabilities for version") &&
      output.includes("published");
    if (ready || await _tcpOpen(member.endpoint)) {
      const health = await etcdctl(member.endpoint, ["endpoint", "health"], { timeoutMs: 3000 });
      if (health.code === 0) return;
      lastError = health.stdout + health.stderr;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `${member.impl} not ready within ${timeoutMs} ms (${lastError.trim()}):\n${
      member.output().slice(-3000)
    }`,
  );
}

async function _tcpOpen(endpoint: string): Promise<boolean> {
  const [hostname, port] = endpoint.split(":");
  try {
    const conn = await Deno.connect({ hostname: hostname!, port: Number(port) });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** The result of one command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link etcdctl} and {@link run}. */
export interface RunOptions {
  stdin?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs a command to completion with a time limit (killed with SIGKILL past it). */
export async function run(
  path: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const child = new Deno.Command(path, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: REPO_ROOT,
    env: options.env ?? {},
  }).spawn();
  _live.add(child);
  const timer = setTimeout(() => _signal(child, "SIGKILL"), options.timeoutMs ?? 30000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
    _live.delete(child);
  }
}

/** Runs the real etcdctl (API v3) against `endpoint`. */
export function etcdctl(
  endpoint: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return run(ETCDCTL_BIN, [`--endpoints=${endpoint}`, ...args], {
    ...options,
    env: { ETCDCTL_API: "3", ...options.env },
  });
}

/**
 * Runs `etcdctl snapshot restore` of `file` into `dataDir`: a new one-member cluster whose
 * member `m1` advertises `http://127.0.0.1:<peerPort>`, with the token {@link memberArgs}
 * gives, so that {@link startMember} on the same ports and data dir starts it.
 */
export function restoreSnapshot(
  file: string,
  options: { dataDir: string; peerPort: number },
): Promise<RunResult> {
  const peer = `http://127.0.0.1:${options.peerPort}`;
  return run(ETCDCTL_BIN, [
    "snapshot",
    "restore",
    file,
    "--data-dir",
    options.dataDir,
    "--name",
    "m1",
    "--initial-cluster",
    `m1=${peer}`,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster-token",
    "detcd-test",
  ], { env: { ETCDCTL_API: "3" } });
}

/** Starts a long-running etcdctl (e.g. `watch`), returning a handle to read and stop it. */
export function spawnEtcdctl(endpoint: string, args: string[]): {
  output(): string;
  write(text: string): Promise<void>;
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<string>;
} {
  const child = new Deno.Command(ETCDCTL_BIN, {
    args: [`--endpoints=${endpoint}`, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { ETCDCTL_API: "3" },
  }).spawn();
  _live.add(child);
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {});
  const writer = child.stdin.getWriter();
  const status = child.status.finally(() => _live.delete(child));
  return {
    output: () => text,
    write: (input) => writer.write(new TextEncoder().encode(input)),
    async waitFor(pattern, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      const matches = () =>
        typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
      while (!matches()) {
        if (Date.now() > deadline) {
          throw new Error(`etcdctl output never matched ${pattern}:\n${text}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      // Signal before closing stdin: an interactive etcdctl reports EOF on stdin as an error.
      _signal(child, "SIGTERM");
      const timer = setTimeout(() => _signal(child, "SIGKILL"), 2000);
      await status;
      clearTimeout(timer);
      await writer.close().catch(() => {});
      await pumps;
      return text;
    },
  };
}

/**
 * Masks what legitimately differs between two servers: member, cluster and lease IDs, raft
 * terms and indexes, hashes, db sizes, timings and temporary paths. Revisions, keys, values,
 * counts and error texts stay.
 */
export function normalize(text: string): string {
  return text
    // etcdctl's own zap log lines (retries, snapshot save/restore) carry timestamps and paths.
    .replace(/\{"level":"[a-z]+","ts":[^\n]*\}\n?/g, "")
    .replace(/^stderr: $/gm, "")
    .replace(
      /"(cluster_id|member_id|ID|leader|raft_index|raft_applied_index|raft_term|lease|dbSize|dbSizeInUse)":\s*"?[0-9a-f]+"?/g,
      '"$1":<N>',
    )
    .replace(
      /\b(cluster_id|member_id|raft_term|raft_index|raft_applied_index|leader|memberID):\s*\d+/g,
      "$1:<N>",
    )
    .replace(/\b[0-9a-f]{14,16}\b/g, "<ID>")
    .replace(/"id":\d+/g, '"id":<N>')
    .replace(/"ttl":\d+/g, '"ttl":<T>')
    .replace(/took = \S+/g, "took = <T>")
    .replace(/remaining\(-?\d+s\)/g, "remaining(<T>)")
    .replace(/\b\d+(\.\d+)? (kB|MB|B)\b/g, "<SIZE>")
    .replace(/\/tmp\/[^\s,"\]]+/g, "<TMP>")
    .replace(/127\.0\.0\.1:\d+/g, "<ENDPOINT>");
}

/** Runs `fn` with one member, stopping it whatever happens. */
export async function withMember<T>(
  options: MemberOptions,
  fn: (member: Member) => Promise<T>,
): Promise<T> {
  const member = await startMember(options);
  try {
    return await fn(member);
  } finally {
    await member.stop();
  }
}

/** Values captured by earlier steps of a script (e.g. a lease ID), used by later ones. */
export type ScriptVars = Record<string, string>;

/** One step of an etcdctl script. */
export interface ScriptStep {
  /** etcdctl arguments (after `--endpoints`), or a function of the captured values. */
  args: string[] | ((vars: ScriptVars) => string[]);
  stdin?: string;
  /** Reads values out of this step's stdout for later steps. */
  capture?: (stdout: string, vars: ScriptVars) => void;
  /** A function instead of etcdctl: its returned text goes to the transcript. */
  run?: (member: Member, vars: ScriptVars) => Promise<string>;
}

/**
 * Runs the steps in order against `member` and returns the transcript: each command, its
 * stdout, its stderr and its exit status.
 */
export async function runScript(
  member: Member,
  steps: ScriptStep[],
  vars: ScriptVars = {},
): Promise<string> {
  const transcript: string[] = [];
  for (const step of steps) {
    if (step.run !== undefined) {
      transcript.push(`# ${await step.run(member, vars)}`);
      continue;
    }
    const args = typeof step.args === "function" ? step.args(vars) : step.args;
    const result = await etcdctl(
      member.endpoint,
      args,
      step.stdin === undefined ? {} : { stdin: step.stdin },
    );
    step.capture?.(result.stdout, vars);
    transcript.push(
      `$ etcdctl ${args.join(" ")}`,
      result.stdout.trimEnd(),
      result.stderr === "" ? "" : `stderr: ${result.stderr.trimEnd()}`,
      `exit ${result.code}`,
    );
  }
  return transcript.filter((line) => line !== "").join("\n");
}

/** Ports of one side of a differential test. */
export interface Ports {
  clientPort: number;
  peerPort: number;
}

/**
 * Runs the same script against real etcd (on `etcdPorts`) and against the target
 * ({@link diffTarget}, on `targetPorts`), concurrently, and returns both transcripts, raw.
 */
export async function differential(
  options: {
    etcdPorts: Ports;
    targetPorts: Ports;
    extraArgs?: string[];
    steps: ScriptStep[];
  },
): Promise<{ etcd: string; target: string; targetImpl: Impl }> {
  const targetImpl = await diffTarget();
  const side = (impl: Impl, ports: Ports) =>
    withMember(
      {
        impl,
        ...ports,
        ...(options.extraArgs === undefined ? {} : { extraArgs: options.extraArgs }),
      },
      (member) => runScript(member, options.steps),
    );
  const [etcd, target] = await Promise.all([
    side("etcd", options.etcdPorts),
    side(targetImpl, options.targetPorts),
  ]);
  return { etcd, target, targetImpl };
}
