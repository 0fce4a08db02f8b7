// Goal: the message stream framing is an 8-byte big-endian length then the message, decodes
// across arbitrary chunk boundaries, and refuses frames over the limit (etcd msg_codec.go).
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  encodeMessage,
  isEmptySnapshot,
  type Message,
  MessageType,
  newMessage,
} from "../raft/mod.ts";
import { ByteQueue } from "./byte_queue.ts";
import { decodeMessageFrame, encodeMessageFrame, FrameError } from "./msg_codec.ts";

const vote = newMessage({
  type: MessageType.MsgVote,
  from: 0x8e9e05c52164694dn,
  to: 0xfd422379fda50e48n,
  term: 7,
  logTerm: 6,
  index: 42,
  context: new TextEncoder().encode("CampaignTransfer"),
});

Deno.test("encodeMessageFrame prefixes the message with its length, big-endian", () => {
  const body = encodeMessage(vote);
  const frame = encodeMessageFrame(vote);
  strictEqual(frame.length, 8 + body.length);
  strictEqual(new DataView(frame.buffer).getBigUint64(0, false), BigInt(body.length));
  deepStrictEqual(frame.subarray(8), body);
});

Deno.test("decodeMessageFrame waits for a whole frame and decodes it", () => {
  const frames = [...encodeMessageFrame(vote), ...encodeMessageFrame(vote)];
  const queue = new ByteQueue();
  const out = [];
  for (const byte of frames) {
    queue.push(Uint8Array.of(byte));
    const m = decodeMessageFrame(queue);
    if (m !== undefined) out.push(m);
  }
  deepStrictEqual(out.map(_plain), [vote, vote]);
  strictEqual(queue.length, 0);
});

Deno.test("decodeMessageFrame refuses a frame over the size limit", () => {
  const queue = new ByteQueue();
  queue.push(encodeMessageFrame(vote));
  throws(() => decodeMessageFrame(queue, 4), FrameError);
});

/**
 * The decoder fills in the empty snapshot that is always on the wire; compare it as the absent
 * one (`newMessage` leaves `snapshot` undefined).
 */
function _plain(m: Message): Message {
  if (!isEmptySnapshot(m.snapshot)) return m;
  return { ...m, snapshot: undefined };
}
