/**
 * The mvccpb codec against bytes produced by gogoproto in Go (etcd 3.4's generated
 * `KeyValue.Marshal` / `Event.Marshal`, run once with the values below), plus round trips.
 */
import assert from "node:assert/strict";
import {
  decodeEvent,
  decodeKeyValue,
  decodeKeyValueIndexFields,
  emptyKeyValue,
  encodeEvent,
  encodeKeyValue,
  encodeKeyValueWithView,
  encodeTombstoneKeyValue,
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
    assert.equal(dec(withView.key), "foo");
    assert.equal(withView.key.buffer, withView.bytes.buffer);
  }
  assert.deepEqual(decodeEvent(encodeEvent(ev)), ev);
  // Keys and values of every length class, empty ones too: the views are the fields' bytes.
  const lengths: [number, number][] = [[0, 0], [1, 0], [0, 1], [127, 128], [300, 16_384]];
  for (const [keyLength, valueLength] of lengths) {
    const long = {
      ...kv,
      key: new Uint8Array(keyLength).fill(7),
      value: new Uint8Array(valueLength).fill(9),
    };
    const withView = encodeKeyValueWithView(long);
    assert.deepEqual(withView.key, long.key);
    assert.deepEqual(withView.value, long.value);
    assert.deepEqual(decodeKeyValue(withView.bytes), long);
  }
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

Deno.test("decodeKeyValueIndexFields gives decodeKeyValue's index fields and skips the value", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 300; i++) {
    const valueSize = [0, 5, 1000, 3000, 70_000][i % 5]!;
    const kv: KeyValue = {
      key: enc(`k${i}`.repeat(1 + Math.floor(rand() * 4))),
      createRevision: Math.floor(rand() * 2 ** 40),
      modRevision: Math.floor(rand() * 2 ** 40),
      version: Math.floor(rand() * 1000),
      value: new Uint8Array(valueSize).fill(i & 0xff),
      lease: i % 3 === 0 ? 0n : i % 3 === 1 ? BigInt(Math.floor(rand() * 2 ** 52)) : -5n,
    };
    let bytes = encodeKeyValue(kv);
    if (i % 7 === 0) {
      // An unknown varint field (99) and an unknown bytes field (98) after the known ones.
      bytes = new Uint8Array([...bytes, 0x98, 0x06, 0x01, 0x92, 0x06, 0x02, 0xaa, 0xbb]);
    }
    let asked = 0;
    const fields = decodeKeyValueIndexFields(bytes.length, (offset, length) => {
      assert.ok(offset >= 0 && offset + length <= bytes.length);
      asked += length;
      return bytes.subarray(offset, offset + length);
    });
    const whole = decodeKeyValue(bytes);
    assert.deepEqual(fields, {
      key: whole.key,
      createRevision: whole.createRevision,
      version: whole.version,
      lease: whole.lease,
    });
    if (valueSize >= 3000) assert.ok(asked < 200, `read ${asked} bytes of ${bytes.length}`);
  }
  assert.throws(() =>
    decodeKeyValueIndexFields(3, (o, l) => new Uint8Array([0x0a, 0x05, 0x61]).subarray(o, o + l))
  );
});

Deno.test("encodeTombstoneKeyValue() gives encodeKeyValue's bytes for keys of 1 to 20,000 bytes", () => {
  // Goal: the tombstone fast path writes the same record etcd (and the general encoder) writes.
  // Method: key lengths on both sides of each varint length boundary, compared byte for byte.
  for (const length of [1, 2, 127, 128, 129, 255, 300, 16383, 16384, 20000]) {
    const key = new Uint8Array(length).map((_, i) => (i * 7 + 3) & 0xff);
    const kv = {
      key,
      value: new Uint8Array(0),
      createRevision: 0,
      modRevision: 0,
      version: 0,
      lease: 0n,
    };
    assert.deepEqual(encodeTombstoneKeyValue(key), encodeKeyValue(kv), `key of ${length} bytes`);
  }
  assert.throws(() => encodeTombstoneKeyValue(new Uint8Array(0)));
});
