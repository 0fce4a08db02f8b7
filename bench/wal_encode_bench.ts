/**
 * The CPU of framing one put's WAL records in-process, the old way against the new:
 * `deno run -A bench/wal_encode_bench.ts`. A put on the 1-client rows is one entry of about 300
 * bytes (a 256-byte value and an 8-byte key in an InternalRaftRequest) and one hard state per
 * round. "copied" is `append(encodeEntry(e))` (the entry encoded into the shared writer, copied
 * out, framed by copying it again); "joined" is `appendJoined(encodeEntryHead(e), e.data)` (the
 * data copied once). Prints nanoseconds per put, interleaved rounds, best of each.
 *
 * @module
 */

import {
  encodeEntry,
  encodeEntryHead,
  encodeHardState,
  encodeHardStateView,
  type Entry,
} from "../raft/mod.ts";
import { RecordEncoder, RecordType } from "../wal/mod.ts";

const ROUNDS = 7;
const PUTS = 300_000;
const DATA_BYTES = Number(Deno.args[0] ?? 300);

const data = new Uint8Array(DATA_BYTES);
for (let i = 0; i < DATA_BYTES; i++) data[i] = (i * 37) & 0xff;

function copied(encoder: RecordEncoder, entry: Entry, commit: number): void {
  encoder.append(RecordType.entry, encodeEntry(entry));
  encoder.append(RecordType.state, encodeHardState({ term: 2, vote: 0x8e9e05c52164694dn, commit }));
  encoder.take();
}

function joined(encoder: RecordEncoder, entry: Entry, commit: number): void {
  encoder.appendJoined(RecordType.entry, encodeEntryHead(entry), entry.data);
  encoder.append(
    RecordType.state,
    encodeHardStateView({ term: 2, vote: 0x8e9e05c52164694dn, commit }),
  );
  encoder.take();
}

function run(frame: typeof copied): number {
  const encoder = new RecordEncoder(0);
  const start = performance.now();
  for (let i = 1; i <= PUTS; i++) frame(encoder, { term: 2, index: i, type: 0, data }, i);
  return ((performance.now() - start) * 1e6) / PUTS;
}

const best = { copied: Infinity, joined: Infinity };
for (let round = 0; round < ROUNDS; round++) {
  best.copied = Math.min(best.copied, run(copied));
  best.joined = Math.min(best.joined, run(joined));
}
console.log(
  `${DATA_BYTES}-byte entry + hard state per put: copied ${best.copied.toFixed(0)} ns, ` +
    `joined ${best.joined.toFixed(0)} ns (x${(best.joined / best.copied).toFixed(2)})`,
);
