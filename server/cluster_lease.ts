/**
 * Lease keep-alives on any member (etcd's `lease/leasehttp`): only the leader's lessor keeps
 * time, so a follower forwards a renewal to the leader's peer URL as `POST /leases` with a
 * protobuf `LeaseKeepAliveRequest`, and the leader answers a `LeaseKeepAliveResponse`, 404
 * when the lease is unknown.
 *
 * @module
 */

import { etcdserverpb } from "../api/gen/etcd.js";
import { ErrLeaseNotFound, ErrNoLeader, ErrTimeout } from "../api/errors.ts";
import { bigintToLong, longToBigint } from "../api/int64.ts";
import { LeaseNotFoundError, NotPrimaryError } from "../lease/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";

/** The peer path of forwarded renewals. */
export const LEASES_PATH = "/leases";
/** How long one forwarded renewal may take (etcd bounds it by the request timeout). */
const _FORWARD_TIMEOUT_MS = 3000;

function _renewLocal(core: EtcdServer, id: bigint): number {
  try {
    return core.lessor.renew(id);
  } catch (error) {
    if (error instanceof LeaseNotFoundError) throw ErrLeaseNotFound;
    throw error;
  }
}

/**
 * Renews lease `id` and resolves to its TTL in seconds: on the leader directly, elsewhere
 * through the leader. Rejects with ErrLeaseNotFound, ErrNoLeader or ErrTimeout.
 */
export async function renewLease(core: EtcdServer, id: bigint): Promise<number> {
  try {
    return _renewLocal(core, id);
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
      response = await fetch(`${url.replace(/\/$/, "")}${LEASES_PATH}`, {
        method: "POST",
        headers: { "Content-Type": "application/protobuf" },
        body,
        signal: AbortSignal.timeout(_FORWARD_TIMEOUT_MS),
      });
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
  if (new URL(request.url).pathname !== LEASES_PATH || request.method !== "POST") return undefined;
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
    ttl = _renewLocal(core, id);
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
