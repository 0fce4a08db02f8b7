// Goal: the msgappv2 encoding matches etcd's layout byte for byte and round-trips, including
// the AppEntries shortcut that drops the header of a continuing append. Method: etcd's own
// TestMsgAppV2 sequence (msgappv2_codec_test.go), expected bytes assembled from the layout.
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  encodeEntry,
  encodeMessage,
  isEmptySnapshot,
  type Message,
  MessageType,
  newMessage,
} from "../raft/mod.ts";
import { ByteQueue } from "./byte_queue.ts";
import { FrameError } from "./msg_codec.ts";
import {
  linkHeartbeatMessage,
  MSGAPPV2_APP,
  MSGAPPV2_APP_ENTRIES,
  MsgAppV2Decoder,
  MsgAppV2Encoder,
  putUint64,
} from "./msgappv2_codec.ts";

const data = new TextEncoder().encode("some data");

function app(term: number, logTerm: number, index: number, entryIndexes: number[]): Message {
  return newMessage({
    type: MessageType.MsgApp,
    from: 1n,
    to: 2n,
    term,
    logTerm,
    index,
    entries: entryIndexes.map((i) => ({ term, index: i, type: 0, data })),
  });
}

function u64(value: number): number[] {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value), false);
  return [...bytes];
}

const sequence: Message[] = [
  linkHeartbeatMessage(),
  app(1, 1, 0, [1, 2, 3]),
  app(1, 1, 3, [4]), // continues: AppEntries
  linkHeartbeatMessage(),
  app(1, 1, 4, [5]), // continues after a heartbeat
  app(3, 1, 5, [6]), // higher term: full message
  linkHeartbeatMessage(),
  app(3, 3, 6, [7]), // continues the term-3 append
];

Deno.test("MsgAppV2Encoder writes etcd's record layout", () => {
  const encoder = new MsgAppV2Encoder();
  const flat = (pieces: Uint8Array[]) => pieces.flatMap((p) => [...p]);
  deepStrictEqual(flat(encoder.encode(sequence[0]!)), [0]);
  const first = encodeMessage(sequence[1]!);
  deepStrictEqual(flat(encoder.encode(sequence[1]!)), [
    MSGAPPV2_APP,
    ...u64(first.length),
    ...first,
  ]);
  const entry = encodeEntry(sequence[2]!.entries[0]!);
  deepStrictEqual(flat(encoder.encode(sequence[2]!)), [
    MSGAPPV2_APP_ENTRIES,
    ...u64(1),
    ...u64(entry.length),
    ...entry,
    ...u64(0),
  ]);
});

Deno.test("MsgAppV2Encoder's AppEntries record holds each entry's whole encoding", () => {
  // Goal: entries written as head then data make the bytes of encodeEntry, nil, empty and large
  // data alike. Method: a continuing append of four such entries against the layout assembled
  // from encodeEntry.
  const encoder = new MsgAppV2Encoder();
  encoder.encode(app(2, 2, 0, [1]));
  const big = new Uint8Array(70_000).map((_, i) => i & 0xff);
  const entries = [
    { term: 2, index: 2, type: 0 as const },
    { term: 2, index: 3, type: 1 as const, data: new Uint8Array(0) },
    { term: 2, index: 4, type: 0 as const, data: big },
    { term: 2, index: 5, type: 2 as const, data },
  ];
  const message = newMessage({
    type: MessageType.MsgApp,
    from: 1n,
    to: 2n,
    term: 2,
    logTerm: 2,
    index: 1,
    commit: 2 ** 33 + 5,
    entries,
  });
  const expected = [MSGAPPV2_APP_ENTRIES, ...u64(entries.length)];
  for (const entry of entries) {
    const body = encodeEntry(entry);
    expected.push(...u64(body.length), ...body);
  }
  expected.push(...u64(2 ** 33 + 5));
  const pieces = encoder.encode(message);
  strictEqual(pieces.length, 1);
  deepStrictEqual([...pieces[0]!], expected);
});

Deno.test("msgappv2 round-trips etcd's test sequence, cut at every byte", () => {
  const encoder = new MsgAppV2Encoder();
  const bytes = sequence.flatMap((m) => encoder.encode(m).flatMap((p) => [...p]));
  for (const cut of [1, 2, 7, 13, bytes.length]) {
    const decoder = new MsgAppV2Decoder(2n, 1n);
    const queue = new ByteQueue();
    const decoded: Message[] = [];
    for (let at = 0; at < bytes.length; at += cut) {
      queue.push(Uint8Array.from(bytes.slice(at, at + cut)));
      for (let m = decoder.decode(queue); m !== undefined; m = decoder.decode(queue)) {
        decoded.push(m);
      }
    }
    strictEqual(queue.length, 0);
    deepStrictEqual(decoded.map(_plain), sequence, `chunks of ${cut} bytes`);
  }
});

Deno.test("putUint64 writes integers past 2^32 as BigInt does, and refuses what is not a u64", () => {
  // Goal: the number-only u64 writer of the encoders agrees with DataView.setBigUint64 on both
  // sides of the 32-bit boundary and up to 2^53 - 1. Method: compare the bytes for each value.
  for (
    const value of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]
  ) {
    const bytes = new Uint8Array(10);
    putUint64(new DataView(bytes.buffer), 1, value);
    deepStrictEqual([...bytes.subarray(1, 9)], u64(value), `value ${value}`);
  }
  const view = new DataView(new ArrayBuffer(8));
  throws(() => putUint64(view, 0, -1), RangeError);
  throws(() => putUint64(view, 0, 2 ** 53), RangeError);
  throws(() => putUint64(view, 0, 1.5), RangeError);
});

Deno.test("msgappv2 decoder refuses an unknown record type", () => {
  const queue = new ByteQueue();
  queue.push(Uint8Array.of(9));
  throws(() => new MsgAppV2Decoder(2n, 1n).decode(queue), FrameError);
});

/**
 * The decoder fills in the empty snapshot that is always on the wire; compare it as the absent
 * one (`newMessage` leaves `snapshot` undefined).
 */
function _plain(m: Message): Message {
  if (!isEmptySnapshot(m.snapshot)) return m;
  return { ...m, snapshot: undefined };
}
