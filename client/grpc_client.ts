/**
 * A thin etcd v3 client over `@grpc/grpc-js` and the generated codecs: one connection per
 * client, calls by method descriptor (`METHODS.KV.Put`, ...). Used by the load tool and by
 * tests; a status received is mapped back to the predefined `EtcdError` with its message.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { errorFromMessage, EtcdError, type StatusCode } from "../rpc/mod.ts";
import type { MethodDescriptor } from "../rpc/mod.ts";

/** Options of `EtcdGrpcClient`. */
export interface EtcdGrpcClientOptions {
  /**
   * Metadata sent with every call, e.g. `{ token }` once authenticated, or
   * `{ hasleader: "true" }`.
   */
  metadata?: Record<string, string>;
  /** Largest response accepted, in bytes. Default 2^31 - 1, as clientv3. */
  maxRecvBytes?: number;
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline, in milliseconds from now. */
  timeoutMs?: number;
}

/** A bidirectional call: send requests, read responses, close or cancel. */
export interface BidiCall<ReqProps, Resp> {
  /** Sends one request. */
  send(request: ReqProps): void;
  /** Half-closes: no more requests. */
  end(): void;
  /** Aborts the call. */
  cancel(): void;
  /** Responses until the server ends the call; throws the call's EtcdError if not OK. */
  responses: AsyncIterable<Resp>;
}

/** One gRPC connection to one endpoint. */
export class EtcdGrpcClient {
  readonly #client: grpc.Client;
  readonly #metadata: grpc.Metadata;

  /** Connects (lazily) to `host:port`. */
  constructor(endpoint: string, options: EtcdGrpcClientOptions = {}) {
    this.#client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
      // A pool of its own, so that N clients really make N connections.
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": options.maxRecvBytes ?? 2 ** 31 - 1,
    });
    this.#metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(options.metadata ?? {})) {
      this.#metadata.set(key, value);
    }
  }

  /** Calls a unary method. */
  unary<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    request: ReqProps,
    options: CallOptions = {},
  ): Promise<Resp> {
    if (method.kind !== "unary") throw new TypeError(`${method.path} is not unary`);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        method.path,
        (message: ReqProps) => _toBuffer(method.request.encode(message)),
        (bytes: Buffer) => method.response.decode(bytes),
        request,
        this.#metadata,
        _callOptions(options),
        (error, response) => {
          if (error) reject(toClientError(error));
          else if (response === undefined) reject(new Error(`${method.path}: no response`));
          else resolve(response);
        },
      );
    });
  }

  /** Calls a server-streaming method; yields each response. */
  async *serverStream<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    request: ReqProps,
    options: CallOptions = {},
  ): AsyncGenerator<Resp> {
    if (method.kind !== "serverStream") throw new TypeError(`${method.path} is not a stream`);
    const call = this.#client.makeServerStreamRequest(
      method.path,
      (message: ReqProps) => _toBuffer(method.request.encode(message)),
      (bytes: Buffer) => method.response.decode(bytes),
      request,
      this.#metadata,
      _callOptions(options),
    );
    try {
      for await (const response of call) yield response as Resp;
    } catch (error) {
      throw toClientError(error);
    } finally {
      call.cancel();
    }
  }

  /** Opens a bidirectional-streaming call. */
  bidi<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    options: CallOptions = {},
  ): BidiCall<ReqProps, Resp> {
    if (method.kind !== "bidi") throw new TypeError(`${method.path} is not bidirectional`);
    const call = this.#client.makeBidiStreamRequest(
      method.path,
      (message: ReqProps) => _toBuffer(method.request.encode(message)),
      (bytes: Buffer) => method.response.decode(bytes),
      this.#metadata,
      _callOptions(options),
    );
    async function* responses(): AsyncGenerator<Resp> {
      try {
        for await (const response of call) yield response as Resp;
      } catch (error) {
        throw toClientError(error);
      }
    }
    return {
      send: (request) => void call.write(request),
      end: () => void call.end(),
      cancel: () => call.cancel(),
      responses: responses(),
    };
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}

/** A grpc-js error as an EtcdError: the predefined one when the message is etcd's. */
export function toClientError(error: unknown): EtcdError | unknown {
  const status = error as Partial<grpc.ServiceError>;
  if (typeof status.code !== "number" || status.code === 0) return error;
  const details = status.details ?? "";
  return errorFromMessage(details) ?? new EtcdError(status.code as StatusCode, details);
}

function _callOptions(options: CallOptions): grpc.CallOptions {
  return options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

function _toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
