/**
 * Summarises V8 `.cpuprofile` files (from `deno run --cpu-prof`): where the samples' time went,
 * by self time per function and per source file, with the share of idle (the event loop waiting)
 * and of the garbage collector.
 *
 *   deno run -A bench/cpuprof_summary.ts [--top N] FILE.cpuprofile...
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
  const files: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    if (Deno.args[i] === "--top") top = Number(Deno.args[++i]);
    else files.push(Deno.args[i]!);
  }
  if (files.length === 0 || !(top > 0)) {
    console.error("usage: cpuprof_summary.ts [--top N] FILE.cpuprofile...");
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
  }
}
