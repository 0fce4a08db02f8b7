// Goal: a follower forwards its proposals to the leader (MsgProp) as soon as the turn that made
// them ends, even while one of its rounds is still writing to the WAL, and still holds back
// every message that promises something about its disk (the MsgAppResp) until that write is
// done; a leader sends the appends that messages stepped during its write produce (forwarded
// entries, a moved commit index) at once. Method: one member of a three-voter raft over a real
// WAL whose save() waits on a gate the test opens; the peers' messages are stepped in by hand
// and the transport records what leaves, and when.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  newMessage,
  RawNode,
  StateType,
  Xoshiro128,
} from "../raft/mod.ts";
import { Snapshotter } from "../snap/mod.ts";
import { Wal } from "../wal/mod.ts";
import { RaftNode } from "./raft_node.ts";

async function member(root: string, id: bigint) {
  const wal = await Wal.create(join(root, "wal"), new Uint8Array([Number(id)]));
  const save = wal.save.bind(wal);
  const gate = { open: Promise.resolve(), release: () => {} };
  let saving = 0;
  wal.save = async (hardState, entries, whileSyncing, blockingSync) => {
    saving++;
    try {
      await gate.open;
      await save(hardState, entries, whileSyncing, blockingSync);
    } finally {
      saving--;
    }
  };
  const close = () => {
    let release = () => {};
    gate.open = new Promise<void>((resolve) => release = resolve);
    gate.release = release;
  };
  const storage = new MemoryStorage();
  const rawNode = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    checkQuorum: true,
    preVote: false,
    rand: new Xoshiro128(7),
  });
  rawNode.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]);
  const sent: { message: Message; whileSaving: boolean }[] = [];
  // deno-lint-ignore prefer-const
  let node: RaftNode;
  node = new RaftNode({
    rawNode,
    storage,
    wal,
    snapshotter: new Snapshotter(join(root, "snap")),
    transport: {
      send: (messages) => {
        for (const message of messages) sent.push({ message, whileSaving: saving > 0 });
      },
    },
    heartbeatIntervalMs: 10_000,
    hardState: { term: 0, vote: 0n, commit: 0 },
    handler: {
      onSoftState: () => {},
      onReadStates: () => {},
      onSnapshot: () => Promise.resolve(),
      applyEntries(entries: Entry[]) {
        for (const e of entries) {
          if (e.type === EntryType.EntryConfChange) node.applyConfChange(decodeConfChange(e.data!));
        }
      },
      afterApply: () => Promise.resolve(),
      onFatal: (error) => {
        throw error;
      },
    },
  });
  return { node, wal, rawNode, sent, close, release: () => gate.release(), saving: () => saving };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  ok(check(), what);
}

Deno.test("raft node: a follower's MsgProp leaves while its WAL write is in flight", async () => {
  const root = await Deno.makeTempDir({ prefix: "raft_node_forward_test_" });
  const { node, wal, rawNode, sent, close, release, saving } = await member(root, 2n);
  try {
    node.start();
    // Member 1 leads term 1 and commits the three bootstrap entries.
    node.step(newMessage({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1, commit: 3 }));
    await until(() => rawNode.raft.raftLog.applied >= 3, "bootstrap configuration applied");
    strictEqual(rawNode.raft.state, StateType.StateFollower);
    strictEqual(rawNode.raft.lead, 1n);
    // An append from the leader starts a round whose WAL write waits on the gate.
    close();
    node.step(newMessage({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 1,
      index: 3,
      logTerm: 1,
      commit: 3,
      entries: [{ term: 1, index: 4, type: EntryType.EntryNormal, data: new Uint8Array([9]) }],
    }));
    await until(() => saving() > 0, "the append's save started");
    const before = sent.length;
    const proposals = ["a", "b", "c"].map((s) => new TextEncoder().encode(s));
    for (const p of proposals) node.propose(p, () => {});
    // The proposing turn has ended once a macrotask ran: the MsgProp is out, the save is not.
    await new Promise((r) => setTimeout(r, 0));
    ok(saving() > 0, "the save is still waiting");
    const early = sent.slice(before);
    deepStrictEqual(early.map((s) => [s.message.type, s.message.to]), [[MessageType.MsgProp, 1n]]);
    deepStrictEqual(early[0]!.message.entries.map((e) => e.data), proposals);
    // The append response promises index 4 on disk: it leaves only after the write.
    release();
    await until(
      () => sent.some((s) => s.message.type === MessageType.MsgAppResp && s.message.index === 4),
      "the append acknowledged",
    );
    const resp = sent.find((s) =>
      s.message.type === MessageType.MsgAppResp && s.message.index === 4
    );
    strictEqual(resp!.whileSaving, false, "MsgAppResp sent before its entries were durable");
    strictEqual(sent.filter((s) => s.message.type === MessageType.MsgProp).length, 1);
  } finally {
    release();
    await node.stop();
    await wal.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("raft node: a leader sends appends stepped during its WAL write at once", async () => {
  const root = await Deno.makeTempDir({ prefix: "raft_node_forward_test_" });
  const { node, wal, rawNode, sent, close, release, saving } = await member(root, 1n);
  try {
    node.start();
    await until(() => rawNode.raft.raftLog.applied >= 3, "bootstrap configuration applied");
    node.advanceTicks(30);
    await until(() => rawNode.raft.state === StateType.StateCandidate, "campaigning");
    await until(() => sent.some((s) => s.message.type === MessageType.MsgVote), "votes asked");
    const term = rawNode.raft.term;
    node.step(newMessage({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term }));
    await until(() => rawNode.raft.state === StateType.StateLeader, "became leader");
    // The new term's empty entry (index 4) is acknowledged by both followers and committed.
    for (const from of [2n, 3n]) {
      node.step(newMessage({ type: MessageType.MsgAppResp, from, to: 1n, term, index: 4 }));
    }
    await until(() => rawNode.raft.raftLog.applied >= 4 && saving() === 0, "settled");
    // A proposal of the leader's own starts a round whose write waits on the gate; its
    // appends (index 5) leave first, as before.
    close();
    node.propose(new TextEncoder().encode("x"), () => {});
    await until(() => saving() > 0, "the round's save started");
    const before = sent.length;
    // Member 2 forwards a proposal (index 6) and acknowledges index 5 (commit moves to 5).
    node.step(newMessage({
      type: MessageType.MsgProp,
      from: 2n,
      to: 1n,
      entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: new Uint8Array([7]) }],
    }));
    node.step(newMessage({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term, index: 5 }));
    // The appends of this turn's steps leave once it ends, joined per follower.
    await new Promise((r) => setTimeout(r, 0));
    ok(saving() > 0, "the save is still waiting");
    const early = sent.slice(before).map((s) => s.message);
    ok(early.every((m) => m.type === MessageType.MsgApp && m.term === term), "only appends");
    deepStrictEqual(early.map((m) => m.to).sort(), [2n, 3n], "one joined append per follower");
    // Both followers got index 6 without waiting for the write...
    for (const to of [2n, 3n]) {
      ok(
        early.some((m) => m.to === to && m.entries.some((e) => e.index === 6)),
        `index 6 to ${to}: ${early.map((m) => `${m.to}@${m.index}+${m.entries.length}`).join(" ")}`,
      );
    }
    // ...and member 3 learnt the commit of index 5 in the same way.
    ok(early.some((m) => m.to === 3n && m.commit === 5), "commit 5 to member 3");
    release();
    await until(() => rawNode.raft.raftLog.applied >= 5, "index 5 applied after the write");
  } finally {
    release();
    await node.stop();
    await wal.close();
    await Deno.remove(root, { recursive: true });
  }
});
