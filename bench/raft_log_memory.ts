/**
 * Bytes per entry of the raft log held in memory (`MemoryStorage`): appends `RAFT_LOG_ENTRIES`
 * entries (default 100,000, etcd's default `--snapshot-count`) of `RAFT_LOG_DATA_BYTES` bytes
 * each (default 290, an encoded put of an 8-byte key and a 256-byte value), in batches of 100
 * taken as views of one shared source buffer, as the WAL and the network hand them over. Prints
 * the JavaScript heap and the ArrayBuffer memory per entry, measured after full collections.
 *
 *     deno run -A --v8-flags=--expose-gc bench/raft_log_memory.ts
 *
 * @module
 */

import { EntryType, MemoryStorage } from "../raft/mod.ts";

function _envNumber(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name}=${raw}`);
  return value;
}

const ENTRIES = _envNumber("RAFT_LOG_ENTRIES", 100_000);
const DATA_BYTES = _envNumber("RAFT_LOG_DATA_BYTES", 290);
const BATCH = 100;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const source = new Uint8Array(BATCH * DATA_BYTES).fill(0x61);
gc();
gc();
const before = Deno.memoryUsage();
const storage = new MemoryStorage();
for (let first = 1; first <= ENTRIES; first += BATCH) {
  const batch = [];
  for (let i = 0; i < BATCH && first + i <= ENTRIES; i++) {
    const data = source.subarray(i * DATA_BYTES, (i + 1) * DATA_BYTES);
    batch.push({ term: 2, index: first + i, type: EntryType.EntryNormal, data });
  }
  storage.append(batch);
}
gc();
gc();
const after = Deno.memoryUsage();
console.log(
  `${storage.lastIndex()} entries of ${DATA_BYTES} bytes: JS heap ${
    ((after.heapUsed - before.heapUsed) / ENTRIES).toFixed(1)
  } bytes per entry, ArrayBuffers ${
    ((after.external - before.external) / ENTRIES).toFixed(1)
  } bytes per entry`,
);
