/**
 * Transport-independent handler types for etcd's gRPC services.
 *
 * A service handler receives a decoded request and a `CallContext`, and answers with a
 * response object (unary), by sending into a `StreamSink` (server-streaming), or by reading
 * an `AsyncIterable` of requests while sending (bidirectional). It never sees grpc-js: the
 * transport adapter (`grpc_server.ts`) decodes, encodes and maps errors, so a faster
 * transport can replace it without touching a handler.
 *
 * Errors: throw an `EtcdError` (see `errors.ts`); its code and message reach the client as
 * the gRPC status. The server's own errors are mapped to `EtcdError`s by `togRPCError`
 * (`services/grpc_error.ts`) before they get here. Anything else thrown reaches the client
 * as UNKNOWN with its message.
 *
 * @module
 */

/** What a handler may know about the call beyond the request itself. */
export interface CallContext {
  /** Full gRPC method path, e.g. `/etcdserverpb.KV/Range`. */
  readonly method: string;
  /**
   * The auth token: the `token` metadata entry, else `authorization` (etcd's
   * `TokenFieldNameGRPC` and `TokenFieldNameSwagger`).
   */
  readonly token: string | undefined;
  /**
   * True when the client sent `hasleader: true` metadata (clientv3's `WithRequireLeader`):
   * the call must fail with `ErrNoLeader` while the member has no leader.
   */
  readonly requireLeader: boolean;
  /**
   * Common name of the client's verified TLS certificate (`--client-cert-auth`), which etcd
   * takes as the user name when a call carries no token; undefined without one.
   */
  readonly commonName: string | undefined;
  /** The client's address, as `host:port`, when known. */
  readonly peer: string;
  /**
   * Aborted when the client cancels the call, its deadline passes or the connection closes.
   * Long waits (a ReadIndex, a proposal) should give up when it fires.
   */
  readonly signal: AbortSignal;
  /**
   * Whether `signal` has aborted, without asking for it: a transport may make a call's signal
   * on first use, and most calls never need one.
   */
  readonly cancelled: boolean;
  /** The first value of a metadata entry (keys are lower case), or undefined. */
  metadata(key: string): string | undefined;
}

/**
 * The sending half of a streaming call.
 *
 * `send` resolves once the transport has taken the message into its bounded buffer; when the
 * client reads slowly it resolves later (back-pressure). A caller that must never wait (the
 * apply loop feeding watchers) keeps its own bounded queue in front of `send`, as etcd's
 * watch stream does with its 128-entry channel.
 */
export interface StreamSink<Resp> {
  /**
   * Queues one message (or one already encoded); rejects with an `EtcdError` (CANCELLED) once
   * the stream is closed.
   */
  send(message: Resp | EncodedMessage): Promise<void>;
  /** True once the call has ended (client cancel, connection loss, or the handler returned). */
  readonly closed: boolean;
}

/**
 * A message already in protobuf wire form. A handler that sends the same content many times (a
 * watch stream's event to each of its watchers) encodes it once and hands this to
 * `StreamSink.send`; every codec of the method table passes the bytes through unchanged.
 *
 * The bytes come with room for gRPC's 5-byte length prefix in front (compressed flag 0, then the
 * length, big-endian), filled here, so that a transport frames the message without copying it.
 */
export class EncodedMessage {
  /** Bytes of gRPC's message prefix at the front of {@link framed}. */
  static readonly PREFIX_BYTES = 5;
  /** The length prefix, then the message. */
  readonly framed: Uint8Array;

  /** `framed`: {@link EncodedMessage.PREFIX_BYTES} bytes of room, then the encoded message. */
  constructor(framed: Uint8Array) {
    const length = framed.length - EncodedMessage.PREFIX_BYTES;
    if (length < 0) throw new RangeError("EncodedMessage: no room for the message prefix");
    // Not compressed, then the length, big-endian (no DataView: this runs per watch event).
    framed[0] = 0;
    framed[1] = (length >>> 24) & 0xff;
    framed[2] = (length >>> 16) & 0xff;
    framed[3] = (length >>> 8) & 0xff;
    framed[4] = length & 0xff;
    this.framed = framed;
  }

  /** The message without its prefix. */
  get bytes(): Uint8Array {
    return this.framed.subarray(EncodedMessage.PREFIX_BYTES);
  }
}

/** A unary method: one request, one response. */
export type UnaryHandler<Req, Resp> = (request: Req, context: CallContext) => Promise<Resp>;

/**
 * A server-streaming method: one request, many responses. The call ends with status OK when
 * the returned promise resolves, with the error's status when it rejects.
 */
export type ServerStreamHandler<Req, Resp> = (
  request: Req,
  sink: StreamSink<Resp>,
  context: CallContext,
) => Promise<void>;

/**
 * A bidirectional-streaming method. `input` yields each request as it arrives and ends when
 * the client half-closes or the call is cancelled. The call ends when the returned promise
 * settles: OK on resolve, the error's status on reject.
 */
export type BidiHandler<Req, Resp> = (
  input: AsyncIterable<Req>,
  sink: StreamSink<Resp>,
  context: CallContext,
) => Promise<void>;

/** A plain HTTP/1.1 handler for `/health`, `/version`, `/metrics` and the like. */
export type HttpHandler = (request: Request) => Response | Promise<Response>;
