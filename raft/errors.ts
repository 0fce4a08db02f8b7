/**
 * The errors raft/ reports, as classes so that callers can test with `instanceof`. Messages are
 * etcd 3.4's error strings.
 *
 * @module
 */

/** The base class of every raft error. */
export class RaftError extends Error {
  /** Builds a raft error with etcd's message. */
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A proposal was dropped: no leader, forwarding disabled, a transfer in progress, or over the
 * uncommitted size limit. The caller may retry. */
export class ErrProposalDropped extends RaftError {
  /** Builds the error. */
  constructor() {
    super("raft proposal dropped");
  }
}

/** The requested index is older than the first index in storage (compacted away). */
export class ErrCompacted extends RaftError {
  /** Builds the error. */
  constructor() {
    super("requested index is unavailable due to compaction");
  }
}

/** The snapshot being applied or created is older than the one already held. */
export class ErrSnapOutOfDate extends RaftError {
  /** Builds the error. */
  constructor() {
    super("requested index is older than the existing snapshot");
  }
}

/** The requested entry is beyond the last index in storage. */
export class ErrUnavailable extends RaftError {
  /** Builds the error. */
  constructor() {
    super("requested entry at index is unavailable");
  }
}

/** The storage cannot produce a snapshot right now; raft retries later. */
export class ErrSnapshotTemporarilyUnavailable extends RaftError {
  /** Builds the error. */
  constructor() {
    super("snapshot is temporarily unavailable");
  }
}

/** A local message (MsgHup, MsgBeat, ...) was given to `RawNode.step`. */
export class ErrStepLocalMsg extends RaftError {
  /** Builds the error. */
  constructor() {
    super("raft: cannot step raft local message");
  }
}

/** A response message came from a node that is not in the configuration. */
export class ErrStepPeerNotFound extends RaftError {
  /** Builds the error. */
  constructor() {
    super("raft: cannot step as peer not found");
  }
}

/** A broken invariant: raft state that must never happen (etcd panics here). */
export class RaftInvariantError extends RaftError {}

/** Throws a RaftInvariantError unless `condition` holds. */
export function raftAssert(
  condition: boolean,
  message: string | (() => string),
): asserts condition {
  if (!condition) {
    throw new RaftInvariantError(typeof message === "string" ? message : message());
  }
}
