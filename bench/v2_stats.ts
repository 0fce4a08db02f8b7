/**
 * What the v2 statistics (`/v2/stats/self`, `/v2/stats/leader`) cost on the peer send path:
 * per MsgApp the transport takes, detcd computes its encoded size (gogoproto's Size) and
 * records it in the send queue (etcd's SendAppendReq); per message written to a follower's
 * msgappv2 stream, a latency sample (etcd's FollowerStats.Succ).
 *
 *   deno run -A bench/v2_stats.ts
 *
 * Prints microseconds per operation for MsgApps of 1, 16 and 128 entries of 300 bytes, and
 * for the encoding of the same message (what the transport pays anyway), as a yardstick.
 */

import { encodeMessage, EntryType, type Message, MessageType } from "../raft/mod.ts";
import { messageSize, V2Stats } from "../server/mod.ts";

const ROUNDS = 200_000;

function msgApp(entries: number): Message {
  return {
    type: MessageType.MsgApp,
    to: 0xd68ee78f5ee71761n,
    from: 0x81cdb13a6f0776b5n,
    term: 5,
    logTerm: 5,
    index: 99_999,
    entries: Array.from({ length: entries }, (_, i) => ({
      term: 5,
      index: 100_000 + i,
      type: EntryType.EntryNormal,
      data: new Uint8Array(300),
    })),
    commit: 99_990,
    reject: false,
    rejectHint: 0,
  };
}

function microsPerOp(body: () => void): number {
  for (let i = 0; i < ROUNDS / 10; i++) body();
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) body();
  return (performance.now() - start) * 1000 / ROUNDS;
}

const stats = new V2Stats({ name: "bench", id: 0x81cdb13a6f0776b5n });
console.log("entries  stats (size + send + succ) µs  encode µs");
for (const entries of [1, 16, 128]) {
  const message = msgApp(entries);
  const counted = microsPerOp(() => {
    stats.sendAppendReq(messageSize(message));
    stats.succeeded(message.to, 0.01);
  });
  const encoded = microsPerOp(() => encodeMessage(message));
  console.log(
    `${String(entries).padStart(7)}  ${counted.toFixed(3).padStart(30)}  ${
      encoded.toFixed(3).padStart(9)
    }`,
  );
}
