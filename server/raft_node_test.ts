// Goal: the Ready loop batches the proposals of one event-loop turn into one MsgProp (one WAL
// append), refuses a proposal at once when raft has no leader, and applies every entry once,
// in log order, only after it is durable. Method: a one-member raft over a real WAL in a temp
// dir; the WAL's save() is wrapped to record what each call carried, whether its fdatasync was
// asked to block (a lone writer on the only voter) and when syncs finished.
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeConfChange,
  type Entry,
  EntryType,
  ErrProposalDropped,
  MemoryStorage,
  RawNode,
  StateType,
  Xoshiro128,
} from "../raft/mod.ts";
import { Snapshotter } from "../snap/mod.ts";
import { Wal } from "../wal/mod.ts";
import { RaftNode } from "./raft_node.ts";

async function oneMember(root: string) {
  const wal = await Wal.create(join(root, "wal"), new Uint8Array([1]));
  const saves: { entries: number[]; syncedAt: number; blocking: boolean }[] = [];
  const save = wal.save.bind(wal);
  let clock = 0;
  wal.save = async (hardState, entries, whileSyncing, blockingSync) => {
    await save(hardState, entries, whileSyncing, blockingSync);
    saves.push({
      entries: entries.map((e) => e.index),
      syncedAt: ++clock,
      blocking: blockingSync ?? false,
    });
  };
  const storage = new MemoryStorage();
  const rawNode = new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    checkQuorum: true,
    preVote: false,
    rand: new Xoshiro128(7),
  });
  rawNode.bootstrap([{ id: 1n }]);
  const applied: { index: number; data: string; at: number }[] = [];
  // deno-lint-ignore prefer-const
  let node: RaftNode;
  node = new RaftNode({
    rawNode,
    storage,
    wal,
    snapshotter: new Snapshotter(join(root, "snap")),
    transport: { send: () => {} },
    heartbeatIntervalMs: 10_000,
    hardState: { term: 0, vote: 0n, commit: 0 },
    handler: {
      onSoftState: () => {},
      onReadStates: () => {},
      onSnapshot: () => Promise.resolve(),
      applyEntries(entries: Entry[]) {
        for (const e of entries) {
          if (e.type === EntryType.EntryConfChange) node.applyConfChange(decodeConfChange(e.data!));
          else if (e.data !== undefined && e.data.length > 0) {
            applied.push({ index: e.index, data: new TextDecoder().decode(e.data), at: clock });
          }
        }
      },
      afterApply: () => Promise.resolve(),
      onFatal: (error) => {
        throw error;
      },
    },
  });
  return { node, wal, saves, applied, rawNode };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  ok(check(), what);
}

Deno.test("raft node: one turn's proposals are one append; none before a leader", async () => {
  const root = await Deno.makeTempDir({ prefix: "raft_node_test_" });
  const { node, wal, saves, applied, rawNode } = await oneMember(root);
  try {
    node.start();
    // A follower without a leader refuses at once (the server answers "no leader").
    throws(() => node.propose(new Uint8Array([1]), () => {}), ErrProposalDropped);
    await until(() => rawNode.raft.raftLog.applied >= 1, "bootstrap configuration applied");
    node.advanceTicks(20);
    await until(() => rawNode.raft.state === StateType.StateLeader, "became leader");
    await until(
      () => saves.length > 0 && rawNode.raft.raftLog.applied >= rawNode.raft.raftLog.lastIndex(),
      "settled",
    );
    const before = saves.length;
    const dropped: number[] = [];
    for (let i = 0; i < 50; i++) {
      node.propose(new TextEncoder().encode(`v${i}`), () => dropped.push(i));
    }
    strictEqual(saves.length, before, "nothing saved within the proposing turn");
    await until(() => applied.length === 50, "all applied");
    const appends = saves.slice(before).filter((s) => s.entries.length > 0);
    strictEqual(appends.length, 1, `appends: ${JSON.stringify(appends)}`);
    strictEqual(appends[0]!.entries.length, 50);
    deepStrictEqual(applied.map((a) => a.data), Array.from({ length: 50 }, (_, i) => `v${i}`));
    deepStrictEqual(dropped, []);
    // Applied only once the append that carried them was synced.
    for (const a of applied) ok(a.at >= appends[0]!.syncedAt, `entry ${a.index} applied early`);
  } finally {
    await node.stop();
    await wal.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("raft node: a lone writer's fdatasync blocks; a batch's is awaited", async () => {
  const root = await Deno.makeTempDir({ prefix: "raft_node_test_" });
  const { node, wal, saves, applied, rawNode } = await oneMember(root);
  try {
    node.start();
    await until(() => rawNode.raft.raftLog.applied >= 1, "bootstrap configuration applied");
    node.advanceTicks(20);
    await until(() => rawNode.raft.state === StateType.StateLeader, "became leader");
    await until(
      () => saves.length > 0 && rawNode.raft.raftLog.applied >= rawNode.raft.raftLog.lastIndex(),
      "settled",
    );
    // One proposal at a time, each waited for: every append is a lone one.
    const first = saves.length;
    for (let i = 0; i < 5; i++) {
      node.propose(new TextEncoder().encode(`lone${i}`), () => {});
      await until(() => applied.length === i + 1, `lone ${i} applied`);
    }
    const lone = saves.slice(first).filter((s) => s.entries.length > 0);
    strictEqual(lone.length, 5);
    // The first may follow the election's own append; the rest follow a one-entry round.
    ok(lone.slice(1).every((s) => s.blocking), `lone saves: ${JSON.stringify(lone)}`);
    // Three proposals in one turn: one append of three, awaited on the thread pool; and the
    // round after a batch is not a lone one either.
    const second = saves.length;
    for (let i = 0; i < 3; i++) node.propose(new TextEncoder().encode(`batch${i}`), () => {});
    await until(() => applied.length === 8, "batch applied");
    node.propose(new TextEncoder().encode("after"), () => {});
    await until(() => applied.length === 9, "after applied");
    const appends = saves.slice(second).filter((s) => s.entries.length > 0);
    deepStrictEqual(appends.map((s) => [s.entries.length, s.blocking]), [[3, false], [1, false]]);
    deepStrictEqual(
      applied.map((a) => a.data),
      ["lone0", "lone1", "lone2", "lone3", "lone4", "batch0", "batch1", "batch2", "after"],
    );
  } finally {
    await node.stop();
    await wal.close();
    await Deno.remove(root, { recursive: true });
  }
});
