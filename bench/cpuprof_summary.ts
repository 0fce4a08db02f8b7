/**
 * Summarises V8 `.cpuprofile` files (from `deno run --cpu-prof`): where the samples' time went,
 * by self time per function and per source file, with the share of idle (the event loop waiting)
 * and of the garbage collector, and by inclusive time per function (the samples whose stack holds
 * it, each counted once however deep the recursion).
 *
 *   deno run -A bench/cpuprof_summary.ts [--top N] [--per COUNT] [--under REGEX] [--areas] FILE.cpuprofile...
 *
 * `--per COUNT` adds a column of milliseconds per operation (e.g. the puts of the row).
 * `--under REGEX` adds where the time of the outermost frame whose "function file:line" matches
 * went: inclusive time per direct callee ("(self)" for its own), to follow one path down.
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
export function summarise(profile: _Profile, under?: RegExp): {
  total: number;
  byFunction: Map<string, number>;
  byFile: Map<string, number>;
  inclusive: Map<string, number>;
  under: Map<string, number>;
} {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parents.set(child, node.id);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const callees = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const node = nodes.get(profile.samples[i]!);
    if (node === undefined) continue;
    total += delta;
    const file = _short(node.callFrame.url);
    const fn = _key(node);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
    byFile.set(file, (byFile.get(file) ?? 0) + delta);
    // Every function on the sample's stack, once: a recursive function is not counted twice.
    const seen = new Set<string>();
    let callee = "(self)";
    let outermost: string | undefined;
    for (let at: _Node | undefined = node; at !== undefined; at = nodes.get(parents.get(at.id)!)) {
      const key = _key(at);
      if (under?.test(key)) outermost = callee;
      callee = key;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + delta);
    }
    if (outermost !== undefined) callees.set(outermost, (callees.get(outermost) ?? 0) + delta);
  }
  return { total, byFunction, byFile, inclusive, under: callees };
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

function _key(node: _Node): string {
  const frame = node.callFrame;
  return `${frame.functionName || "(anonymous)"} ${_short(frame.url)}:${frame.lineNumber + 1}`;
}

function _print(
  title: string,
  map: Map<string, number>,
  options: { total: number; top: number; per: number },
): void {
  console.log(`  ${title}`);
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, options.top);
  for (const [key, us] of rows) {
    const per = options.per > 0
      ? `  ${(us / 1000 / options.per).toFixed(3).padStart(7)} ms/op`
      : "";
    console.log(
      `    ${(100 * us / options.total).toFixed(1).padStart(5)}%  ${
        (us / 1000).toFixed(0).padStart(7)
      } ms${per}  ${key}`,
    );
  }
}

/** Stack roots that are not work: the idle and program pseudo-frames and the root itself. */
const _NOT_WORK = /^\((root|idle|program)\) /;

if (import.meta.main) {
  let top = 25;
  let per = 0;
  let under: RegExp | undefined;
  let withAreas = false;
  const files: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    if (Deno.args[i] === "--top") top = Number(Deno.args[++i]);
    else if (Deno.args[i] === "--per") per = Number(Deno.args[++i]);
    else if (Deno.args[i] === "--under") under = new RegExp(Deno.args[++i]!);
    else if (Deno.args[i] === "--areas") withAreas = true;
    else files.push(Deno.args[i]!);
  }
  if (files.length === 0 || !(top > 0) || !(per >= 0)) {
    console.error(
      "usage: cpuprof_summary.ts [--top N] [--per COUNT] [--under REGEX] [--areas] FILE...",
    );
    Deno.exit(2);
  }
  for (const file of files) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as _Profile;
    const { total, byFunction, byFile, inclusive, under: callees } = summarise(profile, under);
    const idle = byFunction.get([...byFunction.keys()].find((k) => k.startsWith("(idle)")) ?? "") ??
      0;
    console.log(
      `${file}: ${(total / 1e6).toFixed(1)} s sampled, busy ${
        (100 * (total - idle) / total).toFixed(1)
      }%`,
    );
    const options = { total, top, per };
    _print("self time by file", byFile, options);
    _print("self time by function", byFunction, options);
    if (withAreas) _print("self time by area", byArea(byFunction), options);
    const work = new Map([...inclusive].filter(([key]) => !_NOT_WORK.test(key)));
    _print("inclusive time by function", work, options);
    if (under !== undefined) _print(`callees of /${under.source}/`, callees, options);
  }
}
