/**
 * A deterministic simulator for raft/ (test support; not part of mod.ts).
 *
 * One seed fixes everything: cluster size, options, the network's faults and every node's PRNG,
 * so a failing seed replays exactly. The network drops, delays, duplicates, reorders and
 * partitions messages (each one travels as raftpb bytes, encoded and decoded); nodes crash and
 * restart with only what they persisted (the MemoryStorage is the disk; a crash in the middle
 * of a Ready keeps a prefix of its entries and nothing else, as a torn WAL tail would, and a
 * leader's messages may already be out; a hard state written without sync is lost).
 *
 * Invariants checked after every event (the `_check*` methods):
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair always names the same entry with the same predecessor
 *   term (checked on every entry a node persists);
 * - commit safety: an index committed by any leader is committed with the same entry everywhere,
 *   and every leader of a later term holds it (leader completeness, Raft §5.4);
 * - state machine safety: every node applies the committed entries, in order, identically;
 * - linearizable ReadIndex: a read's index is >= every index committed before it was asked.
 * Liveness, after the faults stop and the network heals: a leader within 10 election timeouts,
 * every outstanding proposal (retried by its client) commits and is applied on every member.
 *
 * @module
 */

import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  decodeMessage,
  emptyConfState,
  emptyHardState,
  encodeConfChange,
  encodeMessage,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  messageTypeName,
  type Snapshot,
} from "./raftpb.ts";
import { MemoryStorage } from "./storage.ts";
import { RawNode, type Ready, SnapshotStatus } from "./raw_node.ts";
import { StateType } from "./raft.ts";
import { ErrProposalDropped, ErrStepPeerNotFound } from "./errors.ts";
import { ConfChangeError } from "./conf_change.ts";
import { Xoshiro128 } from "./rand.ts";
import { contextKey } from "./read_only.ts";

/** Options of one simulation (all derived from the seed unless given). */
export interface SimOptions {
  seed: number;
  /** Cluster size: 1, 3, 5 or 7 voters. */
  nodes?: number;
  /** Ticks of faults before the heal phase. */
  chaosTicks?: number;
  /** Print every event. */
  verbose?: boolean;
}

/** The outcome of one simulation. */
export interface SimResult {
  seed: number;
  nodes: number;
  ok: boolean;
  error?: string;
  ticks: number;
  deliveries: number;
  committed: number;
  leaders: number;
  reads: number;
  snapshots: number;
  crashes: number;
  confChanges: number;
  /** Ticks from healing to a leader that committed an entry of its term (-1 if never). */
  healLeaderTicks: number;
}

/** An invariant broke. */
export class SimViolation extends Error {}

interface Committed {
  term: number;
  key: string;
  /** The term of the leader that committed it (leader completeness holds for later terms). */
  commitTerm: number;
}

interface InFlight {
  message: Uint8Array;
  from: bigint;
  to: bigint;
  type: number;
  deliverAt: number;
}

interface AppState {
  /** keys[i] is the key of the entry applied at index i + 1 (durable, like etcd's backend). */
  keys: string[];
  /** The last index raft handed to the application since it started (etcd's appliedi); after
   * a restart that lost an unsynced commit index it may trail `keys.length`. */
  raftApplied: number;
  /** The configuration as of `raftApplied`. */
  confState: ConfState;
}

interface SimNode {
  id: bigint;
  storage: MemoryStorage;
  node: RawNode | undefined;
  app: AppState;
  /** Removed from the configuration: stopped for good. */
  removed: boolean;
  /** IDs whose removal this node applied; its transport refuses their messages. */
  removedPeers: Set<bigint>;
  readCount: number;
  /** The hard state as of the last sync; a crash loses later unsynced writes. */
  synced: HardState;
}

interface Faults {
  dropRate: number;
  dupRate: number;
  maxDelayTicks: number;
  partitionRate: number;
  crashRate: number;
  proposeRate: number;
  readRate: number;
  snapshotRate: number;
  transferRate: number;
  confChangeRate: number;
  tornReadyRate: number;
}

const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 1;
const DELIVERIES_PER_TICK_MAX = 20_000;
const LIVENESS_TIMEOUTS = 10;

function _entryKey(e: Entry): string {
  return `${e.type}:${contextKey(e.data)}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A simulated cluster driven by one seed. */
export class Simulation {
  readonly seed: number;
  readonly size: number;
  readonly #rand: Xoshiro128;
  readonly #verbose: boolean;
  readonly #chaosTicks: number;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #faults: Faults;
  readonly #nodes = new Map<bigint, SimNode>();
  /** Messages in flight that are not due yet. */
  #network: InFlight[] = [];
  /** Messages due now. */
  #due: InFlight[] = [];
  /** Partition: node -> group; messages only flow within a group. */
  #groups = new Map<bigint, number>();
  #now = 0;
  #deliveries = 0;
  #crashes = 0;
  #snapshots = 0;
  #confChanges = 0;
  #readsDone = 0;
  #clientSeq = 0;
  /** Proposals not yet seen committed: key -> data. */
  #pending = new Map<string, Uint8Array>();
  readonly #committed = new Map<number, Committed>();
  #maxCommitted = 0;
  readonly #leaderCommit = new Map<bigint, number>();
  readonly #leaders = new Map<number, bigint>();
  /** (index:term) -> entry key and the term of the entry before it. */
  readonly #entryIds = new Map<string, { key: string; prevTerm: number }>();
  /** Read context -> the highest committed index when the read was asked. */
  readonly #reads = new Map<string, number>();
  #healLeaderTicks = -1;
  /** IDs whose removal was proposed. */
  readonly #retired = new Set<bigint>();

  /** Builds the cluster: `size` voters bootstrapped at index `size`, plus two spare nodes. */
  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.#rand = new Xoshiro128(opts.seed);
    this.size = opts.nodes ?? [1, 3, 5, 7][this.#rand.intn(4)]!;
    this.#verbose = opts.verbose ?? false;
    this.#chaosTicks = opts.chaosTicks ?? 150;
    this.#preVote = this.#rand.intn(4) !== 0;
    this.#checkQuorum = this.#rand.intn(4) !== 0;
    const r = (max: number) => this.#rand.float() * max;
    this.#faults = {
      dropRate: r(0.3),
      dupRate: r(0.1),
      maxDelayTicks: this.#rand.intn(4),
      partitionRate: r(0.03),
      crashRate: r(0.02),
      proposeRate: 0.2 + r(1.5),
      readRate: r(0.5),
      snapshotRate: r(0.05),
      transferRate: r(0.02),
      confChangeRate: this.size > 1 ? r(0.03) : 0,
      tornReadyRate: r(0.2),
    };
    const voters: bigint[] = [];
    for (let i = 1; i <= this.size; i++) voters.push(BigInt(i));
    const spares = [BigInt(this.size + 1), BigInt(this.size + 2)];
    for (let i = 1; i <= this.size; i++) {
      const cc: ConfChange = { id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: BigInt(i) };
      this.#committed.set(i, {
        term: 1,
        key: `${EntryType.EntryConfChange}:${_ccKey(cc)}`,
        commitTerm: 0,
      });
    }
    this.#maxCommitted = this.size;
    // Every voter starts from the same bootstrapped log: one AddNode entry per voter.
    for (const id of voters) this.#addNode(id, voters);
    for (const id of spares) this.#addNode(id, []);
    this.#log(() =>
      `seed ${this.seed}: ${this.size} voters, preVote=${this.#preVote} checkQuorum=${this.#checkQuorum} faults=${
        JSON.stringify(this.#faults)
      }`
    );
  }

  #addNode(id: bigint, voters: bigint[]): void {
    const storage = new MemoryStorage();
    const sim: SimNode = {
      id,
      storage,
      node: undefined,
      app: { keys: [], raftApplied: 0, confState: emptyConfState() },
      removed: false,
      removedPeers: new Set(),
      readCount: 0,
      synced: emptyHardState(),
    };
    this.#nodes.set(id, sim);
    this.#start(sim);
    if (voters.length > 0) {
      sim.node!.bootstrap(voters.map((v) => ({ id: v })));
      this.#processReady(sim);
    }
  }

  #start(sim: SimNode): void {
    // Raft restarts from its snapshot; the application follows raft's applied index from there.
    const snapshot = sim.storage.snapshot();
    sim.app.raftApplied = snapshot.metadata.index;
    sim.app.confState = snapshot.metadata.confState;
    sim.node = new RawNode({
      id: sim.id,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      storage: sim.storage,
      // As etcd's server does: raft replays every entry after the snapshot, and the
      // application skips those it already applied but re-applies conf changes to raft.
      applied: sim.storage.snapshot().metadata.index,
      maxSizePerMsg: 1 + this.#rand.intn(4) * 200,
      maxInflightMsgs: 1 + this.#rand.intn(8),
      checkQuorum: this.#checkQuorum,
      preVote: this.#preVote,
      maxUncommittedEntriesSize: 1 << 16,
      rand: new Xoshiro128(this.#rand.nextUint32()),
    });
  }

  #log(line: () => string): void {
    if (this.#verbose) console.log(`[t=${this.#now}] ${line()}`);
  }

  #fail(message: string): never {
    throw new SimViolation(`seed ${this.seed} t=${this.#now}: ${message}\n${this.#dump()}`);
  }

  /** One line per node: the state an investigation starts from. */
  #dump(): string {
    const lines: string[] = [];
    for (const sim of this.#nodes.values()) {
      const r = sim.node?.raft;
      if (r === undefined) {
        lines.push(
          `  node ${sim.id}: ${sim.removed ? "removed" : "down"}, applied ${sim.app.keys.length}`,
        );
        continue;
      }
      lines.push(
        `  node ${sim.id}: ${
          ["follower", "candidate", "leader", "pre-candidate"][r.state]
        } term=${r.term} ` +
          `vote=${r.vote} lead=${r.lead} last=${r.raftLog.lastIndex()}/${r.raftLog.lastTerm()} ` +
          `commit=${r.raftLog.committed} applied=${r.raftLog.applied} voters=[${r.prs.voters}] ` +
          `learners=[${r.prs.learners}] elapsed=${r.electionElapsed}/${r.randomizedElectionTimeout}`,
      );
    }
    return lines.join("\n");
  }

  /** Runs the whole simulation; never throws, reports the first violation. */
  run(): SimResult {
    const result: SimResult = {
      seed: this.seed,
      nodes: this.size,
      ok: true,
      ticks: 0,
      deliveries: 0,
      committed: 0,
      leaders: 0,
      reads: 0,
      snapshots: 0,
      crashes: 0,
      confChanges: 0,
      healLeaderTicks: -1,
    };
    try {
      this.#healing = false;
      for (let t = 0; t < this.#chaosTicks; t++) this.#chaosTick();
      this.#heal();
    } catch (err) {
      result.ok = false;
      result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    }
    result.ticks = this.#now;
    result.deliveries = this.#deliveries;
    result.committed = this.#maxCommitted;
    result.leaders = this.#leaders.size;
    result.reads = this.#readsDone;
    result.snapshots = this.#snapshots;
    result.crashes = this.#crashes;
    result.confChanges = this.#confChanges;
    result.healLeaderTicks = this.#healLeaderTicks;
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Time and faults

  #alive(): SimNode[] {
    return [...this.#nodes.values()].filter((n) => n.node !== undefined);
  }

  #chaosTick(): void {
    this.#now++;
    const f = this.#faults;
    if (this.#rand.float() < f.partitionRate) this.#partition();
    if (this.#rand.float() < f.crashRate) this.#crashOne();
    if (this.#rand.float() < f.crashRate * 2) this.#restartOne();
    for (const sim of this.#alive()) {
      // A little clock skew: a node occasionally misses a tick.
      if (this.#rand.intn(20) !== 0) this.#tick(sim);
    }
    let proposals = f.proposeRate;
    while (proposals > 0 && this.#rand.float() < proposals) {
      this.#proposeRandom();
      proposals -= 1;
    }
    if (this.#rand.float() < f.readRate) this.#readRandom();
    if (this.#rand.float() < f.snapshotRate) this.#snapshotRandom();
    if (this.#rand.float() < f.transferRate) this.#transferRandom();
    if (this.#rand.float() < f.confChangeRate) this.#confChangeRandom();
    this.#deliverDue(true);
  }

  #tick(sim: SimNode): void {
    sim.node!.tick();
    this.#processReady(sim);
  }

  #partition(): void {
    this.#groups = new Map();
    if (this.#rand.intn(3) === 0) {
      this.#log(() => "heal partition");
      return;
    }
    const groups = 2 + this.#rand.intn(2);
    for (const id of this.#nodes.keys()) this.#groups.set(id, this.#rand.intn(groups));
    this.#log(() => `partition ${JSON.stringify([...this.#groups].map(([k, v]) => `${k}:${v}`))}`);
  }

  #crashOne(): void {
    const alive = this.#alive();
    if (alive.length === 0) return;
    const sim = alive[this.#rand.intn(alive.length)]!;
    this.#crash(sim);
  }

  #crash(sim: SimNode): void {
    this.#log(() => `crash ${sim.id}`);
    // The disk forgets writes that were not synced (a hard state whose only change was the
    // commit index is written without fsync when Ready.mustSync is false).
    sim.storage.setHardState(sim.synced);
    sim.node = undefined;
    this.#crashes++;
  }

  #restartOne(): void {
    const down = [...this.#nodes.values()].filter((n) => n.node === undefined && !n.removed);
    if (down.length === 0) return;
    const sim = down[this.#rand.intn(down.length)]!;
    this.#restart(sim);
  }

  #restart(sim: SimNode): void {
    this.#log(() => `restart ${sim.id} (applied ${sim.app.keys.length})`);
    this.#start(sim);
    this.#processReady(sim);
  }

  // -------------------------------------------------------------------------------------------
  // Clients

  #proposeRandom(): void {
    const alive = this.#alive();
    if (alive.length === 0) return;
    const sim = alive[this.#rand.intn(alive.length)]!;
    const data = encoder.encode(`p${this.#clientSeq++}`);
    this.#pending.set(`${EntryType.EntryNormal}:${contextKey(data)}`, data);
    this.#propose(sim, data);
  }

  #propose(sim: SimNode, data: Uint8Array): boolean {
    try {
      sim.node!.propose(data);
    } catch (err) {
      if (err instanceof ErrProposalDropped) return false;
      throw err;
    }
    this.#processReady(sim);
    return true;
  }

  #readRandom(): void {
    const alive = this.#alive();
    if (alive.length === 0) return;
    const sim = alive[this.#rand.intn(alive.length)]!;
    this.#read(sim);
  }

  #read(sim: SimNode): string {
    const ctx = encoder.encode(`r${sim.id}.${sim.readCount++}`);
    const key = contextKey(ctx);
    this.#reads.set(key, this.#maxCommitted);
    sim.node!.readIndex(ctx);
    this.#processReady(sim);
    return key;
  }

  #snapshotRandom(): void {
    const alive = this.#alive();
    if (alive.length === 0) return;
    const sim = alive[this.#rand.intn(alive.length)]!;
    const applied = sim.app.raftApplied;
    const snapIndex = sim.storage.snapshot().metadata.index;
    if (applied <= snapIndex) return;
    const data = encoder.encode(JSON.stringify(sim.app.keys.slice(0, applied)));
    sim.storage.createSnapshot(applied, sim.app.confState, data);
    // Saving a snapshot syncs the WAL, and with it every hard state written before.
    sim.synced = sim.storage.initialState().hardState;
    // Keep a few entries behind the snapshot so that slow followers sometimes catch up by log.
    const compactTo = applied - this.#rand.intn(3);
    if (compactTo > sim.storage.firstIndex()) sim.storage.compact(compactTo);
    this.#snapshots++;
    this.#log(() => `snapshot ${sim.id} at ${applied}, compact to ${compactTo}`);
  }

  #leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const sim of this.#alive()) {
      const r = sim.node!.raft;
      if (r.state !== StateType.StateLeader) continue;
      if (best === undefined || r.term > best.node!.raft.term) best = sim;
    }
    return best;
  }

  #transferRandom(): void {
    const leader = this.#leader();
    if (leader === undefined) return;
    const voters = leader.node!.raft.prs.voters;
    const target = voters[this.#rand.intn(voters.length)]!;
    this.#log(() => `transfer leadership ${leader.id} -> ${target}`);
    leader.node!.transferLeader(target);
    this.#processReady(leader);
  }

  #confChangeRandom(): void {
    const leader = this.#leader();
    if (leader === undefined) return;
    const r = leader.node!.raft;
    // Like etcd, never re-add an ID once its removal was proposed.
    const all = [...this.#nodes.values()].filter((n) => !n.removed && !this.#retired.has(n.id))
      .map((n) => n.id);
    const voters = r.prs.voters;
    const learners = r.prs.learners;
    const outside = all.filter((id) => !voters.includes(id) && !learners.includes(id));
    const choices: ConfChange[] = [];
    for (const id of outside) choices.push(_cc(ConfChangeType.ConfChangeAddLearnerNode, id));
    for (const id of learners) choices.push(_cc(ConfChangeType.ConfChangeAddNode, id));
    for (const id of learners) choices.push(_cc(ConfChangeType.ConfChangeRemoveNode, id));
    // Never shrink below the starting size minus one, so a quorum can still be found.
    if (voters.length > Math.max(1, this.size - 1)) {
      for (const id of voters) {
        if (id !== leader.id) choices.push(_cc(ConfChangeType.ConfChangeRemoveNode, id));
      }
    }
    if (choices.length === 0) return;
    const cc = choices[this.#rand.intn(choices.length)]!;
    if (cc.type === ConfChangeType.ConfChangeRemoveNode) this.#retired.add(cc.nodeId);
    this.#log(() =>
      `propose conf change ${
        JSON.stringify({ type: cc.type, node: `${cc.nodeId}` })
      } at ${leader.id}`
    );
    try {
      leader.node!.proposeConfChange(cc);
    } catch (err) {
      if (!(err instanceof ErrProposalDropped)) throw err;
    }
    this.#processReady(leader);
  }

  // -------------------------------------------------------------------------------------------
  // Network

  #connected(from: bigint, to: bigint): boolean {
    return (this.#groups.get(from) ?? 0) === (this.#groups.get(to) ?? 0);
  }

  #send(from: SimNode, m: Message, faulty: boolean): void {
    if (m.type === MessageType.MsgSnap) this.#mergeSnapshot(from, m);
    const bytes = encodeMessage(m);
    const f = this.#faults;
    if (faulty && this.#rand.float() < f.dropRate) {
      this.#log(() => `drop ${_describe(m)}`);
      this.#reportDrop(from, m);
      return;
    }
    const copies = faulty && this.#rand.float() < f.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = faulty ? this.#rand.intn(f.maxDelayTicks + 1) : 0;
      const deliverAt = this.#now + delay;
      (deliverAt <= this.#now ? this.#due : this.#network).push({
        message: bytes,
        from: m.from,
        to: m.to,
        type: m.type,
        deliverAt,
      });
    }
  }

  /**
   * etcd's server sends its current applied state, not raft's stored snapshot
   * (createMergedSnapshotMessage): a member added after the stored snapshot is then in the
   * snapshot's ConfState.
   */
  #mergeSnapshot(from: SimNode, m: Message): void {
    const applied = from.app.raftApplied;
    if (
      m.snapshot === undefined || applied <= m.snapshot.metadata.index || from.node === undefined
    ) return;
    const term = from.node.raft.raftLog.term(applied);
    if (term === undefined || term === 0) return;
    m.snapshot = {
      data: encoder.encode(JSON.stringify(from.app.keys.slice(0, applied))),
      metadata: { index: applied, term, confState: from.app.confState },
    };
  }

  #reportDrop(from: SimNode, m: Message): void {
    // The transport tells raft what it could not deliver (etcd's rafthttp does the same).
    if (from.node === undefined) return;
    if (m.type === MessageType.MsgSnap) {
      from.node.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
    } else if (this.#rand.intn(2) === 0) from.node.reportUnreachable(m.to);
  }

  /** Delivers every due message in random order (new ones with no delay too). */
  #deliverDue(faulty: boolean): void {
    const later: InFlight[] = [];
    for (const m of this.#network) (m.deliverAt <= this.#now ? this.#due : later).push(m);
    this.#network = later;
    for (let n = 0; n < DELIVERIES_PER_TICK_MAX; n++) {
      if (this.#due.length === 0) return;
      let inFlight: InFlight;
      if (faulty) {
        // Reorder: any due message may go next (swap-remove keeps this O(1)).
        const at = this.#rand.intn(this.#due.length);
        inFlight = this.#due[at]!;
        this.#due[at] = this.#due[this.#due.length - 1]!;
        this.#due.pop();
      } else {
        inFlight = this.#due.shift()!;
      }
      this.#deliver(inFlight, faulty);
    }
    this.#fail(`more than ${DELIVERIES_PER_TICK_MAX} deliveries in one tick`);
  }

  #deliver(inFlight: InFlight, faulty: boolean): void {
    const target = this.#nodes.get(inFlight.to);
    const source = this.#nodes.get(inFlight.from);
    if (target?.node === undefined || (faulty && !this.#connected(inFlight.from, inFlight.to))) {
      if (source?.node !== undefined && inFlight.type === MessageType.MsgSnap) {
        source.node.reportSnapshot(inFlight.to, SnapshotStatus.SnapshotFailure);
        this.#processReady(source);
      }
      return;
    }
    if (target.removedPeers.has(inFlight.from)) {
      // etcd's transport answers a removed member with "removed from the cluster", and that
      // member stops: it must not keep disrupting elections with ever higher terms.
      if (source?.node !== undefined) {
        this.#log(() => `node ${inFlight.from} learns from ${inFlight.to} that it was removed`);
        source.removed = true;
        source.node = undefined;
      }
      return;
    }
    const m = decodeMessage(inFlight.message);
    this.#deliveries++;
    this.#log(() => `deliver ${_describe(m)}`);
    try {
      target.node.step(m);
    } catch (err) {
      // A forwarded proposal may find no leader, a response may come from a removed node:
      // etcd's server drops both the same way.
      if (!(err instanceof ErrProposalDropped) && !(err instanceof ErrStepPeerNotFound)) throw err;
    }
    this.#processReady(target);
    if (m.type === MessageType.MsgSnap && source?.node !== undefined) {
      source.node.reportSnapshot(m.to, SnapshotStatus.SnapshotFinish);
      this.#processReady(source);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The Ready loop, with the invariant checks

  #processReady(sim: SimNode): void {
    for (let rounds = 0; sim.node !== undefined && sim.node.hasReady(); rounds++) {
      // A Ready may carry a single committed entry (small maxCommittedSizePerReady), so the
      // bound grows with the log.
      if (rounds > 1000 + 2 * sim.node.raft.raftLog.lastIndex()) {
        this.#fail(`node ${sim.id} never runs out of Ready`);
      }
      const rd = sim.node.ready();
      if (
        this.#faultyNow() &&
        this.#rand.float() < this.#faults.crashRate * this.#faults.tornReadyRate
      ) {
        this.#tornReady(sim, rd);
        return;
      }
      this.#handleReady(sim, rd);
    }
    if (sim.node !== undefined) this.#checkLeader(sim);
  }

  /** No faults while bootstrapping (a torn bootstrap is the server's business) or healed. */
  #healing = true;

  #faultyNow(): boolean {
    return !this.#healing;
  }

  /** A crash in the middle of persisting a Ready: a prefix of the entries reaches the disk. */
  #tornReady(sim: SimNode, rd: Ready): void {
    // A leader may send while it writes (Raft thesis §10.2.1): its messages can be out before
    // the crash that loses its own entries.
    if (sim.node!.raft.state === StateType.StateLeader && this.#rand.intn(2) === 0) {
      // Its commit index is announced with them. Up to the entries of this Ready (which no
      // follower can have acknowledged yet) that commit counts only entries durable on a
      // quorum, so it is a fact although this Ready is never written. (A lone voter commits
      // its own unwritten entries too; those are not announced to anyone.)
      if (rd.hardState !== undefined) {
        const firstNew = rd.entries[0]?.index ?? Number.MAX_SAFE_INTEGER;
        this.#recordLeaderCommit(sim, Math.min(rd.hardState.commit, firstNew - 1));
      }
      for (const m of rd.messages) this.#send(sim, m, true);
    }
    if (rd.snapshot === undefined && rd.entries.length > 0) {
      const kept = rd.entries.slice(0, this.#rand.intn(rd.entries.length + 1));
      this.#persistEntries(sim, kept);
    }
    this.#log(() => `crash ${sim.id} while persisting a Ready (${rd.entries.length} entries)`);
    this.#crash(sim);
  }

  #handleReady(sim: SimNode, rd: Ready): void {
    const node = sim.node!;
    // 1. Persist snapshot, entries, hard state (before any message leaves).
    if (rd.snapshot !== undefined) sim.storage.applySnapshot(rd.snapshot);
    this.#persistEntries(sim, rd.entries);
    if (rd.hardState !== undefined) {
      const before = sim.storage.initialState().hardState.commit;
      sim.storage.setHardState(rd.hardState);
      // A commit is a fact once the leader's Ready that holds it is durable (a lone leader
      // commits in memory before persisting; a crash then loses what nobody has seen).
      this.#recordLeaderCommit(sim, rd.hardState.commit);
      this.#checkCommitted(sim, before, rd.hardState.commit);
    }
    // etcd fsyncs when mustSync says so, and always when it saves a snapshot.
    if (rd.mustSync || rd.snapshot !== undefined) sim.synced = sim.storage.initialState().hardState;
    // 2. Send.
    for (const m of rd.messages) this.#send(sim, m, this.#faultyNow());
    // 3. Apply.
    if (rd.snapshot !== undefined) this.#applySnapshot(sim, rd.snapshot);
    for (const e of rd.committedEntries) {
      if (sim.node !== node) return; // Removed by a conf change it just applied: stopped.
      this.#apply(sim, e);
    }
    for (const rs of rd.readStates) this.#checkRead(sim, rs.index, rs.requestCtx);
    // 4. Advance (the node may have been removed by a conf change it just applied).
    if (sim.node === node) node.advance(rd);
  }

  #persistEntries(sim: SimNode, entries: Entry[]): void {
    if (entries.length === 0) return;
    sim.storage.append(entries);
    for (const e of entries) {
      const prevTerm = e.index - 1 >= sim.storage.firstIndex() - 1
        ? sim.storage.term(e.index - 1)
        : -1;
      const id = `${e.index}:${e.term}`;
      const key = _entryKey(e);
      const known = this.#entryIds.get(id);
      if (known === undefined) {
        this.#entryIds.set(id, { key, prevTerm });
      } else if (
        known.key !== key || (prevTerm >= 0 && known.prevTerm >= 0 && known.prevTerm !== prevTerm)
      ) {
        this.#fail(
          `log matching: node ${sim.id} holds ${id} as ${key}/${prevTerm}, seen as ${known.key}/${known.prevTerm}`,
        );
      } else if (known.prevTerm < 0) {
        known.prevTerm = prevTerm;
      }
    }
  }

  /** A leader's commit index moved: record the newly committed entries as the truth. */
  #recordLeaderCommit(sim: SimNode, committed: number): void {
    const r = sim.node!.raft;
    if (r.state !== StateType.StateLeader) return;
    const previous = this.#leaderCommit.get(sim.id) ?? 0;
    if (committed <= previous) return;
    const from = Math.max(previous + 1, r.raftLog.firstIndex());
    for (let i = from; i <= committed; i++) {
      const term = r.raftLog.term(i);
      const entries = r.raftLog.slice(i, i + 1, Number.MAX_SAFE_INTEGER);
      if (term === undefined || entries === undefined || entries.length !== 1) {
        this.#fail(`leader ${sim.id} committed ${i} but cannot read it`);
      }
      const key = _entryKey(entries[0]!);
      const known = this.#committed.get(i);
      if (known === undefined) {
        this.#committed.set(i, { term, key, commitTerm: r.term });
        this.#pending.delete(key);
      } else if (known.term !== term || known.key !== key) {
        this.#fail(
          `commit safety: leader ${sim.id} (term ${r.term}) committed ${i} as ${term}/${key}, was ${known.term}/${known.key}`,
        );
      }
    }
    this.#maxCommitted = Math.max(this.#maxCommitted, committed);
    this.#leaderCommit.set(sim.id, committed);
  }

  #checkCommitted(sim: SimNode, before: number, after: number): void {
    for (let i = Math.max(before + 1, sim.storage.firstIndex()); i <= after; i++) {
      const known = this.#committed.get(i);
      if (known === undefined) {
        this.#fail(`node ${sim.id} committed ${i}, which no leader committed`);
      }
      const term = sim.storage.term(i);
      if (term !== known.term) {
        this.#fail(
          `commit safety: node ${sim.id} committed ${i} at term ${term}, leader committed term ${known.term}`,
        );
      }
    }
  }

  #apply(sim: SimNode, e: Entry): void {
    if (e.index !== sim.app.raftApplied + 1) {
      this.#fail(`node ${sim.id} got entry ${e.index} to apply after ${sim.app.raftApplied}`);
    }
    sim.app.raftApplied = e.index;
    if (e.index <= sim.app.keys.length) {
      this.#replay(sim, e);
      return;
    }
    const expected = sim.app.keys.length + 1;
    if (e.index !== expected) this.#fail(`node ${sim.id} applied ${e.index}, expected ${expected}`);
    const known = this.#committed.get(e.index);
    const key = _entryKey(e);
    if (known === undefined || known.key !== key || known.term !== e.term) {
      this.#fail(
        `state machine safety: node ${sim.id} applied ${e.index} as ${e.term}/${key}, committed ${known?.term}/${known?.key}`,
      );
    }
    sim.app.keys.push(key);
    if (e.type === EntryType.EntryConfChange) this.#applyConfChange(sim, e);
  }

  /** An entry applied before a restart: it must be the same; conf changes go to raft again. */
  #replay(sim: SimNode, e: Entry): void {
    if (sim.app.keys[e.index - 1] !== _entryKey(e)) {
      this.#fail(
        `node ${sim.id} replays ${e.index} as ${_entryKey(e)}, applied ${
          sim.app.keys[e.index - 1]
        }`,
      );
    }
    if (e.type === EntryType.EntryConfChange) this.#applyConfChange(sim, e);
  }

  #applyConfChange(sim: SimNode, e: Entry): void {
    const cc = decodeConfChange(e.data ?? new Uint8Array(0));
    try {
      sim.app.confState = sim.node!.applyConfChange(cc);
    } catch (err) {
      if (!(err instanceof ConfChangeError)) throw err;
      this.#fail(`node ${sim.id} cannot apply conf change at ${e.index}: ${err.message}`);
    }
    this.#confChanges++;
    const inConfig = sim.app.confState.voters.includes(sim.id) ||
      sim.app.confState.learners.includes(sim.id);
    if (cc.type === ConfChangeType.ConfChangeRemoveNode) {
      sim.removedPeers.add(cc.nodeId);
    }
    if (cc.type === ConfChangeType.ConfChangeRemoveNode && cc.nodeId === sim.id && !inConfig) {
      // etcd stops a member once it applies its own removal.
      this.#log(() => `node ${sim.id} removed`);
      sim.removed = true;
      sim.node = undefined;
    }
  }

  #applySnapshot(sim: SimNode, snapshot: Snapshot): void {
    const keys = JSON.parse(decoder.decode(snapshot.data ?? new Uint8Array(0))) as string[];
    if (keys.length !== snapshot.metadata.index) {
      this.#fail(`snapshot at ${snapshot.metadata.index} holds ${keys.length} entries`);
    }
    for (let i = 0; i < keys.length; i++) {
      const known = this.#committed.get(i + 1);
      if (known === undefined || known.key !== keys[i]) {
        this.#fail(`snapshot entry ${i + 1} differs from committed`);
      }
      if (i < sim.app.keys.length && sim.app.keys[i] !== keys[i]) {
        this.#fail(`snapshot entry ${i + 1} differs from what node ${sim.id} applied`);
      }
    }
    // A snapshot older than what the application already holds (after a lost commit index)
    // is a prefix of it, checked above.
    if (keys.length > sim.app.keys.length) sim.app.keys = keys;
    sim.app.raftApplied = snapshot.metadata.index;
    sim.app.confState = snapshot.metadata.confState;
    this.#log(() => `node ${sim.id} applied snapshot at ${snapshot.metadata.index}`);
  }

  #checkRead(sim: SimNode, index: number, ctx: Uint8Array): void {
    const key = contextKey(ctx);
    const required = this.#reads.get(key);
    if (required === undefined) {
      this.#fail(`node ${sim.id} got a read state for an unknown context`);
    }
    if (index < required) {
      this.#fail(
        `linearizability: read ${
          decoder.decode(ctx)
        } at node ${sim.id} got index ${index} < ${required} committed before it`,
      );
    }
    this.#readsDone++;
    this.#readsAnswered.add(key);
  }

  #checkLeader(sim: SimNode): void {
    const r = sim.node!.raft;
    if (r.state !== StateType.StateLeader) return;
    const known = this.#leaders.get(r.term);
    if (known === undefined) {
      this.#leaders.set(r.term, sim.id);
      this.#log(() => `node ${sim.id} is leader of term ${r.term}`);
      this.#checkLeaderCompleteness(sim);
    } else if (known !== sim.id) {
      this.#fail(`election safety: nodes ${known} and ${sim.id} both lead term ${r.term}`);
    }
  }

  #checkLeaderCompleteness(sim: SimNode): void {
    const r = sim.node!.raft;
    const first = r.raftLog.firstIndex();
    const last = r.raftLog.lastIndex();
    for (const [index, c] of this.#committed) {
      if (c.commitTerm >= r.term || index < first) continue;
      if (index > last || r.raftLog.term(index) !== c.term) {
        this.#fail(
          `leader completeness: leader ${sim.id} of term ${r.term} lacks committed entry ${index}`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Heal and liveness

  #heal(): void {
    this.#healing = true;
    this.#groups = new Map();
    this.#log(() => "heal: no more faults");
    // Messages still in the network arrive (late) before anything else.
    for (const m of this.#network) m.deliverAt = this.#now;
    this.#deliverDue(false);
    for (const sim of this.#nodes.values()) {
      if (sim.node === undefined && !sim.removed) this.#restart(sim);
    }
    const healedAt = this.#now;
    // Ten election timeouts, each at most 2 * electionTick (the randomized timeout's bound).
    // Without pre-vote, a node whose log is behind can still win the timer race, lose, and
    // reset everyone's timer with its higher term; ten such rounds in a row are rare, not
    // impossible, so the bound is stated in the longest timeouts.
    const deadline = healedAt + LIVENESS_TIMEOUTS * 2 * ELECTION_TICK;
    let leader: SimNode | undefined;
    while (leader === undefined) {
      if (this.#now >= deadline) {
        this.#fail(`liveness: no leader ${LIVENESS_TIMEOUTS} election timeouts after healing`);
      }
      this.#calmTick();
      leader = this.#stableLeader();
    }
    this.#healLeaderTicks = this.#now - healedAt;
    this.#log(() => `liveness: leader ${leader!.id} after ${this.#now - healedAt} ticks`);
    // Clients retry every proposal not yet committed, at the leader, until all commit.
    const retryDeadline = this.#now + 20 * ELECTION_TICK;
    const retriedAt = new Map<string, number>();
    while (this.#pending.size > 0) {
      if (this.#now >= retryDeadline) {
        this.#fail(`liveness: ${this.#pending.size} proposals never committed`);
      }
      leader = this.#stableLeader() ?? leader;
      if (leader.node !== undefined) {
        // A client retries after a timeout of an election timeout, not on every tick.
        for (const [key, data] of this.#pending) {
          const last = retriedAt.get(key) ?? -Infinity;
          if (this.#now - last < ELECTION_TICK) continue;
          retriedAt.set(key, this.#now);
          this.#propose(leader, data);
        }
      }
      this.#calmTick();
    }
    // A read at the leader completes, and every member applies everything committed.
    // (A read lost to a leader change is retried, as etcd's server retries on timeout.)
    const readKeys: string[] = [];
    let readAt = -Infinity;
    const settleDeadline = this.#now + 10 * ELECTION_TICK;
    for (;;) {
      if (this.#now >= settleDeadline) this.#fail("liveness: cluster did not settle after healing");
      const current = this.#stableLeader();
      const readDone = readKeys.some((key) => this.#readsAnswered.has(key));
      if (current !== undefined && !readDone && this.#now - readAt >= 3) {
        readKeys.push(this.#read(current));
        readAt = this.#now;
      }
      this.#calmTick();
      if (readKeys.some((key) => this.#readsAnswered.has(key)) && this.#settled()) break;
    }
  }

  readonly #readsAnswered = new Set<string>();

  #calmTick(): void {
    this.#now++;
    // Nodes tick in a random order: no node wins timer ties because of its ID.
    const alive = this.#alive();
    for (let i = alive.length - 1; i > 0; i--) {
      const j = this.#rand.intn(i + 1);
      [alive[i], alive[j]] = [alive[j]!, alive[i]!];
    }
    for (const sim of alive) if (sim.node !== undefined) this.#tick(sim);
    this.#deliverDue(false);
  }

  #stableLeader(): SimNode | undefined {
    const leader = this.#leader();
    if (leader === undefined) return undefined;
    const r = leader.node!.raft;
    // A leader that has not committed an entry of its term cannot serve yet.
    return r.committedEntryInCurrentTerm() ? leader : undefined;
  }

  #settled(): boolean {
    const leader = this.#stableLeader();
    if (leader === undefined) return false;
    const committed = leader.node!.raft.raftLog.committed;
    const members = [...leader.node!.raft.prs.voters, ...leader.node!.raft.prs.learners];
    for (const id of members) {
      const sim = this.#nodes.get(id);
      if (sim === undefined || sim.removed) continue;
      if (sim.app.keys.length < committed) return false;
    }
    return true;
  }
}

function _cc(type: ConfChangeType, nodeId: bigint): ConfChange {
  return { id: 0n, type, nodeId };
}

function _ccKey(cc: ConfChange): string {
  // The bootstrap entries' data, as RawNode.bootstrap encodes them.
  return contextKey(encodeConfChange(cc));
}

function _describe(m: Message): string {
  let s = `${messageTypeName(m.type)} ${m.from}->${m.to} term=${m.term}`;
  if (m.type === MessageType.MsgApp) {
    s += ` idx=${m.index}/${m.logTerm} n=${m.entries.length} commit=${m.commit}`;
  }
  if (m.type === MessageType.MsgAppResp) {
    s += ` idx=${m.index}${m.reject ? ` reject hint=${m.rejectHint}` : ""}`;
  }
  if (m.reject && m.type !== MessageType.MsgAppResp) s += " reject";
  return s;
}

/** The one-line command that replays a seed. */
export function reproCommand(seed: number, nodes?: number): string {
  return `deno task sim:raft --seed ${seed}${
    nodes === undefined ? "" : ` --nodes ${nodes}`
  } --verbose`;
}
