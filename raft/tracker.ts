/**
 * The configuration and per-node progress a node tracks (etcd's tracker/tracker.go), for
 * single-step (non-joint) configurations: a voter set and a learner set, disjoint.
 *
 * @module
 */

import { type ConfState, emptyConfState } from "./raftpb.ts";
import type { Progress } from "./progress.ts";
import { committedIndex, type VoteResult, voteResult } from "./quorum.ts";

/** The outcome of counting votes. */
export interface VoteTally {
  /** Voters that granted their vote. */
  granted: number;
  /** Voters that refused. */
  rejected: number;
  /** Won, lost or pending. */
  result: VoteResult;
}

function _sortIds(ids: Iterable<bigint>): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Voters, learners, their progress, and the votes of the current election. */
export class ProgressTracker {
  /** Voter IDs, sorted ascending. */
  voters: bigint[] = [];
  /** Learner IDs, sorted ascending. */
  learners: bigint[] = [];
  /** Progress of every voter and learner. */
  progress: Map<bigint, Progress> = new Map();
  /** Votes received in the current (pre-)election. */
  votes: Map<bigint, boolean> = new Map();
  /** The in-flight window of new progresses. */
  readonly maxInflight: number;

  /** An empty tracker. */
  constructor(maxInflight: number) {
    this.maxInflight = maxInflight;
  }

  /** Installs a configuration (IDs are sorted here). */
  setConfig(
    voters: Iterable<bigint>,
    learners: Iterable<bigint>,
    progress: Map<bigint, Progress>,
  ): void {
    this.voters = _sortIds(voters);
    this.learners = _sortIds(learners);
    this.progress = progress;
  }

  /** The configuration as a ConfState. */
  confState(): ConfState {
    const cs = emptyConfState();
    cs.voters = this.voters.slice();
    cs.learners = this.learners.slice();
    return cs;
  }

  /** True when the only voter is one node. */
  isSingleton(): boolean {
    return this.voters.length === 1;
  }

  /** The highest index replicated on a quorum of voters. */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  /** Calls f for each node in ascending ID order (voters and learners). */
  visit(f: (id: bigint, pr: Progress) => void): void {
    for (const id of _sortIds(this.progress.keys())) f(id, this.progress.get(id)!);
  }

  /** True if a quorum of voters was recently active (check-quorum). */
  quorumActive(): boolean {
    const votes = new Map<bigint, boolean>();
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    }
    return voteResult(this.voters, votes) === 3;
  }

  /** Sorted voter IDs. */
  voterNodes(): bigint[] {
    return this.voters.slice();
  }

  /** Sorted learner IDs. */
  learnerNodes(): bigint[] {
    return this.learners.slice();
  }

  /** Forgets the votes of the last election. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records a vote from id (the first vote of a node counts; later ones are ignored). */
  recordVote(id: bigint, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts votes among voters and reports the outcome. */
  tallyVotes(): VoteTally {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }
}
