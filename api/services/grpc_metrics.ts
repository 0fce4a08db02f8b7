/**
 * go-grpc-prometheus's server interceptors, as etcd installs them: every call of every
 * transport (grpc-js, the native HTTP/2 one, the JSON gateway) counts as started, each
 * message received and sent, and the call as handled with its gRPC code; with
 * `--metrics extensive` its duration is observed too. The series of every method start at
 * zero (etcd calls `grpc_prometheus.Register` on its server, which pre-initialises them).
 *
 * @module
 */

import type {
  BidiHandler,
  CallContext,
  ServerStreamHandler,
  StreamSink,
  UnaryHandler,
} from "../../rpc/mod.ts";
import {
  allMethods,
  type AnyMethodDescriptor,
  type EtcdServices,
  SERVICE_KEYS,
  Status,
} from "../../rpc/mod.ts";
import {
  GRPC_CODE_NAMES,
  type GrpcMethodCounts,
  grpcMethodCounts,
  grpcServerHandlingSeconds,
  handlingTimeEnabled,
} from "../metrics.ts";

/** go-grpc-prometheus's type label of a method kind. */
function _typeLabel(method: AnyMethodDescriptor): string {
  if (method.kind === "unary") return "unary";
  if (method.kind === "serverStream") return "server_stream";
  return "bidi_stream";
}

/** The counts of `method`, zero until its first call (the series exist from the start). */
function _countsOf(method: AnyMethodDescriptor): GrpcMethodCounts {
  return grpcMethodCounts(method.path, {
    grpc_method: method.name,
    grpc_service: `etcdserverpb.${method.service}`,
    grpc_type: _typeLabel(method),
  });
}

/**
 * A call ended with `error` (undefined: OK) after `beganMs`. A call whose client went away
 * ends Canceled, as grpc-go reports a stream whose context was cancelled.
 */
function _handled(
  counts: GrpcMethodCounts,
  error: unknown,
  beganMs: number,
  context: CallContext,
): void {
  const code = context.cancelled
    ? Status.CANCELLED
    : error === undefined
    ? Status.OK
    : _codeOf(error);
  counts.handled[code]!++;
  if (handlingTimeEnabled()) {
    grpcServerHandlingSeconds.observe(counts.labels, (performance.now() - beganMs) / 1000);
  }
}

function _codeOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && code > 0 && code < GRPC_CODE_NAMES.length
    ? code
    : Status.UNKNOWN;
}

// deno-lint-ignore no-explicit-any
type _AnyUnary = UnaryHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyServerStream = ServerStreamHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyBidi = BidiHandler<any, any>;

/** Options of {@link instrumentServices}. */
export interface InstrumentOptions {
  /**
   * Maps what a unary handler throws or rejects with before it is counted and passed on
   * (`togRPCError`): done in the counters' own `then`, one promise per call fewer than a
   * wrapper of its own around the handler. Default: errors pass unchanged.
   */
  readonly mapUnaryError?: (error: unknown) => unknown;
}

/**
 * Wraps every handler of `services` in the counters above and initialises the series of every
 * method of etcd's services (a method without a handler still counts its Unimplemented calls
 * on the transport that refuses it, as in etcd, only once it has a handler here).
 */
export function instrumentServices(
  services: EtcdServices,
  options: InstrumentOptions = {},
): EtcdServices {
  const mapUnaryError = options.mapUnaryError ?? _unchanged;
  const out: Record<string, Record<string, unknown>> = {};
  for (const method of allMethods()) {
    const stats = _countsOf(method);
    if (handlingTimeEnabled()) grpcServerHandlingSeconds.zero(stats.labels);
    const key = SERVICE_KEYS[method.service];
    const handler = (services[key] as Record<string, unknown> | undefined)?.[method.handlerKey];
    if (typeof handler !== "function") continue;
    const wrapped = out[key] ??= {};
    if (method.kind === "unary") {
      wrapped[method.handlerKey] = _unary(stats, handler as _AnyUnary, mapUnaryError);
    } else if (method.kind === "serverStream") {
      wrapped[method.handlerKey] = _serverStream(stats, handler as _AnyServerStream);
    } else wrapped[method.handlerKey] = _bidi(stats, handler as _AnyBidi);
  }
  return out as EtcdServices;
}

function _unchanged(error: unknown): unknown {
  return error;
}

function _unary(
  stats: GrpcMethodCounts,
  handler: _AnyUnary,
  mapError: (error: unknown) => unknown,
): _AnyUnary {
  // Not an async function: one `then` costs less than an async frame and its await, per call.
  return (request, context) => {
    const began = handlingTimeEnabled() ? performance.now() : 0;
    stats.started++;
    stats.received++;
    let response: Promise<unknown>;
    try {
      response = handler(request, context);
    } catch (thrown) {
      const error = mapError(thrown);
      _handled(stats, error, began, context);
      return Promise.reject(error);
    }
    return response.then((message) => {
      stats.sent++;
      _handled(stats, undefined, began, context);
      return message;
    }, (rejected) => {
      const error = mapError(rejected);
      _handled(stats, error, began, context);
      throw error;
    });
  };
}

function _countingSink<T>(stats: GrpcMethodCounts, sink: StreamSink<T>): StreamSink<T> {
  return {
    send: (message: T) => {
      stats.sent++;
      return sink.send(message);
    },
    get closed() {
      return sink.closed;
    },
  } as StreamSink<T>;
}

function _serverStream(stats: GrpcMethodCounts, handler: _AnyServerStream): _AnyServerStream {
  return async (request, sink, context) => {
    const began = handlingTimeEnabled() ? performance.now() : 0;
    stats.started++;
    stats.received++;
    try {
      await handler(request, _countingSink(stats, sink), context);
      _handled(stats, undefined, began, context);
    } catch (error) {
      _handled(stats, error, began, context);
      throw error;
    }
  };
}

function _bidi(stats: GrpcMethodCounts, handler: _AnyBidi): _AnyBidi {
  return async (input, sink, context) => {
    const began = handlingTimeEnabled() ? performance.now() : 0;
    stats.started++;
    async function* counted() {
      for await (const message of input) {
        stats.received++;
        yield message;
      }
    }
    try {
      await handler(counted(), _countingSink(stats, sink), context);
      _handled(stats, undefined, began, context);
    } catch (error) {
      _handled(stats, error, began, context);
      throw error;
    }
  };
}
