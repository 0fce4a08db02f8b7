/**
 * raft/: etcd 3.4's raft consensus core as a pure, deterministic state machine.
 *
 * Drive a `RawNode`: `tick()` on a timer, `step()` every message received, `propose()` writes,
 * and loop on `hasReady()` / `ready()` / `advance()` (see raw_node.ts for the Ready contract).
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
