/**
 * The Election service (etcd's `etcdserver/api/v3election` over `clientv3/concurrency`'s
 * Election), on the member's request API.
 *
 * - Campaign puts `<name>/<lease in hex>` with the caller's lease (a new 60 s lease when it
 *   gave none) unless the key exists, sets the value if it differs, then waits until every
 *   key under `<name>/` created before it is deleted: the oldest key is the leader. The
 *   answer carries the campaign transaction's header and the leader key (name, key, create
 *   revision, lease). A caller that goes away while waiting gives up its key.
 * - Proclaim and Resign act on a leader key only while that key still has the create
 *   revision it won with: a new value, or the key's deletion. Proclaim otherwise fails with
 *   `election: not leader`; Resign does nothing.
 * - Leader answers the oldest key under `<name>/`, or `election: no leader`.
 * - Observe streams the leader, each new value of its key, and each next leader, until the
 *   caller leaves (or the watched revision is compacted, which ends the stream).
 *
 * When a leader's lease expires, its key is deleted and the next candidate's wait ends.
 *
 * @module
 */

import { ok as assert } from "node:assert/strict";
import { etcdserverpb } from "../../etcdserverpb/mod.ts";
import { ErrCompacted, EtcdError, Status } from "../../rpc/mod.ts";
import type { ElectionService, StreamSink } from "../../rpc/mod.ts";
import { bigintToLong, type mvccpb, type v3electionpb } from "../../etcdserverpb/mod.ts";
import { big, bytes, int64, kvToPb, num, type ServerApi } from "../../server/mod.ts";
import {
  asClientError,
  bytesEqual,
  cleanupContext,
  concat,
  ConcurrencyClient,
  isPut,
  prefixEnd,
  sessionKey,
} from "./concurrency.ts";
import { requestContext } from "./request_context.ts";

/** etcd's `ErrMissingLeaderKey`. */
export const ErrMissingLeaderKey = new EtcdError(
  Status.UNKNOWN,
  '"leader" field must be provided',
);
/** concurrency's `ErrElectionNotLeader`. */
export const ErrElectionNotLeader = new EtcdError(Status.UNKNOWN, "election: not leader");
/** concurrency's `ErrElectionNoLeader`. */
export const ErrElectionNoLeader = new EtcdError(Status.UNKNOWN, "election: no leader");

const _CREATE = etcdserverpb.Compare.CompareTarget.CREATE;
const _EQUAL = etcdserverpb.Compare.CompareResult.EQUAL;

type LeaderKey = v3electionpb.ILeaderKey;
type LeaderResponse = v3electionpb.ILeaderResponse;

/** Builds the Election handlers over `server`. */
export function electionService(server: ServerApi): ElectionService {
  const client = (ctx: Parameters<typeof requestContext>[0]) =>
    new ConcurrencyClient(server, requestContext(ctx));
  return {
    campaign: (request, ctx) => _withClientErrors(() => _campaign(client(ctx), request)),
    proclaim: (request, ctx) => _withClientErrors(() => _proclaim(client(ctx), request)),
    leader: (request, ctx) => _withClientErrors(() => _leader(client(ctx), bytes(request.name))),
    observe: (request, sink, ctx) =>
      _withClientErrors(() => _observe(client(ctx), bytes(request.name), sink)),
    resign: (request, ctx) => _withClientErrors(() => _resign(client(ctx), request)),
  };
}

async function _withClientErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asClientError(error);
  }
}

/** The leader key's compare-and-act: `then` runs only while `key` has create revision `rev`. */
function _ifStillLeader(
  key: Uint8Array,
  rev: number,
  then: etcdserverpb.IRequestOp,
): etcdserverpb.ITxnRequest {
  return {
    compare: [{ key, target: _CREATE, result: _EQUAL, createRevision: int64(rev) }],
    success: [then],
  };
}

async function _campaign(
  client: ConcurrencyClient,
  request: v3electionpb.ICampaignRequest,
): Promise<v3electionpb.ICampaignResponse> {
  const name = bytes(request.name);
  const value = bytes(request.value);
  const lease = await client.sessionLease(big(request.lease));
  const prefix = concat(name, "/");
  const key = sessionKey(prefix, lease);
  const response = await client.txn({
    compare: [{ key, target: _CREATE, result: _EQUAL, createRevision: int64(0) }],
    success: [{ requestPut: { key, value, lease: bigintToLong(lease) } }],
    failure: [{ requestRange: { key } }],
  });
  let rev = num(response.header?.revision);
  if (response.succeeded !== true) {
    // The session campaigned before: keep its place in the queue, update its value.
    const existing = response.responses?.[0]?.responseRange?.kvs?.[0];
    assert(existing !== undefined, "campaign: the failed compare found no key");
    rev = num(existing.createRevision);
    if (!bytesEqual(bytes(existing.value), value)) {
      try {
        await _proclaimValue(client, key, rev, lease, value);
      } catch (error) {
        await _resignKey(client, key, rev).catch(() => {});
        throw error;
      }
    }
  }
  try {
    await client.waitDeletes(prefix, rev - 1);
  } catch (error) {
    // A candidate that stopped waiting because its caller left withdraws.
    if (client.context.signal.aborted) {
      await _resignKey(client.with(cleanupContext(client.context)), key, rev).catch(() => {});
    }
    throw error;
  }
  return {
    header: response.header ?? client.header(),
    leader: { name, key, rev: int64(rev), lease: bigintToLong(lease) },
  };
}

async function _proclaimValue(
  client: ConcurrencyClient,
  key: Uint8Array,
  rev: number,
  lease: bigint,
  value: Uint8Array,
): Promise<etcdserverpb.IResponseHeader> {
  const response = await client.txn(
    _ifStillLeader(key, rev, { requestPut: { key, value, lease: bigintToLong(lease) } }),
  );
  if (response.succeeded !== true) throw ErrElectionNotLeader;
  return response.header ?? client.header();
}

function _requireLeaderKey(leader: LeaderKey | null | undefined): LeaderKey {
  if (leader === null || leader === undefined) throw ErrMissingLeaderKey;
  return leader;
}

async function _proclaim(
  client: ConcurrencyClient,
  request: v3electionpb.IProclaimRequest,
): Promise<v3electionpb.IProclaimResponse> {
  const leader = _requireLeaderKey(request.leader);
  const lease = await client.sessionLease(big(leader.lease));
  const header = await _proclaimValue(
    client,
    bytes(leader.key),
    num(leader.rev),
    lease,
    bytes(request.value),
  );
  return { header };
}

async function _resignKey(
  client: ConcurrencyClient,
  key: Uint8Array,
  rev: number,
): Promise<etcdserverpb.IResponseHeader> {
  const response = await client.txn(_ifStillLeader(key, rev, { requestDeleteRange: { key } }));
  return response.header ?? client.header();
}

async function _resign(
  client: ConcurrencyClient,
  request: v3electionpb.IResignRequest,
): Promise<v3electionpb.IResignResponse> {
  const leader = _requireLeaderKey(request.leader);
  // As etcd's service, which opens a session (granting a lease if none is given) first.
  await client.sessionLease(big(leader.lease));
  return { header: await _resignKey(client, bytes(leader.key), num(leader.rev)) };
}

async function _leader(client: ConcurrencyClient, name: Uint8Array): Promise<LeaderResponse> {
  const found = await _oldestKey(client, concat(name, "/"));
  if (found.kv === undefined) throw ErrElectionNoLeader;
  return found;
}

/** The oldest key under `prefix` (none: no leader) and the header of the read. */
async function _oldestKey(
  client: ConcurrencyClient,
  prefix: Uint8Array,
): Promise<{ header: etcdserverpb.IResponseHeader; kv?: mvccpb.IKeyValue }> {
  const response = await client.range(client.firstOrLastCreated(prefix, "first"));
  const header = response.header ?? client.header();
  const kv = response.kvs?.[0];
  return kv === undefined ? { header } : { header, kv };
}

/**
 * concurrency's `observe`: the current leader (or, without one, the first key put under the
 * prefix), then each put of that key until it is deleted; then again from the top. A failed
 * read or a compacted watch ends the stream without an error, as there.
 */
async function _observe(
  client: ConcurrencyClient,
  name: Uint8Array,
  sink: StreamSink<LeaderResponse>,
): Promise<void> {
  const prefix = concat(name, "/");
  const signal = client.context.signal;
  try {
    while (!signal.aborted && !sink.closed) {
      let leader: LeaderResponse | undefined;
      try {
        leader = await _oldestKey(client, prefix);
      } catch {
        return;
      }
      if (leader.kv === undefined) {
        leader = await _firstPut(client, prefix, num(leader.header?.revision));
        if (leader === undefined) return;
      }
      await sink.send(leader);
      const key = bytes(leader.kv?.key);
      const from = num(leader.header?.revision) + 1;
      let deleted = false;
      for await (const response of client.watch(key, undefined, from)) {
        for (const event of response.events) {
          if (!isPut(event)) {
            deleted = true;
            break;
          }
          await sink.send({ header: client.header(response.revision), kv: kvToPb(event.kv) });
        }
        if (deleted) break;
      }
      if (!deleted) return;
    }
  } catch (error) {
    if (error === ErrCompacted) return;
    throw error;
  }
}

/** Waits for the first put under `prefix` from `revision` on; undefined if cut off. */
async function _firstPut(
  client: ConcurrencyClient,
  prefix: Uint8Array,
  revision: number,
): Promise<LeaderResponse | undefined> {
  for await (const response of client.watch(prefix, prefixEnd(prefix), revision)) {
    const put = response.events.find(isPut);
    if (put === undefined) continue;
    // The header says where the observer stands: at the put's revision.
    return { header: client.header(put.kv.modRevision), kv: kvToPb(put.kv) };
  }
  return undefined;
}
