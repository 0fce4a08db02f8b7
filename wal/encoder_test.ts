import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  encodeEntry,
  encodeEntryHead,
  encodeHardState,
  encodeHardStateView,
  type Entry,
  type HardState,
  Xoshiro128,
} from "../raft/mod.ts";
import { RecordEncoder } from "./encoder.ts";
import { RecordType } from "./walpb.ts";

/** A seeded entry: every type, terms and indexes across the 1-, 4- and 8-byte varint ranges,
 * nil, empty and 1-3000-byte data (so every padding length occurs). */
function randomEntry(rand: Xoshiro128, index: number): Entry {
  const scales = [100, 2 ** 31, 2 ** 53 - 1];
  const term = Math.floor((rand.intn(2 ** 32) / 2 ** 32) * scales[rand.intn(3)]!);
  const type = rand.intn(3) as 0 | 1 | 2;
  const shape = rand.intn(4);
  if (shape === 0) return { term, index, type };
  const bytes = shape === 1 ? 0 : 1 + rand.intn(3000);
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = rand.intn(2 ** 32) & 0xff;
  return { term, index, type, data };
}

Deno.test("appendJoined() of an entry's head and data frames the bytes append() frames of encodeEntry()", () => {
  // Goal: the WAL bytes (frames, padding, CRC chain) do not change with the one-copy entry path.
  // Method: two encoders from the same chain value take the same seeded records, one through
  // append(encodeEntry(e)) and append(encodeHardState(hs)), the other through appendJoined and
  // the view encoders; every take() and the chain value must be equal.
  for (let seed = 1; seed <= 20; seed++) {
    const rand = new Xoshiro128(seed);
    const previousCrc = rand.intn(2 ** 32);
    const joined = new RecordEncoder(previousCrc, 64);
    const copied = new RecordEncoder(previousCrc, 64);
    let index = Math.floor((rand.intn(2 ** 32) / 2 ** 32) * 2 ** 40);
    for (let batch = 0; batch < 20; batch++) {
      const entries = 1 + rand.intn(8);
      for (let i = 0; i < entries; i++) {
        const entry = randomEntry(rand, ++index);
        copied.append(RecordType.entry, encodeEntry(entry));
        joined.appendJoined(RecordType.entry, encodeEntryHead(entry), entry.data);
      }
      const hardState: HardState = {
        term: rand.intn(2 ** 32),
        vote: BigInt(rand.intn(2 ** 32)) << 32n | BigInt(rand.intn(2 ** 32)),
        commit: index,
      };
      copied.append(RecordType.state, encodeHardState(hardState));
      joined.append(RecordType.state, encodeHardStateView(hardState));
      deepStrictEqual(joined.take(), copied.take(), `seed ${seed} batch ${batch}`);
      strictEqual(joined.crc, copied.crc);
    }
  }
});

Deno.test("encodeEntryHead() followed by the data is encodeEntry()", () => {
  // Goal: the head is exactly the encoding's prefix. Method: nil, empty and non-empty data.
  for (const data of [undefined, new Uint8Array(0), new Uint8Array([1, 2, 3])]) {
    const entry: Entry = { term: 2 ** 40, index: 300, type: 0, data };
    const head = encodeEntryHead(entry).slice();
    const whole = new Uint8Array(head.length + (data?.length ?? 0));
    whole.set(head);
    if (data !== undefined) whole.set(data, head.length);
    deepStrictEqual(whole, encodeEntry(entry));
  }
});

Deno.test("appendJoined() refuses a crc record", () => {
  // Goal: a crc record never carries data on either path.
  const encoder = new RecordEncoder(0);
  throws(() => encoder.appendJoined(RecordType.crc, new Uint8Array(1), undefined));
  throws(() => encoder.append(RecordType.crc, new Uint8Array(1)));
});
