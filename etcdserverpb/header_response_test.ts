// Goal: encodeHeaderOnly() gives exactly protobufjs' bytes for a header-only PutResponse, and
// declines (undefined) whatever it does not encode itself, so that the caller's fallback is
// protobufjs. Method: a table of edge values (zero, absent, null, varint length boundaries,
// 2^53 - 1, Longs signed and unsigned up to 2^64 - 1) and 2,000 seeded random headers, each
// compared byte for byte with encode().finish(), behind prefixes of 0 and 5 bytes.
import assert from "node:assert/strict";
import Long from "long";
import { etcdserverpb } from "./gen/etcd.js";
import { encodeHeaderOnly } from "./header_response.ts";

/** Header fields as the server sets them: numbers or Longs (the generated types say Long). */
type Header = Record<string, unknown>;

function expected(message: object): Uint8Array {
  const properties = message as etcdserverpb.PutResponse.$Properties;
  return Uint8Array.from(etcdserverpb.PutResponse.encode(properties).finish());
}

function check(message: object): void {
  for (const prefix of [0, 5]) {
    const got = encodeHeaderOnly(message, ["prevKv"], prefix);
    assert.ok(got !== undefined, `declined ${JSON.stringify(message)}`);
    assert.deepEqual(got.subarray(0, prefix), new Uint8Array(prefix));
    assert.deepEqual(got.subarray(prefix), expected(message), JSON.stringify(message));
  }
}

const edges: (number | Long | null | undefined)[] = [
  0,
  1,
  127,
  128,
  16_383,
  16_384,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  null,
  undefined,
  Long.UZERO,
  Long.fromString("18446744073709551615", true),
  Long.fromString("9223372036854775808", true),
  Long.fromString("-1", false),
  Long.fromString("12345678901234567", true),
];

Deno.test("encodeHeaderOnly() matches protobufjs on edge values of every header field", () => {
  const names = ["clusterId", "memberId", "revision", "raftTerm"] as const;
  for (const name of names) {
    for (const value of edges) {
      const header: Header = { clusterId: Long.fromString("14841639068965178418", true) };
      header[name] = value;
      check({ header });
    }
  }
  check({ header: {} });
  check({ header: {}, prevKv: null });
});

Deno.test("encodeHeaderOnly() matches protobufjs on random headers", () => {
  let seed = 0x9e3779b9;
  const next = () => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    return seed;
  };
  const value = (): number | Long | undefined => {
    switch (next() % 4) {
      case 0:
        return undefined;
      case 1:
        return next() % 1000;
      case 2:
        return next() * 2 ** 21 + (next() % 2 ** 21);
      default:
        return new Long(next() | 0, next() | 0, next() % 2 === 0);
    }
  };
  for (let i = 0; i < 2000; i++) {
    const header: Header = {};
    for (const name of ["clusterId", "memberId", "revision", "raftTerm"] as const) {
      const v = value();
      if (v !== undefined) header[name] = v;
    }
    check({ header });
  }
});

Deno.test("encodeHeaderOnly() declines what it does not encode itself", () => {
  const header = { revision: 5 };
  const kv = { key: new Uint8Array([1]), modRevision: 5 };
  assert.equal(encodeHeaderOnly({ header, prevKv: kv }, ["prevKv"], 5), undefined);
  assert.equal(encodeHeaderOnly({}, ["prevKv"], 5), undefined);
  assert.equal(encodeHeaderOnly({ header: null }, ["prevKv"], 5), undefined);
  assert.equal(encodeHeaderOnly({ header: { revision: -1 } }, ["prevKv"], 5), undefined);
  assert.equal(encodeHeaderOnly({ header: { revision: 1.5 } }, ["prevKv"], 5), undefined);
  assert.equal(encodeHeaderOnly({ header: { revision: "7" } }, ["prevKv"], 5), undefined);
  assert.equal(encodeHeaderOnly({ header: { revision: 7n } }, ["prevKv"], 5), undefined);
  const unknown = { header, $unknowns: [new Uint8Array([0x18, 1])] };
  assert.equal(encodeHeaderOnly(unknown, ["prevKv"], 5), undefined);
  // A decoded instance keeps unset fields on its prototype: only own fields count, as in
  // protobufjs.
  const decoded = etcdserverpb.PutResponse.decode(expected({ header: { revision: 9 } }));
  const got = encodeHeaderOnly(decoded, ["prevKv"], 0);
  assert.deepEqual(got, expected({ header: { revision: 9 } }));
});
