/**
 * Plain forwarding: a service whose every method goes to the cluster unchanged (etcd's
 * maintenance, auth, election and lock proxies), built from the method table so that no
 * method is forgotten. Unary calls fail over between endpoints; server streams (Snapshot,
 * Observe) run on one endpoint; bidirectional methods are not forwarded here.
 *
 * @module
 */

import {
  type AnyMethodDescriptor,
  type CallContext,
  METHODS,
  type ServiceName,
  type StreamSink,
} from "../rpc/mod.ts";
import type { Upstream, UpstreamCallOptions } from "./upstream.ts";

/** The caller's token, leader requirement and cancellation, for the upstream call. */
export function callOptions(context: CallContext): UpstreamCallOptions {
  return { token: context.token, requireLeader: context.requireLeader, signal: context.signal };
}

/** Handlers that forward every unary and server-streaming method of `service`. */
export function forwardService(
  upstream: Upstream,
  service: ServiceName,
): Record<string, unknown> {
  const handlers: Record<string, unknown> = {};
  for (const method of Object.values(METHODS[service]) as AnyMethodDescriptor[]) {
    if (method.kind === "unary") {
      handlers[method.handlerKey] = (request: unknown, context: CallContext) =>
        upstream.unary(method, request, callOptions(context));
    } else if (method.kind === "serverStream") {
      handlers[method.handlerKey] = async (
        request: unknown,
        sink: StreamSink<unknown>,
        context: CallContext,
      ) => {
        for await (const response of upstream.serverStream(method, request, callOptions(context))) {
          await sink.send(response);
        }
      };
    }
  }
  return handlers;
}
