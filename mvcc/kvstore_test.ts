/**
 * Store tests: the model-based random test over the in-memory backend (see
 * `_model_test_util.ts`), physical compaction, write transactions, the consistent index.
 */
import assert from "node:assert/strict";
import { MemBackend } from "./_mem_backend_test_util.ts";
import { runModel } from "./_model_test_util.ts";
import { CompactedError, FutureRevisionError } from "./errors.ts";
import { KvStore } from "./kvstore.ts";
import type { Backend } from "../backend/mod.ts";

Deno.test("store matches the model over random puts, deletes, txns, compactions, reopens", async () => {
  const seeds = Number(Deno.env.get("MVCC_MODEL_SEEDS") ?? "20");
  const backends = {
    open: () => new MemBackend(),
    // A reopen sees a copy, taken possibly in the middle of a compaction.
    reopen: (old: Backend) => (old as MemBackend).clone(),
  };
  for (let seed = 1; seed <= seeds; seed++) await runModel(seed, 150, backends);
});

Deno.test("compaction physically removes old revisions and keeps what reads need", async () => {
  // Goal: after compact(rev) completes, the key bucket holds only the newest revision of each
  // live key at or below rev plus everything after rev; reads at rev still see all keys.
  const backend = new MemBackend();
  const store = new KvStore(backend, { compactionBatchLimit: 2, compactionSleepMs: 0 });
  const enc = (s: string) => new TextEncoder().encode(s);
  for (let i = 0; i < 10; i++) store.put(enc("k"), enc(`v${i}`)); // revs 2..11
  store.put(enc("gone"), enc("x")); // 12
  store.deleteRange(enc("gone"), undefined); // 13
  store.put(enc("j"), enc("y")); // 14
  assert.equal(backend.bucketSize("key"), 13);
  await store.compact(13).done;
  // Kept: k@11, j@14, and gone's tombstone, written at the compaction revision itself (a
  // watcher from 13 must still get that delete: etcd #18089); gone's put is removed.
  assert.equal(backend.bucketSize("key"), 3);
  assert.equal(store.range(enc("k"), undefined, { rev: 13 }).kvs[0]!.version, 10);
  assert.throws(() => store.range(enc("k"), undefined, { rev: 12 }), CompactedError);
  assert.throws(() => store.compact(13), CompactedError);
  assert.throws(() => store.compact(15), FutureRevisionError);
  // Reopen: the compacted revision and the data come back.
  store.close();
  const reopened = new KvStore(backend.clone());
  assert.equal(reopened.compactRev, 13);
  assert.equal(reopened.rev, 14);
  assert.equal(reopened.range(enc("j"), undefined).kvs[0]!.modRevision, 14);
  assert.equal(reopened.range(enc("gone"), undefined).kvs.length, 0);
  assert.equal(reopened.range(enc("gone"), undefined, { rev: 13 }).kvs.length, 0);
  reopened.close();
});

Deno.test("a write transaction shares one revision and reads its own writes", () => {
  const store = new KvStore(new MemBackend());
  const enc = (s: string) => new TextEncoder().encode(s);
  const txn = store.write();
  assert.equal(txn.put(enc("a"), enc("1")), 2);
  assert.equal(txn.put(enc("a"), enc("2")), 2);
  assert.equal(txn.range(enc("a"), undefined).kvs[0]!.version, 2);
  assert.deepEqual(txn.deleteRange(enc("a"), undefined), { deleted: 1, rev: 2 });
  assert.equal(txn.range(enc("a"), undefined).count, 0);
  txn.end();
  assert.equal(store.rev, 2);
  // A delete that removes nothing does not move the revision.
  assert.deepEqual(store.deleteRange(enc("zzz"), undefined), { deleted: 0, rev: 2 });
  assert.equal(store.rev, 2);
  store.close();
});

Deno.test("the consistent index is stored in meta with the changes", () => {
  let index = 7;
  const backend = new MemBackend();
  const store = new KvStore(backend, { consistentIndex: () => index });
  store.put(new Uint8Array([1]), new Uint8Array([2]));
  assert.equal(store.consistentIndex(), 7);
  index = 9;
  store.commit();
  assert.equal(new KvStore(backend.clone()).consistentIndex(), 9);
  store.close();
});

Deno.test("a write that changes no key leaves the stored consistent index (etcd 3.4)", () => {
  // Goal: as etcd's storeTxnWrite.End, only a transaction with changes saves the index;
  // store.Commit saves it whatever. Method: a put at index 3, then a delete of nothing and a
  // write transaction without changes at later indexes, then commit().
  let index = 3;
  const backend = new MemBackend();
  const store = new KvStore(backend, { consistentIndex: () => index });
  const enc = (s: string) => new TextEncoder().encode(s);
  store.put(enc("a"), enc("1"));
  index = 4;
  assert.equal(store.deleteRange(enc("missing"), undefined).deleted, 0);
  index = 5;
  store.write().end();
  assert.equal(store.consistentIndex(), 3);
  store.commit();
  assert.equal(store.consistentIndex(), 5);
  store.close();
});
