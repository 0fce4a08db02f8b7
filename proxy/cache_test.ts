// Goal: the range cache answers a request it saw, drops what a write may have changed (points,
// ranges, from-key ranges), evicts the least recently used, and refuses compacted revisions.
import { strictEqual } from "node:assert/strict";
import { numberToLong } from "../etcdserverpb/mod.ts";
import { RangeCache } from "./cache.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const response = (value: string) => ({ kvs: [{ key: enc("k"), value: enc(value) }] });

Deno.test("RangeCache.get() finds a request stored as serializable", () => {
  const cache = new RangeCache();
  cache.add({ key: enc("a") }, response("1"));
  const found = cache.get({ key: enc("a"), serializable: true });
  strictEqual(found.kind, "hit");
  strictEqual(cache.get({ key: enc("b"), serializable: true }).kind, "miss");
});

Deno.test("RangeCache.invalidate() drops ranges a write intersects", () => {
  const cache = new RangeCache();
  cache.add({ key: enc("a") }, response("point"));
  cache.add({ key: enc("b"), rangeEnd: enc("d") }, response("range"));
  cache.add({ key: enc("x"), rangeEnd: new Uint8Array([0]) }, response("from-key"));
  cache.invalidate(enc("c"), undefined);
  strictEqual(cache.get({ key: enc("b"), rangeEnd: enc("d") }).kind, "miss");
  strictEqual(cache.get({ key: enc("a") }).kind, "hit");
  cache.invalidate(enc("zz"), undefined);
  strictEqual(cache.get({ key: enc("x"), rangeEnd: new Uint8Array([0]) }).kind, "miss");
  cache.invalidate(enc("0"), enc("b"));
  strictEqual(cache.get({ key: enc("a") }).kind, "miss");
  strictEqual(cache.size, 0);
});

Deno.test("RangeCache evicts the least recently used and refuses compacted revisions", () => {
  const cache = new RangeCache(2);
  cache.add({ key: enc("a") }, response("a"));
  cache.add({ key: enc("b") }, response("b"));
  strictEqual(cache.get({ key: enc("a") }).kind, "hit");
  cache.add({ key: enc("c") }, response("c"));
  strictEqual(cache.get({ key: enc("b") }).kind, "miss");
  strictEqual(cache.get({ key: enc("a") }).kind, "hit");
  cache.compact(10n);
  strictEqual(cache.get({ key: enc("a"), revision: numberToLong(5) }).kind, "compacted");
  cache.add({ key: enc("d"), revision: numberToLong(9) }, response("d"));
  strictEqual(cache.get({ key: enc("d"), revision: numberToLong(9) }).kind, "compacted");
  cache.add({ key: enc("e") }, response("e"));
  strictEqual(cache.get({ key: enc("e") }).kind, "hit", "current-revision ranges still cache");
});
