/**
 * Random KV histories for testing the checker: clients run operations whose effect happens at
 * a random instant between call and return, so the history is linearizable by construction
 * (the instants give the order); mutations then break it in ways that are certain to be
 * detectable.
 *
 * @module
 */

import { mulberry32 } from "../testing/mod.ts";
import type { Operation } from "./history.ts";
import { type KvInput, kvModel, type KvOutput, type KvState } from "./kv_model.ts";

/** A seeded PRNG (mulberry32, testing/mod.ts): equal seeds give equal histories. */
export class Rng {
  /** A float in [0, 1). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Shape of a generated history. */
export interface HistoryShape {
  clients: number;
  operations: number;
  keys: number;
  /** Probability that an operation's outcome is unknown. */
  unknownRate: number;
  /** Probability of a two-key txn (joins two keys into one partition). */
  multiKeyTxnRate: number;
}

type Op = Operation<KvInput, KvOutput>;

function _input(
  rng: Rng,
  shape: HistoryShape,
  lastValue: Map<string, string>,
  serial: () => string,
): KvInput {
  const key = `k${rng.int(shape.keys)}`;
  const roll = rng.next();
  if (roll < shape.multiKeyTxnRate) {
    // Two-key txns pair k0 with k1, k2 with k3, ...: they join keys into partitions of two,
    // as a test against a real cluster would use them (a search over every key at once grows
    // with the product of the keys' states).
    const index = Number(key.slice(1));
    const other = `k${(index ^ 1) < shape.keys ? index ^ 1 : index}`;
    return {
      op: "txn",
      compare: [{ key, value: lastValue.get(key) ?? null }],
      success: [{ op: "put", key: other, value: serial() }, { op: "get", key }],
      failure: [{ op: "get", key: other }],
    };
  }
  if (roll < 0.4) return { op: "get", key };
  if (roll < 0.7) {
    const value = serial();
    lastValue.set(key, value);
    return { op: "put", key, value };
  }
  if (roll < 0.75) return { op: "delete", key };
  // A compare-and-swap expecting a recent value (or absence), so that some succeed.
  const expected = rng.next() < 0.8 ? lastValue.get(key) ?? null : null;
  const value = serial();
  return {
    op: "txn",
    compare: [{ key, value: expected }],
    success: [{ op: "put", key, value }],
    failure: [],
  };
}

/** Generates a linearizable history. */
export function randomKvHistory(seed: number, shape: HistoryShape): Op[] {
  const rng = new Rng(seed);
  let counter = 0;
  const serial = () => `v${++counter}`;
  const lastValue = new Map<string, string>();
  const planned: { op: Op; point: number; happens: boolean }[] = [];
  const clock = Array.from({ length: shape.clients }, () => rng.next() * 5);
  const clientIds = Array.from({ length: shape.clients }, (_, i) => i);
  let nextClientId = shape.clients;
  for (let i = 0; i < shape.operations; i++) {
    const c = i % shape.clients;
    const call = clock[c]!;
    const duration = 0.5 + rng.next() * 10;
    const op: Op = {
      clientId: clientIds[c]!,
      input: _input(rng, shape, lastValue, serial),
      output: undefined,
      call,
      return: call + duration,
    };
    const unknown = rng.next() < shape.unknownRate;
    planned.push({
      op,
      point: call + rng.next() * duration,
      happens: !unknown || rng.next() < 0.5,
    });
    if (unknown) {
      op.return = Infinity;
      // The client gave up on this call and goes on as a new sequential process.
      clientIds[c] = nextClientId++;
    }
    clock[c] = call + duration + rng.next() * 3;
  }
  // Apply the effects in the order of their instants; outputs come from the model.
  let state: KvState = kvModel.init();
  for (const p of [...planned].sort((a, b) => a.point - b.point)) {
    if (!p.happens) continue;
    const output = _execute(state, p.op.input);
    state = output.state;
    if (p.op.return !== Infinity) p.op.output = output.output;
  }
  return planned.map((p) => p.op);
}

function _execute(state: KvState, input: KvInput): { state: KvState; output: KvOutput } {
  switch (input.op) {
    case "get":
      return { state, output: { op: "get", value: state.get(input.key) ?? null } };
    case "put":
      return { state: kvModel.step(state, input, undefined)!, output: { op: "put" } };
    case "delete":
      return { state: kvModel.step(state, input, undefined)!, output: { op: "delete" } };
    case "txn": {
      const succeeded = input.compare.every((c) => (state.get(c.key) ?? null) === c.value);
      const gets: (string | null)[] = [];
      let next: Map<string, string> | undefined;
      for (const o of succeeded ? input.success : input.failure) {
        const current: KvState = next ?? state;
        if (o.op === "get") gets.push(current.get(o.key) ?? null);
        else if (o.op === "put") (next ??= new Map(state)).set(o.key, o.value);
        else (next ??= new Map(state)).delete(o.key);
      }
      return { state: next ?? state, output: { op: "txn", succeeded, gets } };
    }
  }
}

/** Makes a known get read a value nobody wrote. Undefined when there is no known get. */
export function mutatePhantomRead(history: Op[], rng: Rng): Op[] | undefined {
  const gets = history.flatMap((
    op,
    i,
  ) => (op.input.op === "get" && op.output !== undefined ? [i] : []));
  if (gets.length === 0) return undefined;
  const target = gets[rng.int(gets.length)]!;
  return history.map((op, i) =>
    i === target ? { ...op, output: { op: "get" as const, value: "phantom" } } : op
  );
}

/**
 * Makes a known get return the value of a put Q that was overwritten by a put P, where Q
 * returned before P was called and P returned before the get was called: with unique values
 * no order of the operations allows that read (a stale read). Undefined when no such triple.
 */
export function mutateStaleRead(history: Op[], rng: Rng): Op[] | undefined {
  const known = (op: Op) => op.output !== undefined;
  const order = history.map((_, i) => i).sort(() => rng.next() - 0.5);
  for (const g of order) {
    const get = history[g]!;
    if (get.input.op !== "get" || !known(get)) continue;
    const key = get.input.key;
    const puts = history.filter((op) =>
      op.input.op === "put" && op.input.key === key && known(op) && op.return < get.call
    );
    for (const p of puts) {
      const q = puts.find((op) => op.return < p.call);
      if (q === undefined || q.input.op !== "put") continue;
      const stale = q.input.value;
      if (get.output?.op === "get" && get.output.value === stale) continue;
      return history.map((
        op,
        i,
      ) => (i === g ? { ...op, output: { op: "get" as const, value: stale } } : op));
    }
  }
  return undefined;
}
