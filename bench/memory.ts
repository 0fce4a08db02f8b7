/**
 * Memory and restart benchmark: the real etcd 3.4 and detcd, one after the other, driven by the
 * same Go clientv3 load generator (`../shared/tools/loadgen`), in one script.
 *
 *     unshare -n bash -c 'ip link set lo up; deno run -A bench/memory.ts'
 *
 * Memory part, per server: start on an empty data dir; load `MEM_KEYS` keys (256-byte values,
 * sequential keys); overwrite them twice more; then put `MEM_BIG_KEYS` keys over a key space of
 * that size (so the first keys keep their history). After each step: VmRSS and VmHWM from
 * `/proc/<pid>/status`, the db file size, and for detcd the V8 heap and external memory from its
 * `/metrics` (`nodejs_heap_size_used_bytes`, `nodejs_external_memory_bytes`).
 *
 * Restart part, per server: fill a db of `RESTART_DB_MB` MiB (64 KiB values, snapshots every
 * 1,000 entries so the WAL ends near a snapshot), stop, restart with `--snapshot-count` above
 * `RESTART_WAL_ENTRIES` and put that many small values (all after the last snapshot), stop, then
 * time from spawn to the first answered linearizable range (through the JSON gateway), and the
 * RSS then.
 *
 * Knobs (environment): MEM_KEYS (100000), MEM_BIG_KEYS (1000000; 0 skips), RESTART_DB_MB (1024;
 * 0 skips the restart part), RESTART_WAL_ENTRIES (100000), BENCH_ONLY (etcd|detcd), DETCD_FLAGS
 * (extra flags for detcd, e.g. `--experimental-backend-cache-bytes 16777216`), DETCD_V8_FLAGS (given
 * to deno as `--v8-flags=...`, e.g. `--max-semi-space-size=4`, after the V8 flags detcd ships
 * with (embed/v8_flags.ts), so that it overrides them: `--no-efficiency-mode` turns the shipped
 * flag off), DETCD_DENO_FLAGS (more flags for
 * `deno run`, e.g. `--preload FILE`), MEM_HEAP_SNAPSHOT
 * (a path prefix: writes detcd's heap snapshot after each step, `PREFIX-N.heapsnapshot`, through
 * `--enable-pprof`; summarize one with `bench/heap_summary.ts`), MEM_SETTLE_S (also sample each
 * step after that many seconds without load: V8's memory reducer and detcd's idle malloc trim
 * act 10-30 s after load stops).
 *
 * The machine's cores are shared by client and server: RSS is stable across runs, times are not;
 * take the ratios from one run.
 *
 * @module
 */

import { v8FlagsArgument } from "../embed/mod.ts";
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
/** The shared load generator: LOADGEN_DIR, else `shared/` beside the checkout. */
const LOADGEN_BUILD = `${
  Deno.env.get("LOADGEN_DIR") ?? new URL("../shared/tools/loadgen", `file://${ROOT}`).pathname
}/build.sh`;
/** Ports inside the range of the memory work (27500-27999). */
const CLIENT_PORT = 27510;
const PEER_PORT = 27511;
const READY_TIMEOUT_MS = 600_000;
const MIB = 1024 * 1024;

type ServerKind = "etcd" | "detcd";

interface Sample {
  step: string;
  rssBytes: number;
  hwmBytes: number;
  dbBytes: number;
  /** Anonymous memory (heap, malloc) and file-backed pages (the binary, mapped files). */
  anonBytes: number;
  fileBytes: number;
  /** The server's CPU time so far (user + system, all threads), from `/proc/<pid>/stat`. */
  cpuSeconds: number;
  /** Puts sent to the server before this sample. */
  puts: number;
  heapUsedBytes?: number;
  heapTotalBytes?: number;
  externalBytes?: number;
}

const KEYS = envNumber("MEM_KEYS", 100_000);
const BIG_KEYS = envNumber("MEM_BIG_KEYS", 1_000_000);
const RESTART_DB_MB = envNumber("RESTART_DB_MB", 1024);
const RESTART_WAL_ENTRIES = envNumber("RESTART_WAL_ENTRIES", 100_000);
const ONLY = Deno.env.get("BENCH_ONLY");
const DETCD_FLAGS = (Deno.env.get("DETCD_FLAGS") ?? "").split(/\s+/).filter((s) => s !== "");
const HEAP_SNAPSHOT = Deno.env.get("MEM_HEAP_SNAPSHOT");
const SETTLE_S = envNumber("MEM_SETTLE_S", 0);
const DETCD_V8_FLAGS = Deno.env.get("DETCD_V8_FLAGS") ?? "";
/** The V8 flags detcd ships with (embed/v8_flags.ts), before DETCD_V8_FLAGS. */
const SHIPPED_V8_FLAGS = v8FlagsArgument();
const DETCD_DENO_FLAGS = (Deno.env.get("DETCD_DENO_FLAGS") ?? "").split(/\s+/).filter((s) =>
  s !== ""
);

function _log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** A running server: its process and data dir. */
class Server {
  readonly #child: Deno.ChildProcess;
  readonly #logFile: Deno.FsFile;

  private constructor(
    readonly kind: ServerKind,
    readonly dataDir: string,
    child: Deno.ChildProcess,
    logFile: Deno.FsFile,
  ) {
    this.#child = child;
    this.#logFile = logFile;
  }

  static start(kind: ServerKind, dataDir: string, extra: string[]): Server {
    const flags = [...singleMemberFlags(dataDir, CLIENT_PORT, PEER_PORT), ...extra];
    const [command, args] = kind === "etcd" ? ["/usr/bin/etcd", flags] : [Deno.execPath(), [
      "run",
      "-A",
      "--quiet",
      ...(SHIPPED_V8_FLAGS === undefined ? [] : [SHIPPED_V8_FLAGS]),
      ...(DETCD_V8_FLAGS === "" ? [] : [`--v8-flags=${DETCD_V8_FLAGS}`]),
      ...DETCD_DENO_FLAGS,
      `${ROOT}main.ts`,
      ...flags,
      ...DETCD_FLAGS,
    ]];
    const logFile = Deno.openSync(`${dataDir}.log`, { create: true, append: true });
    const child = new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    child.stderr.pipeTo(logFile.writable).catch(() => {});
    return new Server(kind, dataDir, child, logFile);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Waits until a linearizable range through the gateway answers; returns the ms it took. */
  waitServing(startedAt: number): Promise<number> {
    return waitServing(this.kind, CLIENT_PORT, startedAt, READY_TIMEOUT_MS, 10);
  }

  async sample(step: string, puts = 0): Promise<Sample> {
    // Let the batch commit and the allocator settle before reading RSS.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]);
    const sample: Sample = {
      step,
      rssBytes: kib("VmRSS") * 1024,
      hwmBytes: kib("VmHWM") * 1024,
      anonBytes: kib("RssAnon") * 1024,
      fileBytes: kib("RssFile") * 1024,
      dbBytes: Deno.statSync(`${this.dataDir}/member/snap/db`).size,
      cpuSeconds: _cpuSeconds(this.pid),
      puts,
    };
    if (this.kind === "detcd") {
      const text = await (await fetch(`http://127.0.0.1:${CLIENT_PORT}/metrics`)).text();
      const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      sample.heapUsedBytes = gauge("nodejs_heap_size_used_bytes");
      sample.heapTotalBytes = gauge("nodejs_heap_size_total_bytes");
      sample.externalBytes = gauge("nodejs_external_memory_bytes");
    }
    return sample;
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 20_000);
    await this.#child.status;
    clearTimeout(timer);
    try {
      this.#logFile.close();
    } catch {
      // Closed by the pipe.
    }
  }
}

/** User + system CPU seconds of a process, all threads (fields 14 and 15 of `/proc/<pid>/stat`). */
function _cpuSeconds(pid: number): number {
  return processCpuMs(pid) / 1000;
}

async function _put(loadgen: string, load: PutLoad): Promise<void> {
  const rate = await putWithLoadgen(loadgen, CLIENT_PORT, load);
  _log(`  ${load.total} puts: ${Math.round(rate)} req/s`);
}

async function _heapSnapshot(step: number): Promise<void> {
  if (HEAP_SNAPSHOT === undefined) return;
  const path = `${HEAP_SNAPSHOT}-${step}.heapsnapshot`;
  const response = await fetch(`http://127.0.0.1:${CLIENT_PORT}/debug/pprof/heap`);
  if (!response.ok) throw new Error(`heap snapshot: HTTP ${response.status}`);
  await Deno.writeFile(path, new Uint8Array(await response.arrayBuffer()));
  _log(`  heap snapshot written to ${path}`);
}

/** The sample after a step, and with MEM_SETTLE_S another after that many idle seconds. */
async function _samples(server: Server, step: string, puts: number): Promise<Sample[]> {
  const samples = [await server.sample(step, puts)];
  if (SETTLE_S > 0) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_S * 1000));
    samples.push(await server.sample(`${step}, after ${SETTLE_S} s idle`, puts));
  }
  return samples;
}

async function _memoryRun(kind: ServerKind, loadgen: string): Promise<Sample[]> {
  const dataDir = Deno.makeTempDirSync({ prefix: `memory-bench-${kind}-` });
  const extra = kind === "detcd" && HEAP_SNAPSHOT !== undefined ? ["--enable-pprof"] : [];
  const server = Server.start(kind, dataDir, extra);
  const samples: Sample[] = [];
  let failed = true;
  try {
    await server.waitServing(performance.now());
    samples.push(await server.sample("idle, empty"));
    _log(`${kind}: loading ${KEYS} keys`);
    await _put(loadgen, { total: KEYS, keySpace: KEYS, valueBytes: 256 });
    samples.push(...await _samples(server, `${KEYS} keys`, KEYS));
    if (kind === "detcd") await _heapSnapshot(1);
    _log(`${kind}: overwriting them twice`);
    await _put(loadgen, { total: 2 * KEYS, keySpace: KEYS, valueBytes: 256 });
    samples.push(...await _samples(server, `overwritten twice (${3 * KEYS} revisions)`, 3 * KEYS));
    if (kind === "detcd") await _heapSnapshot(2);
    if (BIG_KEYS > 0) {
      _log(`${kind}: putting ${BIG_KEYS} keys`);
      await _put(loadgen, { total: BIG_KEYS, keySpace: BIG_KEYS, valueBytes: 256 });
      samples.push(...await _samples(server, `${BIG_KEYS} keys with history`, 3 * KEYS + BIG_KEYS));
      if (kind === "detcd") await _heapSnapshot(3);
    }
    failed = false;
  } finally {
    await server.stop();
    Deno.removeSync(dataDir, { recursive: true });
    // A failed step's evidence (slow fdatasync warnings, slow applies) is in the server's log:
    // keep it then.
    if (failed) _log(`${kind}: the server's log is kept in ${dataDir}.log`);
    else Deno.removeSync(`${dataDir}.log`);
  }
  return samples;
}

interface RestartResult {
  dbBytes: number;
  servingMs: number;
  rssBytes: number;
}

async function _restartRun(kind: ServerKind, loadgen: string): Promise<RestartResult> {
  const dataDir = Deno.makeTempDirSync({ prefix: `restart-bench-${kind}-` });
  try {
    const valueBytes = 64 * 1024;
    const fill = Math.ceil(RESTART_DB_MB * MIB / valueBytes);
    _log(`${kind}: filling ${RESTART_DB_MB} MiB (${fill} values of 64 KiB)`);
    let server = Server.start(kind, dataDir, ["--snapshot-count", "1000"]);
    await server.waitServing(performance.now());
    await _put(loadgen, { total: fill, keySpace: fill, valueBytes, clients: 10 });
    await server.stop();
    _log(`${kind}: ${RESTART_WAL_ENTRIES} WAL entries after the last snapshot`);
    const walFlags = ["--snapshot-count", String(RESTART_WAL_ENTRIES + 10_000)];
    server = Server.start(kind, dataDir, walFlags);
    await server.waitServing(performance.now());
    await _put(loadgen, { total: RESTART_WAL_ENTRIES, keySpace: 10_000, valueBytes: 256 });
    await server.stop();
    const dbBytes = Deno.statSync(`${dataDir}/member/snap/db`).size;
    _log(`${kind}: restarting (db ${(dbBytes / MIB).toFixed(0)} MiB)`);
    const startedAt = performance.now();
    server = Server.start(kind, dataDir, walFlags);
    try {
      const servingMs = await server.waitServing(startedAt);
      const sample = await server.sample("restarted");
      return { dbBytes, servingMs, rssBytes: sample.rssBytes };
    } finally {
      await server.stop();
    }
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
    Deno.removeSync(`${dataDir}.log`, { recursive: true });
  }
}

function _mib(bytes: number | undefined): string {
  return bytes === undefined || Number.isNaN(bytes) ? "" : (bytes / MIB).toFixed(0);
}

function _mb(bytes: number | undefined): string {
  return bytes === undefined ? "" : (bytes / 1e6).toFixed(0);
}

/** Server CPU µs per put during the step that ended at sample i (each step's puts are known). */
function _cpuPerPut(samples: Sample[], i: number): string {
  const now = samples[i];
  const before = samples[i - 1];
  if (now === undefined || before === undefined) return "";
  const puts = now.puts - before.puts;
  return puts > 0 ? ((now.cpuSeconds - before.cpuSeconds) * 1e6 / puts).toFixed(0) : "";
}

function _memoryTable(etcd: Sample[], detcd: Sample[]): string {
  const lines = [
    "| state | db MB etcd / detcd | etcd RSS MiB | detcd RSS MiB | ratio | peak RSS etcd / detcd MiB | anon / file etcd | anon / file detcd | detcd heap used / total MiB | detcd external MiB | server CPU µs per put etcd / detcd |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const steps = Math.max(etcd.length, detcd.length);
  for (let i = 0; i < steps; i++) {
    const e = etcd[i];
    const d = detcd[i];
    const ratio = e !== undefined && d !== undefined
      ? `${(d.rssBytes / e.rssBytes).toFixed(2)}x`
      : "";
    const db = `${_mb(e?.dbBytes)} / ${_mb(d?.dbBytes)}`;
    const cells = [
      (e ?? d)!.step,
      db,
      _mib(e?.rssBytes),
      _mib(d?.rssBytes),
      ratio,
      `${_mib(e?.hwmBytes)} / ${_mib(d?.hwmBytes)}`,
      `${_mib(e?.anonBytes)} / ${_mib(e?.fileBytes)}`,
      `${_mib(d?.anonBytes)} / ${_mib(d?.fileBytes)}`,
      `${_mib(d?.heapUsedBytes)} / ${_mib(d?.heapTotalBytes)}`,
      _mib(d?.externalBytes),
      `${_cpuPerPut(etcd, i)} / ${_cpuPerPut(detcd, i)}`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const loadgen = await loadgenPath(LOADGEN_BUILD);
  const kinds: ServerKind[] = ONLY === "etcd" || ONLY === "detcd" ? [ONLY] : ["etcd", "detcd"];
  const samples: Record<ServerKind, Sample[]> = { etcd: [], detcd: [] };
  for (const kind of kinds) samples[kind] = await _memoryRun(kind, loadgen);
  console.log(`\n## Memory (RSS), one member, 256-byte values\n`);
  console.log(_memoryTable(samples.etcd, samples.detcd));
  if (RESTART_DB_MB === 0) return;
  const restarts: Partial<Record<ServerKind, RestartResult>> = {};
  for (const kind of kinds) restarts[kind] = await _restartRun(kind, loadgen);
  console.log(
    `\n## Restart: ${RESTART_DB_MB} MiB db, ${RESTART_WAL_ENTRIES} WAL entries after the last snapshot\n`,
  );
  console.log("| server | db MB | time to serving ms | RSS after start MiB |");
  console.log("|---|---:|---:|---:|");
  for (const kind of kinds) {
    const r = restarts[kind]!;
    console.log(
      `| ${kind} | ${(r.dbBytes / 1e6).toFixed(0)} | ${r.servingMs.toFixed(0)} | ${
        _mib(r.rssBytes)
      } |`,
    );
  }
  const e = restarts.etcd;
  const d = restarts.detcd;
  if (e !== undefined && d !== undefined) {
    console.log(`\ndetcd/etcd time to serving: ${(d.servingMs / e.servingMs).toFixed(2)}x`);
  }
}

if (import.meta.main) await main();
