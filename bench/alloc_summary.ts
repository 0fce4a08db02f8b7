/**
 * Summarizes a sampling heap profile (`.heapprofile`, from `bench/_alloc_sampler.ts`): total
 * sampled bytes, bytes per operation when given the number of operations, and the functions
 * that allocate most (self bytes), with their file and line.
 *
 *     deno run -A bench/alloc_summary.ts PROFILE.heapprofile [OPERATIONS] [TOP=30]
 *
 * @module
 */

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const [path, operationsArg, topArg] = Deno.args;
if (path === undefined) throw new Error("usage: alloc_summary.ts PROFILE [OPERATIONS] [TOP]");
const operations = Number(operationsArg ?? "0");
const top = Number(topArg ?? "30");
const profile: { head: ProfileNode } = JSON.parse(Deno.readTextFileSync(path));

const bySite = new Map<string, number>();
let total = 0;
const stack: ProfileNode[] = [profile.head];
while (stack.length > 0) {
  const node = stack.pop()!;
  total += node.selfSize;
  if (node.selfSize > 0) {
    const frame = node.callFrame;
    const file = frame.url.replace(/^.*\/(wt|main)\/[^/]+\//, "").replace(/^file:\/\//, "");
    const site = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
  }
  stack.push(...node.children);
}

const perOperation = (bytes: number) =>
  operations > 0 ? ` (${Math.round(bytes / operations)} B/op)` : "";
console.log(`total sampled: ${(total / 1024 / 1024).toFixed(1)} MiB${perOperation(total)}`);
console.log("| bytes/op | share | function and site |");
console.log("|---:|---:|---|");
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  const share = ((100 * bytes) / total).toFixed(1);
  const per = operations > 0 ? String(Math.round(bytes / operations)) : String(bytes);
  console.log(`| ${per} | ${share}% | ${site} |`);
}
