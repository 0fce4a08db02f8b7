/**
 * What a leader knows of one follower (etcd's tracker/progress.go): match and next indexes and
 * the replication state.
 *
 * - probe: one MsgApp at a time until the follower's log position is found;
 * - replicate: optimistic pipelining, bounded by the in-flight window;
 * - snapshot: a snapshot is on its way; nothing else is sent until it lands.
 *
 * @module
 */

import { Inflights } from "./inflights.ts";
import { maxIndex, minIndex } from "./util.ts";

/** The replication state of a follower. */
export const ProgressState = {
  StateProbe: 0,
  StateReplicate: 1,
  StateSnapshot: 2,
} as const;
/** A ProgressState value. */
export type ProgressState = typeof ProgressState[keyof typeof ProgressState];

const STATE_NAMES = ["StateProbe", "StateReplicate", "StateSnapshot"];

/** The leader's view of one follower. */
export class Progress {
  /** The highest index known to be replicated on the follower. */
  match: number;
  /** The next index to send. */
  next: number;
  /** The replication state. */
  state: ProgressState = ProgressState.StateProbe;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** True if the follower was heard from since the last check-quorum. */
  recentActive = false;
  /** In probe state: a MsgApp was sent and is unanswered. */
  probeSent = false;
  /** The in-flight window. */
  /** The in-flight window (shared by clones of this progress). */
  readonly inflights: Inflights;
  /** True for a non-voting member. */
  isLearner: boolean;

  /** A progress at (match, next). */
  constructor(opts: {
    match: number;
    next: number;
    maxInflight: number;
    isLearner: boolean;
    inflights?: Inflights;
  }) {
    this.match = opts.match;
    this.next = opts.next;
    this.inflights = opts.inflights ?? new Inflights(opts.maxInflight);
    this.isLearner = opts.isLearner;
  }

  /** A shallow copy sharing the in-flight window (etcd copies the struct, not the window). */
  clone(): Progress {
    const copy = new Progress({
      match: this.match,
      next: this.next,
      maxInflight: 1,
      isLearner: this.isLearner,
      inflights: this.inflights,
    });
    copy.state = this.state;
    copy.pendingSnapshot = this.pendingSnapshot;
    copy.recentActive = this.recentActive;
    copy.probeSent = this.probeSent;
    return copy;
  }

  #resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Enters probe state; after a snapshot, probing starts past the snapshot. */
  becomeProbe(): void {
    if (this.state === ProgressState.StateSnapshot) {
      const pendingSnapshot = this.pendingSnapshot;
      this.#resetState(ProgressState.StateProbe);
      this.next = maxIndex(this.match + 1, pendingSnapshot + 1);
    } else {
      this.#resetState(ProgressState.StateProbe);
      this.next = this.match + 1;
    }
  }

  /** Enters replicate state. */
  becomeReplicate(): void {
    this.#resetState(ProgressState.StateReplicate);
    this.next = this.match + 1;
  }

  /** Enters snapshot state for a snapshot at `snapshotIndex`. */
  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState(ProgressState.StateSnapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged up to n; returns true if match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /** In replicate state, entries up to n were sent. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * The follower rejected a MsgApp at `rejected`, hinting that it matches at most up to
   * `matchHint`; returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.StateReplicate) {
      // A rejection of something already matched is stale.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the last probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = maxIndex(minIndex(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  /** True when nothing may be sent to this follower now. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.StateProbe:
        return this.probeSent;
      case ProgressState.StateReplicate:
        return this.inflights.full();
      default:
        return true;
    }
  }

  /** A short description for logs and tests. */
  toString(): string {
    let s = `${STATE_NAMES[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.isPaused()) s += " paused";
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += " inactive";
    if (this.inflights.count() > 0) s += ` inflight=${this.inflights.count()}`;
    return s;
  }
}
