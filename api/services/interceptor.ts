/**
 * etcd's v3rpc interceptors (`etcdserver/api/v3rpc/interceptor.go`) as a wrapper around the
 * service handlers, so that every transport (grpc-js, the native HTTP/2 one, the JSON
 * gateway) applies them alike:
 *
 * - A learner serves only serializable Range and Status (`isRPCSupportedForLearner` in
 *   etcd 3.4's `v3rpc/util.go`) and no stream at all; anything else fails at once with
 *   `etcdserver: rpc not supported for learner` (Unavailable).
 * - A call with the `hasleader: true` metadata (clientv3's `WithRequireLeader`, which
 *   `etcdctl watch` sets) fails at once with `etcdserver: no leader` (Unavailable) while the
 *   member has no leader.
 * - A stream opened with that metadata is watched: the member's leader is checked once per
 *   election timeout, and after three checks in a row without one (etcd's `maxNoLeaderCnt`)
 *   the stream ends with `etcdserver: no leader`. etcd waits that long because reconnecting a
 *   stream costs the client far more than refusing a new call.
 *
 * @module
 */

import type { etcdserverpb } from "../../etcdserverpb/mod.ts";
import { ErrNoLeader, ErrNotSupportedForLearner } from "../../rpc/mod.ts";
import type { BidiHandler, CallContext, ServerStreamHandler, UnaryHandler } from "../../rpc/mod.ts";
import {
  allMethods,
  type AnyMethodDescriptor,
  type EtcdServices,
  METHODS,
  SERVICE_KEYS,
} from "../../rpc/mod.ts";
import { countClientRequest } from "../metrics.ts";

/** etcd's maxNoLeaderCnt: leaderless election timeouts before a require-leader stream ends. */
export const NO_LEADER_CHECKS_MAX = 3;

/** What the interceptors ask of the member. */
export interface InterceptorTarget {
  /** The leader's ID, 0n while there is none. */
  readonly leader: bigint;
  /** Whether this member is a learner of its cluster. */
  readonly isLearner: boolean;
  /** The election timeout: how often a require-leader stream checks the leader. */
  readonly electionTimeoutMs: number;
}

// deno-lint-ignore no-explicit-any
type _AnyUnary = UnaryHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyServerStream = ServerStreamHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyBidi = BidiHandler<any, any>;

/**
 * Wraps every handler of `services` in etcd's learner and require-leader checks; returns a
 * new services object (handlers missing in `services` stay missing).
 */
export function interceptServices(
  services: EtcdServices,
  target: InterceptorTarget,
): EtcdServices {
  const out: Record<string, Record<string, unknown>> = {};
  for (const method of allMethods()) {
    const key = SERVICE_KEYS[method.service];
    const service = services[key] as Record<string, unknown> | undefined;
    const handler = service?.[method.handlerKey];
    if (typeof handler !== "function") continue;
    const wrapped = out[key] ??= {};
    if (method.kind === "unary") {
      wrapped[method.handlerKey] = _unary(method, handler as _AnyUnary, target);
    } else if (method.kind === "serverStream") {
      wrapped[method.handlerKey] = _serverStream(handler as _AnyServerStream, target);
    } else {
      wrapped[method.handlerKey] = _bidi(handler as _AnyBidi, target);
    }
  }
  return out as EtcdServices;
}

/** etcd's client request counter, by call type and the client's `client-api-version`. */
function _countClientRequest(type: "unary" | "stream", context: CallContext): void {
  countClientRequest(type, context.metadata("client-api-version") ?? "unknown");
}

/** etcd 3.4's `isRPCSupportedForLearner`: Status, and Range when serializable. */
export function isSupportedForLearner(method: AnyMethodDescriptor, request: unknown): boolean {
  if (method.path === METHODS.Maintenance.Status.path) return true;
  if (method.path === METHODS.KV.Range.path) {
    return (request as etcdserverpb.RangeRequest.$Properties).serializable === true;
  }
  return false;
}

function _unary(
  method: AnyMethodDescriptor,
  handler: _AnyUnary,
  target: InterceptorTarget,
): _AnyUnary {
  return (request, context) => {
    if (target.isLearner && !isSupportedForLearner(method, request)) {
      return Promise.reject(ErrNotSupportedForLearner);
    }
    _countClientRequest("unary", context);
    if (context.requireLeader && target.leader === 0n) return Promise.reject(ErrNoLeader);
    return handler(request, context);
  };
}

function _serverStream(handler: _AnyServerStream, target: InterceptorTarget): _AnyServerStream {
  return (request, sink, context) =>
    _guardStream(context, target, (guarded) => handler(request, sink, guarded));
}

function _bidi(handler: _AnyBidi, target: InterceptorTarget): _AnyBidi {
  return (input, sink, context) =>
    _guardStream(
      context,
      target,
      // Only a guarded stream pays for the wrapped input.
      (guarded) =>
        handler(guarded === context ? input : _untilAborted(input, guarded.signal), sink, guarded),
    );
}

/**
 * Runs a stream handler under the stream checks: a learner refuses every stream; with
 * require-leader, the stream needs a leader to start and ends with ErrNoLeader once the
 * member has been without one for `NO_LEADER_CHECKS_MAX` election timeouts.
 */
async function _guardStream(
  context: CallContext,
  target: InterceptorTarget,
  run: (context: CallContext) => Promise<void>,
): Promise<void> {
  if (target.isLearner) throw ErrNotSupportedForLearner;
  _countClientRequest("stream", context);
  if (!context.requireLeader) return await run(context);
  if (target.leader === 0n) throw ErrNoLeader;
  const leaderLost = new AbortController();
  let checksWithoutLeader = 0;
  const timer = setInterval(() => {
    checksWithoutLeader = target.leader === 0n ? checksWithoutLeader + 1 : 0;
    if (checksWithoutLeader >= NO_LEADER_CHECKS_MAX) leaderLost.abort(ErrNoLeader);
  }, target.electionTimeoutMs);
  const signal = AbortSignal.any([context.signal, leaderLost.signal]);
  try {
    await run(_withSignal(context, signal));
  } catch (error) {
    if (!leaderLost.signal.aborted) throw error;
  } finally {
    clearInterval(timer);
  }
  // The handler saw its signal abort and returned; the client learns why.
  if (leaderLost.signal.aborted) throw ErrNoLeader;
}

/** `context` with another abort signal. */
function _withSignal(context: CallContext, signal: AbortSignal): CallContext {
  return {
    method: context.method,
    get token() {
      return context.token;
    },
    requireLeader: context.requireLeader,
    get commonName() {
      return context.commonName;
    },
    get peer() {
      return context.peer;
    },
    signal,
    get cancelled() {
      return signal.aborted;
    },
    metadata: (key) => context.metadata(key),
  };
}

/**
 * The requests of `input` until `signal` aborts: a handler reading its input then sees the
 * input end, as when the client half-closes, and can return.
 */
async function* _untilAborted<T>(input: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = input[Symbol.asyncIterator]();
  let detach = () => {};
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal.aborted) return resolve("aborted");
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    detach = () => signal.removeEventListener("abort", onAbort);
  });
  try {
    while (true) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === "aborted" || next.done === true) return;
      yield next.value;
    }
  } finally {
    detach();
    // Not awaited: a generator's return waits for a pending next(), which may never come.
    void iterator.return?.()?.catch(() => {});
  }
}
