/**
 * A key-value model of etcd's KV API for the checker: `get`, `put`, `delete` and `txn` (compare
 * the values of keys, then run the success or the failure branch; a compare-and-swap is a txn).
 * Values are strings; an absent key is `null`.
 *
 * The state is a map from key to value, treated as immutable. Operations touching disjoint
 * key sets are independent, so the history is partitioned by the connected components of the
 * keys each operation touches (one partition per key when there are no multi-key txns).
 *
 * @module
 */

import type { Operation } from "./history.ts";
import type { Model } from "./model.ts";

/** One operation inside a txn branch. */
export type KvTxnOp =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string };

/** A compare of a txn: the key's value equals `value` (`null`: the key is absent). */
export interface KvCompare {
  key: string;
  value: string | null;
}

/** What a client asks. */
export type KvInput =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string }
  | { op: "txn"; compare: KvCompare[]; success: KvTxnOp[]; failure: KvTxnOp[] };

/** What it is answered: a get's value; a txn's branch and the values its gets read. */
export type KvOutput =
  | { op: "get"; value: string | null }
  | { op: "put" }
  | { op: "delete" }
  | { op: "txn"; succeeded: boolean; gets: (string | null)[] };

/** The model state: key to value. */
export type KvState = ReadonlyMap<string, string>;

/** A compare-and-swap as a txn: put `value` if `key` holds `expected` (`null`: absent). */
export function casInput(key: string, expected: string | null, value: string): KvInput {
  return {
    op: "txn",
    compare: [{ key, value: expected }],
    success: [{ op: "put", key, value }],
    failure: [],
  };
}

/** The keys an input touches. */
export function kvKeys(input: KvInput): string[] {
  if (input.op !== "txn") return [input.key];
  const keys = new Set<string>();
  for (const c of input.compare) keys.add(c.key);
  for (const o of input.success) keys.add(o.key);
  for (const o of input.failure) keys.add(o.key);
  return [...keys];
}

function _applyOps(
  state: KvState,
  ops: KvTxnOp[],
): { state: KvState; gets: (string | null)[] } {
  let next: Map<string, string> | undefined;
  const gets: (string | null)[] = [];
  for (const o of ops) {
    const current = next ?? state;
    if (o.op === "get") {
      gets.push(current.get(o.key) ?? null);
    } else if (o.op === "put") {
      next ??= new Map(state);
      next.set(o.key, o.value);
    } else {
      next ??= new Map(state);
      next.delete(o.key);
    }
  }
  return { state: next ?? state, gets };
}

function _sameGets(a: (string | null)[], b: (string | null)[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function _quote(value: string | null): string {
  return value === null ? "nil" : JSON.stringify(value);
}

function _describeTxnOp(o: KvTxnOp): string {
  if (o.op === "get") return `get(${_quote(o.key)})`;
  if (o.op === "put") return `put(${_quote(o.key)}, ${_quote(o.value)})`;
  return `delete(${_quote(o.key)})`;
}

/** Splits operations into groups with disjoint key sets (union-find over keys). */
function _partitionByKeys(
  operations: Operation<KvInput, KvOutput>[],
): Operation<KvInput, KvOutput>[][] {
  const parent = new Map<string, string>();
  const find = (key: string): string => {
    let root = key;
    while (parent.get(root) !== root) root = parent.get(root)!;
    let at = key;
    while (at !== root) {
      const up = parent.get(at)!;
      parent.set(at, root);
      at = up;
    }
    return root;
  };
  for (const op of operations) {
    const keys = kvKeys(op.input);
    for (const key of keys) if (!parent.has(key)) parent.set(key, key);
    for (let i = 1; i < keys.length; i++) parent.set(find(keys[i]!), find(keys[0]!));
  }
  const groups = new Map<string, Operation<KvInput, KvOutput>[]>();
  for (const op of operations) {
    const root = find(kvKeys(op.input)[0]!);
    const group = groups.get(root);
    if (group === undefined) groups.set(root, [op]);
    else group.push(op);
  }
  return [...groups.values()];
}

/**
 * Drops unknown blind writes that no operation could have observed. An unknown `put(x, v)` (or
 * `delete(x)`, with v = nil) is taken to happen after every other operation (which is the same
 * as dropping it) when, for key x:
 * - no known read (get, or a get inside a txn) returned v;
 * - no txn compares x with v;
 * - no known txn that failed compares x, and no unknown txn compares x.
 * Why this keeps the verdict: in any linearization where the write takes effect earlier, x
 * holds v from there to the next write of x. An operation in that stretch that looked at x
 * would have read v, compared x with v, or failed a compare of x with another value (or, if
 * unknown, had its effect decided by x): all excluded. So nothing in the stretch looks at x,
 * and moving the write to the end changes no answer.
 */
function _dropDeferrable(
  operations: Operation<KvInput, KvOutput>[],
): Operation<KvInput, KvOutput>[] {
  const observed = new Map<string, Set<string | null>>();
  const blocked = new Set<string>();
  const note = (key: string, value: string | null) => {
    const seen = observed.get(key) ?? new Set();
    seen.add(value);
    observed.set(key, seen);
  };
  for (const op of operations) {
    const input = op.input;
    if (input.op === "get") {
      if (op.output?.op === "get") note(input.key, op.output.value);
      continue;
    }
    if (input.op !== "txn") continue;
    // Values compared count as observed: a write of such a value could decide a compare.
    for (const c of input.compare) note(c.key, c.value);
    const output = op.output;
    if (output?.op !== "txn" || !output.succeeded) {
      for (const c of input.compare) blocked.add(c.key);
    }
    if (output?.op === "txn") {
      const gets = (output.succeeded ? input.success : input.failure).filter((o) => o.op === "get");
      gets.forEach((o, i) => note(o.key, output.gets[i] ?? null));
    }
  }
  return operations.filter((op) => {
    if (op.output !== undefined) return true;
    const input = op.input;
    if (input.op !== "put" && input.op !== "delete") return true;
    if (blocked.has(input.key)) return true;
    const written = input.op === "put" ? input.value : null;
    return observed.get(input.key)?.has(written) === true;
  });
}

/** The KV model. */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => new Map(),
  step(state, input, output) {
    if (output !== undefined && output.op !== input.op) return undefined;
    switch (input.op) {
      case "get":
        if (
          output !== undefined &&
          (output as { value: string | null }).value !== (state.get(input.key) ?? null)
        ) {
          return undefined;
        }
        return state;
      case "put":
      case "delete":
        return _applyOps(state, [input]).state;
      case "txn": {
        const succeeded = input.compare.every((c) => (state.get(c.key) ?? null) === c.value);
        const result = _applyOps(state, succeeded ? input.success : input.failure);
        if (output !== undefined) {
          const seen = output as { succeeded: boolean; gets: (string | null)[] };
          if (seen.succeeded !== succeeded || !_sameGets(seen.gets, result.gets)) return undefined;
        }
        return result.state;
      }
    }
  },
  equal(a, b) {
    if (a === b) return true;
    if (a.size !== b.size) return false;
    for (const [key, value] of a) if (b.get(key) !== value) return false;
    return true;
  },
  partition: _partitionByKeys,
  dropDeferrable: _dropDeferrable,
  isReadOnly(input) {
    if (input.op === "get") return true;
    if (input.op !== "txn") return false;
    return [...input.success, ...input.failure].every((o) => o.op === "get");
  },
  describeOperation(input, output) {
    let call: string;
    if (input.op === "txn") {
      const compare = input.compare.map((c) => `${_quote(c.key)}==${_quote(c.value)}`).join(" && ");
      const success = input.success.map(_describeTxnOp).join("; ");
      const failure = input.failure.map(_describeTxnOp).join("; ");
      call = `txn(if ${compare || "true"} then ${success || "-"} else ${failure || "-"})`;
    } else {
      call = _describeTxnOp(input);
    }
    if (output === undefined) return `${call} -> ? (unknown outcome)`;
    switch (output.op) {
      case "get":
        return `${call} -> ${_quote(output.value)}`;
      case "txn":
        return `${call} -> ${output.succeeded ? "succeeded" : "failed"}${
          output.gets.length > 0 ? ` read ${output.gets.map(_quote).join(", ")}` : ""
        }`;
      default:
        return `${call} -> ok`;
    }
  },
  describeState(state) {
    const entries = [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${_quote(k)}: ${_quote(v)}`).join(", ")}}`;
  },
};
