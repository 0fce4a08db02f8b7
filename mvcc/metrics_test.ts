/**
 * The store's counters count as etcd's metricsTxnWrite does: every range, put and delete, the
 * put bytes, and a transaction only when it did more than one operation; the keys gauge
 * follows live keys across puts, deletes and a reopen. Method: a store over the in-memory
 * backend, the registry read before and after each step.
 */
import assert from "node:assert/strict";
import { register } from "prom-client";
import { MemBackend } from "./_mem_backend_test_util.ts";
import { KvStore } from "./kvstore.ts";

const enc = (s: string) => new TextEncoder().encode(s);

async function value(name: string): Promise<number> {
  const metric = register.getSingleMetric(name);
  assert.ok(metric !== undefined, name);
  const values = (await metric.get()).values;
  return values.reduce((sum, v) => sum + v.value, 0);
}

async function deltas(step: () => void): Promise<Record<string, number>> {
  const names = [
    "etcd_mvcc_put_total",
    "etcd_mvcc_range_total",
    "etcd_mvcc_delete_total",
    "etcd_mvcc_txn_total",
    "etcd_debugging_mvcc_total_put_size_in_bytes",
  ];
  const before = await Promise.all(names.map(value));
  step();
  const after = await Promise.all(names.map(value));
  return Object.fromEntries(
    names.map((n, i) => [n.replace(/^etcd_(debugging_)?mvcc_/, ""), after[i]! - before[i]!]),
  );
}

Deno.test("mvcc metrics: operations and transactions are counted as etcd counts them", async () => {
  const store = new KvStore(new MemBackend());
  assert.deepEqual(await deltas(() => store.put(enc("a"), enc("12345"))), {
    put_total: 1,
    range_total: 0,
    delete_total: 0,
    txn_total: 0,
    total_put_size_in_bytes: 6,
  });
  assert.deepEqual(
    await deltas(() => {
      const view = store.read();
      view.range(enc("a"), undefined);
      view.end?.();
    }),
    { put_total: 0, range_total: 1, delete_total: 0, txn_total: 0, total_put_size_in_bytes: 0 },
  );
  // Two operations in one write transaction make it a txn.
  assert.deepEqual(
    await deltas(() => {
      const txn = store.write();
      txn.range(enc("a"), undefined);
      txn.put(enc("b"), enc("1"));
      txn.deleteRange(enc("a"), undefined);
      txn.end();
    }),
    { put_total: 1, range_total: 1, delete_total: 1, txn_total: 1, total_put_size_in_bytes: 2 },
  );
  store.close();
});

Deno.test("mvcc metrics: keys_total follows live keys, also after a reopen", async () => {
  const backend = new MemBackend();
  const store = new KvStore(backend);
  const keys = () => value("etcd_debugging_mvcc_keys_total");
  store.put(enc("x"), enc("1"));
  store.put(enc("y"), enc("1"));
  store.put(enc("x"), enc("2")); // an update is no new key
  assert.equal(await keys(), 2);
  store.deleteRange(enc("x"), undefined);
  assert.equal(await keys(), 1);
  store.put(enc("x"), enc("3")); // a new generation after the tombstone
  assert.equal(await keys(), 2);
  store.close();
  const reopened = new KvStore(backend.clone());
  assert.equal(await keys(), 2);
  assert.equal(await value("etcd_debugging_mvcc_current_revision"), reopened.rev);
  reopened.close();
});
