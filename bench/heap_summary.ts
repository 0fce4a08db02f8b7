/**
 * Summarizes a V8 `.heapsnapshot` (from detcd's `/debug/pprof/heap` with `--enable-pprof`, or
 * `MEM_HEAP_SNAPSHOT` of `bench/memory.ts`): self size and count per node type and constructor
 * name, the largest first, so that the heap can be split into key index, page cache, raft log and
 * so on by what holds the objects.
 *
 *     deno run -A bench/heap_summary.ts FILE.heapsnapshot [TOP=40]
 *
 * ArrayBuffer backing stores show as native `system / JSArrayBufferData` nodes; their sizes are
 * the off-heap (external) memory.
 *
 * @module
 */

interface _Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Rows of (type, name) with their count and total self size, largest first. */
export function summarizeHeap(
  snapshot: _Snapshot,
): { key: string; count: number; bytes: number }[] {
  const fields = snapshot.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const typeNames = snapshot.snapshot.meta.node_types[0];
  const rows = new Map<string, { count: number; bytes: number }>();
  const nodes = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += stride) {
    const type = typeNames[nodes[i + typeAt]!] ?? "?";
    let name = snapshot.strings[nodes[i + nameAt]!] ?? "?";
    // Strings and code are named by their content: fold them into their type.
    if (type === "string" || type === "concatenated string" || type === "sliced string") {
      name = "";
    }
    if (type === "code" || type === "number" || type === "regexp") name = "";
    if (name.length > 60) name = name.slice(0, 60) + "…";
    const key = `${type} ${name}`;
    const row = rows.get(key) ?? { count: 0, bytes: 0 };
    row.count++;
    row.bytes += nodes[i + sizeAt]!;
    rows.set(key, row);
  }
  return [...rows].map(([key, row]) => ({ key, ...row })).sort((a, b) => b.bytes - a.bytes);
}

if (import.meta.main) {
  const [path, topArg] = Deno.args;
  if (path === undefined) {
    console.error("usage: deno run -A bench/heap_summary.ts FILE.heapsnapshot [TOP]");
    Deno.exit(2);
  }
  const snapshot = JSON.parse(Deno.readTextFileSync(path)) as _Snapshot;
  const rows = summarizeHeap(snapshot);
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  console.log(`total self size ${(total / 1048576).toFixed(1)} MiB`);
  console.log("| type and name | count | MiB | bytes per object |");
  console.log("|---|---:|---:|---:|");
  for (const row of rows.slice(0, Number(topArg ?? 40))) {
    console.log(
      `| ${row.key} | ${row.count} | ${(row.bytes / 1048576).toFixed(1)} | ${
        (row.bytes / row.count).toFixed(0)
      } |`,
    );
  }
}
