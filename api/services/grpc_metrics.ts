/**
 * go-grpc-prometheus's server interceptors, as etcd installs them: every call of every
 * transport (grpc-js, the native HTTP/2 one, the JSON gateway) counts as started, each
 * message received and sent, and the call as handled with its gRPC code; with
 * `--metrics extensive` its duration is observed too. The series of every method start at
 * zero (etcd calls `grpc_prometheus.Register` on its server, which pre-initialises them).
 *
 * @module
 */

import type { BidiHandler, ServerStreamHandler, StreamSink, UnaryHandler } from "../../rpc/mod.ts";
import {
  allMethods,
  type AnyMethodDescriptor,
  type EtcdServices,
  SERVICE_KEYS,
  Status,
} from "../../rpc/mod.ts";
import {
  grpcServerHandledTotal,
  grpcServerHandlingSeconds,
  grpcServerMsgReceivedTotal,
  grpcServerMsgSentTotal,
  grpcServerStartedTotal,
  handlingTimeEnabled,
} from "../metrics.ts";

/** grpc-go's code names, as the `grpc_code` label spells them. */
const _CODE_NAMES: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** go-grpc-prometheus's type label of a method kind. */
function _typeLabel(method: AnyMethodDescriptor): string {
  if (method.kind === "unary") return "unary";
  if (method.kind === "serverStream") return "server_stream";
  return "bidi_stream";
}

/** One method's label set, resolved once so that the hot path only adds numbers. */
class _MethodStats {
  readonly labels: { grpc_method: string; grpc_service: string; grpc_type: string };
  readonly started;
  readonly received;
  readonly sent;
  readonly #handled = new Map<number, { inc(): void }>();

  constructor(method: AnyMethodDescriptor) {
    // Label names in Go's order (sorted), as the exposition prints them in object order.
    this.labels = {
      grpc_method: method.name,
      grpc_service: `etcdserverpb.${method.service}`,
      grpc_type: _typeLabel(method),
    };
    this.started = grpcServerStartedTotal.labels(this.labels);
    this.received = grpcServerMsgReceivedTotal.labels(this.labels);
    this.sent = grpcServerMsgSentTotal.labels(this.labels);
    // Pre-initialised at zero, as go-grpc-prometheus does for every registered method.
    this.started.inc(0);
    this.received.inc(0);
    this.sent.inc(0);
    for (let code = 0; code < _CODE_NAMES.length; code++) this.#handledChild(code).inc(0);
    if (handlingTimeEnabled()) grpcServerHandlingSeconds.zero(this.labels);
  }

  #handledChild(code: number): { inc(value?: number): void } {
    let child = this.#handled.get(code);
    if (child === undefined) {
      child = grpcServerHandledTotal.labels({
        grpc_code: _CODE_NAMES[code] ?? "Unknown",
        ...this.labels,
      });
      this.#handled.set(code, child);
    }
    return child;
  }

  /**
   * The call ended with `error` (undefined: OK) after `beganMs`. A call whose client went
   * away ends Canceled, as grpc-go reports a stream whose context was cancelled.
   */
  handled(error: unknown, beganMs: number, signal: AbortSignal): void {
    const code = signal.aborted
      ? Status.CANCELLED
      : error === undefined
      ? Status.OK
      : _codeOf(error);
    this.#handledChild(code).inc();
    if (handlingTimeEnabled()) {
      grpcServerHandlingSeconds.observe(this.labels, (performance.now() - beganMs) / 1000);
    }
  }
}

function _codeOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && code > 0 && code < _CODE_NAMES.length ? code : Status.UNKNOWN;
}

// deno-lint-ignore no-explicit-any
type _AnyUnary = UnaryHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyServerStream = ServerStreamHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyBidi = BidiHandler<any, any>;

/**
 * Wraps every handler of `services` in the counters above and initialises the series of every
 * method of etcd's services (a method without a handler still counts its Unimplemented calls
 * on the transport that refuses it, as in etcd, only once it has a handler here).
 */
export function instrumentServices(services: EtcdServices): EtcdServices {
  const out: Record<string, Record<string, unknown>> = {};
  for (const method of allMethods()) {
    const stats = new _MethodStats(method);
    const key = SERVICE_KEYS[method.service];
    const handler = (services[key] as Record<string, unknown> | undefined)?.[method.handlerKey];
    if (typeof handler !== "function") continue;
    const wrapped = out[key] ??= {};
    if (method.kind === "unary") wrapped[method.handlerKey] = _unary(stats, handler as _AnyUnary);
    else if (method.kind === "serverStream") {
      wrapped[method.handlerKey] = _serverStream(stats, handler as _AnyServerStream);
    } else wrapped[method.handlerKey] = _bidi(stats, handler as _AnyBidi);
  }
  return out as EtcdServices;
}

function _unary(stats: _MethodStats, handler: _AnyUnary): _AnyUnary {
  return async (request, context) => {
    const began = performance.now();
    stats.started.inc();
    stats.received.inc();
    try {
      const response = await handler(request, context);
      stats.sent.inc();
      stats.handled(undefined, began, context.signal);
      return response;
    } catch (error) {
      stats.handled(error, began, context.signal);
      throw error;
    }
  };
}

function _countingSink<T>(stats: _MethodStats, sink: StreamSink<T>): StreamSink<T> {
  return {
    send: (message: T) => {
      stats.sent.inc();
      return sink.send(message);
    },
    get closed() {
      return sink.closed;
    },
  } as StreamSink<T>;
}

function _serverStream(stats: _MethodStats, handler: _AnyServerStream): _AnyServerStream {
  return async (request, sink, context) => {
    const began = performance.now();
    stats.started.inc();
    stats.received.inc();
    try {
      await handler(request, _countingSink(stats, sink), context);
      stats.handled(undefined, began, context.signal);
    } catch (error) {
      stats.handled(error, began, context.signal);
      throw error;
    }
  };
}

function _bidi(stats: _MethodStats, handler: _AnyBidi): _AnyBidi {
  return async (input, sink, context) => {
    const began = performance.now();
    stats.started.inc();
    async function* counted() {
      for await (const message of input) {
        stats.received.inc();
        yield message;
      }
    }
    try {
      await handler(counted(), _countingSink(stats, sink), context);
      stats.handled(undefined, began, context.signal);
    } catch (error) {
      stats.handled(error, began, context.signal);
      throw error;
    }
  };
}
