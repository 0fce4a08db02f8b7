/**
 * Lease checkpoints with a fake clock and a fake raft (the checkpointer applies what it is
 * given on every lessor of the "cluster" before it resolves): which leases are scheduled
 * (remaining TTL above the interval), when and with what remaining TTL they are proposed, the
 * batch limit, promote counting from the checkpointed TTL, renewal clearing it through raft,
 * demote dropping the schedule, persistence across a restart only with `checkpointPersist`,
 * and the test-only interval variable.
 */
import assert from "node:assert/strict";
import { MemBackend } from "../mvcc/_mem_backend_test_util.ts";
import { decodeLeaseRecord } from "./leasepb.ts";
import {
  DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS,
  LEASE_BUCKET,
  type LeaseCheckpoint,
  leaseIdToBytes,
  Lessor,
  MAX_LEASE_CHECKPOINT_BATCH_SIZE,
  testLeaseCheckpointIntervalMs,
} from "./lessor.ts";

class FakeClock {
  ms = 5_000_000;
  now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

const MINUTE = 60_000;

function _readRecord(backend: MemBackend, id: bigint) {
  const want = leaseIdToBytes(id).join(",");
  let found: Uint8Array | undefined;
  backend.batchTx.unsafeForEach(LEASE_BUCKET, (key, value) => {
    if (key.join(",") === want) found = value;
  });
  assert.ok(found !== undefined, "the lease record is stored");
  return decodeLeaseRecord(found);
}

/** Lessors sharing a clock; `proposals` records what the checkpointer was given. */
function cluster(members = 2, options: { persist?: boolean; intervalMs?: number } = {}) {
  const clock = new FakeClock();
  const backends = Array.from({ length: members }, () => new MemBackend());
  const lessors = backends.map((backend) =>
    new Lessor({
      backend,
      now: clock.now,
      minLeaseTtlSeconds: 2,
      checkpointPersist: options.persist ?? false,
      ...(options.intervalMs === undefined ? {} : { checkpointIntervalMs: options.intervalMs }),
    })
  );
  const proposals: LeaseCheckpoint[][] = [];
  const apply = (checkpoints: LeaseCheckpoint[]) => {
    proposals.push(checkpoints);
    for (const lessor of lessors) {
      for (const c of checkpoints) lessor.checkpoint(c.id, c.remainingTtl);
    }
    return Promise.resolve();
  };
  for (const lessor of lessors) lessor.setCheckpointer(apply);
  const grant = (id: bigint, ttl: number) => {
    for (const lessor of lessors) lessor.grant(id, ttl);
  };
  return { clock, backends, lessors, proposals, grant };
}

Deno.test("checkpoints: only leases longer than the interval, one interval later, TTL rounded up", () => {
  const { clock, lessors: [leader, follower], proposals, grant } = cluster();
  assert.equal(DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS, 5 * MINUTE);
  leader!.promote(0);
  grant(1n, 600);
  grant(2n, 300); // not above the interval: never checkpointed (etcd 3.4)
  grant(3n, 60);
  assert.equal(leader!.scheduledCheckpoints, 1);
  assert.equal(follower!.scheduledCheckpoints, 0, "a follower schedules nothing");
  clock.advance(5 * MINUTE - 1);
  leader!.checkpointScheduledLeases();
  assert.deepEqual(proposals, [], "not due yet");
  clock.advance(1);
  follower!.checkpointScheduledLeases();
  assert.deepEqual(proposals, [], "a follower proposes nothing");
  clock.advance(500); // 299.5 s left: rounded up to 300
  leader!.checkpointScheduledLeases();
  assert.deepEqual(proposals, [[{ id: 1n, remainingTtl: 300 }]]);
  assert.equal(follower!.lookup(1n)!.remainingTtl, 300);
  assert.equal(leader!.lookup(1n)!.remainingTtl, 300);
  // 300 s left is not above the interval: no next checkpoint (etcd's > comparison).
  assert.equal(leader!.scheduledCheckpoints, 0);
  assert.equal(leader!.timeToLive(1n, false).ttl, 299, "the leader's expiry is unchanged");
});

Deno.test("checkpoints: the follower promoted after a checkpoint counts from the remaining TTL", () => {
  const { clock, lessors: [leader, follower], proposals, grant } = cluster(2, {
    intervalMs: 2000,
  });
  leader!.promote(0);
  grant(7n, 60);
  grant(8n, 60);
  clock.advance(2000);
  leader!.checkpointScheduledLeases();
  assert.deepEqual(proposals, [[{ id: 7n, remainingTtl: 58 }, { id: 8n, remainingTtl: 58 }]]);
  // Applied on the primary: the next checkpoint is one interval after the apply.
  assert.equal(leader!.scheduledCheckpoints, 2);
  clock.advance(2000);
  leader!.checkpointScheduledLeases();
  assert.deepEqual(proposals[1], [{ id: 7n, remainingTtl: 56 }, { id: 8n, remainingTtl: 56 }]);
  // Leadership moves 500 ms later, with a 1 s election extension.
  clock.advance(500);
  leader!.demote();
  assert.equal(leader!.scheduledCheckpoints, 0, "demote drops the schedule");
  follower!.promote(1000);
  assert.equal(follower!.timeToLive(7n, false).ttl, 57, "56 s + 1 s extension, not 60 s");
  // The new primary schedules from the checkpointed TTL and keeps checkpointing.
  assert.equal(follower!.scheduledCheckpoints, 2);
  clock.advance(2000);
  follower!.checkpointScheduledLeases();
  assert.deepEqual(proposals[2], [{ id: 7n, remainingTtl: 55 }, { id: 8n, remainingTtl: 55 }]);
});

Deno.test("checkpoints: without a checkpointer nothing is scheduled and TTLs reset", () => {
  const clock = new FakeClock();
  const lessor = new Lessor({
    backend: new MemBackend(),
    now: clock.now,
    checkpointIntervalMs: 10,
  });
  lessor.promote(0);
  lessor.grant(1n, 60);
  assert.equal(lessor.scheduledCheckpoints, 0);
  clock.advance(30_000);
  lessor.checkpointScheduledLeases();
  assert.deepEqual(lessor.findDueCheckpoints(10), []);
  lessor.demote();
  lessor.promote(0);
  assert.equal(lessor.timeToLive(1n, false).ttl, 60, "the TTL restarts on a new primary");
});

Deno.test("checkpoints: expired and freshly renewed leases are skipped; batches of 1000", () => {
  const { clock, lessors: [leader], proposals, grant } = cluster(1, { intervalMs: 1000 });
  leader!.promote(0);
  const count = 2 * MAX_LEASE_CHECKPOINT_BATCH_SIZE + 500;
  for (let i = 1; i <= count; i++) grant(BigInt(i), 10);
  grant(-1n, 2); // 2 s is above the 1 s interval: scheduled, but expired when due
  clock.advance(2500); // lease -1 expired (2 s); the others have 7.5 s left
  leader!.renew(5n); // full TTL again: remaining 10 >= TTL, skipped
  leader!.checkpointScheduledLeases();
  assert.deepEqual(proposals.map((p) => p.length), [1000, 1000, 499]);
  const ids = new Set(proposals.flat().map((c) => c.id));
  assert.ok(!ids.has(5n), "a renewed lease has its full TTL left");
  assert.ok(!ids.has(-1n), "an expired lease is not checkpointed");
  assert.ok(proposals.flat().every((c) => c.remainingTtl === 8));
});

Deno.test("checkpoints: a renewal clears the remaining TTL through raft before refreshing", async () => {
  const { clock, lessors: [leader, follower], proposals, grant } = cluster(2, {
    intervalMs: 2000,
  });
  leader!.promote(0);
  grant(9n, 30);
  clock.advance(2000);
  leader!.checkpointScheduledLeases();
  assert.equal(follower!.lookup(9n)!.remainingTtl, 28);
  assert.equal(await leader!.renewAfterRevoke(9n), 30);
  assert.deepEqual(proposals.at(-1), [{ id: 9n, remainingTtl: 0 }]);
  assert.equal(follower!.lookup(9n)!.remainingTtl, 0, "cleared on every member");
  assert.equal(leader!.timeToLive(9n, false).ttl, 30, "renewed to the full TTL");
  // Without a set remainder there is nothing to clear: no proposal.
  const before = proposals.length;
  assert.equal(await leader!.renewAfterRevoke(9n), 30);
  assert.equal(proposals.length, before);
});

Deno.test("checkpoints: a failed clearing proposal still renews (etcd drops the error)", async () => {
  const clock = new FakeClock();
  const lessor = new Lessor({ backend: new MemBackend(), now: clock.now, checkpointIntervalMs: 1 });
  lessor.setCheckpointer(() => Promise.reject(new Error("no leader")));
  lessor.promote(0);
  lessor.grant(4n, 20);
  lessor.checkpoint(4n, 12); // as applied from an earlier leader's checkpoint
  // etcd 3.4 refreshes from the remaining TTL while it is still set.
  assert.equal(await lessor.renewAfterRevoke(4n), 20);
  assert.equal(lessor.timeToLive(4n, false).ttl, 12);
});

Deno.test("checkpoints: the remaining TTL survives a restart only when persisted", () => {
  for (const persist of [false, true]) {
    const { clock, backends, lessors: [leader], grant } = cluster(1, { persist, intervalMs: 2000 });
    leader!.promote(0);
    grant(3n, 40);
    clock.advance(10_000); // due since 8 s; proposed with what is left now
    leader!.checkpointScheduledLeases();
    const record = _readRecord(backends[0]!, 3n);
    assert.equal(record.remainingTtl, persist ? 30 : 0);
    const restarted = new Lessor({
      backend: backends[0]!.clone(),
      now: clock.now,
      checkpointPersist: persist,
    });
    restarted.promote(0);
    assert.equal(restarted.timeToLive(3n, false).ttl, persist ? 30 : 40, `persist=${persist}`);
  }
});

Deno.test("checkpoints: DETCD_TEST_LEASE_CHECKPOINT_INTERVAL_MS (test-only)", () => {
  const name = "DETCD_TEST_LEASE_CHECKPOINT_INTERVAL_MS";
  const saved = Deno.env.get(name);
  try {
    Deno.env.delete(name);
    assert.equal(testLeaseCheckpointIntervalMs(), undefined);
    Deno.env.set(name, "1500");
    assert.equal(testLeaseCheckpointIntervalMs(), 1500);
    Deno.env.set(name, "-3");
    assert.equal(testLeaseCheckpointIntervalMs(), undefined);
    Deno.env.set(name, "soon");
    assert.equal(testLeaseCheckpointIntervalMs(), undefined);
  } finally {
    if (saved === undefined) Deno.env.delete(name);
    else Deno.env.set(name, saved);
  }
});
