/**
 * The store over the real bolt backend (temp files): the model-based random test with reopens
 * that close the db file and open it again (also in the middle of a compaction), the watchable
 * store's catch-up reading history from the file, and the lessor's records surviving a reopen.
 */
import assert from "node:assert/strict";
import { type Backend, type BoltBackend, openBackend } from "../backend/mod.ts";
import { runModel } from "../mvcc/_model_test_util.ts";
import { WatchableStore } from "../mvcc/mod.ts";
import { Lessor } from "../lease/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function tempDbPath(): { dir: string; path: string } {
  const dir = Deno.makeTempDirSync({ prefix: "mvcc_backend_test_" });
  return { dir, path: `${dir}/db` };
}

Deno.test("store over the bolt backend matches the model across close and reopen", async () => {
  const seeds = Number(Deno.env.get("MVCC_BACKEND_SEEDS") ?? "4");
  for (let seed = 1; seed <= seeds; seed++) {
    const { dir, path } = tempDbPath();
    const opened: BoltBackend[] = [];
    const backends = {
      open: (): Backend => {
        const b = openBackend({ path, batchIntervalMs: 5, batchLimit: 7, strictMode: true });
        opened.push(b);
        return b;
      },
      reopen: (old: Backend): Backend => {
        old.close();
        return backends.open();
      },
    };
    try {
      await runModel(seed, 120, backends);
    } finally {
      for (const b of opened) b.close();
      Deno.removeSync(dir, { recursive: true });
    }
  }
});

Deno.test("leases, attached keys and compaction state come back from the db file", async () => {
  const { dir, path } = tempDbPath();
  try {
    let backend = openBackend({ path });
    let lessor = new Lessor({ backend, now: () => 0, minLeaseTtlSeconds: 2 });
    let store = new WatchableStore(backend, { lessor });
    lessor.setRangeDeleter(() => store.write());
    lessor.grant(0x7fffffffffffffffn, 100);
    for (let i = 0; i < 50; i++) {
      store.put(enc(`k${i % 5}`), enc(`v${i}`), i % 2 ? 0x7fffffffffffffffn : 0n);
    }
    await store.compact(40).done;
    const hashBefore = store.hashByRev(0);
    store.close();
    backend.close();

    backend = openBackend({ path });
    lessor = new Lessor({ backend, now: () => 0, minLeaseTtlSeconds: 2 });
    store = new WatchableStore(backend, { lessor });
    lessor.setRangeDeleter(() => store.write());
    assert.equal(store.rev, 51);
    assert.equal(store.compactRev, 40);
    assert.deepEqual(store.hashByRev(0), hashBefore);
    assert.deepEqual(
      lessor.timeToLive(0x7fffffffffffffffn, true).keys.map((k) => new TextDecoder().decode(k)),
      ["k0", "k2", "k4"],
    );
    // A watcher from revision 41 reads the history back from the file.
    const stream = store.newWatchStream();
    stream.watch({ key: enc("k"), end: enc("l"), startRev: 41 });
    const revs: number[] = [];
    while (revs.length < 11) {
      const r = await stream.next();
      for (const e of r!.events) revs.push(e.kv.modRevision);
    }
    assert.deepEqual(revs, Array.from({ length: 11 }, (_, i) => 41 + i));
    stream.close();
    lessor.revoke(0x7fffffffffffffffn);
    assert.equal(store.range(enc("k"), enc("l")).count, 2);
    store.close();
    backend.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the index and lease attachments come back when values span overflow pages", () => {
  const { dir, path } = tempDbPath();
  try {
    const lease = 0x1234n;
    let backend = openBackend({ path });
    let lessor = new Lessor({ backend, now: () => 0, minLeaseTtlSeconds: 2 });
    let store = new WatchableStore(backend, { lessor });
    lessor.setRangeDeleter(() => store.write());
    lessor.grant(lease, 100);
    // Values from a few bytes to several pages (the restore reads only the parts of each stored
    // KeyValue that the index needs: the lease comes after the value), puts with and without
    // the lease, deletions (tombstones) and recreations (new generations).
    for (let i = 0; i < 120; i++) {
      const key = enc(`key-${i % 17}`);
      if (i % 11 === 10) {
        store.deleteRange(key, undefined);
        continue;
      }
      const size = [3, 200, 4000, 9000, 30_000][i % 5]!;
      const value = new Uint8Array(size).fill(i & 0xff);
      store.put(key, value, i % 3 === 0 ? lease : 0n);
    }
    const rev = store.rev;
    const at = (s: WatchableStore, r: number) =>
      s.range(enc("key-"), enc("key."), { rev: r }).kvs.map((kv) => ({
        key: new TextDecoder().decode(kv.key),
        create: kv.createRevision,
        mod: kv.modRevision,
        version: kv.version,
        lease: kv.lease,
        size: kv.value.length,
      }));
    const before = [rev, 100, 60, 20].map((r) => at(store, r));
    const leased = lessor.timeToLive(lease, true).keys.map((k) => new TextDecoder().decode(k));
    assert.ok(leased.length > 0);
    store.close();
    backend.close();

    backend = openBackend({ path });
    lessor = new Lessor({ backend, now: () => 0, minLeaseTtlSeconds: 2 });
    store = new WatchableStore(backend, { lessor });
    lessor.setRangeDeleter(() => store.write());
    assert.equal(store.rev, rev);
    assert.deepEqual([rev, 100, 60, 20].map((r) => at(store, r)), before);
    assert.deepEqual(
      lessor.timeToLive(lease, true).keys.map((k) => new TextDecoder().decode(k)).sort(),
      leased.sort(),
    );
    store.close();
    backend.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
