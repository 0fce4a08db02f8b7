/**
 * Summarises V8 `.cpuprofile` files (from `deno run --cpu-prof`): where the samples' time went,
 * by self time per function and per source file, with the share of idle (the event loop waiting)
 * and of the garbage collector.
 *
 *   deno run -A bench/cpuprof_summary.ts [--top N] [--inclusive] [--areas] FILE.cpuprofile...
 *
 * `--inclusive` adds a third table: per function, the time of the samples with that function
 * anywhere on the stack (a function on the stack twice counts once), which is what a request
 * path's stages (decode, propose, apply, respond) cost including what they call.
 * `--areas` adds a table of self time grouped into the areas of a request (HTTP/2 and gRPC,
 * protobuf, raft, WAL, backend, MVCC, ...) by the rules of `_AREAS`, first match wins.
 *
 * @module
 */

interface _Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface _Profile {
  nodes: _Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function _short(url: string): string {
  const at = url.indexOf("/perf/");
  if (url.startsWith("file://")) {
    const path = url.slice("file://".length);
    return at >= 0 ? url.slice(at + "/perf/".length) : path.split("/").slice(-2).join("/");
  }
  if (url.startsWith("ext:")) return url;
  if (url.includes("node_modules") || url.includes("npm")) {
    const parts = url.split("/");
    return "npm:" + parts.slice(-3).join("/");
  }
  return url === "" ? "(native)" : url;
}

/** Self time (µs) per function key and per file of one profile, plus the total. */
export function summarise(profile: _Profile): {
  total: number;
  byFunction: Map<string, number>;
  byFile: Map<string, number>;
} {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const node = nodes.get(profile.samples[i]!);
    if (node === undefined) continue;
    total += delta;
    const frame = node.callFrame;
    const file = _short(frame.url);
    const fn = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
    byFile.set(file, (byFile.get(file) ?? 0) + delta);
  }
  return { total, byFunction, byFile };
}

/** Area rules: a self-time function key (`name file:line`) that contains the text. */
const _AREAS: [string, string[]][] = [
  ["idle", ["(idle)"]],
  ["garbage collector", ["(garbage collector)"]],
  ["socket write (native)", ["writeBuffer (native)"]],
  ["fdatasync / fs ops", ["op_fs_", "op_node_fs_", "fs.ts:", "30_fs.js"]],
  ["timers", ["timers.mjs", "timers.ts", "02_timers.js"]],
  ["metrics (prom-client)", [
    "lib/histogram.js",
    "lib/counter.js",
    "lib/gauge.js",
    "lib/registry.js",
    "lib/util.js",
    "metrics.ts",
  ]],
  ["Buffer (node:buffer)", ["internal/buffer.mjs"]],
  ["node streams / net", ["streams/", "net.ts", "stream_base_commons", "_events.mjs"]],
  ["HTTP/2 + gRPC framing", ["h2/", "api/grpc_server.ts", "rpc/"]],
  ["gRPC services", ["services/"]],
  ["protobuf", [
    "pb/",
    "gen/",
    "src/reader.js",
    "src/writer",
    "util/longbits",
    "util/minimal",
    "util/float",
    "mvccpb",
    "raftpb",
    "int64.ts",
    "walpb",
  ]],
  ["raft", ["raft/"]],
  ["WAL encode + CRC", ["wal/", "checksum/"]],
  ["backend", ["backend/"]],
  ["MVCC (index, kvstore)", ["mvcc/", "b+tree", "bytes/"]],
  ["server (propose, wait, apply)", ["server/"]],
  ["other native", ["(native)"]],
];

/** Self time (µs) per area of `_AREAS`; functions no rule matches are "other". */
export function byArea(byFunction: Map<string, number>): Map<string, number> {
  const areas = new Map<string, number>();
  for (const [fn, us] of byFunction) {
    const area = _AREAS.find(([, texts]) => texts.some((text) => fn.includes(text)))?.[0] ??
      "other";
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  return areas;
}

/** Time (µs) per function key of the samples with that function anywhere on their stack. */
export function inclusive(profile: _Profile): Map<string, number> {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const byFunction = new Map<string, number>();
  const seen = new Set<string>();
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    seen.clear();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = nodes.get(id)?.callFrame;
      if (frame === undefined) break;
      const fn = `${frame.functionName || "(anonymous)"} ${_short(frame.url)}:${
        frame.lineNumber + 1
      }`;
      if (seen.has(fn)) continue;
      seen.add(fn);
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
    }
  }
  return byFunction;
}

function _print(title: string, map: Map<string, number>, total: number, top: number): void {
  console.log(`  ${title}`);
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of rows) {
    console.log(
      `    ${(100 * us / total).toFixed(1).padStart(5)}%  ${
        (us / 1000).toFixed(0).padStart(7)
      } ms  ${key}`,
    );
  }
}

if (import.meta.main) {
  let top = 25;
  let withInclusive = false;
  let withAreas = false;
  const files: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    if (Deno.args[i] === "--top") top = Number(Deno.args[++i]);
    else if (Deno.args[i] === "--inclusive") withInclusive = true;
    else if (Deno.args[i] === "--areas") withAreas = true;
    else files.push(Deno.args[i]!);
  }
  if (files.length === 0 || !(top > 0)) {
    console.error("usage: cpuprof_summary.ts [--top N] [--inclusive] [--areas] FILE.cpuprofile...");
    Deno.exit(2);
  }
  for (const file of files) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as _Profile;
    const { total, byFunction, byFile } = summarise(profile);
    const idle = byFunction.get([...byFunction.keys()].find((k) => k.startsWith("(idle)")) ?? "") ??
      0;
    console.log(
      `${file}: ${(total / 1e6).toFixed(1)} s sampled, busy ${
        (100 * (total - idle) / total).toFixed(1)
      }%`,
    );
    _print("self time by file", byFile, total, top);
    _print("self time by function", byFunction, total, top);
    if (withAreas) _print("self time by area", byArea(byFunction), total, top);
    if (withInclusive) _print("time by function, callees included", inclusive(profile), total, top);
  }
}
