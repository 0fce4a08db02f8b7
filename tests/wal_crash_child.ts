/**
 * The writer the crash test kills: it opens (or creates) a WAL, then saves batches of entries
 * in a loop and prints the last index of each batch once `save()` has resolved. Every index it
 * printed is acknowledged, so it must survive a SIGKILL at any moment.
 *
 * Usage: deno run --allow-read --allow-write tests/wal_crash_child.ts DIR SEGMENT_BYTES SEED
 */

import type { Entry } from "../raft/mod.ts";
import { encodeMetadata, Wal } from "../wal/mod.ts";

/** The data of entry `index`: its size (40..1240 bytes) and bytes follow from the index. */
export function crashEntryData(index: number): Uint8Array {
  const bytes = 40 + ((index * 7919) % 1201);
  const data = new Uint8Array(bytes);
  let x = index >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  return data;
}

/** The metadata every crash-test WAL carries. */
export const CRASH_METADATA: Uint8Array = encodeMetadata({ nodeId: 7n, clusterId: 11n });

async function main(): Promise<void> {
  const [dir, segmentText, seedText] = Deno.args;
  if (dir === undefined || segmentText === undefined || seedText === undefined) {
    throw new Error("usage: wal_crash_child.ts DIR SEGMENT_BYTES SEED");
  }
  const options = { segmentBytes: Number(segmentText) };
  let wal: Wal;
  let next = 1;
  if (Wal.exists(dir)) {
    wal = await Wal.open(dir, { index: 0, term: 0 }, options);
    const contents = await wal.readAll();
    next = (contents.entries[contents.entries.length - 1]?.index ?? 0) + 1;
  } else {
    wal = await Wal.create(dir, CRASH_METADATA, options);
  }
  const encoder = new TextEncoder();
  Deno.stdout.writeSync(encoder.encode(`ready ${next}\n`));
  let seed = Number(seedText) >>> 0 || 1;
  while (true) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    // Mostly small batches; one in sixteen is large (about 200 KiB), so that some kills land
    // inside a multi-page write and leave part of it on disk (a torn tail to repair).
    const count = (seed >>> 12) % 16 === 0 ? 300 : 1 + (seed >>> 16) % 8;
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      entries.push({ term: 1, index: next + i, type: 0, data: crashEntryData(next + i) });
    }
    await wal.save({ term: 1, vote: 7n, commit: next - 1 }, entries);
    next += count;
    Deno.stdout.writeSync(encoder.encode(`${next - 1}\n`));
  }
}

if (import.meta.main) await main();
