/**
 * RawNode: the driver's handle on a raft node (etcd's raft/rawnode.go and the Ready of
 * node.go), single-threaded and synchronous.
 *
 * The Ready contract, in order:
 * 1. Persist `hardState`, `entries` and `snapshot` (fsync if `mustSync`; always sync a
 *    snapshot) BEFORE sending any message: a vote or an ack must not leave before what it
 *    promises is durable. A LEADER may send in parallel with its own write (Raft thesis
 *    §10.2.1): a commit that counts its unwritten entries is only announced in a later Ready,
 *    and the next Ready comes only after `advance`.
 * 2. Send `messages`.
 * 3. Apply `snapshot`, then `committedEntries` in order (calling `applyConfChange` for conf
 *    change entries; after a restart raft replays entries after its snapshot and conf changes
 *    must be applied again even when the state machine already has them); serve `readStates`
 *    once applied up to their index.
 * 4. Call `advance(rd)`; only then ask for the next Ready.
 *
 * @module
 */

import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  emptyHardState,
  encodeConfChange,
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  type Message,
  MessageType,
  newMessage,
  type Snapshot,
} from "./raftpb.ts";
import { type Config, Raft, type SoftState, StateType } from "./raft.ts";
import type { ReadState } from "./read_only.ts";
import type { Progress } from "./progress.ts";
import { ErrStepLocalMsg, ErrStepPeerNotFound, RaftError } from "./errors.ts";
import { isLocalMsg, isResponseMsg } from "./util.ts";

/** What the driver must persist, send and apply next. */
export interface Ready {
  /** Set when the leader or role changed; not persisted. */
  softState?: SoftState | undefined;
  /** Set when term, vote or commit changed: persist before sending messages. */
  hardState?: HardState | undefined;
  /** Entries to append to stable storage before sending messages. */
  entries: Entry[];
  /** A snapshot to persist (and apply) — set when a leader sent one. */
  snapshot?: Snapshot | undefined;
  /** Committed entries to apply, in order (they were persisted in this or an earlier Ready). */
  committedEntries: Entry[];
  /** Messages to send once the above is persisted (a leader's may go out during its write). */
  messages: Message[];
  /** Answered ReadIndex requests. */
  readStates: ReadState[];
  /** True if the write of hardState/entries must be synced (term, vote or entries changed). */
  mustSync: boolean;
}

/** Whether a snapshot reached its follower (for `reportSnapshot`). */
export const SnapshotStatus = {
  SnapshotFinish: 1,
  SnapshotFailure: 2,
} as const;
/** A SnapshotStatus value. */
export type SnapshotStatus = typeof SnapshotStatus[keyof typeof SnapshotStatus];

/** A peer for `bootstrap`: its ID and the context of its ConfChange (etcd's member JSON). */
export interface Peer {
  /** The member ID. */
  id: bigint;
  /** Stored in the ConfChange entry (etcd puts the member's JSON here). */
  context?: Uint8Array;
}

/** A snapshot of a node's state for monitoring. */
export interface Status {
  /** This node's ID. */
  id: bigint;
  /** Term, vote and commit index. */
  hardState: HardState;
  /** Leader and role. */
  softState: SoftState;
  /** The applied index. */
  applied: number;
  /** The target of a leader transfer in progress, NONE if none. */
  leadTransferee: bigint;
  /** The progress of every node, only on a leader. */
  progress?: Map<bigint, Progress>;
  /** The current configuration. */
  confState: ConfState;
}

/** True if a hard state differs from the previous one in term or vote or entries exist. */
export function mustSync(hs: HardState, prev: HardState, entriesCount: number): boolean {
  return entriesCount !== 0 || hs.vote !== prev.vote || hs.term !== prev.term;
}

function _hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** A raft node driven by its owner's loop. */
export class RawNode {
  /** The state machine (exposed for tests and status; drive it through RawNode). */
  readonly raft: Raft;
  #prevSoftState: SoftState;
  #prevHardState: HardState;

  /** Builds a node from config; storage's initial state is loaded. */
  constructor(config: Config) {
    this.raft = new Raft(config);
    this.#prevSoftState = this.raft.softState();
    this.#prevHardState = this.raft.hardState();
  }

  /**
   * Writes the initial configuration of a new cluster into the (empty) log: one ConfChange
   * AddNode entry per peer at term 1, committed (etcd's RawNode.Bootstrap).
   */
  bootstrap(peers: Peer[]): void {
    if (peers.length === 0) throw new RaftError("must provide at least one peer to Bootstrap");
    if (this.raft.raftLog.storage.lastIndex() !== 0) {
      throw new RaftError("can't bootstrap a nonempty Storage");
    }
    // The whole bootstrap, hard state included, comes out in the next Ready.
    this.#prevHardState = emptyHardState();
    this.raft.becomeFollower(1, 0n);
    const entries = peers.map((peer, i): Entry => {
      const cc: ConfChange = { id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: peer.id };
      if (peer.context !== undefined) cc.context = peer.context;
      return { term: 1, index: i + 1, type: EntryType.EntryConfChange, data: encodeConfChange(cc) };
    });
    this.raft.raftLog.append(entries);
    this.raft.raftLog.committed = entries.length;
    for (const peer of peers) {
      this.raft.applyConfChange({
        id: 0n,
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: peer.id,
      });
    }
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (moves to candidate or pre-candidate). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.MsgHup }));
  }

  /** Proposes data to be appended; throws ErrProposalDropped if it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.raft.step(newMessage({
      type: MessageType.MsgProp,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data }],
    }));
  }

  /** Proposes several entries in one message (one log append). */
  proposeBatch(data: Uint8Array[]): void {
    this.raft.step(newMessage({
      type: MessageType.MsgProp,
      from: this.raft.id,
      entries: data.map((d) => ({ term: 0, index: 0, type: EntryType.EntryNormal, data: d })),
    }));
  }

  /** Proposes a configuration change (refused as an empty entry if one is pending). */
  proposeConfChange(cc: ConfChange): void {
    this.raft.step(newMessage({
      type: MessageType.MsgProp,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.EntryConfChange, data: encodeConfChange(cc) }],
    }));
  }

  /** Applies a committed conf change to the node's configuration; returns the new ConfState. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Steps a message received from the network. */
  step(m: Message): void {
    // Local messages are the driver's business only through the methods above.
    if (isLocalMsg(m.type)) throw new ErrStepLocalMsg();
    if (this.raft.prs.progress.has(m.from) || !isResponseMsg(m.type)) {
      this.raft.step(m);
      return;
    }
    throw new ErrStepPeerNotFound();
  }

  /**
   * Removes the proposals this node forwards to its leader (MsgProp, stepFollower) from the
   * messages not yet handed out in a Ready, and returns them in order. A forwarded proposal
   * promises nothing about this node's hard state or log, so unlike the rest of a Ready's
   * messages it need not wait for the driver to persist anything: the driver may send it
   * while the Ready in hand is still being written.
   */
  takeForwardedProposals(): Message[] {
    const r = this.raft;
    if (!r.msgs.some((m) => m.type === MessageType.MsgProp)) return [];
    const forwarded: Message[] = [];
    const rest: Message[] = [];
    for (const m of r.msgs) (m.type === MessageType.MsgProp ? forwarded : rest).push(m);
    r.msgs = rest;
    return forwarded;
  }

  /**
   * Removes a leader's appends of its current term (MsgApp) from the messages not yet handed
   * out in a Ready, and returns them in order; none unless this node leads. A leader's Ready
   * messages may leave in parallel with its own write (Raft thesis §10.2.1; etcd's raft.go
   * sends them first), so these, which would head the next Ready, may leave before it too.
   */
  takeLeaderAppends(): Message[] {
    const r = this.raft;
    if (r.state !== StateType.StateLeader) return [];
    const isAppend = (m: Message) => m.type === MessageType.MsgApp && m.term === r.term;
    if (!r.msgs.some(isAppend)) return [];
    const appends: Message[] = [];
    const rest: Message[] = [];
    for (const m of r.msgs) (isAppend(m) ? appends : rest).push(m);
    r.msgs = rest;
    return appends;
  }

  /** True if there is anything in a Ready. */
  hasReady(): boolean {
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.#prevSoftState.lead || ss.raftState !== this.#prevSoftState.raftState) {
      return true;
    }
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !_hardStateEqual(hs, this.#prevHardState)) return true;
    const snapshot = r.raftLog.unstable.snapshot;
    if (snapshot !== undefined && snapshot.metadata.index !== 0) return true;
    if (r.msgs.length > 0 || r.raftLog.unstable.entries.length > 0 || r.raftLog.hasNextEnts()) {
      return true;
    }
    return r.readStates.length !== 0;
  }

  /** The next Ready; the node assumes the driver handles it (messages are handed over). */
  ready(): Ready {
    const r = this.raft;
    const ss = r.softState();
    const softChanged = ss.lead !== this.#prevSoftState.lead ||
      ss.raftState !== this.#prevSoftState.raftState;
    if (softChanged) this.#prevSoftState = ss;
    const hs = r.hardState();
    const entries = r.raftLog.unstableEntries();
    // Every Ready is built by this one literal, every field present and in the same order, so
    // that all Readys share one hidden class: the driver's reads of them (`RaftNode#round`,
    // `advance` below) stay monomorphic. Adding the optional fields only when set gave up to
    // four shapes, and those sites went polymorphic on every member (docs/performance.md,
    // "V8 tiers, deopts and inline caches on the put path, round 8").
    const rd: Ready = {
      softState: softChanged ? ss : undefined,
      hardState: _hardStateEqual(hs, this.#prevHardState) ? undefined : hs,
      entries,
      snapshot: r.raftLog.unstable.snapshot,
      committedEntries: r.raftLog.nextEnts(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: mustSync(hs, this.#prevHardState, entries.length),
    };
    r.msgs = [];
    r.readStates = [];
    return rd;
  }

  /** The driver persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) {
      this.#prevHardState = rd.hardState;
    }
    const committed = rd.committedEntries;
    let applied = 0;
    if (committed.length > 0) applied = committed[committed.length - 1]!.index;
    else if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      applied = rd.snapshot.metadata.index;
    }
    // No read at index -1 of an empty array: that is a keyed property lookup of "-1", which
    // turned this site megamorphic on every member.
    const entries = rd.entries;
    this.raft.advance(
      applied,
      entries.length > 0 ? entries[entries.length - 1] : undefined,
      rd.snapshot?.metadata.index ?? 0,
      committed,
    );
  }

  /** A read request: answered in a later Ready's readStates once leadership is confirmed. */
  readIndex(context: Uint8Array): void {
    this.raft.step(newMessage({
      type: MessageType.MsgReadIndex,
      entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: context }],
    }));
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: bigint): void {
    this.raft.step(newMessage({ type: MessageType.MsgTransferLeader, from: transferee }));
  }

  /** The transport could not reach `id`: the leader stops pipelining to it. */
  reportUnreachable(id: bigint): void {
    this.raft.step(newMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** Reports whether a snapshot sent to `id` arrived. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    this.raft.step(newMessage({
      type: MessageType.MsgSnapStatus,
      from: id,
      reject: status === SnapshotStatus.SnapshotFailure,
    }));
  }

  /** The node's status (progress only on a leader). */
  status(): Status {
    const r = this.raft;
    const status: Status = {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.raftLog.applied,
      leadTransferee: r.leadTransferee,
      confState: r.prs.confState(),
    };
    if (r.state === StateType.StateLeader) {
      const progress = new Map<bigint, Progress>();
      r.prs.visit((id, pr) => progress.set(id, pr.clone()));
      status.progress = progress;
    }
    return status;
  }
}
