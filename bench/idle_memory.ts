/**
 * Where an idle detcd member's memory goes, and what it costs to start one.
 *
 *     deno run -A bench/idle_memory.ts modules [ROOT] [RUNS]
 *     unshare -n bash -c 'ip link set lo up; deno run -A bench/idle_memory.ts member ROOT_A ROOT_B [RUNS]'
 *
 * `modules`: for each module of the list below, a fresh `deno run` (in ROOT, default this
 * checkout, so its deno.json import map applies) imports that one module and nothing else,
 * forces two full collections (`--expose-gc`), waits, and reports the V8 heap used and committed,
 * its code space, the bytecode V8 keeps, and RssAnon/RssFile from `/proc/self/status`. The table
 * shows each against a process that imports nothing. A module's figure includes everything it
 * imports, so figures of modules that share imports overlap; `main.ts` is the whole member's
 * module graph. Each row is the median of RUNS (default 3) processes. `IDLE_MODULES=a.ts,npm:b`
 * measures those instead of the list.
 *
 * `member`: starts a single empty member (`deno run -A main.ts`, the flags below) from ROOT_A
 * and from ROOT_B in turn, RUNS times each (default 3), interleaved. For each start: the time
 * from spawn to the first successful `etcdctl endpoint health`, then, 15 s after spawn, RssAnon,
 * RssFile and VmRSS of the member from `/proc/PID/status`. Ports come from PORT_BASE (default
 * 35000). Run it inside `unshare -n` so that nothing else can reach the member. etcdctl waits
 * a whole command timeout on a member that has no leader yet, so it is called once `/health`
 * over HTTP (polled every 20 ms, cheaper than a process) says the member is healthy: the time
 * is still that of etcdctl's first success, to within one etcdctl run.
 *
 * @module
 */

import { processCpuMs } from "./_server_bench.ts";

const MIB = 1024 * 1024;

/** What a child process reports, in bytes. */
interface ImportCost {
  heapUsed: number;
  heapTotal: number;
  codeSpaceUsed: number;
  bytecode: number;
  rssAnon: number;
  rssFile: number;
  /** glibc's bytes in use: arena chunks plus chunks mmapped on their own (`mallinfo2`). */
  mallocInUse: number;
}

/** Modules a member may load: top-level subsystems and the libraries they pull in. */
const MODULES = [
  "main.ts",
  "embed/mod.ts",
  "server/mod.ts",
  "api/mod.ts",
  "rpc/mod.ts",
  "client/mod.ts",
  "etcdserverpb/mod.ts",
  "mvcc/mod.ts",
  "backend/mod.ts",
  "wal/mod.ts",
  "snap/mod.ts",
  "raft/mod.ts",
  "rafthttp/mod.ts",
  "lease/mod.ts",
  "auth/mod.ts",
  "v2store/mod.ts",
  "tls/mod.ts",
  "ui/mod.ts",
  "proxy/mod.ts",
  "embed/proxy.ts",
  "api/v2_proxy.ts",
  "npm:prom-client",
  "npm:@grpc/grpc-js",
  "npm:protobufjs/minimal.js",
  "npm:jose",
  "npm:bcryptjs",
  "npm:yaml",
  "npm:sorted-btree",
  "node:http2",
  "node:http",
  "node:dns/promises",
];

function _statusBytes(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** glibc's `mallinfo2()`: `uordblks` (arena bytes in use) plus `hblkhd` (mmapped chunks). */
function _mallocInUse(): number {
  const libc = Deno.dlopen(
    "libc.so.6",
    {
      mallinfo2: { parameters: [], result: { struct: new Array(10).fill("usize") } },
    } as const,
  );
  const bytes = libc.symbols.mallinfo2();
  libc.close();
  const fields = new BigUint64Array(bytes.buffer, bytes.byteOffset, 10);
  return Number(fields[7]) + Number(fields[4]);
}

/** In the child: imports `target` (or nothing for "none"), collects, and prints its costs. */
async function _child(target: string): Promise<void> {
  if (target !== "none") {
    // A computed specifier: this is a benchmark, never compiled.
    const specifier = target.startsWith("npm:") || target.startsWith("node:")
      ? target.replace(/^npm:/, "")
      : new URL(`../${target}`, import.meta.url).href;
    await import(specifier);
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run the child with --v8-flags=--expose-gc");
  gc();
  await new Promise((resolve) => setTimeout(resolve, 300));
  gc();
  gc();
  const v8 = await import("node:v8");
  const spaces = v8.getHeapSpaceStatistics();
  const code = v8.getHeapCodeStatistics();
  const memory = Deno.memoryUsage();
  const status = Deno.readTextFileSync("/proc/self/status");
  const cost: ImportCost = {
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    codeSpaceUsed: spaces.find((space) => space.space_name === "code_space")?.space_used_size ?? 0,
    bytecode: code.bytecode_and_metadata_size,
    rssAnon: _statusBytes(status, "RssAnon"),
    rssFile: _statusBytes(status, "RssFile"),
    mallocInUse: _mallocInUse(),
  };
  console.log(JSON.stringify(cost));
  // Timers or listeners a module opened must not keep the child alive.
  Deno.exit(0);
}

async function _measureImport(root: string, target: string): Promise<ImportCost> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      `${root}/bench/idle_memory.ts`,
      "--child",
      target,
    ],
    cwd: root,
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`importing ${target} failed`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

function _median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function _mib(bytes: number, digits = 1): string {
  return (bytes / MIB).toFixed(digits);
}

async function _modules(root: string, runs: number): Promise<void> {
  const medianCost = async (target: string): Promise<ImportCost> => {
    const samples: ImportCost[] = [];
    for (let i = 0; i < runs; i++) samples.push(await _measureImport(root, target));
    const field = (key: keyof ImportCost) => _median(samples.map((sample) => sample[key]));
    return {
      heapUsed: field("heapUsed"),
      heapTotal: field("heapTotal"),
      codeSpaceUsed: field("codeSpaceUsed"),
      bytecode: field("bytecode"),
      rssAnon: field("rssAnon"),
      rssFile: field("rssFile"),
      mallocInUse: field("mallocInUse"),
    };
  };
  const base = await medianCost("none");
  console.log(
    `nothing imported: heap ${_mib(base.heapUsed)} / ${_mib(base.heapTotal)} MiB, ` +
      `anon ${_mib(base.rssAnon)} MiB, file ${_mib(base.rssFile)} MiB (median of ${runs})`,
  );
  console.log("");
  console.log(
    "| module (with its imports) | heap used | heap total | code space | bytecode | malloc in use | RssAnon | RssFile | RSS |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const only = Deno.env.get("IDLE_MODULES");
  const targets = only === undefined ? MODULES : only.split(",");
  for (const target of targets) {
    const cost = await medianCost(target);
    const delta = (key: keyof ImportCost, digits = 1) => _mib(cost[key] - base[key], digits);
    const rss = cost.rssAnon + cost.rssFile - base.rssAnon - base.rssFile;
    console.log(
      `| ${target} | ${delta("heapUsed")} | ${delta("heapTotal")} | ${
        delta("codeSpaceUsed", 2)
      } | ${delta("bytecode", 2)} | ${delta("mallocInUse")} | ${delta("rssAnon")} | ${
        delta("rssFile")
      } | ${_mib(rss)} |`,
    );
  }
}

/** One member start: ms to a healthy endpoint, and its memory 15 s after spawn. */
interface MemberSample {
  /** From spawn to the first HTTP answer on the client URL (modules loaded, member bootstrapped). */
  listeningMs: number;
  /** The member's CPU time (user + system, all threads) at that moment: steadier under load. */
  listeningCpuMs: number;
  healthyMs: number;
  rssAnon: number;
  rssFile: number;
  rss: number;
}

const IDLE_AFTER_MS = 15_000;
const HEALTH_TIMEOUT_MS = 60_000;

/**
 * `GET /health`: undefined while nothing answers, else whether it says `"health":"true"`
 * (etcd's own check: a leader, a read).
 */
async function _healthOverHttp(port: number): Promise<boolean | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(1000),
    });
    const body = await response.text();
    return response.ok && body.includes('"health":"true"');
  } catch {
    return undefined;
  }
}

async function _healthy(port: number): Promise<boolean> {
  const out = await new Deno.Command("etcdctl", {
    // A short dial timeout: while nothing listens, etcdctl would otherwise retry for 2 s.
    args: [
      "--endpoints",
      `http://127.0.0.1:${port}`,
      "--dial-timeout=500ms",
      "--command-timeout=1s",
      "endpoint",
      "health",
    ],
    stdout: "null",
    stderr: "null",
    env: { ETCDCTL_API: "3" },
  }).output();
  return out.success;
}

async function _startMember(root: string, portBase: number): Promise<MemberSample> {
  const dataDir = Deno.makeTempDirSync({ prefix: "idle-memory-" });
  const client = `http://127.0.0.1:${portBase + 1}`;
  const peer = `http://127.0.0.1:${portBase + 2}`;
  const startedAt = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}/main.ts`,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `default=${peer}`,
    ],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let healthyMs = -1;
    let listeningMs = -1;
    let listeningCpuMs = -1;
    while (performance.now() - startedAt < HEALTH_TIMEOUT_MS) {
      const health = await _healthOverHttp(portBase + 1);
      if (health !== undefined && listeningMs < 0) {
        listeningMs = performance.now() - startedAt;
        listeningCpuMs = processCpuMs(child.pid);
      }
      if (health !== true) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      if (await _healthy(portBase + 1)) {
        healthyMs = performance.now() - startedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (healthyMs < 0) throw new Error(`${root}: no healthy endpoint after 60 s`);
    const wait = IDLE_AFTER_MS - (performance.now() - startedAt);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
    return {
      listeningMs,
      listeningCpuMs,
      healthyMs,
      rssAnon: _statusBytes(status, "RssAnon"),
      rssFile: _statusBytes(status, "RssFile"),
      rss: _statusBytes(status, "VmRSS"),
    };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    Deno.removeSync(dataDir, { recursive: true });
  }
}

async function _member(roots: string[], runs: number, portBase: number): Promise<void> {
  const samples = new Map<string, MemberSample[]>(roots.map((root) => [root, []]));
  for (let run = 0; run < runs; run++) {
    for (const root of roots) {
      const sample = await _startMember(root, portBase);
      samples.get(root)!.push(sample);
      const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
      console.error(
        `run ${run + 1} ${root}: listening after ${
          sample.listeningMs.toFixed(0)
        } ms (CPU ${sample.listeningCpuMs} ms), healthy after ${
          sample.healthyMs.toFixed(0)
        } ms, RSS ${_mib(sample.rss)} MiB (anon ${_mib(sample.rssAnon)}, file ${
          _mib(sample.rssFile)
        }), load ${load}`,
      );
    }
  }
  console.log(
    "| checkout | RSS MiB (each run) | median | RssAnon median | RssFile median | ms to listening (each run) | median | CPU ms then (each run) | median | ms to healthy (each run) | median |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | --- | ---: | --- | ---: | --- | ---: |");
  for (const [root, list] of samples) {
    const each = (key: keyof MemberSample, f: (n: number) => string) =>
      list.map((sample) => f(sample[key])).join(", ");
    const median = (key: keyof MemberSample) => _median(list.map((sample) => sample[key]));
    console.log(
      `| ${root} | ${each("rss", (n) => _mib(n))} | ${_mib(median("rss"))} | ${
        _mib(median("rssAnon"))
      } | ${_mib(median("rssFile"))} | ${each("listeningMs", (n) => n.toFixed(0))} | ${
        median("listeningMs").toFixed(0)
      } | ${each("listeningCpuMs", (n) => n.toFixed(0))} | ${median("listeningCpuMs")} | ${
        each("healthyMs", (n) => n.toFixed(0))
      } | ${median("healthyMs").toFixed(0)} |`,
    );
  }
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  const here = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  if (mode === "--child") {
    await _child(rest[0] ?? "none");
  } else if (mode === "modules") {
    await _modules(rest[0] ?? here, Number(rest[1] ?? 3));
  } else if (mode === "member") {
    const numeric = rest.length > 0 && /^\d+$/.test(rest[rest.length - 1]!);
    const runs = numeric ? Number(rest.pop()) : 3;
    const roots = rest.length > 0 ? rest : [here];
    await _member(roots, runs, Number(Deno.env.get("PORT_BASE") ?? 35000));
  } else {
    console.error("usage: idle_memory.ts modules [ROOT] [RUNS] | member ROOT... [RUNS]");
    Deno.exit(2);
  }
}
