// Unit tests of the v2 store against etcd 3.4's v2store semantics: each test names the rule
// it checks (from etcd's store.go / node.go / watcher_hub.go) and drives a store with a fake
// clock, so TTLs and expiry are exact.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  EcodeDirNotEmpty,
  EcodeEventIndexCleared,
  EcodeKeyNotFound,
  EcodeNodeExist,
  EcodeNotDir,
  EcodeNotFile,
  EcodeRootROnly,
  EcodeTestFailed,
  eventJson,
  PERMANENT,
  recoverStore,
  saveStoreText,
  V2Error,
  V2Store,
} from "./mod.ts";

const SECOND = 1_000_000_000n;
const T0 = 1_800_000_000n * SECOND;

function fakeStore(): { store: V2Store; clock: { now: bigint } } {
  const clock = { now: T0 };
  return { store: new V2Store({ now: () => clock.now }), clock };
}

const forever = { expireTime: PERMANENT };

function code(fn: () => unknown): [number, string, number] {
  try {
    fn();
  } catch (error) {
    ok(error instanceof V2Error, String(error));
    return [error.errorCode, error.cause_, error.index];
  }
  throw new Error("no error");
}

Deno.test("set, get and create bump the index once each and report prevNode", () => {
  const { store } = fakeStore();
  const first = store.set("/1/foo", { dir: false, value: "bar", ttl: forever });
  equal(
    eventJson(first),
    `{"action":"set","node":{"key":"/1/foo","value":"bar",` +
      `"modifiedIndex":1,"createdIndex":1}}`,
  );
  const second = store.set("/1/foo", { dir: false, value: "baz", ttl: forever });
  equal(second.prevNode?.value, "bar");
  equal(second.etcdIndex, 2);
  deepStrictEqual(
    code(() =>
      store.create("/1/foo", {
        dir: false,
        value: "x",
        unique: false,
        ttl: forever,
      })
    ),
    [EcodeNodeExist, "/1/foo", 2],
  );
  const got = store.get("/1/foo", false, false);
  equal(got.node.value, "baz");
  equal(got.etcdIndex, 2);
  equal(store.stats.counts.setsSuccess, 2);
  equal(store.stats.counts.createFail, 1);
});

Deno.test("in-order keys are named by the next index, 20 digits", () => {
  const { store } = fakeStore();
  store.set("/1/other", { dir: false, value: "", ttl: forever });
  const e = store.create("/1/queue", { dir: false, value: "job", unique: true, ttl: forever });
  equal(e.node.key, "/1/queue/00000000000000000002");
});

Deno.test("compare-and-swap and compare-and-delete give etcd's causes", () => {
  const { store } = fakeStore();
  store.set("/1/k", { dir: false, value: "one", ttl: forever });
  deepStrictEqual(
    code(() =>
      store.compareAndSwap("/1/k", { prevValue: "two", prevIndex: 0, value: "x", ttl: forever })
    ),
    [EcodeTestFailed, "[two != one]", 1],
  );
  deepStrictEqual(
    code(() =>
      store.compareAndSwap("/1/k", { prevValue: "", prevIndex: 7, value: "x", ttl: forever })
    ),
    [EcodeTestFailed, "[7 != 1]", 1],
  );
  deepStrictEqual(
    code(() => store.compareAndDelete("/1/k", { prevValue: "two", prevIndex: 7 })),
    [EcodeTestFailed, "[two != one] [7 != 1]", 1],
  );
  const swapped = store.compareAndSwap("/1/k", {
    prevValue: "one",
    prevIndex: 1,
    value: "two",
    ttl: forever,
  });
  equal(swapped.action, "compareAndSwap");
  equal(swapped.node.modifiedIndex, 2);
  equal(swapped.node.createdIndex, 1);
  const deleted = store.compareAndDelete("/1/k", { prevValue: "two", prevIndex: 0 });
  equal(deleted.action, "compareAndDelete");
  equal(store.currentIndex, 3);
});

Deno.test("directories: not a file, not empty, not a directory, read-only roots", () => {
  const { store } = fakeStore();
  store.set("/1/d/f", { dir: false, value: "v", ttl: forever });
  deepStrictEqual(code(() => store.delete("/1/d", { dir: false, recursive: false })), [
    EcodeNotFile,
    "/1/d",
    1,
  ]);
  deepStrictEqual(code(() => store.delete("/1/d", { dir: true, recursive: false })), [
    EcodeDirNotEmpty,
    "/1/d",
    1,
  ]);
  deepStrictEqual(code(() => store.set("/1/d/f/g", { dir: false, value: "", ttl: forever })), [
    EcodeNotDir,
    "/1/d/f",
    1,
  ]);
  deepStrictEqual(code(() => store.set("/1/d", { dir: false, value: "", ttl: forever })), [
    EcodeNotFile,
    "/1/d",
    1,
  ]);
  deepStrictEqual(code(() => store.delete("/1", { dir: true, recursive: true })), [
    EcodeRootROnly,
    "/",
    1,
  ]);
  deepStrictEqual(code(() => store.get("/1/nope/x", false, false)), [
    EcodeKeyNotFound,
    "/1/nope",
    1,
  ]);
  const e = store.delete("/1/d", { dir: false, recursive: true });
  equal(e.node.dir, true);
  equal(e.prevNode?.dir, true);
  equal(store.has("/1/d/f"), false);
});

Deno.test("TTL nodes expire only when deleteExpiredKeys reaches their time", () => {
  const { store, clock } = fakeStore();
  const e = store.set("/1/t", { dir: false, value: "v", ttl: { expireTime: T0 + 5n * SECOND } });
  equal(e.node.ttl, 5);
  clock.now = T0 + 2n * SECOND + 1n;
  equal(store.get("/1/t", false, false).node.ttl, 3); // rounded up, as etcd does
  ok(store.hasTtlKeys());
  store.deleteExpiredKeys(T0 + 4n * SECOND);
  ok(store.has("/1/t"));
  const w = store.watch("/1/t", { recursive: false, stream: false, sinceIndex: 0 });
  store.deleteExpiredKeys(T0 + 5n * SECOND);
  equal(store.has("/1/t"), false);
  equal(store.hasTtlKeys(), false);
  equal(store.stats.counts.expireCount, 1);
  return w.next().then((ev) => {
    equal(ev?.action, "expire");
    equal(ev?.prevNode?.value, "v");
  });
});

Deno.test("an update without a TTL makes a TTL node permanent", () => {
  const { store } = fakeStore();
  store.set("/1/t", { dir: false, value: "v", ttl: { expireTime: T0 + 5n * SECOND } });
  store.update("/1/t", { value: "w", ttl: forever });
  equal(store.hasTtlKeys(), false);
  store.deleteExpiredKeys(T0 + 60n * SECOND);
  equal(store.get("/1/t", false, false).node.value, "w");
});

Deno.test("watches: from history, waiting, and the cleared window past 1000 events", async () => {
  const { store } = fakeStore();
  for (let i = 0; i < 1005; i++) store.set("/1/k", { dir: false, value: `${i}`, ttl: forever });
  const fromHistory = store.watch("/1/k", { recursive: false, stream: false, sinceIndex: 1000 });
  equal((await fromHistory.next())?.node.value, "999");
  deepStrictEqual(
    code(() => store.watch("/1/k", { recursive: false, stream: false, sinceIndex: 5 })),
    [EcodeEventIndexCleared, "the requested history has been cleared [6/5]", 1005],
  );
  const recursive = store.watch("/1", { recursive: true, stream: true, sinceIndex: 0 });
  store.set("/1/a/b", { dir: false, value: "x", ttl: forever });
  store.set("/1/_hidden", { dir: false, value: "x", ttl: forever });
  store.set("/1/c", { dir: false, value: "y", ttl: forever });
  equal((await recursive.next())?.node.key, "/1/a/b");
  equal((await recursive.next())?.node.key, "/1/c"); // hidden keys do not reach a parent's watch
  recursive.remove();
  equal(store.hub.count, 0);
});

Deno.test("save and recovery round-trip the tree, history, index, stats and TTLs", () => {
  const { store } = fakeStore();
  store.set("/0/version", { dir: false, value: "3.4.0", ttl: forever });
  store.set("/1/a", { dir: false, value: "<&>", ttl: forever });
  store.set("/1/t", { dir: false, value: "v", ttl: { expireTime: T0 + 123_456_789n } });
  store.create("/1/q", { dir: true, value: "", unique: false, ttl: forever });
  const text = saveStoreText(store);
  ok(text.includes(`"Value":"\\u003c\\u0026\\u003e"`), "Go's HTML-safe escaping");
  ok(text.includes(`"ExpireTime":"2027-01-15T08:00:00.123456789Z"`), text);
  ok(text.startsWith(
    `{"Root":{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,` +
      `"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"0":`,
  ));
  const copy = new V2Store();
  recoverStore(copy, text);
  equal(saveStoreText(copy), text);
  equal(copy.currentIndex, 4);
  ok(copy.hasTtlKeys());
  equal(copy.get("/1/a", false, false).node.value, "<&>");
  copy.deleteExpiredKeys(T0 + SECOND);
  equal(copy.has("/1/t"), false);
  throws(() => recoverStore(copy, "{}"));
});
