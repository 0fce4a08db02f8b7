/**
 * The mvccpb codec against bytes produced by gogoproto in Go (etcd 3.4's generated
 * `KeyValue.Marshal` / `Event.Marshal`, run once with the values below), plus round trips.
 */
import assert from "node:assert/strict";
import {
  decodeEvent,
  decodeKeyValue,
  emptyKeyValue,
  encodeEvent,
  encodeKeyValue,
  encodeKeyValueWithView,
  EventType,
  type KeyValue,
} from "./mvccpb.ts";
import { bytesToRevision, isTombstoneKey, revisionToBytes } from "./revision.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

const kv: KeyValue = {
  key: enc("foo"),
  createRevision: 2,
  modRevision: 300,
  version: 1,
  value: enc("bar"),
  lease: 0x694d7a2f1c3b5e01n,
};

Deno.test("KeyValue and Event encode byte-exact with gogoproto", () => {
  assert.equal(hex(encodeKeyValue(kv)), "0a03666f6f100218ac0220012a036261723081bcede1f1c5dea669");
  const deleted = { ...emptyKeyValue(), key: enc("foo") };
  const ev = { type: EventType.DELETE, kv: deleted, prevKv: kv };
  assert.equal(
    hex(encodeEvent(ev)),
    "080112050a03666f6f1a1b0a03666f6f100218ac0220012a036261723081bcede1f1c5dea669",
  );
  assert.equal(hex(encodeEvent({ type: EventType.PUT, kv: emptyKeyValue() })), "1200");
  assert.deepEqual(decodeKeyValue(encodeKeyValue(kv)), kv);
  for (const lease of [0n, kv.lease, -1n]) {
    const withView = encodeKeyValueWithView({ ...kv, lease });
    assert.equal(dec(withView.value), "bar");
    assert.equal(withView.value.buffer, withView.bytes.buffer);
  }
  assert.deepEqual(decodeEvent(encodeEvent(ev)), ev);
});

Deno.test("negative and large int64 values round-trip", () => {
  const odd = { ...kv, lease: -2n, createRevision: 2 ** 53 - 1, version: 2 ** 40 };
  assert.deepEqual(decodeKeyValue(encodeKeyValue(odd)), odd);
  assert.throws(() => encodeKeyValue({ ...kv, modRevision: 2 ** 53 }), RangeError);
  assert.throws(() => decodeKeyValue(Uint8Array.from([0x0a, 0x05, 0x01])), RangeError);
});

Deno.test("revision keys are 17 bytes, tombstones 18 with a 't'", () => {
  const bytes = revisionToBytes({ main: 0x0102, sub: 3 });
  assert.equal(hex(bytes), "0000000000000102" + "5f" + "0000000000000003");
  const tomb = revisionToBytes({ main: 5, sub: 0 }, true);
  assert.equal(tomb.length, 18);
  assert.equal(tomb[17], 0x74);
  assert.ok(isTombstoneKey(tomb));
  assert.ok(!isTombstoneKey(bytes));
  assert.deepEqual(bytesToRevision(tomb), { main: 5, sub: 0 });
});
