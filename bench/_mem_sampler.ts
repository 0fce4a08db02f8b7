/**
 * A `--preload` file for detcd that writes where its memory is, once a second, while it runs:
 *
 *     DETCD_DENO_FLAGS="--preload bench/_mem_sampler.ts" MEM_SAMPLE_FILE=/tmp/s.jsonl \
 *       BENCH_ONLY=detcd ... deno run -A bench/memory.ts
 *
 * Each line of `MEM_SAMPLE_FILE` is one JSON sample: the time, RssAnon and RssFile from
 * `/proc/self/status`, `Deno.memoryUsage()` (V8 heap used and committed, external memory), the
 * committed and used bytes of V8's young and old spaces, and glibc's `mallinfo2()`: bytes in
 * use and free inside malloc's arenas (`arena` = brk heap plus thread arenas, `hblkhd` = chunks
 * mmapped on their own), and the number of arenas (from `/proc/self/smaps`: anonymous mappings
 * of glibc's 64 MiB arena reservation). `bench/mem_breakdown.ts` prints a table of such a file.
 *
 * Benchmark-only: it is not loaded by detcd itself.
 *
 * @module
 */

import v8 from "node:v8";

const FILE = Deno.env.get("MEM_SAMPLE_FILE");
const INTERVAL_MS = 1000;
/** glibc's per-thread arena reservation (HEAP_MAX_SIZE on 64-bit). */
const ARENA_RESERVATION_KIB = 64 * 1024;

/** glibc 2.33+ `struct mallinfo2`: ten size_t fields. */
const MALLINFO2_FIELDS = [
  "arena",
  "ordblks",
  "smblks",
  "hblks",
  "hblkhd",
  "usmblks",
  "fsmblks",
  "uordblks",
  "fordblks",
  "keepcost",
] as const;

function openLibc() {
  try {
    return Deno.dlopen(
      "libc.so.6",
      {
        mallinfo2: { parameters: [], result: { struct: MALLINFO2_FIELDS.map(() => "usize") } },
      } as const,
    );
  } catch {
    return undefined;
  }
}

function statusKiB(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match === null ? 0 : Number(match[1]);
}

/** Counts glibc thread arenas: an anonymous rw mapping plus its ---p rest, 64 MiB together. */
function arenaCount(smaps: string): number {
  let count = 0;
  let previousEnd = -1;
  let previousSize = 0;
  let previousAnonymous = false;
  for (const line of smaps.split("\n")) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (match === null) continue;
    const start = parseInt(match[1]!, 16);
    const end = parseInt(match[2]!, 16);
    const anonymous = match[4] === "0" && match[5] === "";
    const sizeKiB = (end - start) / 1024;
    // An arena is 64 MiB aligned: its rw head followed by its reserved, inaccessible tail.
    if (
      anonymous && previousAnonymous && start === previousEnd && match[3] === "---p" &&
      previousSize + sizeKiB === ARENA_RESERVATION_KIB && previousEnd % (64 * 1024 * 1024) !== 0
    ) {
      count++;
    } else if (anonymous && sizeKiB === ARENA_RESERVATION_KIB && start % (64 * 1024 * 1024) === 0) {
      count++; // a fully committed arena
    }
    previousEnd = end;
    previousSize = sizeKiB;
    previousAnonymous = anonymous;
  }
  return count;
}

function sample(libc: ReturnType<typeof openLibc>): Record<string, number> {
  const status = Deno.readTextFileSync("/proc/self/status");
  const memory = Deno.memoryUsage();
  const spaces = v8.getHeapSpaceStatistics();
  const space = (name: string) => spaces.find((s) => s.space_name === name);
  const record: Record<string, number> = {
    t: Date.now(),
    rss: statusKiB(status, "VmRSS") * 1024,
    anon: statusKiB(status, "RssAnon") * 1024,
    file: statusKiB(status, "RssFile") * 1024,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    newSize: space("new_space")?.space_size ?? 0,
    newUsed: space("new_space")?.space_used_size ?? 0,
    oldSize: space("old_space")?.space_size ?? 0,
    oldUsed: space("old_space")?.space_used_size ?? 0,
    largeSize: space("large_object_space")?.space_size ?? 0,
    arenas: arenaCount(Deno.readTextFileSync("/proc/self/smaps")),
  };
  if (libc !== undefined) {
    const bytes = libc.symbols.mallinfo2();
    const view = new BigUint64Array(bytes.buffer, bytes.byteOffset, MALLINFO2_FIELDS.length);
    MALLINFO2_FIELDS.forEach((name, i) => record[`m_${name}`] = Number(view[i]));
  }
  return record;
}

if (FILE !== undefined) {
  const libc = openLibc();
  const out = Deno.openSync(FILE, { create: true, append: true });
  const encoder = new TextEncoder();
  const timer = setInterval(() => {
    out.writeSync(encoder.encode(JSON.stringify(sample(libc)) + "\n"));
  }, INTERVAL_MS);
  Deno.unrefTimer(timer);
}
