/**
 * Lease keep-alives on any member (etcd's `lease/leasehttp`): only the leader's lessor keeps
 * time, so a follower forwards a renewal to the leader's peer URL as `POST /leases` with a
 * protobuf `LeaseKeepAliveRequest`, and the leader answers a `LeaseKeepAliveResponse`, 404
 * when the lease is unknown.
 *
 * @module
 */

import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { ErrLeaseNotFound, ErrNoLeader, ErrTimeout } from "./errors.ts";
import { bigintToLong, longToBigint } from "../etcdserverpb/mod.ts";
import { LeaseNotFoundError, NotPrimaryError } from "../lease/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";
import { peerClientFor } from "./cluster_peer_client.ts";
import type Long from "long";

/** The peer path of forwarded renewals. */
export const LEASES_PATH = "/leases";
/** How long one forwarded renewal may take (etcd bounds it by the request timeout). */
const _FORWARD_TIMEOUT_MS = 3000;

async function _renewLocal(core: EtcdServer, id: bigint): Promise<number> {
  try {
    // An expired lease is answered once its revoke is applied (etcd lessor.Renew).
    return await core.lessor.renewAfterRevoke(id, AbortSignal.timeout(core.requestTimeoutMs));
  } catch (error) {
    if (error instanceof LeaseNotFoundError) throw ErrLeaseNotFound;
    if (error instanceof DOMException && error.name === "TimeoutError") throw ErrTimeout;
    throw error;
  }
}

/**
 * Renews lease `id` and resolves to its TTL in seconds: on the leader directly, elsewhere
 * through the leader. Rejects with ErrLeaseNotFound, ErrNoLeader or ErrTimeout.
 */
export async function renewLease(core: EtcdServer, id: bigint): Promise<number> {
  try {
    return await _renewLocal(core, id);
  } catch (error) {
    if (!(error instanceof NotPrimaryError)) throw error;
  }
  const leader = core.cluster.members.get(core.leader);
  if (leader === undefined) throw ErrNoLeader;
  const body = etcdserverpb.LeaseKeepAliveRequest.encode({ ID: bigintToLong(id) }).finish()
    .slice();
  for (const url of leader.peerUrls) {
    let response: Response;
    try {
      response = await peerClientFor(core.cfg).request(
        `${url.replace(/\/$/, "")}${LEASES_PATH}`,
        {
          method: "POST",
          headers: { "Content-Type": "application/protobuf" },
          body,
          signal: AbortSignal.timeout(_FORWARD_TIMEOUT_MS),
        },
      );
    } catch {
      continue; // this URL is unreachable; try the next one
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (response.status === 404) throw ErrLeaseNotFound;
    if (response.status !== 200) continue;
    const decoded = etcdserverpb.LeaseKeepAliveResponse.decode(bytes);
    return Number(decoded.TTL);
  }
  throw ErrTimeout;
}

/** Serves a forwarded renewal on the leader (`POST /leases`); other paths: undefined. */
export async function serveLeaseRenewal(
  core: EtcdServer,
  request: Request,
): Promise<Response | undefined> {
  if (request.method !== "POST") return undefined;
  const path = new URL(request.url).pathname;
  if (path === LEASES_INTERNAL_PATH) return await serveLeaseTimeToLive(core, request);
  if (path !== LEASES_PATH) return undefined;
  let id: bigint;
  try {
    const decoded = etcdserverpb.LeaseKeepAliveRequest.decode(
      new Uint8Array(await request.arrayBuffer()),
    );
    id = longToBigint(decoded.ID);
  } catch {
    return new Response("error unmarshalling request\n", { status: 400 });
  }
  // etcd waits until what is committed is applied, so that a lease just granted is known.
  const committed = core.committedIndex;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    core.applied.wait(committed),
    new Promise((resolve) => timer = setTimeout(resolve, _FORWARD_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
  let ttl: number;
  try {
    ttl = await _renewLocal(core, id);
  } catch (error) {
    if (error === ErrLeaseNotFound) {
      return new Response("lease not found\n", { status: 404 });
    }
    return new Response(`${(error as Error).message}\n`, { status: 400 });
  }
  const body = etcdserverpb.LeaseKeepAliveResponse.encode({
    ID: bigintToLong(id),
    TTL: bigintToLong(BigInt(ttl)),
  }).finish().slice();
  return new Response(body, { headers: { "Content-Type": "application/protobuf" } });
}

/** The peer path of forwarded time-to-live queries. */
export const LEASES_INTERNAL_PATH = "/leases/internal";

/** `LeaseInternalRequest`/`Response` hold the v3 message as field 1: wrap it. */
function _wrapField1(inner: Uint8Array): Uint8Array {
  const length: number[] = [];
  let n = inner.length;
  while (n >= 0x80) {
    length.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  length.push(n);
  const out = new Uint8Array(1 + length.length + inner.length);
  out[0] = 0x0a; // field 1, length-delimited
  out.set(length, 1);
  out.set(inner, 1 + length.length);
  return out;
}

/** The field-1 bytes of a `LeaseInternal*` message (empty when absent). */
function _unwrapField1(outer: Uint8Array): Uint8Array {
  if (outer.length === 0) return outer;
  if (outer[0] !== 0x0a) throw new Error("LeaseInternal message: unexpected field");
  let length = 0;
  let shift = 0;
  let at = 1;
  for (;;) {
    const byte = outer[at++];
    if (byte === undefined || shift > 28) throw new Error("LeaseInternal message: bad length");
    length |= (byte & 0x7f) << shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  if (at + length > outer.length) throw new Error("LeaseInternal message: truncated");
  return outer.subarray(at, at + length);
}

/**
 * LeaseTimeToLive on a follower asks the leader, whose lessor keeps the remaining time
 * (etcd's TimeToLiveHTTP). Resolves to undefined on the leader (answer locally), to TTL -1
 * for an unknown lease.
 */
export async function leaseTimeToLiveOnLeader(
  core: EtcdServer,
  request: { ID?: Long | number | null; keys?: boolean | null },
): Promise<etcdserverpb.LeaseTimeToLiveResponse.$Properties | undefined> {
  if (core.isLeader) return undefined;
  const leader = core.cluster.members.get(core.leader);
  if (leader === undefined) throw ErrNoLeader;
  const id = bigintToLong(
    request.ID === undefined || request.ID === null ? 0n : longToBigint(request.ID),
  );
  const inner = etcdserverpb.LeaseTimeToLiveRequest.encode({
    ID: id,
    keys: request.keys === true,
  }).finish();
  const body = _wrapField1(inner).slice();
  for (const url of leader.peerUrls) {
    let response: Response;
    try {
      response = await peerClientFor(core.cfg).request(
        `${url.replace(/\/$/, "")}${LEASES_INTERNAL_PATH}`,
        {
          method: "POST",
          headers: { "Content-Type": "application/protobuf" },
          body,
          signal: AbortSignal.timeout(_FORWARD_TIMEOUT_MS),
        },
      );
    } catch {
      continue;
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (response.status === 404) return { ID: id, TTL: bigintToLong(-1n) };
    if (response.status !== 200) continue;
    return etcdserverpb.LeaseTimeToLiveResponse.decode(_unwrapField1(bytes));
  }
  throw ErrTimeout;
}

/** Serves a forwarded time-to-live query on the leader (`POST /leases/internal`). */
export async function serveLeaseTimeToLive(core: EtcdServer, request: Request): Promise<Response> {
  let id: bigint;
  let withKeys: boolean;
  try {
    const decoded = etcdserverpb.LeaseTimeToLiveRequest.decode(
      _unwrapField1(new Uint8Array(await request.arrayBuffer())),
    );
    id = longToBigint(decoded.ID);
    withKeys = decoded.keys === true;
  } catch {
    return new Response("error unmarshalling request\n", { status: 400 });
  }
  let info: ReturnType<EtcdServer["lessor"]["timeToLive"]>;
  try {
    info = core.lessor.timeToLive(id, withKeys);
  } catch (error) {
    if (error instanceof LeaseNotFoundError) {
      return new Response("lease not found\n", { status: 404 });
    }
    return new Response(`${(error as Error).message}\n`, { status: 400 });
  }
  const inner = etcdserverpb.LeaseTimeToLiveResponse.encode({
    header: {},
    ID: bigintToLong(id),
    TTL: bigintToLong(BigInt(info.ttl)),
    grantedTTL: bigintToLong(BigInt(info.grantedTtl)),
    keys: withKeys ? info.keys : [],
  }).finish();
  return new Response(_wrapField1(inner).slice(), {
    headers: { "Content-Type": "application/protobuf" },
  });
}
