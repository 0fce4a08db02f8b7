/**
 * Single-step configuration changes (etcd's confchange/confchange.go `Simple` and
 * confchange/restore.go, without joint consensus, which etcd 3.4's server never uses).
 *
 * A change is computed on a copy and returned; raft installs it with `switchToConfig`, so a
 * refused change leaves the tracker untouched. At most one voter may be added or removed per
 * change (Raft §4.1, one server at a time): two voter changes in one step could let two
 * disjoint majorities form.
 *
 * @module
 */

import { type ConfChange, ConfChangeType, type ConfState } from "./raftpb.ts";
import { Progress } from "./progress.ts";
import { RaftError } from "./errors.ts";
import type { ProgressTracker } from "./tracker.ts";

/** A configuration change that cannot be applied. */
export class ConfChangeError extends RaftError {}

/** A configuration computed by a change, not yet installed. */
export interface NewConfig {
  /** Voter IDs. */
  voters: Set<bigint>;
  /** Learner IDs (disjoint from voters). */
  learners: Set<bigint>;
  /** Progress of every voter and learner. */
  progress: Map<bigint, Progress>;
}

/** What a change needs to know of the log and the window. */
export interface ChangerOptions {
  /** The last index of the log (new followers start probing here). */
  lastIndex: number;
  /** The in-flight window of new progresses. */
  maxInflight: number;
}

function _copy(tracker: ProgressTracker): NewConfig {
  const progress = new Map<bigint, Progress>();
  for (const [id, pr] of tracker.progress) progress.set(id, pr.clone());
  return { voters: new Set(tracker.voters), learners: new Set(tracker.learners), progress };
}

function _initProgress(cfg: NewConfig, id: bigint, isLearner: boolean, opts: ChangerOptions): void {
  // A new node starts probing at the last index; it counts as recently active so that
  // check-quorum does not step a leader down for a node it has not had time to hear from.
  const pr = new Progress({
    match: 0,
    next: Math.max(opts.lastIndex, 1),
    maxInflight: opts.maxInflight,
    isLearner,
  });
  pr.recentActive = true;
  cfg.progress.set(id, pr);
}

function _makeVoter(cfg: NewConfig, id: bigint, opts: ChangerOptions): void {
  const pr = cfg.progress.get(id);
  if (pr === undefined) _initProgress(cfg, id, false, opts);
  else pr.isLearner = false;
  cfg.learners.delete(id);
  cfg.voters.add(id);
}

function _makeLearner(cfg: NewConfig, id: bigint, opts: ChangerOptions): void {
  const pr = cfg.progress.get(id);
  if (pr === undefined) _initProgress(cfg, id, true, opts);
  else pr.isLearner = true;
  cfg.voters.delete(id);
  cfg.learners.add(id);
}

function _apply(cfg: NewConfig, cc: ConfChange, opts: ChangerOptions): void {
  if (cc.nodeId === 0n) return; // etcd ignores changes of node 0.
  switch (cc.type) {
    case ConfChangeType.ConfChangeAddNode:
      _makeVoter(cfg, cc.nodeId, opts);
      return;
    case ConfChangeType.ConfChangeAddLearnerNode:
      _makeLearner(cfg, cc.nodeId, opts);
      return;
    case ConfChangeType.ConfChangeRemoveNode:
      cfg.voters.delete(cc.nodeId);
      cfg.learners.delete(cc.nodeId);
      cfg.progress.delete(cc.nodeId);
      return;
    case ConfChangeType.ConfChangeUpdateNode:
      return;
    default:
      throw new ConfChangeError(`unexpected conf type ${cc.type}`);
  }
}

/**
 * Applies single-step changes to the tracker's configuration and returns the result. Throws
 * ConfChangeError if more than one voter would change or no voter would remain.
 */
export function simpleChange(
  tracker: ProgressTracker,
  changes: readonly ConfChange[],
  opts: ChangerOptions,
): NewConfig {
  const cfg = _copy(tracker);
  for (const cc of changes) _apply(cfg, cc, opts);
  if (cfg.voters.size === 0) throw new ConfChangeError("removed all voters");
  let changed = 0;
  for (const id of cfg.voters) if (!tracker.voters.includes(id)) changed++;
  for (const id of tracker.voters) if (!cfg.voters.has(id)) changed++;
  if (changed > 1) {
    throw new ConfChangeError("more than one voter changed without entering joint config");
  }
  return cfg;
}

/**
 * Builds a configuration from a ConfState (on start-up and on snapshot restore). Joint
 * ConfStates (voters_outgoing, learners_next, auto_leave) are refused: this library runs
 * single-step changes only.
 */
export function restoreConfig(cs: ConfState, opts: ChangerOptions): NewConfig {
  if (cs.votersOutgoing.length > 0 || cs.learnersNext.length > 0 || cs.autoLeave) {
    throw new ConfChangeError("joint configurations are not supported");
  }
  const cfg: NewConfig = { voters: new Set(), learners: new Set(), progress: new Map() };
  for (const id of cs.voters) _makeVoter(cfg, id, opts);
  for (const id of cs.learners) {
    if (cfg.voters.has(id)) throw new ConfChangeError(`${id} is in voters and learners`);
    _makeLearner(cfg, id, opts);
  }
  return cfg;
}
