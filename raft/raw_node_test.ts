import { deepStrictEqual, notStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { ConfChangeType, decodeConfChange, EntryType, MessageType, newMessage } from "./raftpb.ts";
import { MemoryStorage } from "./storage.ts";
import { RawNode, type Ready } from "./raw_node.ts";
import { StateType } from "./raft.ts";
import { ErrStepLocalMsg, ErrStepPeerNotFound } from "./errors.ts";
import { Xoshiro128 } from "./rand.ts";

const enc = new TextEncoder();

function newNode(id: bigint, storage: MemoryStorage, applied = 0): RawNode {
  return new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    applied,
    maxInflightMsgs: 256,
    rand: new Xoshiro128(7),
  });
}

/** Handles one Ready as a driver must: persist, (send), apply, advance. */
function handle(node: RawNode, storage: MemoryStorage, applied: string[]): Ready {
  const rd = node.ready();
  if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.EntryConfChange) node.applyConfChange(decodeConfChange(e.data!));
    applied.push(new TextDecoder().decode(e.data ?? new Uint8Array()));
  }
  node.advance(rd);
  return rd;
}

// Goal: the Ready contract on a single-node cluster, from bootstrap to a committed proposal.
Deno.test("RawNode: bootstrap, campaign, propose, and each Ready's fields", () => {
  const storage = new MemoryStorage();
  const node = newNode(1n, storage);
  node.bootstrap([{ id: 1n }]);
  ok(node.hasReady());
  const applied: string[] = [];
  const first = handle(node, storage, applied);
  deepStrictEqual(first.hardState, { term: 1, vote: 0n, commit: 1 });
  strictEqual(first.entries.length, 1);
  strictEqual(first.committedEntries[0]!.type, EntryType.EntryConfChange);
  ok(first.mustSync);
  ok(!node.hasReady());
  node.campaign();
  const elected = handle(node, storage, applied);
  strictEqual(elected.softState?.raftState, StateType.StateLeader);
  strictEqual(elected.softState?.lead, 1n);
  strictEqual(elected.hardState?.term, 2);
  strictEqual(elected.hardState?.vote, 1n);
  node.propose(enc.encode("hello"));
  const rd = handle(node, storage, applied);
  strictEqual(rd.entries.length, 1);
  deepStrictEqual(rd.committedEntries.map((e) => e.index), [3]);
  strictEqual(applied.at(-1), "hello");
  strictEqual(node.status().applied, 3);
  ok(!node.hasReady());
  // A hard state change of the commit index alone needs no sync.
  strictEqual(rd.mustSync, true, "entries were appended");
});

// Goal: a restarted node resumes from storage: term, vote, log, and the applied index.
// Goal: every Ready has the same own properties in the same order, whichever of the optional
// fields it carries, so that V8 gives all of them one hidden class and the driver's reads stay
// monomorphic (docs/performance.md, "V8 tiers, deopts and inline caches on the put path,
// round 8"). Method: the keys of a Ready with a hard state (bootstrap), with a soft state too
// (election), with neither (a read index answered later) and with a proposal, compared.
Deno.test("RawNode.ready() builds every Ready with the same fields in the same order", () => {
  const storage = new MemoryStorage();
  const node = newNode(1n, storage);
  node.bootstrap([{ id: 1n }]);
  const applied: string[] = [];
  const readys = [handle(node, storage, applied)];
  node.campaign();
  readys.push(handle(node, storage, applied));
  node.propose(enc.encode("shape"));
  readys.push(handle(node, storage, applied));
  node.readIndex(enc.encode("ctx"));
  readys.push(handle(node, storage, applied));
  ok(readys[0]!.softState === undefined && readys[0]!.hardState !== undefined);
  ok(readys[1]!.softState !== undefined);
  ok(readys[3]!.hardState === undefined && readys[3]!.readStates.length === 1);
  const keys = Object.keys(readys[0]!);
  deepStrictEqual(keys, [
    "softState",
    "hardState",
    "entries",
    "snapshot",
    "committedEntries",
    "messages",
    "readStates",
    "mustSync",
  ]);
  for (const rd of readys) deepStrictEqual(Object.keys(rd), keys);
});

Deno.test("RawNode restarts from MemoryStorage without re-delivering applied entries", () => {
  const storage = new MemoryStorage();
  let node = newNode(1n, storage);
  node.bootstrap([{ id: 1n }]);
  const applied: string[] = [];
  handle(node, storage, applied);
  node.campaign();
  handle(node, storage, applied);
  for (const s of ["a", "b"]) {
    node.propose(enc.encode(s));
    handle(node, storage, applied);
  }
  storage.createSnapshot(2, node.status().confState, new Uint8Array());
  node = newNode(1n, storage, 3);
  strictEqual(node.raft.term, 2);
  strictEqual(node.raft.vote, 1n);
  strictEqual(node.raft.raftLog.committed, 4);
  deepStrictEqual(node.status().confState.voters, [1n]);
  const rd = node.ready();
  deepStrictEqual(rd.committedEntries.map((e) => e.index), [4], "only entries after applied");
});

// Goal: the RawNode refuses local messages and responses from unknown peers.
Deno.test("RawNode.step() rejects local messages and responses from strangers", () => {
  const storage = new MemoryStorage();
  const node = newNode(1n, storage);
  node.bootstrap([{ id: 1n }]);
  throws(() => node.step(newMessage({ type: MessageType.MsgHup })), ErrStepLocalMsg);
  throws(
    () => node.step(newMessage({ type: MessageType.MsgAppResp, from: 9n, to: 1n, term: 1 })),
    ErrStepPeerNotFound,
  );
});

// Goal: conf changes through the log: add a learner; a second pending change is refused.
Deno.test("RawNode.proposeConfChange() goes through the log and applies with applyConfChange", () => {
  const storage = new MemoryStorage();
  const node = newNode(1n, storage);
  node.bootstrap([{ id: 1n }]);
  const applied: string[] = [];
  handle(node, storage, applied);
  node.campaign();
  handle(node, storage, applied);
  node.proposeConfChange({ id: 1n, type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2n });
  handle(node, storage, applied);
  deepStrictEqual(node.status().confState.learners, [2n]);
  // The leader now sends entries to the learner.
  const rd = node.ready();
  ok(rd.messages.some((m) => m.to === 2n && m.type === MessageType.MsgApp));
  node.advance(rd);
});

// Goal: ReadIndex on a lone voter answers at once with the commit index.
Deno.test("RawNode.readIndex() on a single voter yields a read state at the commit index", () => {
  const storage = new MemoryStorage();
  const node = newNode(1n, storage);
  node.bootstrap([{ id: 1n }]);
  const applied: string[] = [];
  handle(node, storage, applied);
  node.campaign();
  handle(node, storage, applied);
  node.readIndex(enc.encode("ctx"));
  const rd = handle(node, storage, applied);
  deepStrictEqual(rd.readStates, [{ index: 2, requestCtx: enc.encode("ctx") }]);
});

// Goal: the PRNG replays from its seed and spreads election timeouts over [T, 2T).
Deno.test("Xoshiro128 replays from its seed; election timeouts cover [T, 2T)", () => {
  const a = new Xoshiro128(42);
  const b = new Xoshiro128(42);
  for (let i = 0; i < 100; i++) strictEqual(a.nextUint32(), b.nextUint32());
  notStrictEqual(new Xoshiro128(1).nextUint32(), new Xoshiro128(2).nextUint32());
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(10 + a.intn(10));
  deepStrictEqual([...seen].sort((x, y) => x - y), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
});
