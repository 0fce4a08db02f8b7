/**
 * Restart benchmark, split from `bench/memory.ts` so that the big data dirs are built once and the
 * restarts can be repeated: the real etcd 3.4 and detcd, interleaved, each restarted from a copy of
 * its own cached data dir.
 *
 *     unshare -n bash -c 'ip link set lo up; LOADGEN_DIR=/work/shared/tools/loadgen deno run -A bench/restart.ts'
 *
 * Build (once per server, kept under `RESTART_CACHE`): fill a db of `RESTART_DB_MB` MiB (64 KiB
 * values, `--snapshot-count 1000` so the WAL ends near a snapshot), stop, restart with
 * `--snapshot-count` above `RESTART_WAL_ENTRIES` and put that many 256-byte values over 10,000 keys
 * (all after the last snapshot), stop. This is the same data as the restart part of
 * `bench/memory.ts`.
 *
 * Each run: copy the cached dir (so every restart starts from the same bytes, with the copy in the
 * page cache for both servers), `sync`, spawn the server, time from spawn to the first answered
 * linearizable range through the JSON gateway, read the process's CPU time (user + system, from
 * `/proc/PID/stat`; steadier than the wall time on a shared machine) and VmRSS, stop it.
 *
 * Knobs (environment): RESTART_DB_MB (1024), RESTART_WAL_ENTRIES (100000), RESTART_RUNS (3),
 * RESTART_CACHE (/tmp/restart-data), RESTART_SETTLE_S (0: also reads VmRSS after that many seconds
 * of idle following the first read, when a restarted server has collected its start-up garbage),
 * BENCH_ONLY (etcd|detcd), RESTART_BASE_MAIN (the main.ts of
 * another detcd checkout: also restarts it, as `detcd-base`, on detcd's data, for before/after
 * runs interleaved with the others), DETCD_DENO_FLAGS (extra deno flags,
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), RESTART_KEEP_LOGS (1: keep each run's server log
 * beside the cache and print its path), LOADGEN_DIR.
 *
 * Ports 39510 (client) and 39511 (peer).
 *
 * @module
 */

import {
  envNumber,
  loadgenPath,
  processCpuMs,
  type PutLoad,
  putWithLoadgen,
  singleMemberFlags,
  waitServing,
} from "./_server_bench.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const LOADGEN_BUILD = `${
  Deno.env.get("LOADGEN_DIR") ?? new URL("../shared/tools/loadgen", `file://${ROOT}`).pathname
}/build.sh`;
const CLIENT_PORT = 39510;
const PEER_PORT = 39511;
const READY_TIMEOUT_MS = 600_000;
const MIB = 1024 * 1024;

/** `detcd-base`: the `main.ts` named by RESTART_BASE_MAIN (another checkout), on detcd's data. */
type ServerKind = "etcd" | "detcd" | "detcd-base";

const DB_MB = envNumber("RESTART_DB_MB", 1024);
const WAL_ENTRIES = envNumber("RESTART_WAL_ENTRIES", 100_000);
const RUNS = envNumber("RESTART_RUNS", 3);
const CACHE = Deno.env.get("RESTART_CACHE") ?? "/tmp/restart-data";
const ONLY = Deno.env.get("BENCH_ONLY");
const DENO_FLAGS = (Deno.env.get("DETCD_DENO_FLAGS") ?? "").split(/\s+/).filter((s) => s !== "");
const KEEP_LOGS = Deno.env.get("RESTART_KEEP_LOGS") === "1";
const BASE_MAIN = Deno.env.get("RESTART_BASE_MAIN");
const SETTLE_S = envNumber("RESTART_SETTLE_S", 0);
const WAL_FLAGS = ["--snapshot-count", String(WAL_ENTRIES + 10_000)];

function _log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 23)}] ${message}`);
}

/** A running server: its process, and its stderr copied to a log file. */
class Server {
  private constructor(
    readonly kind: ServerKind,
    readonly child: Deno.ChildProcess,
    readonly logFile: Deno.FsFile,
  ) {}

  static start(kind: ServerKind, dataDir: string, logPath: string, extra: string[]): Server {
    const flags = [...singleMemberFlags(dataDir, CLIENT_PORT, PEER_PORT), ...extra];
    const main = kind === "detcd-base" ? BASE_MAIN! : `${ROOT}main.ts`;
    const [command, args] = kind === "etcd"
      ? ["/usr/bin/etcd", flags]
      : [Deno.execPath(), ["run", "-A", "--quiet", ...DENO_FLAGS, main, ...flags]];
    const logFile = Deno.openSync(logPath, { create: true, write: true, truncate: true });
    const child = new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "piped",
      stdin: "null",
    })
      .spawn();
    child.stderr.pipeTo(logFile.writable).catch(() => {});
    return new Server(kind, child, logFile);
  }

  /** Waits until a linearizable range through the gateway answers; returns the ms it took. */
  waitServing(startedAt: number): Promise<number> {
    return waitServing(this.kind, CLIENT_PORT, startedAt, READY_TIMEOUT_MS, 5);
  }

  /** User plus system CPU time of the server process so far, in ms (from /proc, 100 Hz ticks). */
  cpuMs(): number {
    return processCpuMs(this.child.pid);
  }

  rssBytes(): number {
    const status = Deno.readTextFileSync(`/proc/${this.child.pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) * 1024;
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 30_000);
    await this.child.status;
    clearTimeout(timer);
  }
}

async function _put(loadgen: string, load: PutLoad): Promise<void> {
  const rate = await putWithLoadgen(loadgen, CLIENT_PORT, load);
  _log(`  ${load.total} puts: ${Math.round(rate)} req/s`);
}

function _exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The cached data dir of `kind`, built on first use. */
async function _cachedDir(kind: ServerKind, loadgen: () => Promise<string>): Promise<string> {
  const dir = `${CACHE}/${kind}-${DB_MB}m-${WAL_ENTRIES}`;
  if (_exists(`${dir}/complete`)) return `${dir}/data`;
  if (_exists(dir)) Deno.removeSync(dir, { recursive: true });
  Deno.mkdirSync(dir, { recursive: true });
  const data = `${dir}/data`;
  const valueBytes = 64 * 1024;
  const fill = Math.ceil(DB_MB * MIB / valueBytes);
  _log(`${kind}: building ${data}: ${fill} values of 64 KiB`);
  let server = Server.start(kind, data, `${dir}/build-1.log`, ["--snapshot-count", "1000"]);
  try {
    await server.waitServing(performance.now());
    await _put(await loadgen(), { total: fill, keySpace: fill, valueBytes, clients: 10 });
  } finally {
    await server.stop();
  }
  _log(`${kind}: ${WAL_ENTRIES} WAL entries after the last snapshot`);
  server = Server.start(kind, data, `${dir}/build-2.log`, WAL_FLAGS);
  try {
    await server.waitServing(performance.now());
    await _put(await loadgen(), {
      total: WAL_ENTRIES,
      keySpace: 10_000,
      valueBytes: 256,
      clients: 100,
    });
  } finally {
    await server.stop();
  }
  Deno.writeTextFileSync(`${dir}/complete`, new Date().toISOString() + "\n");
  return data;
}

interface Run {
  kind: ServerKind;
  servingMs: number;
  cpuMs: number;
  rssBytes: number;
  /** VmRSS after RESTART_SETTLE_S seconds of idle; undefined without a settle. */
  settledRssBytes: number | undefined;
}

async function _restart(kind: ServerKind, cached: string, run: number): Promise<Run> {
  const work = Deno.makeTempDirSync({ dir: CACHE, prefix: `run-${kind}-` });
  const data = `${work}/data`;
  const cp = await new Deno.Command("cp", { args: ["-a", cached, data] }).output();
  if (!cp.success) throw new Error(`cp -a ${cached} ${data} failed`);
  // Write the copy back before the clock starts, so that neither server's first fdatasync pays
  // for the copy's dirty pages.
  await new Deno.Command("sync").output();
  const logPath = KEEP_LOGS ? `${CACHE}/${kind}-run-${run}.log` : `${work}/server.log`;
  const startedAt = performance.now();
  const server = Server.start(kind, data, logPath, WAL_FLAGS);
  try {
    const servingMs = await server.waitServing(startedAt);
    const cpuMs = server.cpuMs();
    const rssBytes = server.rssBytes();
    let settledRssBytes: number | undefined;
    if (SETTLE_S > 0) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_S * 1000));
      settledRssBytes = server.rssBytes();
      _log(`${kind} run ${run}: RSS ${settledRssBytes / MIB | 0} MiB after ${SETTLE_S} s idle`);
    }
    _log(
      `${kind} run ${run}: serving after ${servingMs.toFixed(0)} ms, CPU ${cpuMs} ms, RSS ${
        rssBytes / MIB | 0
      } MiB`,
    );
    if (KEEP_LOGS) _log(`  log: ${logPath}`);
    return { kind, servingMs, cpuMs, rssBytes, settledRssBytes };
  } finally {
    await server.stop();
    Deno.removeSync(work, { recursive: true });
  }
}

function _median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const kinds: ServerKind[] = ONLY === "etcd" || ONLY === "detcd" ? [ONLY] : ["etcd", "detcd"];
  let loadgenBin: string | undefined;
  const loadgen = async () => loadgenBin ??= await loadgenPath(LOADGEN_BUILD);
  const cached: Partial<Record<ServerKind, string>> = {};
  for (const kind of kinds) cached[kind] = await _cachedDir(kind, loadgen);
  if (BASE_MAIN !== undefined) {
    // The same data as detcd's: an A/B of two detcd versions, interleaved with the others.
    cached["detcd-base"] = cached.detcd ?? await _cachedDir("detcd", loadgen);
    kinds.push("detcd-base");
  }
  const runs: Run[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const kind of kinds) runs.push(await _restart(kind, cached[kind]!, run));
  }
  const dbBytes = (kind: ServerKind) => Deno.statSync(`${cached[kind]}/member/snap/db`).size;
  console.log(
    `\n## Restart: ${DB_MB} MiB db, ${WAL_ENTRIES} WAL entries after the last snapshot, ${RUNS} runs each (interleaved)\n`,
  );
  const settled = SETTLE_S > 0 ? ` RSS after ${SETTLE_S} s idle MiB |` : "";
  console.log(
    `| server | db MB | time to serving ms (each run) | median ms | CPU ms to serving (each run) | median CPU ms | RSS after start MiB |${settled}`,
  );
  console.log(`|---|---:|---|---:|---|---:|---:|${SETTLE_S > 0 ? "---:|" : ""}`);
  const medians: Partial<Record<ServerKind, number>> = {};
  for (const kind of kinds) {
    const mine = runs.filter((r) => r.kind === kind);
    medians[kind] = _median(mine.map((r) => r.servingMs));
    console.log(
      `| ${kind} | ${(dbBytes(kind) / 1e6).toFixed(0)} | ${
        mine.map((r) => r.servingMs.toFixed(0)).join(", ")
      } | ${medians[kind]!.toFixed(0)} | ${mine.map((r) => r.cpuMs).join(", ")} | ${
        _median(mine.map((r) => r.cpuMs)).toFixed(0)
      } | ${(_median(mine.map((r) => r.rssBytes)) / MIB).toFixed(0)} |${
        SETTLE_S > 0 ? ` ${(_median(mine.map((r) => r.settledRssBytes!)) / MIB).toFixed(0)} |` : ""
      }`,
    );
  }
  if (medians.etcd !== undefined && medians.detcd !== undefined) {
    console.log(
      `\ndetcd/etcd median time to serving: ${(medians.detcd / medians.etcd).toFixed(2)}x`,
    );
    const cpu = (kind: ServerKind) =>
      _median(runs.filter((r) => r.kind === kind).map((r) => r.cpuMs));
    console.log(
      `detcd/etcd median CPU time to serving: ${(cpu("detcd") / cpu("etcd")).toFixed(2)}x`,
    );
  }
}

if (import.meta.main) await main();
