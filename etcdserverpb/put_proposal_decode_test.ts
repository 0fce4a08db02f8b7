// Goal: decodePutProposal() reads a put's raft entry exactly as protobufjs'
// InternalRaftRequest.decode does (same classes, same own fields in the same order, Longs of
// the same bits and signedness, the key and value as views of the same bytes of the entry),
// and returns undefined for anything it does not take, so the applier falls back to
// protobufjs. Method: every entry it accepts is compared with protobufjs' result field by
// field; inputs are edge cases (empty and absent fields, zero and 10-byte varints, non-minimal
// varints, false flags written out, an empty header), the canonical entries of 3,000 seeded
// random puts (all of which it must accept), and 20,000 seeded mutations of them (bytes
// changed, inserted, removed, truncated), where protobufjs may also throw: then it must have
// declined.
import assert from "node:assert/strict";
import Long from "long";
import { etcdserverpb } from "./gen/etcd.js";
import { bigintToULong } from "./int64.ts";
import { decodePutProposal, encodePutProposal } from "./put_proposal.ts";

/** Asserts that `got` is what protobufjs decoded (`want`), recursively. */
function assertSame(got: unknown, want: unknown, path: string): void {
  if (want instanceof Uint8Array) {
    assert.ok(got instanceof Uint8Array, `${path}: not bytes`);
    assert.equal(got.constructor, want.constructor, `${path}: class`);
    assert.equal(got.buffer, want.buffer, `${path}: not a view of the same buffer`);
    assert.equal(got.byteOffset, want.byteOffset, `${path}: offset`);
    assert.equal(got.length, want.length, `${path}: length`);
    return;
  }
  if (Long.isLong(want)) {
    assert.ok(Long.isLong(got), `${path}: not a Long`);
    const long = got as Long;
    assert.deepEqual([long.low, long.high, long.unsigned], [want.low, want.high, want.unsigned]);
    return;
  }
  if (typeof want !== "object" || want === null) {
    assert.equal(got, want, path);
    return;
  }
  assert.equal(Object.getPrototypeOf(got), Object.getPrototypeOf(want), `${path}: class`);
  const keys = Object.keys(want);
  assert.deepEqual(Object.keys(got as object), keys, `${path}: own fields`);
  for (const key of keys) {
    assertSame((got as Record<string, unknown>)[key], (want as Record<string, unknown>)[key], key);
  }
}

/** Decodes `data` both ways; returns whether the hand decoder took it. */
function compare(data: Uint8Array): boolean {
  const got = decodePutProposal(data);
  if (got === undefined) return false;
  const want = etcdserverpb.InternalRaftRequest.decode(data);
  assertSame(got, want, "request");
  return true;
}

function entry(put: object, id: bigint): Uint8Array {
  const request = { put, header: { ID: bigintToULong(id) } };
  return etcdserverpb.InternalRaftRequest.encode(
    request as etcdserverpb.InternalRaftRequest.$Properties,
  ).finish();
}

const bytes = (length: number, seed = 1) =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

Deno.test("decodePutProposal() matches protobufjs on edge cases", () => {
  const ids = [0n, 1n, 127n, 128n, 0x1234_5678_9abc_def0n, (1n << 63n) + 5n, (1n << 64n) - 1n];
  const puts: object[] = [
    {},
    { key: bytes(1) },
    { key: bytes(8), value: bytes(127) },
    { key: bytes(8), value: bytes(128) },
    { key: bytes(300), value: bytes(16_384) },
    { key: bytes(8), lease: Long.fromString("7587862421739010001") },
    { key: bytes(8), lease: Long.fromString("-5") },
    { key: bytes(8), lease: Long.MIN_VALUE },
    { key: bytes(8), prevKv: true, ignoreValue: true, ignoreLease: true },
    { value: bytes(3), ignoreValue: true },
  ];
  for (const id of ids) {
    for (const put of puts) assert.ok(compare(entry(put, id)), "declined");
  }
  // What protobufjs reads the same as a field left out, and non-minimal varints.
  const written = [
    // key "", value "", lease 0, the three flags false; header with ID 0.
    [0x22, 12, 0x0a, 0, 0x12, 0, 0x18, 0, 0x20, 0, 0x28, 0, 0x30, 0, 0xa2, 0x06, 2, 0x08, 0],
    // An empty PutRequest and an empty header.
    [0x22, 0, 0xa2, 0x06, 0],
    // Lengths and the lease in non-minimal varints.
    [0x22, 0x88, 0x80, 0x00, 0x0a, 0x82, 0x00, 7, 8, 0x18, 0x85, 0x00, 0xa2, 0x06, 0x80, 0x00],
    // The ID's tenth byte with bits beyond the 64th (protobufjs keeps only the lowest).
    [0x22, 0, 0xa2, 0x06, 11, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
  ];
  for (const data of written) assert.ok(compare(Uint8Array.from(data)), `declined ${data}`);
});

Deno.test("decodePutProposal() declines what it leaves to protobufjs", () => {
  const declined = [
    [], // empty: not an entry of a put
    [0x22, 0], // no header: a bare v2 request, maybe
    [0x22, 0, 0xa2, 0x06, 0, 0x00], // trailing bytes
    [0x22, 2, 0x12, 0, 0x0a, 0, 0xa2, 0x06, 0], // value before key
    [0x22, 4, 0x0a, 0, 0x0a, 0, 0xa2, 0x06, 0], // key twice
    [0x22, 2, 0x38, 1, 0xa2, 0x06, 0], // an unknown field (7)
    [0x22, 2, 0x20, 2, 0xa2, 0x06, 0], // a bool of 2
    [0x22, 2, 0x08, 1, 0xa2, 0x06, 0], // the key as a varint
    [0x22, 0, 0xa2, 0x06, 3, 0x12, 1, 0x61], // a user name in the header
    [0x22, 3, 0x0a, 5, 1, 0xa2, 0x06, 0], // a key running past the PutRequest
    [0xa2, 0x06, 0, 0x22, 0], // header first
    [0x22, 0, 0xa2, 0x06, 11, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  ];
  for (const data of declined) {
    assert.equal(decodePutProposal(Uint8Array.from(data)), undefined, `took ${data}`);
  }
});

Deno.test("decodePutProposal() matches protobufjs on random entries and their mutations", () => {
  let seed = 0x5eed_1234;
  const next = () => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    // The high bits: an LCG's low bits repeat with short periods.
    return seed >>> 8;
  };
  const entries: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const put: Record<string, unknown> = {};
    if (next() % 8 !== 0) put["key"] = bytes(next() % 40, i);
    if (next() % 8 !== 0) put["value"] = bytes(next() % 700, i + 1);
    if (next() % 3 === 0) {
      put["lease"] = next() % 2 === 0 ? next() % 100_000 : new Long(next() << 8, next() << 8);
    }
    if (next() % 4 === 0) put["prevKv"] = true;
    if (next() % 4 === 0) put["ignoreValue"] = next() % 2 === 0;
    if (next() % 4 === 0) put["ignoreLease"] = true;
    const id = next() % 16 === 0
      ? 0n
      : (BigInt(next()) << 40n) | (BigInt(next()) << 16n) | BigInt(next() & 0xffff);
    const data = encodePutProposal(put as etcdserverpb.PutRequest.$Properties, id);
    assert.ok(data !== undefined);
    assert.ok(compare(data), `declined the entry of put ${i}`);
    entries.push(data);
  }
  let taken = 0;
  for (let i = 0; i < 20_000; i++) {
    const source = entries[next() % entries.length]!;
    const bytesOf = [...source];
    const at = next() % (bytesOf.length + 1);
    const kind = next() % 4;
    if (kind === 0 && at < bytesOf.length) bytesOf[at] = next() & 0xff;
    else if (kind === 1) bytesOf.splice(at, 0, next() & 0xff);
    else if (kind === 2) bytesOf.splice(at, 1);
    else bytesOf.length = at;
    const data = Uint8Array.from(bytesOf);
    let took: boolean;
    try {
      took = compare(data);
    } catch (error) {
      // protobufjs refused it: the hand decoder must have too (compare decodes it first).
      if (error instanceof assert.AssertionError) throw error;
      assert.equal(decodePutProposal(data), undefined, "took what protobufjs refuses");
      took = false;
    }
    if (took) taken++;
  }
  // Many mutations still are put entries (a changed byte of the key or value): they count.
  assert.ok(taken > 2000, `only ${taken} mutations were taken`);
});
