/**
 * The raft state machine (etcd 3.4's raft/raft.go): terms, elections with pre-vote and
 * check-quorum, log replication with per-follower progress, ReadIndex, leader transfer,
 * learners and single-step configuration changes, snapshots.
 *
 * Pure: no I/O, no clock, no Math.random. Time is `tick()`; randomness comes from the injected
 * `Rand`; everything to persist or send is collected for the driver (see raw_node.ts).
 * Roles are swapped functions: becoming a follower sets `#step = stepFollower` and
 * `#tick = tickElection`. `step(m)` settles the term first, then hands m to the role.
 *
 * @module
 */

import {
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  type Message,
  MessageType,
  newMessage,
  type Snapshot,
} from "./raftpb.ts";
import type { Storage } from "./storage.ts";
import { RaftLog } from "./log.ts";
import { ProgressState } from "./progress.ts";
import { ProgressTracker, type VoteTally } from "./tracker.ts";
import { type NewConfig, restoreConfig, simpleChange } from "./conf_change.ts";
import { VoteResult, voteResult } from "./quorum.ts";
import { contextKey, ReadOnly, ReadOnlyOption, type ReadState } from "./read_only.ts";
import type { Rand } from "./rand.ts";
import { ErrProposalDropped, raftAssert } from "./errors.ts";
import { NO_LIMIT, NONE, payloadSize, voteRespMsgType } from "./util.ts";

/** The role of a node. */
export const StateType = {
  StateFollower: 0,
  StateCandidate: 1,
  StateLeader: 2,
  StatePreCandidate: 3,
} as const;
/** A StateType value. */
export type StateType = typeof StateType[keyof typeof StateType];

/** Role names, indexed by StateType. */
export const STATE_NAMES = ["StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"];

/** The campaign context that marks a leader transfer (etcd's `campaignTransfer`). */
const CAMPAIGN_TRANSFER = new TextEncoder().encode("CampaignTransfer");
const CAMPAIGN_TRANSFER_KEY = contextKey(CAMPAIGN_TRANSFER);

/** Configuration of a raft node. */
export interface Config {
  /** This node's ID (non-zero). */
  id: bigint;
  /** Ticks without hearing a leader before a follower campaigns (randomized up to 2x). */
  electionTick: number;
  /** Ticks between a leader's heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** The stable log. */
  storage: Storage;
  /** The last applied index on restart (0 for none). */
  applied?: number;
  /** The byte limit of entries in one MsgApp (at least one entry is always sent). */
  maxSizePerMsg?: number;
  /** The byte limit of committed entries in one Ready (defaults to maxSizePerMsg). */
  maxCommittedSizePerReady?: number;
  /** The byte limit of uncommitted payloads on a leader; proposals past it are dropped. */
  maxUncommittedEntriesSize?: number;
  /** The in-flight window of MsgApp per follower in replicate state. */
  maxInflightMsgs: number;
  /** A leader steps down when it has not heard a quorum for an election timeout. */
  checkQuorum?: boolean;
  /** Run a pre-vote round before bumping the term (Raft thesis §9.6). */
  preVote?: boolean;
  /** How ReadIndex is served (default ReadOnlySafe). */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /** The PRNG for randomized election timeouts. */
  rand: Rand;
}

type StepFunction = (r: Raft, m: Message) => void;

/** The raft state machine of one node. */
export class Raft {
  /** This node's ID. */
  readonly id: bigint;
  /** The current term. */
  term = 0;
  /** Whom this node voted for in the current term (NONE if nobody). */
  vote: bigint = NONE;
  /** Read requests answered, waiting for the next Ready. */
  readStates: ReadState[] = [];
  /** The log. */
  readonly raftLog: RaftLog;
  /** Configuration and progress. */
  prs: ProgressTracker;
  /** The current role. */
  state: StateType = StateType.StateFollower;
  /** True if this node is a learner in the current configuration. */
  isLearner = false;
  /** Messages to send, waiting for the next Ready. */
  msgs: Message[] = [];
  /** The leader's ID as far as this node knows (NONE if unknown). */
  lead: bigint = NONE;
  /** The target of a leader transfer in progress (NONE if none). */
  leadTransferee: bigint = NONE;
  /** The index of the latest conf change proposed; a new one waits until it is applied. */
  pendingConfIndex = 0;
  /** Payload bytes of uncommitted entries on a leader. */
  uncommittedSize = 0;
  /** Pending ReadIndex requests. */
  readOnly: ReadOnly;
  /** Ticks since the last election timeout reset. */
  electionElapsed = 0;
  /** Ticks since the last heartbeat (leader only). */
  heartbeatElapsed = 0;
  /** Check-quorum is on. */
  readonly checkQuorum: boolean;
  /** Pre-vote is on. */
  readonly preVote: boolean;
  /** The heartbeat interval in ticks. */
  readonly heartbeatTimeout: number;
  /** The base election timeout in ticks. */
  readonly electionTimeout: number;
  /** This term's election timeout, in [electionTimeout, 2*electionTimeout). */
  randomizedElectionTimeout = 0;
  /** Followers drop proposals instead of forwarding. */
  readonly disableProposalForwarding: boolean;
  /** ReadIndex requests held until the leader commits an entry of its term. */
  pendingReadIndexMessages: Message[] = [];
  readonly #maxMsgSize: number;
  readonly #maxUncommittedSize: number;
  readonly #rand: Rand;
  #tick: (r: Raft) => void = tickElection;
  #step: StepFunction = stepFollower;

  /** Builds a node from its config and the storage's initial state. */
  constructor(c: Config) {
    _validate(c);
    this.id = c.id;
    this.#rand = c.rand;
    this.#maxMsgSize = c.maxSizePerMsg ?? NO_LIMIT;
    this.#maxUncommittedSize = c.maxUncommittedEntriesSize || NO_LIMIT;
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady || this.#maxMsgSize);
    this.prs = new ProgressTracker(c.maxInflightMsgs);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.readOnly = new ReadOnly(c.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe);
    this.disableProposalForwarding = c.disableProposalForwarding ?? false;
    const { hardState, confState } = c.storage.initialState();
    const cfg = restoreConfig(confState, {
      lastIndex: this.raftLog.lastIndex(),
      maxInflight: this.prs.maxInflight,
    });
    this.switchToConfig(cfg);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if ((c.applied ?? 0) > 0) this.raftLog.appliedTo(c.applied!);
    this.becomeFollower(this.term, NONE);
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.#tick(this);
  }

  /** True if a leader is known. */
  hasLeader(): boolean {
    return this.lead !== NONE;
  }

  /** The volatile state reported in Ready. */
  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  /** The durable state reported in Ready. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** The PRNG (also used by tests that need to stay on the same seed). */
  get rand(): Rand {
    return this.#rand;
  }

  /** Queues a message; stamps `from` and (for non-vote messages) the current term. */
  send(m: Message): void {
    m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote || t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp
    ) {
      // Vote messages carry the term they are about, which is not always ours (pre-vote).
      raftAssert(m.term !== 0, () => `term should be set when sending ${t}`);
    } else {
      raftAssert(m.term === 0, () => `term should not be set when sending ${t} (was ${m.term})`);
      // Proposals and read requests are forwarded as local messages, without a term.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends a MsgApp (or a snapshot) to `to`, even an empty one. */
  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends entries from the follower's next index, or a snapshot if they were compacted away.
   * Returns true if a message was sent.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const m = newMessage({ type: MessageType.MsgApp, to });
    const term = this.raftLog.term(pr.next - 1);
    const entries = this.raftLog.entries(pr.next, this.#maxMsgSize);
    // As etcd: with nothing to send (or only a snapshot) and sendIfEmpty unset, send nothing;
    // the snapshot goes out on the next sendAppend (a heartbeat response, a rejection).
    if ((entries === undefined || entries.length === 0) && !sendIfEmpty) return false;
    if (term === undefined || entries === undefined) {
      // The entries are compacted: the follower needs the snapshot.
      if (!pr.recentActive) return false;
      const snapshot = this.raftLog.snapshot();
      raftAssert(snapshot.metadata.index !== 0, "need non-empty snapshot");
      m.type = MessageType.MsgSnap;
      m.snapshot = snapshot;
      pr.becomeSnapshot(snapshot.metadata.index);
    } else {
      m.index = pr.next - 1;
      m.logTerm = term;
      m.entries = entries;
      m.commit = this.raftLog.committed;
      const n = entries.length;
      if (n !== 0) {
        if (pr.state === ProgressState.StateReplicate) {
          // Pipeline: assume the entries arrive, and count them in the window.
          const last = entries[n - 1]!.index;
          pr.optimisticUpdate(last);
          pr.inflights.add(last);
        } else if (pr.state === ProgressState.StateProbe) {
          pr.probeSent = true;
        } else {
          raftAssert(false, () => `${this.id} is sending append in unhandled state ${pr.state}`);
        }
      }
    }
    this.send(m);
    return true;
  }

  /** Sends a heartbeat; the commit index is capped at what the follower has. */
  sendHeartbeat(to: bigint, context: Uint8Array | undefined): void {
    const match = this.prs.progress.get(to)?.match ?? 0;
    const commit = Math.min(match, this.raftLog.committed);
    const m = newMessage({ type: MessageType.MsgHeartbeat, to, commit });
    if (context !== undefined) m.context = context;
    this.send(m);
  }

  /** Sends MsgApp to every other node. */
  bcastAppend(): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  /** Sends heartbeats, carrying the newest pending read's context if any. */
  bcastHeartbeat(): void {
    const last = this.readOnly.lastPendingRequestCtx();
    this.bcastHeartbeatWithCtx(last === "" ? undefined : _keyBytes(last));
  }

  /** Sends heartbeats carrying `context`. */
  bcastHeartbeatWithCtx(context: Uint8Array | undefined): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, context);
    });
  }

  /** The driver applied and persisted what a Ready held (see RawNode.advance). */
  advance(
    appliedIndex: number,
    lastEntry: Entry | undefined,
    snapshotIndex: number,
    committed: Entry[],
  ): void {
    if (appliedIndex > 0) this.raftLog.appliedTo(appliedIndex);
    this.reduceUncommittedSize(committed);
    if (lastEntry !== undefined) this.raftLog.stableTo(lastEntry.index, lastEntry.term);
    if (snapshotIndex > 0) this.raftLog.stableSnapTo(snapshotIndex);
  }

  /** Commits what a quorum has; returns true if the commit index moved. */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.prs.committed(), this.term);
  }

  /** Resets the per-term state (on every role change). */
  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const lastIndex = this.raftLog.lastIndex();
    this.prs.visit((id, pr) => {
      pr.match = id === this.id ? lastIndex : 0;
      pr.next = lastIndex + 1;
      pr.state = ProgressState.StateProbe;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.probeSent = false;
      pr.inflights.reset();
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
  }

  /** Appends entries of the current term to the leader's log; false if over the size limit. */
  appendEntry(entries: Entry[]): boolean {
    let lastIndex = this.raftLog.lastIndex();
    // New objects: the proposal's entries may be shared with a message the driver still holds.
    const stamped = entries.map((e, i): Entry => ({
      term: this.term,
      index: lastIndex + 1 + i,
      type: e.type,
      data: e.data,
    }));
    if (!this.increaseUncommittedSize(stamped)) return false;
    lastIndex = this.raftLog.append(stamped);
    this.prs.progress.get(this.id)?.maybeUpdate(lastIndex);
    // A single-voter cluster commits here.
    this.maybeCommit();
    return true;
  }

  /** Becomes a follower of `lead` (NONE if unknown) in `term`. */
  becomeFollower(term: number, lead: bigint): void {
    this.#step = stepFollower;
    this.reset(term);
    this.#tick = tickElection;
    this.lead = lead;
    this.state = StateType.StateFollower;
  }

  /** Becomes a candidate in the next term, voting for itself. */
  becomeCandidate(): void {
    raftAssert(this.state !== StateType.StateLeader, "invalid transition [leader -> candidate]");
    this.#step = stepCandidate;
    this.reset(this.term + 1);
    this.#tick = tickElection;
    this.vote = this.id;
    this.state = StateType.StateCandidate;
  }

  /** Becomes a pre-candidate: the term and vote are left alone (no term inflation). */
  becomePreCandidate(): void {
    raftAssert(
      this.state !== StateType.StateLeader,
      "invalid transition [leader -> pre-candidate]",
    );
    this.#step = stepCandidate;
    this.prs.resetVotes();
    this.#tick = tickElection;
    this.lead = NONE;
    this.state = StateType.StatePreCandidate;
  }

  /** Becomes leader and appends an empty entry of its term (Raft §8: commits older ones). */
  becomeLeader(): void {
    raftAssert(this.state !== StateType.StateFollower, "invalid transition [follower -> leader]");
    this.#step = stepLeader;
    this.reset(this.term);
    this.#tick = tickHeartbeat;
    this.lead = this.id;
    this.state = StateType.StateLeader;
    // The leader's own progress is always replicating (it has everything).
    this.prs.progress.get(this.id)?.becomeReplicate();
    // Conservatively, a conf change may be pending in the uncommitted tail: wait for it.
    this.pendingConfIndex = this.raftLog.lastIndex();
    const empty: Entry = { term: 0, index: 0, type: EntryType.EntryNormal, data: undefined };
    raftAssert(this.appendEntry([empty]), "empty entry was dropped");
    // The empty entry does not count against the uncommitted size limit.
    this.reduceUncommittedSize([empty]);
  }

  /** Starts a (pre-)election; `transfer` marks a leader transfer, which ignores leases. */
  campaign(kind: "pre" | "election" | "transfer"): void {
    let term: number;
    let voteType: MessageType;
    if (kind === "pre") {
      this.becomePreCandidate();
      voteType = MessageType.MsgPreVote;
      // A pre-vote asks about the next term without entering it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, voteRespMsgType(voteType), true).result === VoteResult.VoteWon) {
      // A single-voter cluster wins at once.
      if (kind === "pre") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const id of this.prs.voterNodes()) {
      if (id === this.id) continue;
      const m = newMessage({
        type: voteType,
        to: id,
        term,
        index: this.raftLog.lastIndex(),
        logTerm: this.raftLog.lastTerm(),
      });
      if (kind === "transfer") m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  /** Records a vote and returns the tally. */
  poll(id: bigint, _type: MessageType, granted: boolean): VoteTally {
    this.prs.recordVote(id, granted);
    return this.prs.tallyVotes();
  }

  /** Steps a message: settles the term, handles elections, then the role's step function.
   * Throws ErrProposalDropped for a proposal that cannot be accepted. */
  step(m: Message): void {
    if (!this.#stepTerm(m)) return;
    switch (m.type) {
      case MessageType.MsgHup:
        this.#hup();
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.#handleVote(m);
        return;
      default:
        this.#step(this, m);
    }
  }

  /** Raft §5.1: compares terms; returns false if the message must be dropped. */
  #stepTerm(m: Message): boolean {
    if (m.term === 0) return true; // A local message.
    if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = contextKey(m.context) === CAMPAIGN_TRANSFER_KEY;
        // Raft thesis §4.2.3: while a leader is heard from within the election timeout, ignore
        // vote requests, so a removed or partitioned node cannot disrupt the cluster.
        const inLease = this.checkQuorum && this.lead !== NONE &&
          this.electionElapsed < this.electionTimeout;
        if (!force && inLease) return false;
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign in; it is not ours yet.
      } else if (
        m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat ||
        m.type === MessageType.MsgSnap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
      return true;
    }
    if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
      ) {
        // A stale leader (after a partition) learns the newer term from this response; without
        // it, a node with a higher term from pre-vote or check-quorum could be stuck.
        this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from }));
      } else if (m.type === MessageType.MsgPreVote) {
        this.send(
          newMessage({
            type: MessageType.MsgPreVoteResp,
            to: m.from,
            term: this.term,
            reject: true,
          }),
        );
      }
      return false;
    }
    return true;
  }

  #hup(): void {
    if (this.state === StateType.StateLeader) return;
    if (!this.promotable()) return;
    // A node with an unapplied conf change must not campaign: it may not know its own role.
    const unapplied = this.raftLog.slice(
      this.raftLog.applied + 1,
      this.raftLog.committed + 1,
      NO_LIMIT,
    );
    raftAssert(unapplied !== undefined, "unexpected error getting unapplied entries");
    if (_numOfPendingConf(unapplied) !== 0 && this.raftLog.committed > this.raftLog.applied) return;
    this.campaign(this.preVote ? "pre" : "election");
  }

  #handleVote(m: Message): void {
    // Raft §5.2 and §5.4.1: one vote per term, only for an up-to-date log. A pre-vote for a
    // future term may be granted whatever we voted for in this one.
    const canVote = this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.send(newMessage({ type: voteRespMsgType(m.type), to: m.from, term: m.term }));
      if (m.type === MessageType.MsgVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(
        newMessage({ type: voteRespMsgType(m.type), to: m.from, term: this.term, reject: true }),
      );
    }
  }

  /** Appends entries from the leader (Raft §5.3). */
  handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(
        newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }),
      );
      return;
    }
    const lastNewIndex = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNewIndex !== undefined) {
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: lastNewIndex }));
      return;
    }
    // Fast backtracking: hint the largest index whose term is <= the leader's term at m.index,
    // so the leader can skip a whole divergent term at once.
    let hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    hintIndex = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    const hintTerm = this.raftLog.zeroTerm(hintIndex);
    this.send(newMessage({
      type: MessageType.MsgAppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: hintTerm,
    }));
  }

  /** Advances the commit index from a heartbeat and echoes its context. */
  handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    const resp = newMessage({ type: MessageType.MsgHeartbeatResp, to: m.from });
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  /** Installs a snapshot from the leader if it is newer than our commit index. */
  handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (snapshot !== undefined && this.restore(snapshot)) {
      this.send(
        newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.lastIndex() }),
      );
    } else {
      this.send(
        newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }),
      );
    }
  }

  /** Restores the log and configuration from a snapshot; false if it was not needed. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.StateFollower) {
      // Defensive, as in etcd: only a follower restores; anything else steps down.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = s.metadata.confState;
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id)) return false;
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the snapshot's last entry: just fast-forward the commit index.
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    this.raftLog.restore(s);
    this.prs = new ProgressTracker(this.prs.maxInflight);
    const cfg = restoreConfig(cs, {
      lastIndex: this.raftLog.lastIndex(),
      maxInflight: this.prs.maxInflight,
    });
    this.switchToConfig(cfg);
    const pr = this.prs.progress.get(this.id)!;
    pr.maybeUpdate(pr.next - 1);
    return true;
  }

  /** True if this node may campaign (it is a voter). */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  /** Applies a committed configuration change and returns the new ConfState. */
  applyConfChange(cc: ConfChange): ConfState {
    const cfg = simpleChange(this.prs, [cc], {
      lastIndex: this.raftLog.lastIndex(),
      maxInflight: this.prs.maxInflight,
    });
    return this.switchToConfig(cfg);
  }

  /** Installs a configuration and reacts as a leader must (commit, replicate, abort transfer). */
  switchToConfig(cfg: NewConfig): ConfState {
    this.prs.setConfig(cfg.voters, cfg.learners, cfg.progress);
    const cs = this.prs.confState();
    const pr = this.prs.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;
    // A leader removed or demoted keeps leading until it steps down by check-quorum or a
    // newer term; etcd does the same and leaves that to the operator.
    if ((pr === undefined || this.isLearner) && this.state === StateType.StateLeader) return cs;
    if (this.state !== StateType.StateLeader || cs.voters.length === 0) return cs;
    // The quorum changed: the commit index may move, and new nodes need entries.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      this.prs.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== NONE && !this.prs.progress.has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    return cs;
  }

  /** Loads a persisted HardState on start-up. */
  loadState(hs: HardState): void {
    raftAssert(
      hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      () =>
        `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
    );
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** True once this term's randomized election timeout has passed. */
  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Draws this term's election timeout from [electionTimeout, 2*electionTimeout). */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.#rand.intn(this.electionTimeout);
  }

  /** Tells `to` to campaign at once (the last step of a leader transfer). */
  sendTimeoutNow(to: bigint): void {
    this.send(newMessage({ type: MessageType.MsgTimeoutNow, to }));
  }

  /** Gives up a leader transfer. */
  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  /** True once the leader committed an entry of its own term (needed before ReadIndex). */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTerm(this.raftLog.committed) === this.term;
  }

  /** Answers a ReadIndex request at `readIndex`: locally, or with a message to its sender. */
  responseToReadIndexReq(req: Message, readIndex: number): Message | undefined {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({
        index: readIndex,
        requestCtx: req.entries[0]?.data ?? new Uint8Array(0),
      });
      return undefined;
    }
    return newMessage({
      type: MessageType.MsgReadIndexResp,
      to: req.from,
      index: readIndex,
      entries: req.entries,
    });
  }

  /** Adds proposed payload bytes; false (and nothing added) if over the limit. */
  increaseUncommittedSize(entries: Entry[]): boolean {
    let size = 0;
    for (const e of entries) size += payloadSize(e);
    // An empty uncommitted log always accepts, so one large entry cannot block forever.
    if (this.uncommittedSize > 0 && this.uncommittedSize + size > this.#maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += size;
    return true;
  }

  /** Removes committed payload bytes from the uncommitted count. */
  reduceUncommittedSize(entries: Entry[]): void {
    if (this.uncommittedSize === 0) return;
    let size = 0;
    for (const e of entries) size += payloadSize(e);
    this.uncommittedSize = size > this.uncommittedSize ? 0 : this.uncommittedSize - size;
  }
}

/** The volatile state: who leads and this node's role. */
export interface SoftState {
  /** The leader's ID, NONE if unknown. */
  lead: bigint;
  /** This node's role. */
  raftState: StateType;
}

function _validate(c: Config): void {
  raftAssert(c.id !== NONE, "cannot use none as id");
  raftAssert(c.heartbeatTick > 0, "heartbeat tick must be greater than 0");
  raftAssert(c.electionTick > c.heartbeatTick, "election tick must be greater than heartbeat tick");
  raftAssert(c.maxInflightMsgs > 0, "max inflight messages must be greater than 0");
  raftAssert(
    c.readOnlyOption !== ReadOnlyOption.ReadOnlyLeaseBased || c.checkQuorum === true,
    "CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased",
  );
}

function _keyBytes(key: string): Uint8Array {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) bytes[i] = key.charCodeAt(i);
  return bytes;
}

function _numOfPendingConf(entries: Entry[]): number {
  let n = 0;
  for (const e of entries) if (e.type === EntryType.EntryConfChange) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Tick functions

function tickElection(r: Raft): void {
  r.electionElapsed++;
  if (r.promotable() && r.pastElectionTimeout()) {
    r.electionElapsed = 0;
    r.step(newMessage({ type: MessageType.MsgHup, from: r.id }));
  }
}

function tickHeartbeat(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.electionTimeout) {
    r.electionElapsed = 0;
    if (r.checkQuorum) r.step(newMessage({ type: MessageType.MsgCheckQuorum, from: r.id }));
    // A transfer that did not finish within an election timeout is abandoned.
    if (r.state === StateType.StateLeader && r.leadTransferee !== NONE) r.abortLeaderTransfer();
  }
  if (r.state !== StateType.StateLeader) return;
  if (r.heartbeatElapsed >= r.heartbeatTimeout) {
    r.heartbeatElapsed = 0;
    r.step(newMessage({ type: MessageType.MsgBeat, from: r.id }));
  }
}

// ---------------------------------------------------------------------------------------------
// Step functions

function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgBeat:
      r.bcastHeartbeat();
      return;
    case MessageType.MsgCheckQuorum:
      _leaderCheckQuorum(r);
      return;
    case MessageType.MsgProp:
      _leaderPropose(r, m);
      return;
    case MessageType.MsgReadIndex:
      _leaderReadIndex(r, m);
      return;
  }
  const pr = r.prs.progress.get(m.from);
  if (pr === undefined) return;
  switch (m.type) {
    case MessageType.MsgAppResp:
      _leaderAppResp(r, m);
      return;
    case MessageType.MsgHeartbeatResp:
      _leaderHeartbeatResp(r, m);
      return;
    case MessageType.MsgSnapStatus:
      if (pr.state !== ProgressState.StateSnapshot) return;
      // On success the follower is probed from past the snapshot; on failure from its match.
      if (m.reject) pr.pendingSnapshot = 0;
      pr.becomeProbe();
      // Wait for a heartbeat response (or MsgAppResp) before probing again.
      pr.probeSent = true;
      return;
    case MessageType.MsgUnreachable:
      // Messages may have been lost: stop pipelining and probe.
      if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
      return;
    case MessageType.MsgTransferLeader:
      _leaderTransfer(r, m);
      return;
  }
}

function _leaderCheckQuorum(r: Raft): void {
  const self = r.prs.progress.get(r.id);
  if (self !== undefined) self.recentActive = true;
  if (!r.prs.quorumActive()) r.becomeFollower(r.term, NONE);
  r.prs.visit((id, pr) => {
    if (id !== r.id) pr.recentActive = false;
  });
}

function _leaderPropose(r: Raft, m: Message): void {
  raftAssert(m.entries.length !== 0, () => `${r.id} stepped empty MsgProp`);
  // A leader removed from the configuration cannot commit anything.
  if (!r.prs.progress.has(r.id)) throw new ErrProposalDropped();
  if (r.leadTransferee !== NONE) throw new ErrProposalDropped();
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    if (e.type !== EntryType.EntryConfChange) continue;
    // One change at a time: a second change while one is unapplied becomes an empty entry
    // (etcd keeps the slot so that the proposer's index bookkeeping still holds).
    if (r.pendingConfIndex > r.raftLog.applied) {
      m.entries[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: undefined };
    } else {
      r.pendingConfIndex = r.raftLog.lastIndex() + i + 1;
    }
  }
  if (!r.appendEntry(m.entries)) throw new ErrProposalDropped();
  r.bcastAppend();
}

function _leaderReadIndex(r: Raft, m: Message): void {
  // Raft §6.4: a lone voter is the quorum; its commit index is the read index.
  if (r.prs.isSingleton()) {
    const resp = r.responseToReadIndexReq(m, r.raftLog.committed);
    if (resp !== undefined) r.send(resp);
    return;
  }
  // A new leader does not know the commit index until it commits an entry of its own term.
  if (!r.committedEntryInCurrentTerm()) {
    r.pendingReadIndexMessages.push(m);
    return;
  }
  _sendMsgReadIndexResponse(r, m);
}

function _sendMsgReadIndexResponse(r: Raft, m: Message): void {
  if (r.readOnly.option === ReadOnlyOption.ReadOnlySafe) {
    const context = m.entries[0]?.data;
    r.readOnly.addRequest(r.raftLog.committed, m);
    // The leader's own ack: with one other voter, its reply completes the quorum.
    r.readOnly.recvAck(r.id, context);
    r.bcastHeartbeatWithCtx(context);
    return;
  }
  const resp = r.responseToReadIndexReq(m, r.raftLog.committed);
  if (resp !== undefined) r.send(resp);
}

function _releasePendingReadIndexMessages(r: Raft): void {
  if (!r.committedEntryInCurrentTerm()) return;
  const pending = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of pending) _sendMsgReadIndexResponse(r, m);
}

function _leaderAppResp(r: Raft, m: Message): void {
  const pr = r.prs.progress.get(m.from)!;
  pr.recentActive = true;
  if (m.reject) {
    // Fast backtracking: the follower's hint (and its term) let us skip whole terms.
    let nextProbeIndex = m.rejectHint;
    if (m.logTerm > 0) nextProbeIndex = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm);
    if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
      if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
      r.sendAppend(m.from);
    }
    return;
  }
  const oldPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) return;
  if (pr.state === ProgressState.StateProbe) {
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.StateSnapshot && pr.match >= pr.pendingSnapshot) {
    // The follower caught up past the snapshot: resume normal replication.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.StateReplicate) {
    pr.inflights.freeLE(m.index);
  }
  if (r.maybeCommit()) {
    _releasePendingReadIndexMessages(r);
    r.bcastAppend();
  } else if (oldPaused) {
    // The follower was paused and has room again: send what it is missing.
    r.sendAppend(m.from);
  }
  // Fill the window with whatever the size limit held back.
  while (r.maybeSendAppend(m.from, false)) { /* keep sending */ }
  if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) {
    r.sendTimeoutNow(m.from);
  }
}

function _leaderHeartbeatResp(r: Raft, m: Message): void {
  const pr = r.prs.progress.get(m.from)!;
  pr.recentActive = true;
  pr.probeSent = false;
  // A full window may be full of lost messages: free one slot so replication can resume.
  if (pr.state === ProgressState.StateReplicate && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.raftLog.lastIndex()) r.sendAppend(m.from);
  if (
    r.readOnly.option !== ReadOnlyOption.ReadOnlySafe || m.context === undefined ||
    m.context.length === 0
  ) {
    return;
  }
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (voteResult(r.prs.voters, acks) !== VoteResult.VoteWon) return;
  for (const rs of r.readOnly.advance(m)) {
    const resp = r.responseToReadIndexReq(rs.req, rs.index);
    if (resp !== undefined) r.send(resp);
  }
}

function _leaderTransfer(r: Raft, m: Message): void {
  const pr = r.prs.progress.get(m.from)!;
  if (pr.isLearner) return;
  const transferee = m.from;
  if (r.leadTransferee !== NONE) {
    if (r.leadTransferee === transferee) return;
    r.abortLeaderTransfer();
  }
  if (transferee === r.id) return;
  // The transfer must finish within an election timeout (see tickHeartbeat).
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (pr.match === r.raftLog.lastIndex()) r.sendTimeoutNow(transferee);
  else r.sendAppend(transferee);
}

function stepCandidate(r: Raft, m: Message): void {
  const myVoteRespType = r.state === StateType.StatePreCandidate
    ? MessageType.MsgPreVoteResp
    : MessageType.MsgVoteResp;
  switch (m.type) {
    case MessageType.MsgProp:
      throw new ErrProposalDropped();
    case MessageType.MsgApp:
      // A leader of our term exists (m.term === r.term here).
      r.becomeFollower(m.term, m.from);
      r.handleAppendEntries(m);
      return;
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from);
      r.handleHeartbeat(m);
      return;
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from);
      r.handleSnapshot(m);
      return;
    case myVoteRespType: {
      const { result } = r.poll(m.from, m.type, !m.reject);
      if (result === VoteResult.VoteWon) {
        if (r.state === StateType.StatePreCandidate) {
          r.campaign("election");
        } else {
          r.becomeLeader();
          r.bcastAppend();
        }
      } else if (result === VoteResult.VoteLost) {
        // A lost pre-vote leaves the term as it was (pre-vote responses do not raise it).
        r.becomeFollower(r.term, NONE);
      }
      return;
    }
  }
}

function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === NONE || r.disableProposalForwarding) throw new ErrProposalDropped();
      m.to = r.lead;
      r.send(m);
      return;
    case MessageType.MsgApp:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleAppendEntries(m);
      return;
    case MessageType.MsgHeartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleHeartbeat(m);
      return;
    case MessageType.MsgSnap:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleSnapshot(m);
      return;
    case MessageType.MsgTransferLeader:
      if (r.lead === NONE) return;
      m.to = r.lead;
      r.send(m);
      return;
    case MessageType.MsgTimeoutNow:
      // Leader transfer: campaign at once, ignoring pre-vote and leases.
      if (r.promotable()) r.campaign("transfer");
      return;
    case MessageType.MsgReadIndex:
      if (r.lead === NONE) return;
      m.to = r.lead;
      r.send(m);
      return;
    case MessageType.MsgReadIndexResp:
      if (m.entries.length !== 1) return;
      r.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data ?? new Uint8Array(0) });
      return;
  }
}

/** Decodes the ConfChange in a conf change entry. */
export function confChangeOfEntry(e: Entry): ConfChange {
  raftAssert(e.type === EntryType.EntryConfChange, "not a conf change entry");
  return decodeConfChange(e.data ?? new Uint8Array(0));
}
