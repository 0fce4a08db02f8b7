/**
 * What `bench/memory.ts` and `bench/restart.ts` share: environment counts, the shared load
 * generator (built by its `build.sh`), puts through it, waiting until a member serves a
 * linearizable range through the JSON gateway, and a process's CPU time from `/proc`.
 *
 * @module
 */

/** A non-negative integer from the environment, or `fallback` when unset or empty. */
export function envNumber(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}=${raw}: not a count`);
  return value;
}

/** Builds (if needed) the shared Go load generator with `buildScript`; returns its path. */
export async function loadgenPath(buildScript: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: [buildScript], stderr: "inherit" })
    .output();
  if (!out.success) throw new Error("loadgen build failed");
  return new TextDecoder().decode(out.stdout).trim();
}

/** What one `loadgen put` run is asked for. */
export interface PutLoad {
  total: number;
  keySpace: number;
  valueBytes: number;
  /** Concurrent clients (default 100), over at most 10 connections. */
  clients?: number;
}

/** Runs `loadgen put` against 127.0.0.1:`port`; returns its requests per second. */
export async function putWithLoadgen(
  loadgen: string,
  port: number,
  load: PutLoad,
): Promise<number> {
  const clients = load.clients ?? 100;
  const args = [
    "put",
    "--endpoints",
    `127.0.0.1:${port}`,
    "--conns",
    String(Math.min(10, clients)),
    "--clients",
    String(clients),
    "--total",
    String(load.total),
    "--key-size",
    "8",
    "--val-size",
    String(load.valueBytes),
    "--key-space-size",
    String(load.keySpace),
    "--sequential-keys",
    "--json",
  ];
  const out = await new Deno.Command(loadgen, { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`loadgen ${args.join(" ")} failed`);
  const result = JSON.parse(new TextDecoder().decode(out.stdout));
  if (result.errors !== 0) throw new Error(`loadgen reported ${result.errors} errors`);
  return result.requests_per_sec;
}

/**
 * Waits until a linearizable range through the gateway on 127.0.0.1:`port` answers; returns the
 * ms since `startedAt`, polling every `pollMs`. Throws after `timeoutMs`, naming `who`.
 */
export async function waitServing(
  who: string,
  port: number,
  startedAt: number,
  timeoutMs: number,
  pollMs: number,
): Promise<number> {
  const body = JSON.stringify({ key: btoa("bench-serving-probe") });
  while (performance.now() - startedAt < timeoutMs) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/v3/kv/range`, {
        method: "POST",
        body,
        signal: AbortSignal.timeout(2_000),
      });
      await response.body?.cancel();
      if (response.ok) return performance.now() - startedAt;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`${who} did not serve within ${timeoutMs} ms`);
}

/** User plus system CPU time of process `pid` so far, in ms (stat(5), USER_HZ 100 on Linux). */
export function processCpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  // utime and stime (fields 14 and 15) are the 12th and 13th after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The flags of a one-member cluster `m1` on 127.0.0.1 (the same for etcd and detcd). */
export function singleMemberFlags(dataDir: string, clientPort: number, peerPort: number): string[] {
  return [
    "--name",
    "m1",
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    `http://127.0.0.1:${clientPort}`,
    "--advertise-client-urls",
    `http://127.0.0.1:${clientPort}`,
    "--listen-peer-urls",
    `http://127.0.0.1:${peerPort}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${peerPort}`,
    "--initial-cluster",
    `m1=http://127.0.0.1:${peerPort}`,
  ];
}
