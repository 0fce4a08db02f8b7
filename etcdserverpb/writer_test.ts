// Goal: encodeMessage() gives the bytes of protobufjs' own encode().finish(), as a plain
// Uint8Array of exactly prefix + message, and each result stays intact when more messages
// are encoded after it (the writer is shared), also after an encoder threw midway.
// Method: InternalRaftRequest puts of growing sizes (up to past the writer's drop size),
// encoded both ways and compared byte by byte; one encode fed a value that makes it throw.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { etcdserverpb } from "./gen/etcd.js";
import { bigintToULong } from "./int64.ts";
import { encodeMessage } from "./writer.ts";

function request(size: number): etcdserverpb.InternalRaftRequest.$Properties {
  return {
    header: { ID: bigintToULong(0x1234_5678_9abc_def0n + BigInt(size)), username: "root" },
    put: {
      key: new TextEncoder().encode(`key-${size}`),
      value: new Uint8Array(size).map((_, i) => (i * 7) & 0xff),
      prevKv: size % 2 === 0,
    },
  };
}

Deno.test("encodeMessage() matches encode().finish() and keeps every result intact", () => {
  const sizes = [0, 1, 127, 128, 300, 4000, 70_000, 2_000_000, 5];
  const results = sizes.map((size, i) =>
    encodeMessage(etcdserverpb.InternalRaftRequest, request(size), i % 3)
  );
  sizes.forEach((size, i) => {
    const expected = etcdserverpb.InternalRaftRequest.encode(request(size)).finish();
    const got = results[i]!;
    const prefix = i % 3;
    assert.equal(Buffer.isBuffer(got), false);
    assert.equal(got.length, prefix + expected.length);
    assert.deepEqual(got.subarray(0, prefix), new Uint8Array(prefix));
    assert.equal(Buffer.compare(Buffer.from(got.subarray(prefix)), Buffer.from(expected)), 0);
    const decoded = etcdserverpb.InternalRaftRequest.decode(got.subarray(prefix));
    assert.equal(decoded.put?.value?.length, size);
  });
});

Deno.test("encodeMessage() starts clean after an encoder threw midway", () => {
  // The nested put is written inside a fork (a length prefix left open) when the value's
  // getter throws.
  const put = {
    key: new Uint8Array([1]),
    get value(): Uint8Array {
      throw new Error("value unavailable");
    },
  };
  const bad = { put } as etcdserverpb.InternalRaftRequest.$Properties;
  assert.throws(() => encodeMessage(etcdserverpb.InternalRaftRequest, bad));
  const got = encodeMessage(etcdserverpb.InternalRaftRequest, request(10));
  const expected = etcdserverpb.InternalRaftRequest.encode(request(10)).finish();
  assert.deepEqual([...got], [...expected]);
  assert.throws(() => encodeMessage(etcdserverpb.InternalRaftRequest, request(1), -1), RangeError);
});
