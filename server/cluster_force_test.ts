import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
  type Entry,
  EntryType,
} from "../raft/mod.ts";
import { forceNewClusterLog, memberIdsOf } from "./cluster_force.ts";

const enc = new TextEncoder();

function confEntry(index: number, type: ConfChangeType, nodeId: bigint): Entry {
  return {
    type: EntryType.EntryConfChange,
    term: 1,
    index,
    data: encodeConfChange({ id: 0n, type, nodeId, context: undefined }),
  };
}

function normal(index: number, term: number): Entry {
  return { type: EntryType.EntryNormal, term, index, data: enc.encode(`e${index}`) };
}

// Goal: the log rewrite of --force-new-cluster matches etcd's restartAsStandaloneNode:
// uncommitted entries are dropped, the member list comes from the snapshot and the log's conf
// changes, self is added first when missing, every other member is removed, all committed.
Deno.test("memberIdsOf() replays adds and removes over the snapshot's voters", () => {
  const entries = [
    confEntry(1, ConfChangeType.ConfChangeAddNode, 3n),
    confEntry(2, ConfChangeType.ConfChangeAddLearnerNode, 9n),
    confEntry(3, ConfChangeType.ConfChangeRemoveNode, 1n),
    confEntry(4, ConfChangeType.ConfChangeUpdateNode, 2n),
  ];
  const snapshot = {
    data: new Uint8Array(0),
    metadata: {
      index: 0,
      term: 0,
      confState: {
        voters: [1n, 2n],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  };
  deepStrictEqual(memberIdsOf(snapshot, entries), [2n, 3n, 9n]);
});

Deno.test("forceNewClusterLog() drops uncommitted entries and removes every other member", () => {
  const entries = [
    confEntry(1, ConfChangeType.ConfChangeAddNode, 1n),
    confEntry(2, ConfChangeType.ConfChangeAddNode, 2n),
    confEntry(3, ConfChangeType.ConfChangeAddNode, 3n),
    normal(4, 2),
    normal(5, 2),
    normal(6, 2), // not committed
  ];
  const forced = forceNewClusterLog({
    self: 2n,
    snapshot: undefined,
    entries,
    hardState: { term: 2, vote: 1n, commit: 5 },
  });
  deepStrictEqual(forced.entries.slice(0, 5).map((e) => e.index), [1, 2, 3, 4, 5]);
  deepStrictEqual(forced.appended.map((e) => [e.index, e.term]), [[6, 2], [7, 2]]);
  const changes = forced.appended.map((e) => decodeConfChange(e.data!));
  deepStrictEqual(changes.map((c) => [c.type, c.nodeId]), [
    [ConfChangeType.ConfChangeRemoveNode, 1n],
    [ConfChangeType.ConfChangeRemoveNode, 3n],
  ]);
  strictEqual(forced.hardState.commit, 7);
  strictEqual(forced.hardState.term, 2);
});

Deno.test("forceNewClusterLog() adds the member itself first when the log lacks it", () => {
  const forced = forceNewClusterLog({
    self: 7n,
    snapshot: undefined,
    entries: [confEntry(1, ConfChangeType.ConfChangeAddNode, 1n)],
    hardState: { term: 1, vote: 0n, commit: 1 },
  });
  const changes = forced.appended.map((e) => decodeConfChange(e.data!));
  deepStrictEqual(changes.map((c) => [c.type, c.nodeId]), [
    [ConfChangeType.ConfChangeAddNode, 7n],
    [ConfChangeType.ConfChangeRemoveNode, 1n],
  ]);
  strictEqual(forced.hardState.commit, 3);
});
