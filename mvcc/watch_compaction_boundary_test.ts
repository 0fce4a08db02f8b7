/**
 * A watch that starts exactly at the compaction revision (etcd issue #18089, fixed after 3.4 in
 * etcd 3.5.15): compaction at R keeps every revision R itself wrote in the key bucket, so a
 * watcher from R (allowed: only start revisions below R are compacted) receives R's events.
 * Before the fix, every revision at R that the key index does not keep (a delete, the
 * superseded puts of a transaction) was removed, and the watcher missed those events.
 *
 * Method: for each kind of revision at the boundary (a put, a delete, a transaction of several
 * puts and deletes), write it, compact at its revision, with and without waiting for the
 * physical deletion, then watch from that revision and expect exactly its events.
 */
import assert from "node:assert/strict";
import { MemBackend } from "./_mem_backend_test_util.ts";
import { EventType } from "./mvccpb.ts";
import { WatchableStore } from "./watchable_store.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

type _Kind = "put" | "delete" | "txn";

/** Writes history, then the boundary revision of `kind`; returns its events as strings. */
function _writeBoundary(store: WatchableStore, kind: _Kind): { rev: number; want: string[] } {
  store.put(enc("a"), enc("1"));
  store.put(enc("b"), enc("1"));
  store.put(enc("c"), enc("1"));
  store.put(enc("a"), enc("2"));
  if (kind === "put") return { rev: store.put(enc("a"), enc("3")), want: ["PUT a=3"] };
  if (kind === "delete") {
    return { rev: store.deleteRange(enc("a"), undefined).rev, want: ["DELETE a"] };
  }
  const txn = store.write();
  txn.put(enc("a"), enc("4"));
  txn.deleteRange(enc("b"), undefined);
  txn.put(enc("d"), enc("1"));
  txn.deleteRange(enc("c"), undefined);
  const rev = txn.put(enc("e"), enc("1"));
  txn.end();
  return { rev, want: ["PUT a=4", "DELETE b", "PUT d=1", "DELETE c", "PUT e=1"] };
}

for (const kind of ["put", "delete", "txn"] as const) {
  for (const physical of [false, true]) {
    Deno.test(`a watch from the compaction revision gets its events: ${kind}, physical=${physical}`, async () => {
      const backend = new MemBackend();
      const store = new WatchableStore(backend, {
        syncIntervalMs: 1,
        victimIntervalMs: 1,
      });
      try {
        const { rev, want } = _writeBoundary(store, kind);
        // A later write, so the boundary is history and the watcher must catch up.
        store.put(enc("z"), enc("later"));
        const { done } = store.compact(rev);
        if (physical) await done;
        const stream = store.newWatchStream();
        stream.watch({ key: enc("a"), end: enc("f"), startRev: rev });
        const response = await Promise.race([
          stream.next(),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3000)),
        ]);
        assert.ok(response !== undefined, "no response within 3 s");
        assert.equal(response.compactRevision, 0, "the watch was refused as compacted");
        const got = response.events.map((e) =>
          e.type === EventType.DELETE
            ? `DELETE ${dec(e.kv.key)}`
            : `PUT ${dec(e.kv.key)}=${dec(e.kv.value)}`
        );
        assert.deepEqual(got, want);
        assert.ok(response.events.every((e) => Number(e.kv.modRevision) === rev));
        // Below the compaction revision is still refused.
        stream.watch({ key: enc("a"), startRev: rev - 1 });
        const refused = await stream.next();
        assert.equal(refused?.compactRevision, rev);
        if (!physical) await done;
        // A restart rebuilds the key index from the bucket, the kept boundary revision included.
        const reopened = new WatchableStore(backend.clone(), {
          syncIntervalMs: 1,
          victimIntervalMs: 1,
        });
        try {
          const again = reopened.newWatchStream();
          again.watch({ key: enc("a"), end: enc("f"), startRev: rev });
          const replay = await again.next();
          assert.equal(replay?.events.length, want.length);
          const live = reopened.range(enc("a"), enc("f")).kvs.map((kv) => dec(kv.key));
          const before = store.range(enc("a"), enc("f")).kvs.map((kv) => dec(kv.key));
          assert.deepEqual(live, before);
        } finally {
          reopened.close();
        }
      } finally {
        await store.compactionsDone().catch(() => {});
        store.close();
      }
    });
  }
}
