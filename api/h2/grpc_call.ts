/**
 * gRPC over our HTTP/2 connection (`connection.ts`): request headers to a method, the
 * length-prefixed message framing, and the three call kinds run against the same
 * transport-independent handlers as the grpc-js adapter.
 *
 * gRPC message framing (gRPC over HTTP/2, "Length-Prefixed-Message"):
 *
 * | offset | size | field                              |
 * |--------|------|------------------------------------|
 * | 0      | 1    | compressed flag (0: none)          |
 * | 1      | 4    | message length, big-endian         |
 * | 5      | n    | message                            |
 *
 * Status texts follow grpc-go, which etcd's clients were written against.
 *
 * @module
 */

import { EncodedMessage, EtcdError, Status, type StatusCode, toEtcdError } from "../../rpc/mod.ts";
import type {
  BidiHandler,
  CallContext,
  ServerStreamHandler,
  StreamSink,
  UnaryHandler,
} from "../../rpc/mod.ts";
import type { AnyMethodDescriptor } from "../../rpc/mod.ts";
import { CANCEL, type H2Stream, type StreamEvents } from "./connection.ts";
import { encodeLiteral } from "./hpack.ts";
import { type Deadline, DeadlineQueue } from "./deadlines.ts";
import {
  networkClientGrpcReceivedBytesTotal,
  networkClientGrpcSentBytesTotal,
} from "../metrics.ts";

const MESSAGE_PREFIX_BYTES = EncodedMessage.PREFIX_BYTES;
/** Requests a bidirectional call may queue unread before it is cancelled. */
const INPUT_QUEUE_MAX = 1024;
/** Bytes of unread requests a call may hold before it is cancelled. */
const INPUT_QUEUE_BYTES_MAX = 16 << 20;

/** The trailers of a call that ended with OK after its response headers: the same bytes. */
const _OK_TRAILERS = (() => {
  const out: number[] = [];
  encodeLiteral(out, "grpc-status", String(Status.OK));
  return Uint8Array.from(out);
})();

/** Every call's `grpc-timeout`, on one timer (most calls finish long before it). */
const _deadlines = new DeadlineQueue();

/** A method and its handler, found by path. */
export interface RegisteredMethod {
  method: AnyMethodDescriptor;
  handler: unknown;
}

/** Who is at the other end of the connection. */
export interface PeerInfo {
  /** `host:port`. */
  address: string;
  /** Common name of the verified TLS client certificate, if any. */
  commonName?: string;
}

/** Per-server settings of calls. */
export interface CallLimits {
  maxRecvBytes: number;
  maxSendBytes: number;
}

// `:status: 200` is static entry 8 (RFC 7541 Appendix A): one indexed byte.
const _RESPONSE_HEADERS = (() => {
  const out = [0x88];
  encodeLiteral(out, "content-type", "application/grpc");
  return Uint8Array.from(out);
})();

/** Starts serving a new stream; answers at once when the method is unknown. */
export function acceptGrpcStream(
  stream: H2Stream,
  headers: [string, string][],
  lookup: (path: string) => RegisteredMethod | undefined,
  limits: CallLimits,
  peer: PeerInfo,
): StreamEvents {
  const request = new _RequestHeaders(headers);
  const path = request.get(":path") ?? "";
  const call = new _GrpcCall(stream, path, request, limits, peer);
  const contentType = request.get("content-type") ?? "";
  if (request.get(":method") !== "POST" || !contentType.startsWith("application/grpc")) {
    call.finish(new EtcdError(Status.INTERNAL, `invalid gRPC request (${contentType})`));
    return call.events;
  }
  const registered = lookup(path);
  if (registered === undefined) {
    call.finish(new EtcdError(Status.UNIMPLEMENTED, _unknownMessage(path)));
    return call.events;
  }
  call.start(registered);
  return call.events;
}

/** grpc-go's texts for a path nobody serves. */
function _unknownMessage(path: string): string {
  const [, service = "", method = ""] = path.split("/");
  return path.split("/").length === 3 && method !== ""
    ? `unknown method ${method} for service ${service}`
    : `malformed method name: "${path}"`;
}

class _GrpcCall {
  readonly events: StreamEvents;
  readonly #stream: H2Stream;
  readonly #path: string;
  readonly #headers: _RequestHeaders;
  readonly #limits: CallLimits;
  readonly #peer: PeerInfo;
  /** Made when a handler first asks for the signal (most unary calls never do). */
  #abort: AbortController | undefined;
  /** Why the call was cancelled, once it was. */
  #cancelReason: EtcdError | undefined;
  #buffer: Uint8Array = new Uint8Array(0);
  #messages: Uint8Array[] = [];
  /** Bytes in `#messages`. */
  #queuedBytes = 0;
  #ended = false;
  #wake: (() => void) | undefined;
  #headersSent = false;
  #finished = false;
  #deadline: Deadline | undefined;

  constructor(
    stream: H2Stream,
    path: string,
    headers: _RequestHeaders,
    limits: CallLimits,
    peer: PeerInfo,
  ) {
    this.#stream = stream;
    this.#path = path;
    this.#headers = headers;
    this.#limits = limits;
    this.#peer = peer;
    this.events = {
      onData: (bytes) => this.#onData(bytes),
      onEnd: () => {
        this.#ended = true;
        this.#notify();
      },
      onReset: () => this.#cancel(_cancelled()),
    };
  }

  start(registered: RegisteredMethod): void {
    const timeoutMs = _parseTimeoutMs(this.#headers.get("grpc-timeout"));
    if (timeoutMs !== undefined) {
      this.#deadline = _deadlines.add(timeoutMs, () => {
        const error = new EtcdError(Status.DEADLINE_EXCEEDED, "context deadline exceeded");
        this.finish(error);
        this.#stream.sendReset(CANCEL);
        this.#cancel(error);
      });
    }
    const { method, handler } = registered;
    const context = this.#context();
    let run: Promise<void>;
    try {
      run = method.kind === "unary"
        ? this.#unary(method, handler as UnaryHandler<unknown, unknown>, context)
        : method.kind === "serverStream"
        ? this.#serverStream(method, handler as ServerStreamHandler<unknown, unknown>, context)
        : this.#bidi(method, handler as BidiHandler<unknown, unknown>, context);
    } catch (thrown) {
      run = Promise.reject(thrown);
    }
    run.then(() => this.finish(undefined), (thrown) => this.finish(toEtcdError(thrown)));
  }

  async #unary(
    method: AnyMethodDescriptor,
    handler: UnaryHandler<unknown, unknown>,
    context: CallContext,
  ): Promise<void> {
    const request = await this.#readOnly(method);
    const response = await handler(request, context);
    await this.#send(method, response);
  }

  async #serverStream(
    method: AnyMethodDescriptor,
    handler: ServerStreamHandler<unknown, unknown>,
    context: CallContext,
  ): Promise<void> {
    const request = await this.#readOnly(method);
    await handler(request, this.#sink(method), context);
  }

  #bidi(
    method: AnyMethodDescriptor,
    handler: BidiHandler<unknown, unknown>,
    context: CallContext,
  ): Promise<void> {
    return handler(this.#input(method), this.#sink(method), context);
  }

  /** The single request of a unary or server-streaming call. */
  async #readOnly(method: AnyMethodDescriptor): Promise<unknown> {
    while (!this.#ended && this.#messages.length === 0) await this.#waitInput();
    this.#throwIfCancelled();
    const bytes = this.#messages.shift();
    if (bytes === undefined) {
      throw new EtcdError(Status.INTERNAL, "grpc: no request message received");
    }
    this.#queuedBytes -= bytes.length;
    return _decode(method, bytes);
  }

  async *#input(method: AnyMethodDescriptor): AsyncGenerator<unknown> {
    while (true) {
      const bytes = this.#messages.shift();
      if (bytes !== undefined) {
        this.#queuedBytes -= bytes.length;
        yield _decode(method, bytes);
        continue;
      }
      if (this.#ended || this.#cancelReason !== undefined) return;
      await this.#waitInput();
    }
  }

  #sink(method: AnyMethodDescriptor): StreamSink<unknown> {
    const isFinished = () => this.#finished;
    return {
      send: (message) => {
        if (this.#finished) return Promise.reject(_cancelled());
        return this.#send(method, message);
      },
      get closed() {
        return isFinished();
      },
    };
  }

  #send(method: AnyMethodDescriptor, message: unknown): Promise<void> {
    // Encoded straight behind room for the prefix; a pre-encoded message comes with it.
    const framed = method.response.encodeFramed(message).framed;
    const length = framed.length - MESSAGE_PREFIX_BYTES;
    networkClientGrpcSentBytesTotal.inc(length);
    if (length > this.#limits.maxSendBytes) {
      throw new EtcdError(
        Status.RESOURCE_EXHAUSTED,
        `grpc: trying to send message larger than max (${length} vs. ` +
          `${this.#limits.maxSendBytes})`,
      );
    }
    this.#sendHeadersOnce();
    return this.#stream.sendData(framed);
  }

  #sendHeadersOnce(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.#stream.sendHeaders(_RESPONSE_HEADERS, false);
  }

  /** Ends the call with OK (`error` undefined) or the error's status; once. */
  finish(error: EtcdError | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#deadline?.cancel();
    if (error === undefined && this.#headersSent) {
      this.#stream.sendHeaders(_OK_TRAILERS, true);
      this.#notify();
      return;
    }
    const code: StatusCode = error?.code ?? Status.OK;
    const out: number[] = [];
    if (!this.#headersSent) {
      // Trailers-only response: status and content type in the one HEADERS frame.
      this.#headersSent = true;
      out.push(..._RESPONSE_HEADERS);
    }
    encodeLiteral(out, "grpc-status", String(code));
    if (error !== undefined) encodeLiteral(out, "grpc-message", _percentEncode(error.message));
    this.#stream.sendHeaders(Uint8Array.from(out), true);
    this.#notify();
  }

  #onData(bytes: Uint8Array): void {
    if (this.#finished) return;
    this.#buffer = this.#buffer.length === 0 ? bytes : _join(this.#buffer, bytes);
    while (this.#buffer.length >= MESSAGE_PREFIX_BYTES) {
      const buffer = this.#buffer;
      const compressed = buffer[0]!;
      const length = (buffer[1]! << 24 | buffer[2]! << 16 | buffer[3]! << 8 | buffer[4]!) >>> 0;
      if (compressed !== 0) {
        return this.#fail(Status.UNIMPLEMENTED, "grpc: compressed messages are not supported");
      }
      if (length > this.#limits.maxRecvBytes) {
        return this.#fail(
          Status.RESOURCE_EXHAUSTED,
          `grpc: received message larger than max (${length} vs. ${this.#limits.maxRecvBytes})`,
        );
      }
      if (this.#buffer.length < MESSAGE_PREFIX_BYTES + length) break;
      this.#messages.push(
        this.#buffer.subarray(MESSAGE_PREFIX_BYTES, MESSAGE_PREFIX_BYTES + length),
      );
      this.#buffer = this.#buffer.subarray(MESSAGE_PREFIX_BYTES + length);
      this.#queuedBytes += length;
      if (this.#messages.length > INPUT_QUEUE_MAX || this.#queuedBytes > INPUT_QUEUE_BYTES_MAX) {
        return this.#fail(Status.RESOURCE_EXHAUSTED, "grpc: too many unread requests");
      }
    }
    this.#notify();
  }

  #fail(code: StatusCode, message: string): void {
    const error = new EtcdError(code, message);
    this.finish(error);
  }

  #context(): CallContext {
    return new _H2CallContext(this.#path, this.#headers, this.#peer, () => this.#signal());
  }

  #signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#cancelReason !== undefined) this.#abort.abort(this.#cancelReason);
    }
    return this.#abort.signal;
  }

  #waitInput(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Aborts the handler's signal; after a reset no status is sent any more. */
  #cancel(reason: EtcdError): void {
    this.#cancelReason ??= reason;
    if (this.#abort !== undefined && !this.#abort.signal.aborted) this.#abort.abort(reason);
    this.#finished = true;
    this.#deadline?.cancel();
    this.#notify();
  }

  #throwIfCancelled(): void {
    if (this.#cancelReason !== undefined) throw this.#cancelReason;
  }
}

/**
 * A request's headers, looked up by name; the first of repeated names wins. A linear search
 * over the decoded list: a gRPC request has about eight headers and a call looks up three or
 * four, which costs less than building a Map per call.
 */
class _RequestHeaders {
  readonly #list: [string, string][];

  constructor(list: [string, string][]) {
    this.#list = list;
  }

  /** The value of `name` (lowercase, as HTTP/2 sends names), or undefined. */
  get(name: string): string | undefined {
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      const header = list[i]!;
      if (header[0] === name) return header[1];
    }
    return undefined;
  }
}

/** The CallContext of a call on the native transport. */
class _H2CallContext implements CallContext {
  readonly method: string;
  readonly #headers: _RequestHeaders;
  readonly #peer: PeerInfo;
  readonly #signal: () => AbortSignal;

  constructor(
    method: string,
    headers: _RequestHeaders,
    peer: PeerInfo,
    signal: () => AbortSignal,
  ) {
    this.method = method;
    this.#headers = headers;
    this.#peer = peer;
    this.#signal = signal;
  }

  get token(): string | undefined {
    return this.metadata("token") ?? this.metadata("authorization");
  }

  get requireLeader(): boolean {
    return this.metadata("hasleader") === "true";
  }

  get commonName(): string | undefined {
    return this.#peer.commonName;
  }

  get peer(): string {
    return this.#peer.address;
  }

  get signal(): AbortSignal {
    return this.#signal();
  }

  metadata(key: string): string | undefined {
    const lower = key.toLowerCase();
    // Pseudo-headers are not metadata.
    return lower.startsWith(":") ? undefined : this.#headers.get(lower);
  }
}

function _decode(method: AnyMethodDescriptor, bytes: Uint8Array): unknown {
  try {
    networkClientGrpcReceivedBytesTotal.inc(bytes.length);
    return method.request.decode(bytes);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    throw new EtcdError(Status.INTERNAL, `grpc: error unmarshalling request: ${text}`);
  }
}

function _cancelled(): EtcdError {
  return new EtcdError(Status.CANCELLED, "context canceled");
}

/** Milliseconds per `grpc-timeout` unit. */
const _TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** `grpc-timeout` (e.g. `100m`, `5S`): 1-8 ASCII digits and a unit, in milliseconds. */
function _parseTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unitMs = _TIMEOUT_UNIT_MS[value[value.length - 1]!];
  if (unitMs === undefined) return undefined;
  let amount = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    amount = amount * 10 + digit;
  }
  return Math.max(0, Math.ceil(amount * unitMs));
}

/** Percent-encodes a status message as gRPC requires (printable ASCII except `%`). */
function _percentEncode(message: string): string {
  const bytes = new TextEncoder().encode(message);
  let out = "";
  for (const byte of bytes) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function _join(left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = new Uint8Array(left.length + right.length);
  out.set(left, 0);
  out.set(right, left.length);
  return out;
}
