// Goal: the Ready loop batches the proposals of one event-loop turn into one MsgProp (one WAL
// append), refuses a proposal at once when raft has no leader, applies every entry once, in log
// order, only after it is durable, and blocks on the fdatasync of a lone writer's rounds only
// once nothing else can leave during it. Method: a raft member over a real WAL in a temp dir
// (alone, or one of three voters whose peers the test plays); the WAL's save() is wrapped to
// record what each call carried, whether its fdatasync was asked to block and when it
// finished, in one order of events with the transport's sends and flushes.
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeConfChange,
  type Entry,
  EntryType,
  ErrProposalDropped,
  MemoryStorage,
  type Message,
  MessageType,
  messageTypeName,
  RawNode,
  StateType,
  Xoshiro128,
} from "../raft/mod.ts";
import { Snapshotter } from "../snap/mod.ts";
import { Wal } from "../wal/mod.ts";
import { RaftNode } from "./raft_node.ts";

/** What a member did, in order: `send`, `flush`, `fdatasync`, `saved` and `applied` lines. */
type Events = string[];

/**
 * Member 1 of `voters` over a real WAL under `root`. Its transport hands each batch of messages
 * to `onSend` and, as the stream writers do, flushes it in a microtask queued by the send.
 */
async function member(
  root: string,
  voters: bigint[] = [1n],
  onSend: (message: Message) => void = () => {},
) {
  const wal = await Wal.create(join(root, "wal"), new Uint8Array([1]));
  const events: Events = [];
  const saves: { entries: number[]; syncedAt: number; blocking: boolean; vote: number }[] = [];
  const save = wal.save.bind(wal);
  let clock = 0;
  wal.save = async (hardState, entries, whileSyncing, blockingSync) => {
    await save(hardState, entries, whileSyncing, blockingSync);
    const blocking = blockingSync ?? false;
    saves.push({
      entries: entries.map((e) => e.index),
      syncedAt: ++clock,
      blocking,
      vote: Number(hardState.vote),
    });
    events.push(`saved [${entries.map((e) => e.index)}] ${blocking ? "blocking" : "awaited"}`);
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
  rawNode.bootstrap(voters.map((id) => ({ id })));
  const applied: { index: number; data: string; at: number }[] = [];
  // deno-lint-ignore prefer-const
  let node: RaftNode;
  node = new RaftNode({
    rawNode,
    storage,
    wal,
    snapshotter: new Snapshotter(join(root, "snap")),
    transport: {
      send(messages: Message[]) {
        for (const m of messages) {
          events.push(`send ${messageTypeName(m.type)} to ${m.to} ${_describe(m)}`);
          onSend(m);
        }
        queueMicrotask(() => events.push("flush"));
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
          else if (e.data !== undefined && e.data.length > 0) {
            applied.push({ index: e.index, data: new TextDecoder().decode(e.data), at: clock });
            events.push(`applied ${e.index}`);
          }
        }
      },
      afterApply: () => Promise.resolve(),
      onFatal: (error) => {
        throw error;
      },
    },
  });
  return { node, wal, saves, applied, rawNode, events };
}

/** The entries a MsgApp carries, or the index a MsgAppResp acknowledges. */
function _describe(m: Message): string {
  if (m.type === MessageType.MsgApp) return `[${m.entries.map((e) => e.index)}]`;
  return m.type === MessageType.MsgAppResp ? `${m.index}` : "";
}

/** A message from a peer the test plays. */
function peerMessage(fields: Partial<Message> & Pick<Message, "type" | "from" | "term">): Message {
  return {
    to: 1n,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** Records in `events` when a blocking fdatasync starts; returns the undo. */
function recordBlockingSyncs(events: Events): () => void {
  const proto = Deno.FsFile.prototype;
  const { syncDataSync } = proto;
  proto.syncDataSync = function () {
    events.push("fdatasync");
    return syncDataSync.call(this);
  };
  return () => {
    proto.syncDataSync = syncDataSync;
  };
}

/** The position of the first line from `from` on that starts with `prefix` (-1 if none). */
function after(events: Events, from: number, prefix: string): number {
  for (let i = Math.max(0, from); i < events.length; i++) {
    if (events[i]!.startsWith(prefix)) return i;
  }
  return -1;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  ok(check(), what);
}

Deno.test("raft node: one turn's proposals are one append; none before a leader", async () => {
  const root = await Deno.makeTempDir({ prefix: "raft_node_test_" });
  const { node, wal, saves, applied, rawNode } = await member(root);
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
  const { node, wal, saves, applied, rawNode } = await member(root);
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

Deno.test("raft node: a cluster leader blocks on a lone round's fdatasync after its MsgApps left", async () => {
  // Goal: on a leader of three, a lone writer's append blocks on its fdatasync, but only after
  // the MsgApps of that round were flushed to the transport (which writes them to the sockets
  // in that flush): the followers' writes run in parallel with the leader's, not after it. The
  // vote's save is awaited (a candidate blocks on nothing). Method: voters 2 and 3 are played
  // here: 2 grants the vote, both answer every MsgApp one timer later (a network hop); FsFile's
  // syncDataSync is patched to record when a blocking fdatasync starts.
  const root = await Deno.makeTempDir({ prefix: "raft_node_test_" });
  // deno-lint-ignore prefer-const
  let step: (m: Message) => void;
  const peers = await member(root, [1n, 2n, 3n], (m) => {
    if (m.type === MessageType.MsgVote && m.to === 2n) {
      setTimeout(() =>
        step(peerMessage({ type: MessageType.MsgVoteResp, from: 2n, term: m.term }))
      );
    } else if (m.type === MessageType.MsgApp) {
      const index = m.index + m.entries.length;
      setTimeout(() =>
        step(peerMessage({ type: MessageType.MsgAppResp, from: m.to, term: m.term, index }))
      );
    }
  });
  const { node, wal, saves, applied, rawNode, events } = peers;
  step = (m) => node.step(m);
  const undo = recordBlockingSyncs(events);
  try {
    node.start();
    await until(() => rawNode.raft.raftLog.applied >= 3, "bootstrap configuration applied");
    node.advanceTicks(30);
    await until(() => rawNode.raft.state === StateType.StateLeader, "became leader");
    const vote = saves.find((s) => s.vote === 1);
    ok(vote !== undefined && vote.entries.length === 0 && !vote.blocking, JSON.stringify(saves));
    await until(() => rawNode.raft.raftLog.applied >= 4, "the leader's empty entry applied");
    for (let i = 0; i < 5; i++) {
      node.propose(new TextEncoder().encode(`lone${i}`), () => {});
      await until(() => applied.length === i + 1, `lone ${i} applied`);
    }
    for (const { index } of applied) {
      const sent = after(events, 0, `send MsgApp to 2 [${index}]`);
      const flushed = after(events, sent, "flush");
      const synced = after(events, sent, "fdatasync");
      const saved = after(events, sent, `saved [${index}]`);
      const done = after(events, sent, `applied ${index}`);
      ok(sent >= 0 && after(events, 0, `send MsgApp to 3 [${index}]`) < flushed, `${index} sent`);
      ok(flushed < synced && synced < saved && saved < done, `${index}: ${events.join("\n")}`);
      strictEqual(events[saved], `saved [${index}] blocking`);
    }
  } finally {
    undo();
    await node.stop();
    await wal.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("raft node: a follower blocks on a lone MsgApp's fdatasync and acknowledges after it", async () => {
  // Goal: a follower's append of one entry after a round of at most one blocks on its
  // fdatasync, a batch and the round after it are awaited, and in every case the MsgAppResp
  // leaves only once the entries are durable (Raft §5.3: the ack promises them). Method: voter
  // 2 leads here at term 2 and sends MsgApps of one entry, then one of three, then one each.
  const root = await Deno.makeTempDir({ prefix: "raft_node_test_" });
  const { node, wal, saves, applied, rawNode, events } = await member(root, [1n, 2n, 3n]);
  const undo = recordBlockingSyncs(events);
  try {
    node.start();
    await until(() => rawNode.raft.raftLog.applied >= 3, "bootstrap configuration applied");
    let last = 3;
    const append = async (count: number) => {
      const entries = Array.from({ length: count }, (_, i) => ({
        term: 2,
        index: last + 1 + i,
        type: EntryType.EntryNormal,
        data: new TextEncoder().encode(`f${last + 1 + i}`),
      }));
      const logTerm = last === 3 ? 1 : 2;
      node.step(peerMessage({
        type: MessageType.MsgApp,
        from: 2n,
        term: 2,
        logTerm,
        index: last,
        entries,
        commit: last,
      }));
      last += count;
      await until(() => after(events, 0, `send MsgAppResp to 2 ${last}`) >= 0, `ack of ${last}`);
      const saved = after(events, 0, `saved [${entries.map((e) => e.index)}]`);
      const acked = after(events, 0, `send MsgAppResp to 2 ${last}`);
      ok(saved >= 0 && saved < acked, `ack of ${last} before its save: ${events.join("\n")}`);
    };
    for (const count of [1, 1, 1, 3, 1, 1]) await append(count);
    strictEqual(rawNode.raft.state, StateType.StateFollower);
    strictEqual(rawNode.raft.lead, 2n);
    const appends = saves.filter((s) => s.entries.length > 0).slice(1);
    deepStrictEqual(appends.map((s) => [s.entries.length, s.blocking]), [
      [1, false], // after the bootstrap's round of three
      [1, true],
      [1, true],
      [3, false],
      [1, false], // after a round of three
      [1, true],
    ]);
    strictEqual(events.filter((e) => e === "fdatasync").length, 3);
    // The commit index of each MsgApp covered the entries before it: all but the last applied.
    deepStrictEqual(applied.map((a) => a.index), [4, 5, 6, 7, 8, 9, 10]);
  } finally {
    undo();
    await node.stop();
    await wal.close();
    await Deno.remove(root, { recursive: true });
  }
});
