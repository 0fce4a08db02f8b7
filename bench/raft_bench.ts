/**
 * Proposals a second through an in-memory 3-node raft cluster (no I/O, no encoding): the
 * cost of the consensus core alone. `deno task bench:raft`.
 *
 * Two loads, 256-byte entries, the same driver:
 * - unbatched (the baseline): one proposal, then the cluster is pumped until quiet (every
 *   Ready persisted to MemoryStorage, every message delivered, the entry applied everywhere);
 * - batched: BATCH proposals, then one pump, so entries share Readys and MsgApps.
 * Figures are printed with their ratio to the baseline measured in the same run.
 *
 * @module
 */

import process from "node:process";
import {
  decodeConfChange,
  MemoryStorage,
  type Message,
  RawNode,
  StateType,
  Xoshiro128,
} from "../raft/mod.ts";

const ENTRY_BYTES = 256;
const BATCH = 64;
const COMPACT_EVERY = 10_000;

interface Member {
  node: RawNode;
  storage: MemoryStorage;
  applied: number;
}

function newCluster(): Map<bigint, Member> {
  const ids = [1n, 2n, 3n];
  const members = new Map<bigint, Member>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    const node = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      checkQuorum: true,
      preVote: true,
      rand: new Xoshiro128(Number(id)),
    });
    node.bootstrap(ids.map((peer) => ({ id: peer })));
    members.set(id, { node, storage, applied: 0 });
  }
  return members;
}

/** Handles Readys and delivers messages until nothing is left to do. */
function pump(members: Map<bigint, Member>): void {
  const queue: Message[] = [];
  for (;;) {
    let busy = false;
    for (const member of members.values()) {
      while (member.node.hasReady()) {
        busy = true;
        const rd = member.node.ready();
        if (rd.snapshot !== undefined) member.storage.applySnapshot(rd.snapshot);
        member.storage.append(rd.entries);
        if (rd.hardState !== undefined) member.storage.setHardState(rd.hardState);
        for (const m of rd.messages) queue.push(m);
        for (const e of rd.committedEntries) {
          if (e.type === 1) member.node.applyConfChange(_decodeCc(e.data));
          member.applied = e.index;
        }
        member.node.advance(rd);
        _maybeCompact(member);
      }
    }
    while (queue.length > 0) {
      busy = true;
      const m = queue.shift()!;
      members.get(m.to)?.node.step(m);
    }
    if (!busy) return;
  }
}

function _decodeCc(data: Uint8Array | undefined) {
  return decodeConfChange(data ?? new Uint8Array(0));
}

function _maybeCompact(member: Member): void {
  // Keep memory flat: snapshot and compact the log every COMPACT_EVERY applied entries.
  const snapshotIndex = member.storage.snapshot().metadata.index;
  if (member.applied - snapshotIndex < COMPACT_EVERY) return;
  member.storage.createSnapshot(member.applied, member.node.status().confState, new Uint8Array());
  member.storage.compact(member.applied);
}

function elect(members: Map<bigint, Member>): Member {
  pump(members);
  const leader = members.get(1n)!;
  leader.node.campaign();
  pump(members);
  if (leader.node.raft.state !== StateType.StateLeader) throw new Error("no leader");
  return leader;
}

interface Rate {
  /** Proposals per wall-clock second. */
  wall: number;
  /** Proposals per second of this process's CPU time (steadier on a shared machine). */
  cpu: number;
}

/** Runs `proposals` proposals, `batch` per pump; `oneMessage` puts a batch in one MsgProp. */
function measure(batch: number, proposals: number, oneMessage: boolean): Rate {
  const members = newCluster();
  const leader = elect(members);
  const payload = new Uint8Array(ENTRY_BYTES).fill(7);
  const batchData = Array.from({ length: batch }, () => payload);
  const target = leader.applied + proposals;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < proposals; sent += batch) {
    if (oneMessage) leader.node.proposeBatch(batchData);
    else for (let i = 0; i < batch; i++) leader.node.propose(payload);
    pump(members);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  for (const member of members.values()) {
    if (member.applied < target) throw new Error(`node applied ${member.applied} < ${target}`);
  }
  return { wall: proposals / seconds, cpu: proposals / cpuSeconds };
}

function main(): void {
  // Warm up the JIT on every path before measuring.
  measure(1, 2_000, false);
  measure(BATCH, 20_000, false);
  measure(BATCH, 20_000, true);
  const rows: [string, Rate][] = [
    ["unbatched: 1 proposal per round (baseline)", measure(1, 50_000, false)],
    [`${BATCH} propose() calls per round`, measure(BATCH, 300_000, false)],
    [`${BATCH} entries in one MsgProp per round`, measure(BATCH, 1_000_000, true)],
  ];
  const base = rows[0]![1];
  const num = (n: number) => Math.round(n).toLocaleString("en-US").padStart(12);
  const ratio = (n: number) => `${n.toFixed(2)}x`.padStart(8);
  console.log(`raft in-memory 3-node cluster, ${ENTRY_BYTES}-byte entries, no I/O, no encoding`);
  console.log(
    `${"load".padEnd(44)}${"per wall s".padStart(12)}${"ratio".padStart(8)}` +
      `${"per CPU s".padStart(12)}${"ratio".padStart(8)}`,
  );
  for (const [name, rate] of rows) {
    console.log(
      `${name.padEnd(44)}${num(rate.wall)}${ratio(rate.wall / base.wall)}` +
        `${num(rate.cpu)}${ratio(rate.cpu / base.cpu)}`,
    );
  }
  console.log("command: deno task bench:raft");
}

if (import.meta.main) main();
