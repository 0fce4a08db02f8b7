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
import { encodeLiteral, type HeaderField } from "./hpack.ts";
import { type Deadline, DeadlineQueue } from "./deadlines.ts";
import { countGrpcReceivedBytes, countGrpcSentBytes } from "../metrics.ts";

const MESSAGE_PREFIX_BYTES = EncodedMessage.PREFIX_BYTES;
const _EMPTY = new Uint8Array(0);
/** What a stream's `send` returns when its message went out at once. */
const _SENT = Promise.resolve();
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
  headers: HeaderField[],
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
    return call;
  }
  const registered = lookup(path);
  if (registered === undefined) {
    call.finish(new EtcdError(Status.UNIMPLEMENTED, _unknownMessage(path)));
    return call;
  }
  call.start(registered);
  return call;
}

/**
 * Unary calls whose request is in, to be run in one microtask. A unary call does not wait for
 * its request in an async function (a promise and a suspended frame per call); it is queued
 * here when its request is complete, and runs after the frames of the read that completed it,
 * where the awaiting code ran before.
 */
const _readyCalls: _GrpcCall[] = [];
let _readyScheduled = false;

function _scheduleUnary(call: _GrpcCall): void {
  _readyCalls.push(call);
  if (_readyScheduled) return;
  _readyScheduled = true;
  queueMicrotask(_runReadyCalls);
}

function _runReadyCalls(): void {
  // A call that becomes ready while these run is run in this loop too.
  for (let i = 0; i < _readyCalls.length; i++) _readyCalls[i]!.runUnary();
  _readyCalls.length = 0;
  _readyScheduled = false;
}

/** grpc-go's texts for a path nobody serves. */
function _unknownMessage(path: string): string {
  const [, service = "", method = ""] = path.split("/");
  return path.split("/").length === 3 && method !== ""
    ? `unknown method ${method} for service ${service}`
    : `malformed method name: "${path}"`;
}

/**
 * One call. It is also the stream's event handler, the handlers' CallContext and its own
 * deadline's target: one object per call where there were four and their closures.
 */
class _GrpcCall implements StreamEvents, CallContext {
  /** Full gRPC method path (the CallContext's `method`). */
  readonly method: string;
  readonly #stream: H2Stream;
  readonly #headers: _RequestHeaders;
  readonly #limits: CallLimits;
  readonly #peer: PeerInfo;
  /** Made when a handler first asks for the signal (most unary calls never do). */
  #abort: AbortController | undefined;
  /** Why the call was cancelled, once it was. */
  #cancelReason: EtcdError | undefined;
  #buffer: Uint8Array = _EMPTY;
  /** The oldest unread request message: a unary call's only one needs no array. */
  #firstMessage: Uint8Array | undefined;
  /** Unread messages after the first, once a second one is queued (streams). */
  #laterMessages: Uint8Array[] | undefined;
  /** Unread messages (`#firstMessage`, then `#laterMessages`). */
  #messageCount = 0;
  /** Bytes of the unread messages. */
  #queuedBytes = 0;
  #ended = false;
  #wake: (() => void) | undefined;
  #headersSent = false;
  #finished = false;
  #deadline: Deadline | undefined;
  /** A unary call waiting for its request message. */
  #unary: RegisteredMethod | undefined;
  /** Whether the unary call is in `_readyCalls`. */
  #unaryScheduled = false;

  constructor(
    stream: H2Stream,
    path: string,
    headers: _RequestHeaders,
    limits: CallLimits,
    peer: PeerInfo,
  ) {
    this.method = path;
    this.#stream = stream;
    this.#headers = headers;
    this.#limits = limits;
    this.#peer = peer;
  }

  // ---- StreamEvents ----

  onData(bytes: Uint8Array): void {
    this.#onData(bytes);
  }

  onEnd(): void {
    this.#ended = true;
    this.#notify();
  }

  onReset(): void {
    this.#cancel(_cancelled());
  }

  /** The call's `grpc-timeout` passed. */
  onDeadline(): void {
    const error = new EtcdError(Status.DEADLINE_EXCEEDED, "context deadline exceeded");
    this.finish(error);
    this.#stream.sendReset(CANCEL);
    this.#cancel(error);
  }

  start(registered: RegisteredMethod): void {
    const timeoutMs = _parseTimeoutMs(this.#headers.get("grpc-timeout"));
    if (timeoutMs !== undefined) this.#deadline = _deadlines.add(timeoutMs, this);
    const { method, handler } = registered;
    if (method.kind === "unary") {
      // Runs once the request is in (`#notify`).
      this.#unary = registered;
      return;
    }
    let run: Promise<void>;
    try {
      run = method.kind === "serverStream"
        ? this.#serverStream(method, handler as ServerStreamHandler<unknown, unknown>, this)
        : this.#bidi(method, handler as BidiHandler<unknown, unknown>, this);
    } catch (thrown) {
      run = Promise.reject(thrown);
    }
    run.then(() => this.finish(undefined), (thrown) => this.finish(toEtcdError(thrown)));
  }

  /**
   * Runs a unary call whose request is in (or whose client ended without one): decode, the
   * handler, the response, the trailers. A call cancelled meanwhile is dropped: its status,
   * if any, was sent by the cancel.
   */
  runUnary(): void {
    const registered = this.#unary;
    this.#unaryScheduled = false;
    this.#unary = undefined;
    if (registered === undefined || this.#cancelReason !== undefined) return;
    const bytes = this.#shiftMessage();
    if (bytes === undefined) {
      this.finish(new EtcdError(Status.INTERNAL, "grpc: no request message received"));
      return;
    }
    const method = registered.method;
    let response: Promise<unknown>;
    try {
      const request = _decode(method, bytes);
      response = (registered.handler as UnaryHandler<unknown, unknown>)(request, this);
    } catch (thrown) {
      this.finish(toEtcdError(thrown));
      return;
    }
    response.then(
      (message) => this.#respond(method, message),
      (thrown) => this.finish(toEtcdError(thrown)),
    );
  }

  /** Sends a unary call's response, then its trailers once the data is queued out. */
  #respond(method: AnyMethodDescriptor, message: unknown): void {
    let sent: Promise<void> | undefined;
    try {
      sent = this.#send(method, message);
    } catch (thrown) {
      this.finish(toEtcdError(thrown));
      return;
    }
    if (sent === undefined) this.finish(undefined);
    else sent.then(() => this.finish(undefined));
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
    while (!this.#ended && this.#messageCount === 0) await this.#waitInput();
    this.#throwIfCancelled();
    const bytes = this.#shiftMessage();
    if (bytes === undefined) {
      throw new EtcdError(Status.INTERNAL, "grpc: no request message received");
    }
    return _decode(method, bytes);
  }

  async *#input(method: AnyMethodDescriptor): AsyncGenerator<unknown> {
    while (true) {
      const bytes = this.#shiftMessage();
      if (bytes !== undefined) {
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
        return this.#send(method, message) ?? _SENT;
      },
      get closed() {
        return isFinished();
      },
    };
  }

  /** Sends one response message; a promise when it waits for flow control, else undefined. */
  #send(method: AnyMethodDescriptor, message: unknown): Promise<void> | undefined {
    // Encoded straight behind room for the prefix; a pre-encoded message comes with it.
    const framed = method.response.encodeFramed(message).framed;
    const length = framed.length - MESSAGE_PREFIX_BYTES;
    countGrpcSentBytes(length);
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
      const end = MESSAGE_PREFIX_BYTES + length;
      if (buffer.length < end) break;
      this.#pushMessage(buffer.subarray(MESSAGE_PREFIX_BYTES, end));
      // A DATA frame usually holds exactly one message: no view of nothing for the rest.
      this.#buffer = buffer.length === end ? _EMPTY : buffer.subarray(end);
      if (this.#messageCount > INPUT_QUEUE_MAX || this.#queuedBytes > INPUT_QUEUE_BYTES_MAX) {
        return this.#fail(Status.RESOURCE_EXHAUSTED, "grpc: too many unread requests");
      }
    }
    this.#notify();
  }

  #fail(code: StatusCode, message: string): void {
    const error = new EtcdError(code, message);
    this.finish(error);
  }

  // ---- CallContext ----

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

  get cancelled(): boolean {
    return this.#cancelReason !== undefined;
  }

  /** Made when a handler first asks for it (most unary calls never do). */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#cancelReason !== undefined) this.#abort.abort(this.#cancelReason);
    }
    return this.#abort.signal;
  }

  metadata(key: string): string | undefined {
    const lower = key.toLowerCase();
    // Pseudo-headers are not metadata.
    return lower.startsWith(":") ? undefined : this.#headers.get(lower);
  }

  #waitInput(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  /** Queues a request message read off the stream. */
  #pushMessage(message: Uint8Array): void {
    if (this.#messageCount === 0) this.#firstMessage = message;
    else (this.#laterMessages ??= []).push(message);
    this.#messageCount++;
    this.#queuedBytes += message.length;
  }

  /** The oldest unread request message, taken off the queue; undefined when there is none. */
  #shiftMessage(): Uint8Array | undefined {
    const message = this.#firstMessage;
    if (message === undefined) return undefined;
    this.#messageCount--;
    this.#firstMessage = this.#messageCount > 0 ? this.#laterMessages!.shift() : undefined;
    if (this.#messageCount > 0 && this.#firstMessage === undefined) {
      throw new Error("grpc call: the message queue lost a message");
    }
    this.#queuedBytes -= message.length;
    return message;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    if (
      this.#unary !== undefined && !this.#unaryScheduled &&
      (this.#ended || this.#messageCount > 0 || this.#cancelReason !== undefined)
    ) {
      this.#unaryScheduled = true;
      _scheduleUnary(this);
    }
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
  readonly #list: HeaderField[];

  constructor(list: HeaderField[]) {
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

function _decode(method: AnyMethodDescriptor, bytes: Uint8Array): unknown {
  try {
    countGrpcReceivedBytes(bytes.length);
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
