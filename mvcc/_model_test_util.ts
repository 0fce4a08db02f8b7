/**
 * The model-based test of the store (test-only): random puts, range deletes, multi-op
 * transactions, compactions and reopens are applied both to the store and to a plain model that
 * keeps a full copy of the key space at every revision; after each step random ranges at random
 * revisions must agree exactly (values, create/mod revisions, versions, leases, counts, limits)
 * and the right errors must come back for compacted and future revisions. The backend is a
 * parameter, so the same test runs over the in-memory backend and the bolt backend.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Backend } from "../backend/mod.ts";
import { CompactedError, FutureRevisionError } from "./errors.ts";
import { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
import { KvStore, type LeaseAttacher } from "./kvstore.ts";
import type { KeyValue } from "./mvccpb.ts";

/** mulberry32 (testing/prng.ts): a seeded PRNG returning floats in [0, 1). */
import { mulberry32 as prng } from "../testing/mod.ts";
export { prng };

interface _ModelKv {
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: bigint;
}

/** The model: the whole key space after every revision. */
class _Model {
  states: Map<string, _ModelKv>[] = [new Map(), new Map()]; // revisions 0 and 1 are empty
  compactRev = -1;
  get rev(): number {
    return this.states.length - 1;
  }
  apply(ops: _Op[]): void {
    const next = new Map(this.states[this.rev]!);
    const rev = this.rev + 1;
    let changed = false;
    for (const op of ops) {
      if (op.kind === "put") {
        const prev = next.get(op.key);
        next.set(op.key, {
          value: op.value,
          create: prev?.create ?? rev,
          mod: rev,
          version: (prev?.version ?? 0) + 1,
          lease: op.lease,
        });
        changed = true;
      } else {
        for (const k of [...next.keys()]) {
          if (_inRange(k, op.key, op.end)) {
            next.delete(k);
            changed = true;
          }
        }
      }
    }
    if (changed) this.states.push(next);
  }
  range(key: string, end: string | undefined, rev: number): [string, _ModelKv][] {
    const state = this.states[rev]!;
    return [...state.entries()].filter(([k]) => _inRange(k, key, end)).sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
    );
  }
}

function _inRange(k: string, key: string, end: string | undefined): boolean {
  if (end === undefined) return k === key;
  if (end === "") return k >= key;
  return k >= key && k < end;
}

type _Op =
  | { kind: "put"; key: string; value: string; lease: bigint }
  | { kind: "del"; key: string; end: string | undefined };

/** A lessor stand-in that accepts every lease and records attachments. */
export class FakeLeases implements LeaseAttacher {
  readonly items = new Map<string, bigint>();
  attach(id: bigint, key: string): void {
    this.items.set(key, id);
  }
  detach(id: bigint, key: string): void {
    assert.equal(this.items.get(key), id);
    this.items.delete(key);
  }
  getLease(key: string): bigint {
    return this.items.get(key) ?? 0n;
  }
}

const _KEYS = ["", "a", "a\x00", "ab", "abc", "b", "b\xff", "c", "\xff", "\xff\xff", "\x00"];

function _randomKey(rand: () => number): string {
  const k = _KEYS[1 + Math.floor(rand() * (_KEYS.length - 1))]!;
  return k;
}

function _randomOp(rand: () => number, step: number): _Op {
  if (rand() < 0.7) {
    const lease = rand() < 0.2 ? BigInt(1 + Math.floor(rand() * 3)) << 60n : 0n;
    return { kind: "put", key: _randomKey(rand), value: `v${step}-${rand()}`, lease };
  }
  const key = _randomKey(rand);
  const r = rand();
  const end = r < 0.4 ? undefined : r < 0.6 ? "" : _randomKey(rand);
  return { kind: "del", key, end };
}

function _applyToStore(store: KvStore, ops: _Op[]): void {
  const txn = store.write();
  for (const op of ops) {
    if (op.kind === "put") {
      txn.put(keyStringToBytes(op.key), keyStringToBytes(op.value), op.lease);
    } else {
      txn.deleteRange(
        keyStringToBytes(op.key),
        op.end === undefined ? undefined : keyStringToBytes(op.end),
      );
    }
  }
  txn.end();
}

function _checkRange(store: KvStore, model: _Model, rand: () => number): void {
  const key = _randomKey(rand);
  const r = rand();
  const end = r < 0.3 ? undefined : r < 0.5 ? "" : _randomKey(rand);
  const rev = rand() < 0.3 ? 0 : Math.floor(rand() * (model.rev + 3));
  const limit = rand() < 0.5 ? 0 : 1 + Math.floor(rand() * 3);
  const endBytes = end === undefined ? undefined : keyStringToBytes(end);
  if (rev > model.rev) {
    assert.throws(() => store.range(keyStringToBytes(key), endBytes, { rev }), FutureRevisionError);
    return;
  }
  const atRev = rev <= 0 ? model.rev : rev;
  if (atRev < model.compactRev) {
    assert.throws(() => store.range(keyStringToBytes(key), endBytes, { rev }), CompactedError);
    return;
  }
  const got = store.range(keyStringToBytes(key), endBytes, { rev, limit });
  const want = model.range(key, end, atRev);
  assert.equal(got.rev, model.rev);
  assert.equal(got.count, want.length);
  const wantLimited = limit > 0 ? want.slice(0, limit) : want;
  assert.deepEqual(got.kvs.map(_fromKv), wantLimited);
  const counted = store.range(keyStringToBytes(key), endBytes, { rev, countOnly: true });
  assert.equal(counted.count, want.length);
  assert.equal(counted.kvs.length, 0);
}

function _fromKv(kv: KeyValue): [string, _ModelKv] {
  return [bytesToKeyString(kv.key), {
    value: bytesToKeyString(kv.value),
    create: kv.createRevision,
    mod: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  }];
}

/** How the model test gets and reopens a backend. */
export interface ModelBackends {
  open(): Backend;
  /** Returns the backend as a restarted process would see it (the old one may be closed). */
  reopen(old: Backend): Backend;
}

/** Runs `steps` random steps from `seed`; throws on the first disagreement. */
export async function runModel(
  seed: number,
  steps: number,
  backends: ModelBackends,
): Promise<void> {
  const rand = prng(seed);
  let backend = backends.open();
  let leases = new FakeLeases();
  let store = new KvStore(backend, {
    lessor: leases,
    compactionBatchLimit: 3,
    compactionSleepMs: 0,
  });
  const model = new _Model();
  for (let step = 0; step < steps; step++) {
    const r = rand();
    if (r < 0.75) {
      const ops = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => _randomOp(rand, step));
      _applyToStore(store, ops);
      model.apply(ops);
    } else if (r < 0.85 && model.rev > 1) {
      const rev = 1 + Math.floor(rand() * model.rev);
      if (rev <= model.compactRev) {
        assert.throws(() => store.compact(rev), CompactedError);
      } else {
        const { done } = store.compact(rev);
        model.compactRev = rev;
        if (rand() < 0.5) await done;
      }
    } else if (r < 0.92) {
      // Reopen from a copy of the backend, possibly in the middle of a compaction.
      store.close();
      await store.compactionsDone();
      backend = backends.reopen(backend);
      leases = new FakeLeases();
      store = new KvStore(backend, {
        lessor: leases,
        compactionBatchLimit: 3,
        compactionSleepMs: 0,
      });
      // A store reopened right after compacting everything reports the compacted revision.
      assert.equal(store.rev, model.rev, `seed ${seed} step ${step}: revision after reopen`);
    }
    assert.equal(store.rev, model.rev);
    for (let i = 0; i < 4; i++) _checkRange(store, model, rand);
    // The lease attachments follow the live keys.
    for (const [k, kv] of model.states[model.rev]!) {
      assert.equal(leases.getLease(k), kv.lease, `seed ${seed} step ${step}: lease of ${k}`);
    }
    assert.equal(
      [...leases.items.values()].filter((l) => l !== 0n).length,
      [...model.states[model.rev]!.values()].filter((kv) => kv.lease !== 0n).length,
    );
  }
  store.close();
  await store.compactionsDone();
}
