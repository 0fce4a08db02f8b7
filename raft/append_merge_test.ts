// Goal: mergeAppends joins two MsgApps for one peer exactly when a follower would make the same
// of the joined one as of the two in order, and refuses everything else; coalesceAppends joins
// a Ready's appends per peer without reordering anything. Method: table cases built from
// newMessage, and both forms stepped into a follower's raft (RawNode).
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  newMessage,
  RawNode,
  Xoshiro128,
} from "./mod.ts";
import {
  coalesceAppends,
  mergeAppends,
  MERGED_BYTES_MAX,
  MERGED_ENTRIES_MAX,
} from "./append_merge.ts";

function entries(from: number, count: number, term = 2, bytes = 8): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    term,
    index: from + i,
    type: EntryType.EntryNormal,
    data: new Uint8Array(bytes),
  }));
}

function app(fields: Partial<Message>): Message {
  return newMessage({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 2, ...fields });
}

Deno.test("mergeAppends() chains entries, an empty commit-only append, and the reverse", () => {
  const first = app({ index: 10, logTerm: 2, entries: entries(11, 3), commit: 9 });
  const second = app({ index: 13, logTerm: 2, entries: entries(14, 2), commit: 11 });
  const joined = mergeAppends(first, second)!;
  strictEqual(joined.index, 10);
  strictEqual(joined.logTerm, 2);
  strictEqual(joined.commit, 11);
  deepStrictEqual(joined.entries.map((e) => e.index), [11, 12, 13, 14, 15]);
  // The inputs are left as they were (they may share arrays with the leader's log).
  strictEqual(first.entries.length, 3);
  strictEqual(first.commit, 9);
  // An empty append that only moves the commit index after it.
  const commitOnly = app({ index: 15, logTerm: 2, commit: 15 });
  const both = mergeAppends(joined, commitOnly)!;
  strictEqual(both.commit, 15);
  strictEqual(both.entries.length, 5);
  // An empty append first: the entries that follow it sit at its own position.
  const empty = app({ index: 15, logTerm: 2, commit: 12 });
  const next = app({ index: 15, logTerm: 2, entries: entries(16, 1), commit: 13 });
  const joinedEmpty = mergeAppends(empty, next)!;
  deepStrictEqual([joinedEmpty.index, joinedEmpty.logTerm, joinedEmpty.commit], [15, 2, 13]);
  deepStrictEqual(joinedEmpty.entries.map((e) => e.index), [16]);
});

Deno.test("mergeAppends() refuses appends that do not chain or exceed a bound", () => {
  const first = app({ index: 10, logTerm: 2, entries: entries(11, 2), commit: 9 });
  const next = { index: 12, logTerm: 2, entries: entries(13, 1), commit: 10 };
  ok(mergeAppends(first, app(next)) !== undefined, "the control case chains");
  const refused: [string, Message][] = [
    ["a gap", app({ ...next, index: 13, entries: entries(14, 1) })],
    ["an overlap", app({ ...next, index: 11, entries: entries(12, 1) })],
    ["another log term", app({ ...next, logTerm: 1 })],
    ["another term", app({ ...next, term: 3 })],
    ["another peer", app({ ...next, to: 3n })],
    ["a smaller commit", app({ ...next, commit: 8 })],
    ["a context", app({ ...next, context: new Uint8Array([1]) })],
    ["a heartbeat", newMessage({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 2 })],
  ];
  for (const [what, second] of refused) strictEqual(mergeAppends(first, second), undefined, what);
  const many = app({ index: 12, logTerm: 2, entries: entries(13, MERGED_ENTRIES_MAX - 1) });
  strictEqual(mergeAppends(first, many), undefined, "too many entries");
  const big = app({ index: 12, logTerm: 2, entries: entries(13, 1, 2, MERGED_BYTES_MAX) });
  strictEqual(mergeAppends(first, big), undefined, "too many bytes");
});

Deno.test("a follower makes the same log and commit of a joined append as of the two", () => {
  const follower = () => {
    const node = new RawNode({
      id: 2n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: new MemoryStorage(),
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
      checkQuorum: false,
      preVote: false,
      rand: new Xoshiro128(3),
    });
    node.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]);
    return node;
  };
  const first = app({ index: 3, logTerm: 1, entries: entries(4, 3), commit: 3 });
  const second = app({ index: 6, logTerm: 2, entries: entries(7, 2), commit: 7 });
  const commitOnly = app({ index: 8, logTerm: 2, commit: 8 });
  const apart = follower();
  for (const m of [first, second, commitOnly]) apart.step(m);
  const joined = follower();
  joined.step(mergeAppends(mergeAppends(first, second)!, commitOnly)!);
  for (const node of [apart, joined]) {
    strictEqual(node.raft.raftLog.lastIndex(), 8);
    strictEqual(node.raft.raftLog.committed, 8);
    strictEqual(node.raft.term, 2);
  }
  // The joined one is answered once, with the index the last of the three acknowledged.
  const answers = (node: RawNode) =>
    node.ready().messages.filter((m) => m.type === MessageType.MsgAppResp).map((m) => m.index);
  deepStrictEqual(answers(apart), [6, 8, 8]);
  deepStrictEqual(answers(joined), [8]);
});

Deno.test("coalesceAppends() joins per peer and keeps every other message in place", () => {
  const heartbeat = (to: bigint) =>
    newMessage({ type: MessageType.MsgHeartbeat, from: 1n, to, term: 2 });
  const messages = [
    app({ to: 2n, index: 10, logTerm: 2, entries: entries(11, 2), commit: 9 }),
    app({ to: 3n, index: 10, logTerm: 2, entries: entries(11, 2), commit: 9 }),
    app({ to: 2n, index: 12, logTerm: 2, commit: 11 }),
    app({ to: 3n, index: 12, logTerm: 2, commit: 11 }),
    app({ to: 2n, index: 12, logTerm: 2, entries: entries(13, 1), commit: 11 }),
    heartbeat(3n),
    // After a heartbeat to peer 3, its next append is not joined over it.
    app({ to: 3n, index: 12, logTerm: 2, entries: entries(13, 1), commit: 11 }),
  ];
  const out = coalesceAppends(messages);
  deepStrictEqual(
    out.map((m) => `${m.type}>${m.to}@${m.index}+${m.entries.length}c${m.commit}`),
    [
      `${MessageType.MsgApp}>2@10+3c11`,
      `${MessageType.MsgApp}>3@10+2c11`,
      `${MessageType.MsgHeartbeat}>3@0+0c0`,
      `${MessageType.MsgApp}>3@12+1c11`,
    ],
  );
  // Nothing to join: the same array back.
  const one = [messages[0]!];
  strictEqual(coalesceAppends(one), one);
});
