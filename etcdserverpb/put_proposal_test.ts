// Goal: encodePutProposal() gives exactly the bytes protobufjs writes for the raft entry of a
// put, `InternalRaftRequest{put, header{ID}}` (what the WAL stores and peers decode), and
// declines (undefined) what it leaves to protobufjs. Method: edge cases (empty key or value,
// varint length boundaries, lease 0/number/Long, every flag, ID 0 and 2^64 - 1) and 3,000
// seeded random puts, each compared byte for byte with encode().finish(); decoded PutRequests
// (own fields only where set) are checked too.
import assert from "node:assert/strict";
import Long from "long";
import { etcdserverpb } from "./gen/etcd.js";
import { bigintToULong } from "./int64.ts";
import { encodePutProposal } from "./put_proposal.ts";

function expected(put: object, id: bigint): Uint8Array {
  const request = { put, header: { ID: bigintToULong(id) } };
  return Uint8Array.from(
    etcdserverpb.InternalRaftRequest.encode(
      request as etcdserverpb.InternalRaftRequest.$Properties,
    ).finish(),
  );
}

function check(put: object, id: bigint): void {
  const got = encodePutProposal(put as etcdserverpb.PutRequest.$Properties, id);
  assert.ok(got !== undefined, "declined");
  assert.deepEqual(got, expected(put, id));
}

const bytes = (length: number, seed = 1) =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

Deno.test("encodePutProposal() matches protobufjs on edge cases", () => {
  const ids = [0n, 1n, 127n, 128n, 0x1234_5678_9abc_def0n, (1n << 64n) - 1n];
  const puts: object[] = [
    {},
    { key: bytes(1) },
    { key: new Uint8Array(0), value: new Uint8Array(0) },
    { key: bytes(8), value: bytes(127) },
    { key: bytes(8), value: bytes(128) },
    { key: bytes(300), value: bytes(16_384) },
    { key: bytes(8), value: bytes(256), lease: 0 },
    { key: bytes(8), value: bytes(256), lease: 7_587_862_421_739_010_000 / 1024 },
    { key: bytes(8), lease: Long.fromString("7587862421739010001") },
    { key: bytes(8), lease: Long.fromString("-5") },
    { key: bytes(8), lease: Long.ZERO },
    { key: bytes(8), prevKv: true, ignoreValue: false, ignoreLease: true },
    { key: bytes(8), prevKv: false, ignoreValue: true, ignoreLease: false },
    { key: bytes(8), value: null, lease: null, prevKv: null },
  ];
  for (const id of ids) for (const put of puts) check(put, id);
});

Deno.test("encodePutProposal() matches protobufjs on random puts, decoded ones too", () => {
  let seed = 0x2545f491;
  const next = () => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    return seed;
  };
  for (let i = 0; i < 3000; i++) {
    const put: Record<string, unknown> = {};
    if (next() % 8 !== 0) put["key"] = bytes(next() % 40, i);
    if (next() % 8 !== 0) put["value"] = bytes(next() % 700, i + 1);
    if (next() % 3 === 0) {
      put["lease"] = next() % 2 === 0 ? next() % 100_000 : new Long(next() | 0, next() | 0);
    }
    if (next() % 4 === 0) put["prevKv"] = true;
    if (next() % 4 === 0) put["ignoreValue"] = next() % 2 === 0;
    if (next() % 4 === 0) put["ignoreLease"] = true;
    const id = (BigInt(next()) << 32n) | BigInt(next());
    check(put, id);
    // What the gRPC layer hands over: a decoded instance.
    const wire = etcdserverpb.PutRequest.encode(put as etcdserverpb.PutRequest.$Properties)
      .finish();
    check(etcdserverpb.PutRequest.decode(wire), id);
  }
});

Deno.test("encodePutProposal() declines what it leaves to protobufjs", () => {
  const key = bytes(3);
  const decline = (put: object) =>
    assert.equal(encodePutProposal(put as etcdserverpb.PutRequest.$Properties, 1n), undefined);
  decline({ key, lease: -1 });
  decline({ key, lease: 1.5 });
  decline({ key, lease: "12" });
  decline({ key, prevKv: 1 });
  decline({ key: "a2V5" });
  decline({ key, $unknowns: [Uint8Array.of(0x38, 1)] });
});
