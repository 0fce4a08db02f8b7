/**
 * Test helper: runs detcd (`main.ts`) as a child process on 127.0.0.1 and drives it with the
 * real `etcdctl`. Used by the `tests/server_*` files; each file uses ports of its own within
 * 23900-23949.
 *
 * @module
 */

const _MAIN = new URL("../main.ts", import.meta.url).pathname;
const _decoder = new TextDecoder();

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

/** A running detcd child process. */
export class DetcdProcess {
  readonly endpoint: string;
  readonly #child: Deno.ChildProcess;
  #log = "";
  #exited: Promise<Deno.CommandStatus>;
  #readyWaiters: { text: string; resolve: () => void }[] = [];

  constructor(child: Deno.ChildProcess, endpoint: string) {
    this.#child = child;
    this.endpoint = endpoint;
    this.#exited = child.status;
    void this.#pump(child.stderr);
    void this.#pump(child.stdout);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of stream) {
        this.#log += _decoder.decode(chunk);
        this.#readyWaiters = this.#readyWaiters.filter((w) => {
          if (!this.#log.includes(w.text)) return true;
          w.resolve();
          return false;
        });
      }
    } catch {
      // The process was killed.
    }
  }

  /** Everything the process wrote to stdout and stderr so far. */
  get log(): string {
    return this.#log;
  }

  /** The process's exit status, once it exits. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#exited;
  }

  /** Resolves once `text` appears in the output; rejects if the process exits first. */
  waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    if (this.#log.includes(text)) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<void>((resolve, reject) => {
      this.#readyWaiters.push({ text, resolve });
      timer = setTimeout(
        () => reject(new Error(`detcd: no "${text}" within ${timeoutMs} ms:\n${this.#log}`)),
        timeoutMs,
      );
      this.#exited.then((s) => reject(new Error(`detcd exited (${s.code}):\n${this.#log}`)));
    }).finally(() => clearTimeout(timer));
  }

  /** SIGKILL, then wait for the exit. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#exited;
  }

  /** SIGTERM (graceful stop), then wait for the exit. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    return await this.#exited;
  }
}

/** The command-line flags of a one-member detcd on 127.0.0.1. */
export function detcdArgs(options: DetcdOptions): string[] {
  const name = options.name ?? "s1";
  const client = `http://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  const args = [
    "--name",
    name,
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
    `${name}=${peer}`,
  ];
  if (options.fast === true) args.push("--heartbeat-interval", "10", "--election-timeout", "50");
  args.push(...(options.flags ?? []));
  return args;
}

/** Starts detcd; by default waits until it is the leader and has published itself. */
export async function startDetcd(options: DetcdOptions): Promise<DetcdProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", _MAIN, ...detcdArgs(options)],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const proc = new DetcdProcess(child, `127.0.0.1:${options.clientPort}`);
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
export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `/usr/bin/etcdctl` (API v3) against `endpoint`; `input` goes to its stdin. */
export async function etcdctl(
  endpoint: string,
  args: string[],
  input?: string,
): Promise<CtlResult> {
  const child = new Deno.Command("/usr/bin/etcdctl", {
    args: ["--endpoints", endpoint, "--dial-timeout", "3s", ...args],
    env: { ETCDCTL_API: "3" },
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: _decoder.decode(out.stdout),
    stderr: _decoder.decode(out.stderr),
  };
}

/** Runs etcdctl and throws with its stderr unless it exits 0; returns stdout. */
export async function etcdctlOk(endpoint: string, args: string[], input?: string): Promise<string> {
  const result = await etcdctl(endpoint, args, input);
  if (result.code !== 0) {
    throw new Error(`etcdctl ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  }
  return result.stdout;
}
