/**
 * The `grpc-js` transport of `grpc_server.ts`: @grpc/grpc-js over Deno's node:http2, serving
 * connections that `grpc_server.ts` accepted and routed here. It adapts the transport-independent
 * handlers (`rpc/handler.ts`) to grpc-js calls.
 *
 * `grpc_server.ts` imports this file dynamically, only when that transport is chosen
 * (`DETCD_GRPC_TRANSPORT=grpc-js`): the default, native, transport does not load grpc-js and
 * node:http2 at all.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type * as net from "node:net";
import { Buffer } from "node:buffer";
import { EtcdError, Status, toEtcdError } from "../rpc/mod.ts";
import type {
  BidiHandler,
  CallContext,
  ServerStreamHandler,
  StreamSink,
  UnaryHandler,
} from "../rpc/mod.ts";
import {
  allMethods,
  type AnyMethodDescriptor,
  type EtcdServices,
  SERVICE_KEYS,
} from "../rpc/mod.ts";
import { countGrpcReceivedBytes, countGrpcSentBytes } from "./metrics.ts";

/** Requests a bidirectional stream buffers before it stops reading from the socket. */
const STREAM_INPUT_QUEUE_MAX = 64;

/** The limits `startGrpcServer` passes on to grpc-js. */
export interface GrpcJsLimits {
  maxRecvBytes: number;
  maxSendBytes: number;
  maxConcurrentStreams: number | undefined;
  /** Server pings on idle connections; grpc-js reads these only in its constructor. */
  keepAlive: { intervalMs: number; timeoutMs: number } | undefined;
}

/** A grpc-js server that serves the HTTP/2 connections handed to it. */
export interface GrpcJsTransport {
  /** Serves one connection whose unread bytes open with the HTTP/2 client preface. */
  inject(socket: net.Socket): void;
  /** Cancels every call and closes every connection handed over. */
  shutdown(): void;
}

/**
 * A grpc-js server with `services` registered. The keepalive interval and timeout are server
 * options, read once when the Server is constructed; grpc-js has no ping enforcement, which is
 * why `startGrpcServer` refuses a client ping policy for this transport.
 */
export function newGrpcJsTransport(services: EtcdServices, limits: GrpcJsLimits): GrpcJsTransport {
  const serverOptions: grpc.ServerOptions = {
    "grpc.max_receive_message_length": limits.maxRecvBytes,
    "grpc.max_send_message_length": limits.maxSendBytes,
  };
  if (limits.maxConcurrentStreams !== undefined) {
    serverOptions["grpc.max_concurrent_streams"] = limits.maxConcurrentStreams;
  }
  if (limits.keepAlive !== undefined) {
    serverOptions["grpc.keepalive_time_ms"] = limits.keepAlive.intervalMs;
    serverOptions["grpc.keepalive_timeout_ms"] = limits.keepAlive.timeoutMs;
  }
  const server = new grpc.Server(serverOptions);
  _registerServices(server, services);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    inject: (socket) => injector.injectConnection(socket),
    shutdown: () => {
      injector.destroy();
      server.forceShutdown();
    },
  };
}

function _registerServices(server: grpc.Server, services: EtcdServices): void {
  const definitions = new Map<string, Record<string, grpc.MethodDefinition<unknown, unknown>>>();
  const implementations = new Map<string, grpc.UntypedServiceImplementation>();
  for (const method of allMethods()) {
    const service = services[SERVICE_KEYS[method.service]] as Record<string, unknown> | undefined;
    const handler = service?.[method.handlerKey];
    if (handler === undefined) continue; // grpc-js answers UNIMPLEMENTED for it.
    if (typeof handler !== "function") throw new TypeError(`${method.path}: not a function`);
    const definition = definitions.get(method.service) ?? {};
    const implementation = implementations.get(method.service) ?? {};
    definition[method.name] = _definition(method);
    implementation[method.name] = _implementation(method, handler);
    definitions.set(method.service, definition);
    implementations.set(method.service, implementation);
  }
  for (const [name, definition] of definitions) {
    const implementation = implementations.get(name);
    if (implementation === undefined) throw new Error(`no implementation for ${name}`);
    server.addService(definition, implementation);
  }
}

function _definition(method: AnyMethodDescriptor): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: method.path,
    requestStream: method.kind === "bidi",
    responseStream: method.kind !== "unary",
    requestSerialize: (message: unknown) => _toBuffer(method.request.encode(message)),
    requestDeserialize: (bytes: Buffer) => {
      countGrpcReceivedBytes(bytes.length);
      return method.request.decode(bytes);
    },
    responseSerialize: (message: unknown) => {
      const bytes = method.response.encode(message);
      countGrpcSentBytes(bytes.length);
      return _toBuffer(bytes);
    },
    responseDeserialize: (bytes: Buffer) => method.response.decode(bytes),
    originalName: method.handlerKey,
  };
}

/** protobufjs returns a Buffer under Deno's Node compatibility; wrap without copying if not. */
function _toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function _implementation(
  method: AnyMethodDescriptor,
  handler: unknown,
): grpc.UntypedHandleCall {
  switch (method.kind) {
    case "unary":
      return _unary(method.path, handler as UnaryHandler<unknown, unknown>);
    case "serverStream":
      return _serverStream(method.path, handler as ServerStreamHandler<unknown, unknown>);
    case "bidi":
      return _bidi(method.path, handler as BidiHandler<unknown, unknown>);
  }
}

function _statusOf(thrown: unknown): grpc.StatusObject {
  const error = toEtcdError(thrown);
  return { code: error.code, details: error.message, metadata: new grpc.Metadata() };
}

function _unary(path: string, handler: UnaryHandler<unknown, unknown>): grpc.UntypedHandleCall {
  return (
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ): void => {
    const context = new _GrpcCallContext(call, path);
    let result: Promise<unknown>;
    try {
      result = handler(call.request, context);
    } catch (thrown) {
      callback(_statusOf(thrown));
      return;
    }
    result.then(
      (response) => callback(null, response),
      (thrown) => callback(_statusOf(thrown)),
    );
  };
}

function _serverStream(
  path: string,
  handler: ServerStreamHandler<unknown, unknown>,
): grpc.UntypedHandleCall {
  return (call: grpc.ServerWritableStream<unknown, unknown>): void => {
    const context = new _GrpcCallContext(call, path);
    const sink = new _GrpcSink(call);
    _finish(call, sink, () => handler(call.request, sink, context));
  };
}

function _bidi(path: string, handler: BidiHandler<unknown, unknown>): grpc.UntypedHandleCall {
  return (call: grpc.ServerDuplexStream<unknown, unknown>): void => {
    const context = new _GrpcCallContext(call, path);
    const sink = new _GrpcSink(call);
    const input = new _InputQueue(call);
    _finish(call, sink, () => handler(input, sink, context));
  };
}

/** Runs a streaming handler and ends the call with OK or the status of what it threw. */
function _finish(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  sink: _GrpcSink<unknown>,
  run: () => Promise<void>,
): void {
  let result: Promise<void>;
  try {
    result = run();
  } catch (thrown) {
    result = Promise.reject(thrown);
  }
  result.then(
    () => {
      if (sink.close()) call.end();
    },
    (thrown) => {
      // grpc-js turns an 'error' event on the call into its final status, sent after the
      // messages already written (Writable.end waits for them).
      if (sink.close()) call.emit("error", _statusOf(thrown));
    },
  );
}

/** The CallContext of a grpc-js call; the AbortSignal is made only when asked for. */
class _GrpcCallContext implements CallContext {
  readonly method: string;
  readonly #call: _SurfaceCall;
  #controller: AbortController | undefined;
  #cancelled = false;

  constructor(call: _SurfaceCall, method: string) {
    this.method = method;
    this.#call = call;
    call.once("cancelled", () => {
      this.#cancelled = true;
      this.#controller?.abort(_cancelledError());
    });
  }

  get token(): string | undefined {
    // etcd reads `token`, then `authorization` (what the gateway and swagger clients send).
    return this.metadata("token") ?? this.metadata("authorization");
  }

  get requireLeader(): boolean {
    return this.metadata("hasleader") === "true";
  }

  get peer(): string {
    return this.#call.getPeer();
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(_cancelledError());
    }
    return this.#controller.signal;
  }

  get commonName(): string | undefined {
    const certificate = this.#call.getAuthContext().sslPeerCertificate;
    const commonName = certificate?.subject?.CN;
    return typeof commonName === "string" && commonName !== "" ? commonName : undefined;
  }

  metadata(key: string): string | undefined {
    const value = this.#call.metadata.get(key)[0];
    if (value === undefined) return undefined;
    return typeof value === "string" ? value : value.toString("utf8");
  }
}

/** The part of a grpc-js server call that every kind shares. */
interface _SurfaceCall {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  getAuthContext(): { sslPeerCertificate?: { subject?: { CN?: unknown } } };
  once(event: "cancelled", listener: () => void): unknown;
}

function _cancelledError(): EtcdError {
  return new EtcdError(Status.CANCELLED, "context canceled");
}

type _WritableCall = grpc.ServerWritableStream<unknown, unknown>;

/** StreamSink over a grpc-js writable call, with back-pressure through 'drain'. */
class _GrpcSink<T> implements StreamSink<T> {
  readonly #call: _WritableCall | grpc.ServerDuplexStream<unknown, unknown>;
  #closed = false;
  #waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(call: _WritableCall | grpc.ServerDuplexStream<unknown, unknown>) {
    this.#call = call;
    call.once("cancelled", () => this.close());
    call.on("drain", () => this.#wake());
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: T): Promise<void> {
    if (this.#closed) return Promise.reject(_cancelledError());
    if (this.#call.write(message)) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Marks the sink closed; true the first time (when the caller must end the call). */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(_cancelledError());
    return true;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }
}

/**
 * The requests of a bidirectional call as an AsyncIterable, buffered up to
 * `STREAM_INPUT_QUEUE_MAX` (the socket is paused beyond that). Ends on half-close, cancel
 * or error.
 */
class _InputQueue<T> implements AsyncIterable<T> {
  readonly #call: grpc.ServerDuplexStream<T, unknown>;
  readonly #queue: T[] = [];
  #ended = false;
  #paused = false;
  #wake: (() => void) | undefined;

  constructor(call: grpc.ServerDuplexStream<T, unknown>) {
    this.#call = call;
    call.on("data", (message: T) => {
      this.#queue.push(message);
      if (this.#queue.length >= STREAM_INPUT_QUEUE_MAX && !this.#paused) {
        this.#paused = true;
        call.pause();
      }
      this.#notify();
    });
    const end = (): void => {
      this.#ended = true;
      this.#notify();
    };
    call.once("end", end);
    call.once("cancelled", end);
    call.once("close", end);
    call.once("error", end);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      const message = this.#queue.shift();
      if (message !== undefined) {
        if (this.#paused && this.#queue.length < STREAM_INPUT_QUEUE_MAX / 2) {
          this.#paused = false;
          this.#call.resume();
        }
        yield message;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
