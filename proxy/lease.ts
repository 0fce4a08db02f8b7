/**
 * The lease proxy (etcd's grpcproxy/lease.go): grant, revoke, time-to-live and the lease list
 * are forwarded; keep-alive streams are coalesced per lease. All clients' keep-alives for one
 * lease (per auth token) share one upstream keep-alive stream, and while a renewal of a lease is
 * in flight, further requests for it wait for that renewal's answer instead of sending their
 * own. When the upstream stream breaks, it reopens on the next endpoint and the renewals in
 * flight are sent again.
 *
 * Unlike etcd 3.4's proxy, which keeps renewing a lease on its own for up to a TTL after the
 * last client request (clientv3's KeepAlive loop), this proxy renews only when a client asks:
 * a lease whose clients stopped expires on time.
 *
 * @module
 */

import { bigintToLong, longToBigint } from "../etcdserverpb/mod.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import { type LeaseService, METHODS } from "../rpc/mod.ts";
import type { BidiCall } from "../client/mod.ts";
import { callOptions } from "./forward.ts";
import type { Namespace } from "./namespace.ts";
import type { Upstream } from "./upstream.ts";

/** Delay before reopening a broken keep-alive stream. */
const REOPEN_DELAY_MS = 250;

type KeepAliveResponse = etcdserverpb.LeaseKeepAliveResponse;

/** One upstream keep-alive stream and the renewals in flight on it. */
class _KeepAliveHub {
  readonly #upstream: Upstream;
  readonly #token: string | undefined;
  readonly #inFlight = new Map<bigint, ((response: KeepAliveResponse) => void)[]>();
  #call:
    | (BidiCall<etcdserverpb.ILeaseKeepAliveRequest, KeepAliveResponse> & { endpoint: string })
    | undefined;
  /** Upstream renewals sent, for tests and the coalescing check. */
  sent = 0;

  constructor(upstream: Upstream, token: string | undefined) {
    this.#upstream = upstream;
    this.#token = token;
  }

  /** Renews `id`, sharing a renewal already in flight. */
  renew(id: bigint): Promise<KeepAliveResponse> {
    return new Promise((resolve) => {
      const waiting = this.#inFlight.get(id);
      if (waiting !== undefined) {
        waiting.push(resolve);
        return;
      }
      this.#inFlight.set(id, [resolve]);
      if (this.#call === undefined) this.#open();
      else this.#send(id);
    });
  }

  #send(id: bigint): void {
    this.sent++;
    this.#call!.send({ ID: bigintToLong(id) });
  }

  #open(): void {
    const call = this.#upstream.bidi(METHODS.Lease.LeaseKeepAlive, { token: this.#token });
    this.#call = call;
    for (const id of this.#inFlight.keys()) this.#send(id);
    void this.#read(call);
  }

  async #read(
    call: BidiCall<etcdserverpb.ILeaseKeepAliveRequest, KeepAliveResponse> & { endpoint: string },
  ): Promise<void> {
    try {
      for await (const response of call.responses) {
        const id = longToBigint(response.ID ?? 0);
        const waiting = this.#inFlight.get(id);
        this.#inFlight.delete(id);
        for (const resolve of waiting ?? []) resolve(response);
      }
    } catch {
      // The stream broke; reopened below if renewals wait.
    }
    if (this.#call !== call) return;
    this.#upstream.failed(call.endpoint);
    this.#call = undefined;
    if (this.#inFlight.size === 0) return;
    await new Promise((resolve) => setTimeout(resolve, REOPEN_DELAY_MS));
    if (this.#call === undefined && this.#inFlight.size > 0) this.#open();
  }
}

/** Builds the Lease handlers and a probe of upstream renewals sent. */
export function leaseProxy(
  upstream: Upstream,
  namespace: Namespace | undefined,
): { service: LeaseService; renewalsSent: () => number } {
  const hubs = new Map<string, _KeepAliveHub>();
  const hubFor = (token: string | undefined) => {
    let hub = hubs.get(token ?? "");
    if (hub === undefined) {
      hub = new _KeepAliveHub(upstream, token);
      hubs.set(token ?? "", hub);
    }
    return hub;
  };
  const service: LeaseService = {
    leaseGrant: (request, context) =>
      upstream.unary(METHODS.Lease.LeaseGrant, request, callOptions(context)),
    leaseRevoke: (request, context) =>
      upstream.unary(METHODS.Lease.LeaseRevoke, request, callOptions(context)),
    leaseTimeToLive: async (request, context) => {
      const response = await upstream.unary(
        METHODS.Lease.LeaseTimeToLive,
        request,
        callOptions(context),
      );
      if (namespace !== undefined) response.keys = namespace.stripLeaseKeys(response.keys);
      return response;
    },
    leaseLeases: (request, context) =>
      upstream.unary(METHODS.Lease.LeaseLeases, request, callOptions(context)),
    leaseKeepAlive: async (input, sink, context) => {
      const hub = hubFor(context.token);
      const replies: Promise<void>[] = [];
      for await (const request of input) {
        if (sink.closed) break;
        const id = longToBigint(request.ID ?? 0);
        replies.push(
          hub.renew(id).then((response) => sink.closed ? undefined : sink.send(response)).catch(
            () => {},
          ),
        );
        if (replies.length > 64) await replies.shift();
      }
    },
  };
  return {
    service,
    renewalsSent: () => [...hubs.values()].reduce((sum, hub) => sum + hub.sent, 0),
  };
}
