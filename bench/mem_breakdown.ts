/**
 * Prints the samples written by `bench/_mem_sampler.ts` as a table, in MiB:
 *
 *     deno run -A bench/mem_breakdown.ts /tmp/s.jsonl [every_n_seconds=5]
 *
 * Columns: RSS, anonymous and file-backed RSS; V8's committed heap (`heapTotal`) and the part
 * in use, its young generation (committed) and old space (used / committed); external memory
 * (ArrayBuffer backing stores and other off-heap memory V8 is told about); glibc malloc: the
 * arenas' size (`arena`), of which in use (`uordblks`) and free but kept (`fordblks`), chunks
 * mmapped on their own (`hblkhd`), and the number of thread arenas; "rest" is the anonymous
 * RSS not explained by V8's heap and malloc (thread stacks, code, V8's own tables). The last row
 * is the sample with the highest RSS.
 *
 * @module
 */

const MIB = 1024 * 1024;
const [path, everyArg] = Deno.args;
if (path === undefined) throw new Error("usage: mem_breakdown.ts SAMPLES.jsonl [every_s]");
const everyMs = Number(everyArg ?? "5") * 1000;

const samples: Record<string, number>[] = Deno.readTextFileSync(path).split("\n")
  .filter((line) => line !== "").map((line) => JSON.parse(line));
if (samples.length === 0) throw new Error(`${path}: no samples`);

const columns = [
  "s",
  "rss",
  "anon",
  "file",
  "v8 total",
  "v8 used",
  "young",
  "old used/total",
  "external",
  "malloc arena",
  "in use",
  "free",
  "mmapped",
  "arenas",
  "rest",
];

function row(sample: Record<string, number>, label: string): string {
  const mib = (name: string) => Math.round((sample[name] ?? 0) / MIB);
  const rest = (sample.anon ?? 0) - (sample.heapTotal ?? 0) - (sample.m_arena ?? 0) -
    (sample.m_hblkhd ?? 0);
  return `| ${
    [
      label,
      mib("rss"),
      mib("anon"),
      mib("file"),
      mib("heapTotal"),
      mib("heapUsed"),
      mib("newSize"),
      `${mib("oldUsed")} / ${mib("oldSize")}`,
      mib("external"),
      mib("m_arena"),
      mib("m_uordblks"),
      mib("m_fordblks"),
      mib("m_hblkhd"),
      sample.arenas ?? 0,
      Math.round(rest / MIB),
    ].join(" | ")
  } |`;
}

const start = samples[0]!.t!;
console.log(`| ${columns.join(" | ")} |`);
console.log(`|${columns.map(() => "---:").join("|")}|`);
let next = start;
for (const sample of samples) {
  if (sample.t! < next) continue;
  console.log(row(sample, String(Math.round((sample.t! - start) / 1000))));
  next = sample.t! + everyMs;
}
const peak = samples.reduce((a, b) => (b.rss! > a.rss! ? b : a));
console.log(row(peak, `peak (${Math.round((peak.t! - start) / 1000)})`));
