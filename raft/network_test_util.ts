/**
 * An in-memory network of raft nodes for unit tests (etcd's raft_test.go `network`): messages
 * are delivered synchronously until none is left, and links can be cut, nodes isolated,
 * message types ignored and single messages filtered.
 *
 * @module
 */

import { emptyConfState, type Message, MessageType } from "./raftpb.ts";
import { MemoryStorage } from "./storage.ts";
import { Raft } from "./raft.ts";
import { Xoshiro128 } from "./rand.ts";
import { ErrProposalDropped } from "./errors.ts";

/** Options of a test node. */
export interface TestRaftOptions {
  voters: bigint[];
  learners?: bigint[];
  electionTick?: number;
  heartbeatTick?: number;
  storage?: MemoryStorage;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxUncommittedEntriesSize?: number;
  disableProposalForwarding?: boolean;
  seed?: number;
}

/** A raft node with a memory storage holding `voters` and `learners`. */
export function newTestRaft(id: bigint, opts: TestRaftOptions): Raft {
  const storage = opts.storage ?? new MemoryStorage();
  const cs = emptyConfState();
  cs.voters = opts.voters;
  cs.learners = opts.learners ?? [];
  const base = storage.initialState.bind(storage);
  // Seed the configuration the way etcd's tests pass peers to newRaft.
  if (storage.snapshot().metadata.index === 0 && base().confState.voters.length === 0) {
    storage.initialState = () => ({ hardState: base().hardState, confState: cs });
  }
  return new Raft({
    id,
    electionTick: opts.electionTick ?? 10,
    heartbeatTick: opts.heartbeatTick ?? 1,
    storage,
    maxSizePerMsg: opts.maxSizePerMsg ?? Number.MAX_SAFE_INTEGER,
    maxInflightMsgs: opts.maxInflightMsgs ?? 256,
    preVote: opts.preVote ?? false,
    checkQuorum: opts.checkQuorum ?? false,
    maxUncommittedEntriesSize: opts.maxUncommittedEntriesSize ?? 0,
    disableProposalForwarding: opts.disableProposalForwarding ?? false,
    rand: new Xoshiro128(opts.seed ?? Number(id)),
  });
}

/** Takes a node's outgoing messages. */
export function readMessages(r: Raft): Message[] {
  const msgs = r.msgs;
  r.msgs = [];
  return msgs;
}

/** A synchronous network of raft nodes. */
export class Network {
  /** Nodes by ID. */
  readonly peers = new Map<bigint, Raft>();
  #cut = new Set<string>();
  #ignored = new Set<number>();
  /** Extra filter: return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined = undefined;
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];
  /** Every message sent, in order, and whether the network dropped it (for traces). */
  readonly trace: { message: Message; dropped: boolean }[] = [];

  /** Adds nodes. */
  constructor(nodes: Raft[]) {
    for (const r of nodes) this.peers.set(r.id, r);
  }

  /** Builds `n` voters 1..n with shared options. */
  static of(n: number, opts: Omit<TestRaftOptions, "voters"> = {}): Network {
    const voters = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    return new Network(voters.map((id) => newTestRaft(id, { ...opts, voters })));
  }

  /** The node with `id`. */
  node(id: bigint): Raft {
    const r = this.peers.get(id);
    if (r === undefined) throw new Error(`no node ${id}`);
    return r;
  }

  /** Delivers messages and everything they cause, until the network is quiet. */
  send(...msgs: Message[]): void {
    const queue = [...msgs];
    for (let n = 0; queue.length > 0; n++) {
      if (n > 100_000) throw new Error("network does not quiesce");
      const m = queue.shift()!;
      const target = this.peers.get(m.to);
      if (target === undefined || !this.#deliverable(m)) {
        this.trace.push({ message: m, dropped: true });
        continue;
      }
      this.trace.push({ message: m, dropped: false });
      this.delivered.push(m);
      try {
        target.step(m);
      } catch (err) {
        if (!(err instanceof ErrProposalDropped)) throw err;
      }
      queue.push(...readMessages(target));
    }
  }

  /** Steps a local message on a node (MsgHup, MsgBeat, MsgProp) and delivers the results. */
  stepLocal(id: bigint, m: Message): void {
    const r = this.node(id);
    m.to = id;
    m.from = m.from === 0n ? id : m.from;
    r.step(m);
    this.send(...readMessages(r));
  }

  #deliverable(m: Message): boolean {
    if (this.#cut.has(`${m.from}-${m.to}`)) return false;
    if (this.#ignored.has(m.type)) return false;
    return this.filter === undefined || this.filter(m);
  }

  /** Cuts the link between a and b both ways. */
  cut(a: bigint, b: bigint): void {
    this.#cut.add(`${a}-${b}`);
    this.#cut.add(`${b}-${a}`);
  }

  /** Cuts every link of `id`. */
  isolate(id: bigint): void {
    for (const other of this.peers.keys()) if (other !== id) this.cut(id, other);
  }

  /** Drops every message of a type. */
  ignore(type: MessageType): void {
    this.#ignored.add(type);
  }

  /** Restores every link and type, clears the filter. */
  recover(): void {
    this.#cut.clear();
    this.#ignored.clear();
    this.filter = undefined;
  }
}

/** A MsgProp carrying `data`. */
export function propMessage(data: string): Message {
  return {
    type: MessageType.MsgProp,
    to: 0n,
    from: 0n,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [{ term: 0, index: 0, type: 0, data: new TextEncoder().encode(data) }],
    commit: 0,
    reject: false,
    rejectHint: 0,
  };
}
