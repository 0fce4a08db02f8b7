/**
 * A sequential specification the checker tests a concurrent history against (Porcupine's
 * `Model`). The checker knows nothing of keys or values: it asks the model to step a state
 * through an operation and to split a history into independent parts.
 *
 * @module
 */

import type { Operation } from "./history.ts";

/** A sequential model with state `S`, operation inputs `I` and outputs `O`. */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `input` to `state`. With a known `output`, returns the next state when the
   * sequential object could have answered `output`, `undefined` when it could not. With
   * `output` undefined (the outcome is unknown, e.g. a timeout), applies the effect the input
   * has in `state` and never refuses.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** True when two states are the same (for the search cache). */
  equal(a: S, b: S): boolean;
  /**
   * Splits a history into parts that can be checked one by one (a history is linearizable
   * iff every part is, when the parts touch disjoint state: P-compositionality). Optional.
   */
  partition?(operations: Operation<I, O>[]): Operation<I, O>[][];
  /**
   * Removes operations of unknown outcome that may soundly be taken to happen after every
   * other operation (the search then need not try them at every point). Optional; must keep
   * the verdict unchanged.
   */
  dropDeferrable?(operations: Operation<I, O>[]): Operation<I, O>[];
  /** True when the input never changes the state (an unknown read can then be dropped). */
  isReadOnly?(input: I): boolean;
  /** A short readable form of an operation, e.g. `put("k", "v") -> ok`. */
  describeOperation(input: I, output: O | undefined): string;
  /** A short readable form of a state. */
  describeState(state: S): string;
}
