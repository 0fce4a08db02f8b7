/**
 * The driver of the raft state machine (etcd's `etcdserver/raft.go`): a ticker, and the Ready
 * loop that persists, sends, applies and advances — in that order, following the contract
 * written on raft's `Ready`:
 *
 * 1. a snapshot in the Ready is saved (`.snap`, then the WAL snapshot record) and applied to
 *    the MemoryStorage;
 * 2. hard state and entries are appended to the WAL with one fdatasync (group commit: every
 *    proposal that arrived since the last Ready shares it) and then to the MemoryStorage; when
 *    rounds carry one entry at a time (a lone writer) the fdatasync blocks instead of being
 *    awaited on the thread pool (see `#lone`);
 * 3. messages go to the transport (a leader's go first, in parallel with its write, with its
 *    appends to each follower joined into one where they continue each other:
 *    `coalesceAppends`; appends that peers' messages produce during that write leave at the
 *    end of their turn, `#sendLeaderAppends`; a follower's forwarded proposals leave at the end
 *    of the turn that made them, `#stepProposals`);
 * 4. committed entries are handed to the applier, in log order;
 * 5. `advance()`.
 *
 * Entries are applied only after they are durable in the local WAL. etcd 3.4 lets a single
 * member apply before its own fsync; we do not, so that an acknowledged write survives a
 * crash even on one member. Committed entries that an earlier round already made durable are
 * applied while this round's fdatasync runs (etcd applies in its own goroutine, beside the
 * next WAL write): under load a round appends batch k and commits batch k-1, so the apply of
 * k-1 and the disk's wait for k overlap instead of adding up. The rest are applied after it.
 *
 * The loop runs whenever something may have produced a Ready (a proposal, a tick, a message)
 * and never twice at once; work arriving during a WAL write is picked up by the next round.
 *
 * @module
 */

import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  MemoryStorage,
  Message,
  RawNode,
  ReadState,
  Snapshot,
  SoftState,
  Status,
} from "../raft/mod.ts";
import {
  coalesceAppends,
  ErrProposalDropped,
  isEmptySnapshot,
  NONE,
  SnapshotStatus,
  StateType,
} from "../raft/mod.ts";
import type { Wal } from "../wal/mod.ts";
import type { Snapshotter } from "../snap/mod.ts";

/** Where the node's outgoing messages go (a peer transport; empty for one member). */
export interface Transport {
  send(messages: Message[]): void;
}

/** What the node calls back into (the server). All calls happen inside the Ready loop. */
export interface RaftNodeHandler {
  /** Leader or role changed. */
  onSoftState(state: SoftState): void;
  /** ReadIndex results: `requestCtx` identifies the request. */
  onReadStates(states: ReadState[]): void;
  /** A snapshot from the leader was persisted: the server replaces its state with it. */
  onSnapshot(snapshot: Snapshot): Promise<void>;
  /** Committed entries, in log order, durable locally. Applies them synchronously. */
  applyEntries(entries: Entry[]): void;
  /** After a round: the server may take a snapshot or purge files. */
  afterApply(): Promise<void>;
  /** The loop failed (a WAL write error): the server must stop; the state is unknown. */
  onFatal(error: unknown): void;
}

/** Options of {@link RaftNode}. */
export interface RaftNodeOptions {
  rawNode: RawNode;
  storage: MemoryStorage;
  wal: Wal;
  snapshotter: Snapshotter;
  transport: Transport;
  handler: RaftNodeHandler;
  heartbeatIntervalMs: number;
  /** The hard state last written to the WAL (to re-save it when a Ready has none). */
  hardState: HardState;
}

/** A proposal waiting for the end of the turn, and what to call if raft drops it. */
interface _Proposal {
  data: Uint8Array;
  onDropped: (tag: unknown) => void;
  tag: unknown;
}

/**
 * The ticker and Ready loop around one RawNode. The RawNode is private: every call that may
 * produce a Ready goes through a method here that also schedules the loop, so no caller has
 * to remember to.
 */
export class RaftNode {
  readonly #rawNode: RawNode;
  readonly #storage: MemoryStorage;
  readonly #wal: Wal;
  readonly #snapshotter: Snapshotter;
  readonly #transport: Transport;
  readonly #handler: RaftNodeHandler;
  readonly #heartbeatIntervalMs: number;
  #hardState: HardState;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #running = false;
  #again = false;
  #stopped = false;
  #idle: Promise<void> = Promise.resolve();
  #loops = 0;
  /** Whether the round in progress is a leader's (its messages left before its write). */
  #leaderRound = false;
  /** Whether a microtask will send the appends stepped during a leader's round. */
  #appendsScheduled = false;
  /** Entries the previous round appended (see `#lone`). */
  #lastRoundEntries = 0;
  /** Proposals of the current turn, not yet stepped into raft. */
  #pending: _Proposal[] = [];

  /** Wraps `rawNode`; call `start()` to begin ticking. */
  constructor(options: RaftNodeOptions) {
    if (!(options.heartbeatIntervalMs > 0)) throw new RangeError("heartbeat interval must be > 0");
    this.#rawNode = options.rawNode;
    this.#storage = options.storage;
    this.#wal = options.wal;
    this.#snapshotter = options.snapshotter;
    this.#transport = options.transport;
    this.#handler = options.handler;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.#hardState = options.hardState;
  }

  /** How many Ready rounds ran (tests and metrics). */
  get rounds(): number {
    return this.#loops;
  }

  /** Starts the ticker and processes whatever is ready. */
  start(): void {
    if (this.#ticker !== undefined) return;
    this.#ticker = setInterval(() => {
      this.#rawNode.tick();
      this.#kick();
    }, this.#heartbeatIntervalMs);
    this.#kick();
  }

  /**
   * Advances the logical clock by `ticks` at once (etcd's `advanceTicks`: a member that is
   * the only voter need not wait a whole election timeout after start).
   */
  advanceTicks(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.#rawNode.tick();
    this.#kick();
  }

  /**
   * Proposes `data` (an encoded InternalRaftRequest). Throws when raft would drop it now (no
   * leader, an election, a leadership transfer); otherwise the proposal joins the others made
   * in the same turn of the event loop and all of them enter raft as one MsgProp (one log
   * append, one MsgApp per follower instead of one per proposal). If raft drops that batch
   * after all (its state changed within the turn), `onDropped(tag)` is called: a caller that
   * passes one handler for all its proposals and tells them apart by `tag` makes no closure
   * per proposal.
   */
  propose<T>(data: Uint8Array, onDropped: (tag: T) => void, tag: T): void;
  propose(data: Uint8Array, onDropped: () => void): void;
  propose(data: Uint8Array, onDropped: (tag: unknown) => void, tag?: unknown): void {
    // An InternalRaftRequest carries its header and a v2 Request its ID: never empty.
    assert(data.length > 0, "propose: empty proposal");
    if (this.#stopped || !this.#acceptsProposals()) throw new ErrProposalDropped();
    this.#pending.push({ data, onDropped, tag });
    if (this.#pending.length === 1) queueMicrotask(() => this.#endOfTurn());
  }

  /**
   * The end of a turn in which proposals were made. A follower steps them at once, even while
   * a round is writing to the WAL, so that the MsgProp carrying them to the leader leaves now
   * (`#stepProposals`) rather than after the round in progress and the next one's fdatasync.
   * A leader keeps them for its next round: they join that round's log append.
   */
  #endOfTurn(): void {
    if (!this.#stopped && this.#rawNode.raft.state === StateType.StateFollower) {
      this.#stepProposals();
    }
    this.#kick();
  }

  /**
   * Whether this round's fdatasync should block the event loop rather than be awaited on the
   * thread pool (`Wal.save`'s `blockingSync`): on a leader or a follower, when this round and
   * the one before each appended at most one entry and the round installs no snapshot. Then the
   * member serves a lone writer: the save is all that writer waits for here, nothing else is in
   * flight to overlap with the disk's wait, and the pool's hand-off is two thread wake-ups on
   * its path. Under concurrent load rounds carry many entries and the sync is awaited, so
   * requests and peer messages keep being read during it.
   *
   * What may leave during the wait has left before it. A leader's messages (its MsgApps, to
   * voters and learners alike) were handed to the transport before the save, and the stream
   * writers flush in a microtask queued then, ahead of the WAL's own turn: they are on the
   * sockets when the fdatasync starts. A follower sends only after its save in any case, and
   * what it does not read meanwhile (a heartbeat, the next MsgApp) waits one fdatasync in the
   * socket's buffer; its election clock does not tick meanwhile either. Candidates block on
   * nothing: an election's rounds append no entries but change the vote, and their replies
   * should be read as they come.
   */
  #lone(entries: number, snapshot: Snapshot | undefined): boolean {
    if (entries > 1 || this.#lastRoundEntries > 1) return false;
    if (snapshot !== undefined && !isEmptySnapshot(snapshot)) return false;
    const state = this.#rawNode.raft.state;
    return state === StateType.StateLeader || state === StateType.StateFollower;
  }

  /** What raft checks before it takes a MsgProp (stepLeader, stepFollower, stepCandidate). */
  #acceptsProposals(): boolean {
    const raft = this.#rawNode.raft;
    if (raft.state === StateType.StateLeader) {
      return raft.leadTransferee === NONE && raft.prs.progress.has(raft.id);
    }
    if (raft.state === StateType.StateFollower) {
      return raft.lead !== NONE && !raft.disableProposalForwarding;
    }
    return false;
  }

  /**
   * Steps this turn's proposals into raft; on a follower, sends the MsgProps that forward them
   * to the leader at once. Raft's contract holds back a Ready's messages until its hard state
   * and entries are durable, because a vote or an append response promises what is on disk; a
   * forwarded proposal promises nothing about this member's disk, so it need not wait for a
   * write (etcd 3.4 sends it after one; it is the same message, sent earlier).
   */
  #stepProposals(): void {
    this.#flushProposals();
    if (this.#rawNode.raft.state !== StateType.StateFollower) return;
    const forwarded = this.#rawNode.takeForwardedProposals();
    if (forwarded.length > 0) this.#transport.send(forwarded);
  }

  /** Steps this turn's proposals into raft, in order, at most ~1 MiB per MsgProp. */
  #flushProposals(): void {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    let from = 0;
    while (from < pending.length) {
      let to = from + 1;
      let bytes = pending[from]!.data.length;
      while (to < pending.length && bytes + pending[to]!.data.length <= _BATCH_BYTES) {
        bytes += pending[to]!.data.length;
        to++;
      }
      const batch = pending.slice(from, to);
      try {
        this.#rawNode.proposeBatch(batch.map((p) => p.data));
      } catch (error) {
        if (!(error instanceof ErrProposalDropped)) throw error;
        for (const p of batch) p.onDropped(p.tag);
      }
      from = to;
    }
  }

  /** Proposes a membership change. Throws when raft drops it. */
  proposeConfChange(cc: ConfChange): void {
    assert(cc.nodeId !== NONE, "proposeConfChange: conf change without a node ID");
    // Proposals made before it enter the log before it.
    this.#flushProposals();
    this.#rawNode.proposeConfChange(cc);
    this.#kick();
  }

  /**
   * Applies a committed conf change to raft's configuration and returns the new ConfState.
   * Committed entries are applied only from inside the Ready loop (`applyEntries`).
   */
  applyConfChange(cc: ConfChange): ConfState {
    assert(this.#running, "applyConfChange: called outside the Ready loop");
    const confState = this.#rawNode.applyConfChange(cc);
    this.#kick();
    return confState;
  }

  /** Asks for a read index; the answer comes through `onReadStates` with `context`. */
  readIndex(context: Uint8Array): void {
    // The context is how the answer finds its request: an empty one would match nothing.
    assert(context.length > 0, "readIndex: empty request context");
    this.#rawNode.readIndex(context);
    this.#kick();
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeadership(transferee: bigint): void {
    assert(transferee !== NONE, "transferLeadership: no transferee");
    this.#rawNode.transferLeader(transferee);
    this.#kick();
  }

  /** Steps a message from a peer. */
  step(message: Message): void {
    this.#rawNode.step(message);
    if (this.#running && this.#leaderRound && !this.#appendsScheduled) {
      this.#appendsScheduled = true;
      queueMicrotask(() => this.#sendLeaderAppends());
    }
    this.#kick();
  }

  /**
   * During a leader's round (its messages already sent, its WAL write in flight), sends the
   * appends that the messages stepped in this turn produced: the entries of forwarded
   * proposals, a commit index moved by append responses. They would otherwise wait for the
   * round's fdatasync and apply to end, and followers would learn of a commit one round late;
   * they head the next Ready, whose messages a leader sends before its write anyway.
   */
  #sendLeaderAppends(): void {
    this.#appendsScheduled = false;
    if (this.#stopped || !this.#running || !this.#leaderRound) return;
    const appends = this.#rawNode.takeLeaderAppends();
    if (appends.length > 0) this.#transport.send(coalesceAppends(appends));
  }

  /** The transport could not reach `id`: the leader stops pipelining to it. */
  reportUnreachable(id: bigint): void {
    assert(id !== NONE, "reportUnreachable: no member ID");
    this.#rawNode.reportUnreachable(id);
    this.#kick();
  }

  /** Tells raft whether the snapshot sent to `id` arrived. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    assert(id !== NONE, "reportSnapshot: no member ID");
    this.#rawNode.reportSnapshot(id, status);
    this.#kick();
  }

  /** Raft's status: hard and soft state, configuration, and progress on a leader. */
  status(): Status {
    return this.#rawNode.status();
  }

  /** Schedules the Ready loop (runs at most one at a time; coalesces calls). */
  #kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#idle = this.#run();
  }

  /** Stops ticking and waits for the round in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
    await this.#idle;
  }

  async #run(): Promise<void> {
    try {
      do {
        this.#again = false;
        this.#stepProposals();
        while (!this.#stopped && this.#rawNode.hasReady()) {
          await this.#round();
        }
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#stopped = true;
      if (this.#ticker !== undefined) clearInterval(this.#ticker);
      this.#handler.onFatal(error);
    } finally {
      this.#running = false;
    }
  }

  async #round(): Promise<void> {
    this.#loops++;
    this.#stepProposals();
    const rd = this.#rawNode.ready();
    if (rd.softState !== undefined) this.#handler.onSoftState(rd.softState);
    if (rd.readStates.length > 0) this.#handler.onReadStates(rd.readStates);
    // A leader's messages may leave in parallel with its own WAL write (etcd's raft.go sends
    // them first): followers persist before they acknowledge, and this member applies only
    // after its own write below. Everyone else sends only once the write is done.
    const sendFirst = this.#rawNode.raft.state === StateType.StateLeader;
    this.#leaderRound = sendFirst;
    if (sendFirst && rd.messages.length > 0) this.#transport.send(coalesceAppends(rd.messages));
    // 1. A snapshot file is durable before the WAL records it (etcd 3.4.23's order: an orphan
    //    snap is possible and skipped on restart; a WAL record without its snap is not).
    const snapshot = rd.snapshot;
    if (snapshot !== undefined && !isEmptySnapshot(snapshot)) {
      await this.#snapshotter.saveSnap(snapshot);
      await this.#wal.saveSnapshot({
        index: snapshot.metadata.index,
        term: snapshot.metadata.term,
      });
    }
    // Committed entries already durable here: in the MemoryStorage (which holds only what
    // earlier rounds saved) and below this round's first entry (which may overwrite a suffix).
    let applied = 0;
    const committed = rd.committedEntries;
    const applyDurable = () => {
      let durable = this.#storage.lastIndex();
      if (rd.entries.length > 0) durable = Math.min(durable, rd.entries[0]!.index - 1);
      while (applied < committed.length && committed[applied]!.index <= durable) applied++;
      if (applied > 0) {
        this.#handler.applyEntries(
          applied === committed.length ? committed : committed.slice(0, applied),
        );
      }
    };
    const overlap = committed.length > 0 && (snapshot === undefined || isEmptySnapshot(snapshot))
      ? applyDurable
      : undefined;
    // 2. Hard state and entries: one write, one fdatasync (with the durable part of the
    //    committed entries applied meanwhile).
    if (rd.hardState !== undefined) this.#hardState = rd.hardState;
    const lone = this.#lone(rd.entries.length, snapshot);
    this.#lastRoundEntries = rd.entries.length;
    if (rd.hardState !== undefined || rd.entries.length > 0) {
      await this.#wal.save(this.#hardState, rd.entries, overlap, lone);
    } else {
      overlap?.();
    }
    if (snapshot !== undefined && !isEmptySnapshot(snapshot)) {
      this.#storage.applySnapshot(snapshot);
      await this.#handler.onSnapshot(snapshot);
    }
    if (rd.hardState !== undefined) this.#storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.#storage.append(rd.entries);
    // 3. Messages leave only once what they promise is on disk.
    if (!sendFirst && rd.messages.length > 0) this.#transport.send(rd.messages);
    // 4. Apply (the rest) in log order.
    if (applied < committed.length) {
      this.#handler.applyEntries(applied === 0 ? committed : committed.slice(applied));
    }
    // 5. Done with this Ready.
    this.#rawNode.advance(rd);
    await this.#handler.afterApply();
  }
}

/** Proposal bytes stepped as one MsgProp at most (etcd's max size of a MsgApp). */
const _BATCH_BYTES = 1024 * 1024;

/** Throws when a caller broke one of RaftNode's preconditions (a bug, not a runtime state). */
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`raft node: ${message}`);
}
