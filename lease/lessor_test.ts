/**
 * Lessor tests with a fake clock: grant (minimum TTL, limits, duplicates), renew, expiry found
 * only by the primary and only once per retry interval, revoke deleting attached keys in the
 * store's write transaction, persistence and restore (keys re-attached by the store), the
 * pile-up spreading on promote, and the leasepb codec against bytes produced by gogoproto.
 */
import assert from "node:assert/strict";
import { MemBackend } from "../mvcc/_mem_backend_test_util.ts";
import { KvStore } from "../mvcc/mod.ts";
import {
  LeaseExistsError,
  LeaseNotFoundError,
  LeaseTtlTooLargeError,
  NotPrimaryError,
} from "./errors.ts";
import { decodeLeaseRecord, encodeLeaseRecord } from "./leasepb.ts";
import { LEASE_REVOKE_RATE, Lessor, MAX_LEASE_TTL_SECONDS, minLeaseTtlSeconds } from "./lessor.ts";

const enc = (s: string) => new TextEncoder().encode(s);

class FakeClock {
  ms = 1_000_000;
  now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

function setup(backend = new MemBackend(), clock = new FakeClock()) {
  const lessor = new Lessor({ backend, now: clock.now, minLeaseTtlSeconds: 2 });
  const store = new KvStore(backend, { lessor });
  lessor.setRangeDeleter(() => store.write());
  return { backend, clock, lessor, store };
}

Deno.test("grant applies the minimum TTL and rejects bad requests", () => {
  const { lessor, store } = setup();
  assert.equal(lessor.grant(1n, 1).ttl, 2);
  assert.equal(lessor.grant(2n, 60).ttl, 60);
  assert.throws(() => lessor.grant(2n, 60), LeaseExistsError);
  assert.throws(() => lessor.grant(0n, 60), LeaseNotFoundError);
  assert.throws(() => lessor.grant(3n, MAX_LEASE_TTL_SECONDS + 1), LeaseTtlTooLargeError);
  assert.equal(new LeaseExistsError().message, "lease already exists");
  assert.equal(new LeaseNotFoundError().message, "lease not found");
  assert.equal(new LeaseTtlTooLargeError().message, "too large lease TTL");
  // etcd's defaults: election 1000 ms, heartbeat 100 ms -> 1.5 s -> 2 s.
  assert.equal(minLeaseTtlSeconds(1000, 100), 2);
  assert.equal(minLeaseTtlSeconds(5000, 250), 8); // 20 ticks -> 30 * 250 ms = 7.5 s
  store.close();
});

Deno.test("only the primary finds expired leases, once per retry interval", () => {
  const { clock, lessor, store } = setup();
  lessor.grant(7n, 10);
  clock.advance(60_000);
  assert.deepEqual(lessor.findExpired(), [], "a follower's leases never expire");
  assert.throws(() => lessor.renew(7n), NotPrimaryError);
  lessor.promote(0);
  assert.equal(lessor.timeToLive(7n, false).ttl, 10);
  clock.advance(4_000);
  assert.equal(lessor.renew(7n), 10);
  clock.advance(9_999);
  assert.deepEqual(lessor.findExpired(), []);
  assert.equal(lessor.timeToLive(7n, false).ttl, 0);
  clock.advance(1);
  assert.deepEqual(lessor.findExpired().map((l) => l.id), [7n]);
  assert.deepEqual(lessor.findExpired(), [], "not reported again at once");
  assert.throws(() => lessor.renew(7n), LeaseNotFoundError);
  clock.advance(3_000);
  assert.deepEqual(lessor.findExpired().map((l) => l.id), [7n], "reported again after 3 s");
  lessor.demote();
  clock.advance(60_000);
  assert.deepEqual(lessor.findExpired(), []);
  store.close();
});

Deno.test("revoke deletes the attached keys and the record in one write transaction", () => {
  const { backend, lessor, store } = setup();
  lessor.grant(5n, 30);
  lessor.grant(6n, 30);
  store.put(enc("b"), enc("1"), 5n);
  store.put(enc("a"), enc("2"), 5n);
  store.put(enc("c"), enc("3"), 6n);
  store.put(enc("c"), enc("4"), 5n); // moves c from lease 6 to lease 5
  store.put(enc("d"), enc("5"), 6n);
  store.put(enc("d"), enc("6")); // detaches d
  assert.deepEqual(lessor.timeToLive(5n, true).keys.map((k) => new TextDecoder().decode(k)), [
    "a",
    "b",
    "c",
  ]);
  assert.deepEqual(lessor.timeToLive(6n, true).keys, []);
  const revBefore = store.rev;
  lessor.revoke(5n);
  assert.equal(store.rev, revBefore + 1, "all deletions share one revision");
  assert.equal(store.range(enc("a"), enc("z")).count, 1);
  assert.equal(lessor.lookup(5n), undefined);
  assert.throws(() => lessor.revoke(5n), LeaseNotFoundError);
  assert.equal(backend.bucketSize("lease"), 1);
  store.close();
});

Deno.test("leases and key attachments survive a restart", () => {
  const first = setup();
  first.lessor.grant(11n, 1); // raised to 2 s
  first.lessor.grant(-5n, 100); // negative IDs are valid int64s
  first.store.put(enc("x"), enc("1"), 11n);
  first.store.put(enc("y"), enc("2"), -5n);
  first.store.put(enc("y"), enc("3"), 11n);
  first.store.close();
  const second = setup(first.backend.clone());
  assert.deepEqual(second.lessor.leases().map((l) => l.id).sort(), [-5n, 11n]);
  assert.equal(second.lessor.lookup(11n)!.ttl, 2);
  assert.equal(second.lessor.getLease("x"), 11n);
  assert.equal(second.lessor.getLease("y"), 11n);
  assert.equal(second.lessor.lookup(-5n)!.keySet.size, 0);
  second.lessor.promote(1000);
  second.clock.advance(2999);
  assert.deepEqual(second.lessor.findExpired(), []);
  second.clock.advance(1);
  assert.deepEqual(second.lessor.findExpired().map((l) => l.id), [11n]);
  second.store.close();
});

Deno.test("promote spreads a pile-up of expiries to 3/4 of the revoke rate per second", () => {
  const { clock, lessor, store } = setup();
  const count = LEASE_REVOKE_RATE * 2;
  for (let i = 1; i <= count; i++) lessor.grant(BigInt(i), 10);
  lessor.promote(0);
  const perSecond = new Map<number, number>();
  for (const lease of lessor.leases()) {
    const second = Math.floor((lease.expiryMs - clock.ms) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  for (const [, n] of perSecond) {
    assert.ok(n <= (3 * LEASE_REVOKE_RATE) / 4 + 1, `${n} in one second`);
  }
  assert.ok(perSecond.size >= 3);
  store.close();
});

Deno.test("leasepb encodes as gogoproto does", () => {
  // Bytes from Go: (&leasepb.Lease{ID: 0x694d7a2f1c3b5e01, TTL: 60, RemainingTTL: 0}).Marshal()
  const record = { id: 0x694d7a2f1c3b5e01n, ttl: 60, remainingTtl: 0 };
  const bytes = encodeLeaseRecord(record);
  assert.equal(_hex(bytes), "0881bcede1f1c5dea669103c");
  assert.deepEqual(decodeLeaseRecord(bytes), record);
  const negative = { id: -1n, ttl: 5, remainingTtl: 3 };
  assert.deepEqual(decodeLeaseRecord(encodeLeaseRecord(negative)), negative);
  // From Go: (&leasepb.Lease{ID: -1, TTL: 5, RemainingTTL: 3}).Marshal()
  assert.equal(_hex(encodeLeaseRecord(negative)), "08ffffffffffffffffff0110051803");
});

function _hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("recover replaces every lease with those of another backend", () => {
  const leader = setup();
  leader.lessor.grant(21n, 30);
  leader.store.put(enc("l"), enc("1"), 21n);
  const follower = setup();
  follower.lessor.grant(99n, 30);
  const snapshot = leader.backend.clone();
  follower.lessor.recover(snapshot);
  follower.store.restore(snapshot);
  assert.equal(follower.lessor.lookup(99n), undefined);
  assert.equal(follower.lessor.getLease("l"), 21n);
  follower.lessor.revoke(21n);
  assert.equal(follower.store.range(enc("l"), undefined).count, 0);
  leader.store.close();
  follower.store.close();
});

Deno.test("a renewal of an expired lease waits for its revoke, then answers not found", async () => {
  // etcd lessor.Renew: an expired lease may be on its way through raft to be revoked; the
  // renewal waits for the revoke (not found) or for the lessor to lose the primary role.
  const { clock, lessor } = setup();
  lessor.promote(0);
  lessor.grant(1n, 5);
  lessor.grant(2n, 5);
  lessor.grant(3n, 60);
  assert.equal(await lessor.renewAfterRevoke(3n), 60, "a live lease renews at once");
  clock.advance(6000);
  let settled: string | undefined;
  const pending = lessor.renewAfterRevoke(1n).then(
    (ttl) => settled = `ttl ${ttl}`,
    (error) => settled = (error as Error).name,
  );
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(settled, undefined, "answered before the revoke was applied");
  lessor.revoke(2n); // another lease's revoke wakes it, and it waits on
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(settled, undefined);
  lessor.revoke(1n);
  await pending;
  assert.equal(settled, "LeaseNotFoundError");
  // Losing the primary role ends the wait with NotPrimaryError: the caller asks the new leader.
  lessor.grant(4n, 5);
  clock.advance(6000);
  const demoted = lessor.renewAfterRevoke(4n);
  lessor.demote();
  await assert.rejects(demoted, NotPrimaryError);
  // The wait is bounded by the caller's signal.
  lessor.promote(0);
  clock.advance(6000);
  await assert.rejects(
    lessor.renewAfterRevoke(4n, AbortSignal.timeout(20)),
    /TimeoutError|timed out/,
  );
});
