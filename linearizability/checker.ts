/**
 * The linearizability checker: Wing and Gong's search (1993) with Lowe's memoization (2017), as
 * Porcupine implements it. Each operation becomes a call entry and a return entry on a doubly
 * linked list sorted by time. The search walks the list: at a call it tries to linearize that
 * operation now (the model must accept its output), lifting the call and its return out of the
 * list; at a return it has hit an operation that had to be linearized already, so it backtracks.
 * A cache of (set of linearized operations, state) pairs already explored prunes the search,
 * which is what makes it practical. The history is first split into independent partitions
 * (per key for a KV store) that are checked one by one.
 *
 * @module
 */

import { Bitset } from "./bitset.ts";
import type { Operation } from "./history.ts";
import type { Model } from "./model.ts";

/** The outcome of a check. */
export type CheckVerdict = "ok" | "illegal" | "unknown";

/** What a failed partition looked like, for the report. */
export interface Violation<I, O> {
  /** The operations of the partition that is not linearizable, ordered by call time. */
  operations: Operation<I, O>[];
  /** The longest prefix the search could linearize, as indexes into `operations`. */
  longestLinearization: number[];
  /** The state after that prefix. */
  stateAfter: string;
  /** Operations that had to come next but could not (their returns stopped the search). */
  stuck: number[];
}

/** The result of {@link checkOperations}. */
export interface CheckResult<I, O> {
  verdict: CheckVerdict;
  partitions: number;
  /** Set when the verdict is "illegal". */
  violation?: Violation<I, O>;
  elapsedMs: number;
}

/** Options of a check. */
export interface CheckOptions {
  /** Give up ("unknown") after this long; default no limit. */
  timeoutMs?: number;
}

interface _Entry {
  /** Operation index, or -1 for the list head. */
  id: number;
  isCall: boolean;
  time: number;
  /** The return entry of a call entry. */
  match: _Entry | undefined;
  prev: _Entry | undefined;
  next: _Entry | undefined;
}

/** Checks whether `history` is linearizable with respect to `model`. */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const started = performance.now();
  const deadline = options.timeoutMs === undefined ? Infinity : started + options.timeoutMs;
  for (const operation of history) {
    if (!(operation.call <= operation.return)) {
      throw new RangeError(`operation returns before its call: ${JSON.stringify(operation.input)}`);
    }
  }
  // An unknown read changes nothing and shows nothing: drop it.
  const kept = history.filter((op) =>
    !(op.output === undefined && model.isReadOnly?.(op.input) === true)
  );
  const partitions = (model.partition?.(kept) ?? [kept]).map((part) =>
    model.dropDeferrable?.(part) ?? part
  );
  let verdict: CheckVerdict = "ok";
  for (const partition of partitions) {
    const result = _checkPartition(model, partition, deadline);
    if (result.verdict === "illegal") {
      return {
        verdict: "illegal",
        partitions: partitions.length,
        violation: result.violation!,
        elapsedMs: performance.now() - started,
      };
    }
    if (result.verdict === "unknown") verdict = "unknown";
  }
  return { verdict, partitions: partitions.length, elapsedMs: performance.now() - started };
}

function _buildList<I, O>(operations: Operation<I, O>[]): _Entry {
  const entries: _Entry[] = [];
  operations.forEach((op, id) => {
    const ret: _Entry = {
      id,
      isCall: false,
      time: op.return,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const call: _Entry = {
      id,
      isCall: true,
      time: op.call,
      match: ret,
      prev: undefined,
      next: undefined,
    };
    entries.push(call, ret);
  });
  // By time; on a tie calls first, so that operations touching at an instant count as
  // concurrent (the permissive reading, as Porcupine does).
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: _Entry = {
    id: -1,
    isCall: false,
    time: -Infinity,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let last = head;
  for (const entry of entries) {
    last.next = entry;
    entry.prev = last;
    last = entry;
  }
  return head;
}

/** Removes a call entry and its return from the list (they stay linked to their neighbours). */
function _lift(entry: _Entry): void {
  entry.prev!.next = entry.next;
  entry.next!.prev = entry.prev;
  const match = entry.match!;
  match.prev!.next = match.next;
  if (match.next !== undefined) match.next.prev = match.prev;
}

/** Puts back what {@link _lift} removed; lifts are undone in reverse order. */
function _unlift(entry: _Entry): void {
  const match = entry.match!;
  match.prev!.next = match;
  if (match.next !== undefined) match.next.prev = match;
  entry.prev!.next = entry;
  entry.next!.prev = entry;
}

interface _PartitionResult<I, O> {
  verdict: CheckVerdict;
  violation?: Violation<I, O>;
}

function _checkPartition<S, I, O>(
  model: Model<S, I, O>,
  unordered: Operation<I, O>[],
  deadline: number,
): _PartitionResult<I, O> {
  const operations = [...unordered].sort((a, b) => a.call - b.call);
  const head = _buildList(operations);
  const cache = new Map<number, { linearized: Bitset; state: S }[]>();
  const cached = (linearized: Bitset, state: S): boolean => {
    const bucket = cache.get(linearized.hash());
    return bucket !== undefined &&
      bucket.some((e) => e.linearized.equals(linearized) && model.equal(e.state, state));
  };
  const remember = (linearized: Bitset, state: S): void => {
    const key = linearized.hash();
    const bucket = cache.get(key);
    if (bucket === undefined) cache.set(key, [{ linearized, state }]);
    else bucket.push({ linearized, state });
  };
  const stack: { entry: _Entry; state: S }[] = [];
  const linearized = new Bitset(operations.length);
  let state = model.init();
  let entry = head.next;
  let longest: number[] = [];
  let longestState = state;
  let stuck = new Set<number>();
  let steps = 0;
  while (head.next !== undefined) {
    if ((++steps & 0xfff) === 0 && performance.now() > deadline) return { verdict: "unknown" };
    if (entry === undefined) throw new Error("unreachable: walked off the list");
    if (entry.isCall) {
      const operation = operations[entry.id]!;
      const next = model.step(state, operation.input, operation.output);
      if (next !== undefined) {
        const after = linearized.clone().set(entry.id);
        if (!cached(after, next)) {
          remember(after, next);
          stack.push({ entry, state });
          state = next;
          linearized.set(entry.id);
          _lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
      continue;
    }
    // A return: its operation should have been linearized before this point.
    // Remember the deepest point reached, for the report (copied only on backtracking, so a
    // history that never backtracks pays nothing).
    if (stack.length > longest.length) {
      longest = stack.map((s) => s.entry.id);
      longestState = state;
      stuck = new Set([entry.id]);
    } else if (stack.length === longest.length) {
      stuck.add(entry.id);
    }
    const top = stack.pop();
    if (top === undefined) {
      return {
        verdict: "illegal",
        violation: {
          operations,
          longestLinearization: longest,
          stateAfter: model.describeState(longestState),
          stuck: [...stuck],
        },
      };
    }
    state = top.state;
    linearized.clear(top.entry.id);
    _unlift(top.entry);
    entry = top.entry.next;
  }
  return { verdict: "ok" };
}
