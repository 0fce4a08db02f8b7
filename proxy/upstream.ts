/**
 * The proxy's connection to the cluster (what etcd's grpc-proxy gets from clientv3): one
 * @grpc/grpc-js channel per endpoint, plain or TLS by the endpoint's scheme as clientv3 decides,
 * and endpoint failover. A unary call that
 * fails with UNAVAILABLE (the endpoint is down or unreachable) is tried on the next endpoint,
 * each endpoint at most once per call; streams are opened on the current endpoint and their
 * owners (watch, keep-alive) reopen them, which moves to the next endpoint after a failure.
 *
 * The caller's auth token and `hasleader` requirement travel with every call, as etcd's
 * proxy copies them (grpcproxy.AuthUnaryClientInterceptor, clientv3.WithRequireLeader).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import { EtcdError, type MethodDescriptor, Status } from "../rpc/mod.ts";
import { type BidiCall, toClientError } from "../client/mod.ts";
import { stripSchema } from "./gateway.ts";

/** TLS towards the cluster (`--cert`, `--key`, `--cacert`, `--insecure-skip-tls-verify`). */
export interface UpstreamTls {
  caPem?: string | undefined;
  certPem?: string | undefined;
  keyPem?: string | undefined;
  insecureSkipVerify: boolean;
}

/** Options of {@link Upstream}. */
export interface UpstreamOptions {
  /** Cluster endpoints: `host:port` or URLs (the scheme is dropped, as clientv3 does). */
  endpoints: string[];
  tls?: UpstreamTls | undefined;
  /** Largest request sent (`--max-send-bytes`). */
  maxSendBytes: number;
  /** Largest response accepted (`--max-recv-bytes`). */
  maxRecvBytes: number;
}

/** Who a call is made for: the client's token and leader requirement, and its cancellation. */
export interface UpstreamCallOptions {
  token?: string | undefined;
  requireLeader?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** The proxy's client of the cluster. */
export class Upstream {
  readonly endpoints: readonly string[];
  readonly #channels: grpc.Client[];
  #current = 0;

  constructor(options: UpstreamOptions) {
    if (options.endpoints.length === 0) throw new Error("no endpoints");
    this.endpoints = options.endpoints.map(stripSchema);
    this.#channels = this.endpoints.map((endpoint, index) => {
      const tls = _tlsFor(options.endpoints[index]!, options.tls);
      const channelOptions: grpc.ChannelOptions = {
        "grpc.max_send_message_length": options.maxSendBytes,
        "grpc.max_receive_message_length": options.maxRecvBytes,
        "grpc.use_local_subchannel_pool": 1,
        "grpc.initial_reconnect_backoff_ms": 250,
        "grpc.max_reconnect_backoff_ms": 2000,
      };
      if (tls === undefined) {
        return new grpc.Client(endpoint, grpc.credentials.createInsecure(), channelOptions);
      }
      const host = endpoint.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      if (isIP(host) !== 0) {
        // Deno's node:tls refuses an IP address as the SNI server name, which grpc-js sends;
        // a placeholder name goes out instead, and the certificate is checked against the IP.
        channelOptions["grpc.ssl_target_name_override"] = _SNI_PLACEHOLDER;
      }
      return new grpc.Client(endpoint, _sslCredentials(tls, host), channelOptions);
    });
  }

  /** The endpoint streams open on now. */
  get currentEndpoint(): string {
    return this.endpoints[this.#current]!;
  }

  /** Moves to the next endpoint after `endpoint` failed (no-op if another call moved already). */
  failed(endpoint: string): void {
    if (this.endpoints[this.#current] === endpoint) {
      this.#current = (this.#current + 1) % this.endpoints.length;
    }
  }

  /** A unary call with failover on UNAVAILABLE. */
  async unary<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    request: ReqProps,
    options: UpstreamCallOptions = {},
  ): Promise<Resp> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const index = this.#current;
      try {
        return await this.#unaryOn(index, method, request, options);
      } catch (error) {
        if (!(error instanceof EtcdError) || error.code !== Status.UNAVAILABLE) throw error;
        if (options.signal?.aborted === true) throw error;
        lastError = error;
        this.failed(this.endpoints[index]!);
      }
    }
    throw lastError;
  }

  #unaryOn<Req, ReqProps, Resp, RespProps>(
    index: number,
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    request: ReqProps,
    options: UpstreamCallOptions,
  ): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const call = this.#channels[index]!.makeUnaryRequest(
        method.path,
        (message: ReqProps) => _toBuffer(method.request.encode(message)),
        (bytes: Buffer) => method.response.decode(bytes),
        request,
        _metadata(options),
        {},
        (error, response) => {
          options.signal?.removeEventListener("abort", cancel);
          if (error) reject(toClientError(error));
          else if (response === undefined) reject(new Error(`${method.path}: no response`));
          else resolve(response);
        },
      );
      const cancel = () => call.cancel();
      options.signal?.addEventListener("abort", cancel, { once: true });
    });
  }

  /** A server-streaming call on the current endpoint (Snapshot, Observe). */
  async *serverStream<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    request: ReqProps,
    options: UpstreamCallOptions = {},
  ): AsyncGenerator<Resp> {
    const endpoint = this.currentEndpoint;
    const call = this.#channels[this.#current]!.makeServerStreamRequest(
      method.path,
      (message: ReqProps) => _toBuffer(method.request.encode(message)),
      (bytes: Buffer) => method.response.decode(bytes),
      request,
      _metadata(options),
      {},
    );
    const cancel = () => call.cancel();
    options.signal?.addEventListener("abort", cancel, { once: true });
    try {
      for await (const response of call) yield response as Resp;
    } catch (error) {
      const mapped = toClientError(error);
      if (mapped instanceof EtcdError && mapped.code === Status.UNAVAILABLE) this.failed(endpoint);
      throw mapped;
    } finally {
      options.signal?.removeEventListener("abort", cancel);
      call.cancel();
    }
  }

  /**
   * A bidirectional call on the current endpoint. `endpoint` names it, so that its owner can
   * report it with `failed` when the stream breaks.
   */
  bidi<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    options: UpstreamCallOptions = {},
  ): BidiCall<ReqProps, Resp> & { endpoint: string } {
    const endpoint = this.currentEndpoint;
    const call = this.#channels[this.#current]!.makeBidiStreamRequest(
      method.path,
      (message: ReqProps) => _toBuffer(method.request.encode(message)),
      (bytes: Buffer) => method.response.decode(bytes),
      _metadata(options),
      {},
    );
    async function* responses(): AsyncGenerator<Resp> {
      try {
        for await (const response of call) yield response as Resp;
      } catch (error) {
        throw toClientError(error);
      }
    }
    return {
      endpoint,
      send: (request) => void call.write(request),
      end: () => void call.end(),
      cancel: () => call.cancel(),
      responses: responses(),
    };
  }

  /** Closes every channel. */
  close(): void {
    for (const channel of this.#channels) channel.close();
  }
}

/**
 * Whether an endpoint is dialled with TLS, as clientv3 decides (processCreds): an `http://`
 * endpoint never, an `https://` endpoint always (with the system roots when no TLS flag was
 * given), a bare `host:port` when TLS flags were given.
 */
function _tlsFor(endpoint: string, tls: UpstreamTls | undefined): UpstreamTls | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(endpoint)?.[1]?.toLowerCase();
  if (scheme === undefined) return tls;
  if (scheme === "https") return tls ?? { insecureSkipVerify: false };
  return undefined;
}

function _metadata(options: UpstreamCallOptions): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (options.token !== undefined && options.token !== "") metadata.set("token", options.token);
  if (options.requireLeader === true) metadata.set("hasleader", "true");
  return metadata;
}

/** The SNI name sent to an endpoint given by IP address. */
const _SNI_PLACEHOLDER = "etcd-endpoint.invalid";

function _sslCredentials(tls: UpstreamTls, host: string): grpc.ChannelCredentials {
  const verify: grpc.VerifyOptions = {};
  if (tls.insecureSkipVerify) {
    verify.checkServerIdentity = () => undefined;
    (verify as { rejectUnauthorized?: boolean }).rejectUnauthorized = false;
  } else {
    verify.checkServerIdentity = (_name, cert) => checkServerIdentity(host, cert);
  }
  return grpc.credentials.createSsl(
    tls.caPem === undefined ? null : Buffer.from(tls.caPem),
    tls.keyPem === undefined ? null : Buffer.from(tls.keyPem),
    tls.certPem === undefined ? null : Buffer.from(tls.certPem),
    verify,
  );
}

/**
 * etcd's check on the proxy's client certificate (`transport.TLSInfo{EmptyCN: true}`): the
 * certificate the proxy presents to the cluster must have an empty Common Name, since the
 * member would take a CN as the user name of every proxied request.
 */
export function checkEmptyCommonName(certPem: string, certFile: string): void {
  const subject = new X509Certificate(certPem).subject;
  const cn = subject.split("\n").find((part) => part.startsWith("CN="))?.slice(3) ?? "";
  if (cn !== "") throw new Error(`cert has non empty Common Name (${cn}): ${certFile}`);
}

function _toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
