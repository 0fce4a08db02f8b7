/**
 * Goal: the real etcdctl sees the same KV behaviour from detcd as from etcd 3.4: put/get with
 * prefix, from-key, range, limit, rev, sort, keys-only, count-only and `-w json`; del; txn from
 * interactive input; compaction, then reading a compacted and a future revision.
 * Method: one etcdctl script runs against a real etcd and against detcd at the same time
 * (tests/_harness.ts `differential`); the transcripts must be equal once IDs, terms and raft
 * indexes are masked. A few facts are also checked on etcd's transcript, so that a script that
 * silently stopped exercising anything would fail too.
 */
import { ok, strictEqual } from "node:assert/strict";
import { differential, normalize, type ScriptStep } from "./_harness.ts";

const _PUTS: ScriptStep[] = [
  ["foo", "bar"],
  ["foo1", "bar1"],
  ["foo2", "bar2"],
  ["foo3", "bar3"],
  ["zoo", "zebra"],
  ["foo", "bar-again"],
].map(([key, value]) => ({ args: ["put", key!, value!] }));

const _STEPS: ScriptStep[] = [
  ..._PUTS,
  { args: ["put", "foo", "with-prev", "--prev-kv"] },
  { args: ["get", "foo"] },
  { args: ["get", "foo", "-w", "json"] },
  { args: ["get", "foo", "--prefix"] },
  { args: ["get", "foo", "--from-key"] },
  { args: ["get", "", "--from-key", "--keys-only"] },
  { args: ["get", "foo1", "foo3"] },
  { args: ["get", "foo", "--prefix", "--limit", "2"] },
  { args: ["get", "foo", "--prefix", "--limit", "2", "-w", "json"] },
  { args: ["get", "foo", "--rev", "2"] },
  { args: ["get", "foo", "--prefix", "--rev", "3"] },
  { args: ["get", "foo", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"] },
  { args: ["get", "foo", "--prefix", "--sort-by", "VALUE", "--order", "ASCEND", "--keys-only"] },
  { args: ["get", "foo", "--prefix", "--keys-only", "-w", "json"] },
  { args: ["get", "foo", "--print-value-only"] },
  { args: ["get", "nothing-here"] },
  { args: ["del", "foo1"] },
  { args: ["del", "foo", "--prefix", "--prev-kv"] },
  { args: ["del", "absent"] },
  { args: ["get", "", "--from-key"] },
  {
    args: ["txn", "-i"],
    stdin: 'value("zoo") = "zebra"\n\nput zoo zebra2\nput t1 ok\n\nput t2 failed\n\n',
  },
  {
    args: ["txn", "-i", "-w", "json"],
    stdin: 'mod("zoo") < "3"\n\nput never x\n\nget zoo\n\n',
  },
  { args: ["get", "", "--from-key"] },
  { args: ["compaction", "5"] },
  { args: ["get", "foo", "--rev", "2"] },
  { args: ["get", "zoo", "--rev", "100"] },
  { args: ["compaction", "4"] },
  { args: ["compaction", "12"] },
  { args: ["compaction", "11", "--physical"] },
  { args: ["get", "zoo", "-w", "json"] },
];

Deno.test("etcdctl put/get/del/txn/compaction: detcd answers as etcd 3.4 does", async () => {
  const { etcd, target, targetImpl } = await differential({
    etcdPorts: { clientPort: 23854, peerPort: 23855 },
    targetPorts: { clientPort: 23856, peerPort: 23857 },
    steps: _STEPS,
  });
  // The script does exercise the server: etcd's own answers contain what the steps ask for.
  ok(etcd.includes("foo\nwith-prev"), etcd);
  ok(etcd.includes("etcdserver: mvcc: required revision has been compacted"), etcd);
  ok(etcd.includes("etcdserver: mvcc: required revision is a future revision"), etcd);
  ok(etcd.includes("SUCCESS"), etcd);
  strictEqual(normalize(target), normalize(etcd), `${targetImpl} differs from etcd`);
});
