/**
 * The Election and Lock gRPC services, detcd against the real etcd.
 *
 * Goal: the same scenario gives the same story on both: a second candidate waits while the
 * first leads; Observe sees the leader, its proclaimed values and the next leader; when the
 * leader's lease expires the waiting candidate wins; a stale leader key cannot proclaim
 * (`election: not leader`, UNKNOWN); after a resign there is `election: no leader`; a second
 * locker waits until unlock; a locker whose call is cancelled leaves no key behind.
 * Method: one member of each (etcd on 35041/35042, detcd on 35051/35052), driven with the
 * repository's grpc-js client over the method table; each side writes a transcript of what
 * happened, in order, without member-specific values; the two transcripts must be equal.
 */

import { equal } from "node:assert/strict";
import { type Impl, startMember } from "./_harness.ts";
import { EtcdError, METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import { longToBigint, longToNumber, numberToLong } from "../etcdserverpb/mod.ts";

const text = (bytes: Uint8Array | null | undefined) => new TextDecoder().decode(bytes ?? undefined);
const bytes = (value: string) => new TextEncoder().encode(value);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `promise` is still pending after `ms`. */
async function _pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await sleep(ms);
  return !settled;
}

function _errorText(error: unknown): string {
  return error instanceof EtcdError ? `error ${error.code} ${error.message}` : String(error);
}

async function _scenario(endpoint: string): Promise<string[]> {
  const log: string[] = [];
  const client = new EtcdGrpcClient(endpoint);
  try {
    const grant = async (TTL: number) =>
      (await client.unary(METHODS.Lease.LeaseGrant, { TTL: numberToLong(TTL) })).ID;
    const leaseA = await grant(2);
    const leaseB = await grant(60);
    const name = bytes("elect");

    const first = await client.unary(METHODS.Election.Campaign, {
      name,
      lease: leaseA,
      value: bytes("a"),
    });
    const leaderA = first.leader!;
    log.push(
      `A leads: key is name/lease ${
        text(leaderA.key) === `elect/${longToBigint(leaderA.lease!).toString(16)}`
      }, rev ${longToNumber(leaderA.rev!)}`,
    );

    // Observe on a connection of its own, closed at the end (which ends the stream).
    const observed: string[] = [];
    const observerClient = new EtcdGrpcClient(endpoint);
    const observing = (async () => {
      try {
        for await (
          const response of observerClient.serverStream(METHODS.Election.Observe, { name })
        ) {
          observed.push(text(response.kv?.value));
        }
      } catch {
        // Cancelled at the end of the test.
      }
    })();

    const second = client.unary(METHODS.Election.Campaign, {
      name,
      lease: leaseB,
      value: bytes("b"),
    });
    log.push(`B waits while A leads: ${await _pendingAfter(second, 500)}`);

    await client.unary(METHODS.Election.Proclaim, { leader: leaderA, value: bytes("a2") });
    const leader = await client.unary(METHODS.Election.Leader, { name });
    log.push(`leader value after proclaim: ${text(leader.kv?.value)}`);

    // A's lease is never kept alive: its expiry deletes A's key and B wins.
    const started = Date.now();
    const won = await second;
    log.push(`B won after A's lease expired: ${Date.now() - started > 500}`);
    log.push(`B's key has B's lease: ${longToBigint(won.leader!.lease!) === longToBigint(leaseB)}`);
    log.push(
      `leader now: ${text((await client.unary(METHODS.Election.Leader, { name })).kv?.value)}`,
    );

    try {
      await client.unary(METHODS.Election.Proclaim, { leader: leaderA, value: bytes("x") });
      log.push("stale proclaim succeeded");
    } catch (error) {
      log.push(`stale proclaim: ${_errorText(error)}`);
    }
    await client.unary(METHODS.Election.Resign, { leader: won.leader! });
    try {
      await client.unary(METHODS.Election.Leader, { name });
      log.push("leader after resign found");
    } catch (error) {
      log.push(`leader after resign: ${_errorText(error)}`);
    }
    await sleep(300);
    observerClient.close();
    log.push(`observed: ${observed.join(",")}`);

    // Locks.
    const leaseC = await grant(60);
    const leaseD = await grant(60);
    const leaseE = await grant(60);
    const lockName = bytes("lk");
    const held = await client.unary(METHODS.Lock.Lock, { name: lockName, lease: leaseC });
    const waiting = client.unary(METHODS.Lock.Lock, { name: lockName, lease: leaseD });
    log.push(`second locker waits: ${await _pendingAfter(waiting, 500)}`);
    try {
      await client.unary(METHODS.Lock.Lock, { name: lockName, lease: leaseE }, {
        timeoutMs: 500,
      });
      log.push("third locker got the lock");
    } catch (error) {
      log.push(`third locker: ${(error as EtcdError).code}`);
    }
    await sleep(300);
    const keys = async () =>
      (await client.unary(METHODS.KV.Range, {
        key: bytes("lk/"),
        rangeEnd: bytes("lk0"),
        keysOnly: true,
      })).kvs?.length ?? 0;
    log.push(`keys under the lock after the third gave up: ${await keys()}`);
    await client.unary(METHODS.Lock.Unlock, { key: held.key });
    const got = await waiting;
    log.push(
      `second locker holds after unlock: ${
        text(got.key) === `lk/${longToBigint(leaseD).toString(16)}`
      }`,
    );
    await client.unary(METHODS.Lock.Unlock, { key: got.key });
    log.push(`keys after both unlocked: ${await keys()}`);
    await Promise.race([observing, sleep(2000)]);
  } finally {
    client.close();
  }
  return log;
}

async function _run(impl: Impl, clientPort: number, peerPort: number): Promise<string> {
  const member = await startMember({ impl, clientPort, peerPort });
  try {
    return (await _scenario(member.endpoint)).join("\n");
  } finally {
    await member.stop();
  }
}

Deno.test({
  name: "election and lock services: detcd tells the same story as etcd",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const [etcd, detcd] = await Promise.all([
      _run("etcd", 35041, 35042),
      _run("detcd", 35051, 35052),
    ]);
    console.log(detcd);
    equal(detcd, etcd);
  },
});
