/**
 * raft/: etcd 3.4's raft consensus core as a pure, deterministic state machine.
 *
 * Drive a `RawNode`: `tick()` on a timer, `step()` every message received, `propose()` writes,
 * and loop on `hasReady()` / `ready()` / `advance()` (see raw_node.ts for the Ready contract).
 *
 * ```ts ignore
 * const storage = new MemoryStorage(); // on restart: applySnapshot, setHardState, append
 * const node = new RawNode({
 *   id: 1n, electionTick: 10, heartbeatTick: 1, storage, maxInflightMsgs: 256,
 *   maxSizePerMsg: 1 << 20, checkQuorum: true, preVote: true, rand: new Xoshiro128(seed),
 * });
 * node.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]); // a new cluster only
 * // every tick: node.tick(); every message: node.step(m); writes: node.propose(data)
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   if (rd.snapshot) storage.applySnapshot(rd.snapshot);      // 1. persist (WAL) ...
 *   storage.append(rd.entries);
 *   if (rd.hardState) storage.setHardState(rd.hardState);     //    ... fsync if rd.mustSync
 *   send(rd.messages);                                          // 2. send
 *   for (const e of rd.committedEntries) apply(e);              // 3. apply; conf changes:
 *   // node.applyConfChange(decodeConfChange(e.data!)) for EntryConfChange entries
 *   node.advance(rd);                                           // 4. advance
 * }
 * ```
 *
 * @module
 */

export * from "./raftpb.ts";
export {
  mustSync,
  type Peer,
  RawNode,
  type Ready,
  SnapshotStatus,
  type Status,
} from "./raw_node.ts";
export {
  confChangeOfEntry,
  type Config,
  type Raft,
  type SoftState,
  STATE_NAMES,
  StateType,
} from "./raft.ts";
export { type Inflights } from "./inflights.ts";
// Internal types reachable from RawNode.raft (for status and tests; drive the node through
// RawNode, not through these).
export { type RaftLog } from "./log.ts";
export { type Unstable } from "./log_unstable.ts";
export { type ProgressTracker, type VoteTally } from "./tracker.ts";
export { VoteResult } from "./quorum.ts";
export { type ReadIndexStatus, type ReadOnly } from "./read_only.ts";
export { type NewConfig } from "./conf_change.ts";
export { type InitialState, MemoryStorage, type Storage } from "./storage.ts";
export { ReadOnlyOption, type ReadState } from "./read_only.ts";
export { type Progress, ProgressState } from "./progress.ts";
export { ConfChangeError } from "./conf_change.ts";
export { type Rand, Xoshiro128 } from "./rand.ts";
export {
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrUnavailable,
  RaftError,
  RaftInvariantError,
} from "./errors.ts";
export { isLocalMsg, isResponseMsg, limitSize, NONE } from "./util.ts";
export { coalesceAppends, mergeAppends } from "./append_merge.ts";
