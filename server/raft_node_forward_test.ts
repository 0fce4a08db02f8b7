// Goal: a follower forwards its proposals to the leader (MsgProp) as soon as the turn that made
// them ends, even while one of its rounds is still writing to the WAL, and still holds back
// every message that promises something about its disk (the MsgAppResp) until that write is
// done. Method: member 2 of a three-voter raft over a real WAL whose save() waits on a gate the
// test opens; the leader's messages are stepped in by hand and the transport records what
// leaves, and when.
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

async function follower(root: string) {
  const wal = await Wal.create(join(root, "wal"), new Uint8Array([2]));
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
    id: 2n,
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
  const { node, wal, rawNode, sent, close, release, saving } = await follower(root);
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
