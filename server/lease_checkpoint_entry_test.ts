/**
 * The raft entry detcd proposes for lease checkpoints is etcd's: an `InternalRaftRequest`
 * with `lease_checkpoint` (field 11) before `header` (field 100), each `LeaseCheckpoint` as
 * `{ID=1, remaining_TTL=2}` with a zero remaining TTL left out, as gogoproto marshals it. The
 * expected bytes are written out from the wire format of etcd 3.4's `raft_internal.proto` (the
 * varints computed separately).
 */
import assert from "node:assert/strict";
import { bigintToLong, bigintToULong, etcdserverpb } from "../etcdserverpb/mod.ts";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("a lease checkpoint entry encodes byte for byte as etcd's", () => {
  const entry = etcdserverpb.InternalRaftRequest.encode({
    header: { ID: bigintToULong(0x1234n) },
    leaseCheckpoint: {
      checkpoints: [
        { ID: bigintToLong(0x694d7a2f1c3b5e01n), remaining_TTL: bigintToLong(299n) },
        { ID: bigintToLong(7n), remaining_TTL: bigintToLong(0n) },
      ],
    },
  }).finish();
  // 5a <len> { 0a <len> {08 <id varint> 10 ab 02} 0a 02 {08 07} } a2 06 03 {08 b4 24}
  const first = "08" + "81bcede1f1c5dea669" + "10ab02";
  const checkpoints = "0a" + (first.length / 2).toString(16).padStart(2, "0") + first +
    "0a020807";
  const expected = "5a" + (checkpoints.length / 2).toString(16).padStart(2, "0") + checkpoints +
    "a2060308b424";
  assert.equal(hex(entry), expected);
  const decoded = etcdserverpb.InternalRaftRequest.decode(entry);
  const cps = decoded.leaseCheckpoint!.checkpoints!;
  assert.equal(BigInt(cps[0]!.ID!.toString()), 0x694d7a2f1c3b5e01n);
  assert.equal(Number(cps[0]!.remaining_TTL), 299);
  assert.equal(Number(cps[1]!.remaining_TTL), 0);
});
