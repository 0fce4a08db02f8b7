/**
 * The one HTTP client every peer request goes through (etcd rafthttp util.go NewTransport and
 * pkg/transport TLSInfo.ClientConfig): a fetch-like `request(url, init)` that answers a
 * `Response` with a streamed body.
 *
 * - `http://` peers go through Deno's `fetch` (its pool for pipeline and snapshot POSTs), but
 *   the long-lived stream GETs ({@link PeerClient.openStream}) have a connection each, read
 *   by our own HTTP/1.1 parser.
 * - `unix://` peers go through `fetch` with a client whose proxy is the socket file (etcd's
 *   unix transport dials the URL's host as a file name).
 * - A GET with a body (etcd's `GET /members/hashkv`) to an `http://` peer goes through
 *   `node:http`: `fetch` refuses a body on a GET.
 * - `https://` peers go through `node:https`, because Deno's `fetch` cannot skip certificate
 *   verification and etcd's `--peer-auto-tls` members present self-signed certificates that
 *   etcd itself dials with InsecureSkipVerify. The TLS settings follow etcd's peer TLSInfo:
 *   a trusted CA (`--peer-trusted-ca-file`) to verify against, the member's own certificate
 *   and key sent as client certificate (needed by a peer with `--peer-client-cert-auth` or a
 *   trusted CA), and verification skipped for self-signed auto-TLS certificates.
 *
 * @module
 */

import { Agent, request as httpsRequest } from "node:https";
import {
  Agent as PlainAgent,
  type ClientRequestArgs,
  type IncomingMessage,
  request as httpRequest,
} from "node:http";
import type { Duplex } from "node:stream";
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from "node:tls";
import { connect } from "node:net";
import { drained } from "../bytes/mod.ts";
import { TlsContext, type TlsContextOptions, TlsSocket } from "../tls/mod.ts";
import { requestRawStream } from "./raw_stream_client.ts";

/** The TLS side of a peer client (etcd transport.TLSInfo as a client). */
export interface PeerTlsOptions {
  /** PEM of the CAs that sign peer certificates; without it the system roots are used. */
  caPem?: string;
  /** PEM of our certificate, sent as client certificate. */
  certPem?: string;
  /** PEM of our certificate's key. */
  keyPem?: string;
  /** Accept any server certificate (etcd: self-signed auto-TLS certificates). */
  insecureSkipVerify: boolean;
  /**
   * A further check of the server's verified certificate (etcd's allowed CN or host name,
   * which its peer transport applies as a client too); an Error fails the connection.
   */
  verifyServerCertificate?: (cert: PeerCertificate) => Error | undefined;
  /** A check of the established connection (cipher suites); an Error closes it. */
  verifyConnection?: (socket: TLSSocket) => Error | undefined;
  /**
   * Dial through OpenSSL (tls/) instead: the checks then act inside the handshake, as etcd's
   * Go TLS does (a refused server certificate is answered with the bad_certificate alert,
   * the cipher list restricts what is offered). Replaces the PEM fields and the two checks
   * above for `https://` peers.
   */
  openSsl?: OpenSslDialOptions;
}

/** The OpenSSL side of a peer client ({@link PeerTlsOptions.openSsl}). */
export interface OpenSslDialOptions {
  /** PEM file of our certificate, sent as client certificate. */
  certFile?: string;
  keyFile?: string;
  /** PEM file of the CAs the server certificate must chain to (default: system roots). */
  caFile?: string;
  /** OpenSSL cipher list for TLS 1.2 (`""`: TLS 1.3 only). */
  cipherList?: string;
  /** A further check of the server's verified leaf certificate (DER). */
  verifyLeaf?: (der: Uint8Array) => Error | undefined;
  /** The check that the server's leaf is valid for the host dialled (Go's VerifyHostname). */
  verifyHost?: (der: Uint8Array, host: string) => Error | undefined;
}

/** What a peer request may carry; a subset of `RequestInit`. */
export interface PeerRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array<ArrayBuffer> | string | ReadableStream<Uint8Array>;
  signal?: AbortSignal;
  /** `stream` for long-lived GETs; `pipeline` (default) for short requests. */
  pool?: "stream" | "pipeline";
}

/** The answer to a stream GET ({@link PeerClient.openStream}), its body read piece by piece. */
export interface PeerStreamResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The next body bytes, or null at its end; rejects once the request's signal fired. */
  read(): Promise<Uint8Array | null>;
  /** The body as text (error answers). */
  text(): Promise<string>;
  /** Gives the body up and closes its connection. */
  close(): void;
}

/** True when an HTTP proxy is configured for this process (then stream GETs go by `fetch`). */
const _HTTP_PROXY_SET = ["HTTP_PROXY", "http_proxy"].some((variable) =>
  // Asked only with permission (no prompt): a member runs with every permission.
  Deno.permissions.querySync({ name: "env", variable }).state === "granted" &&
  (Deno.env.get(variable) ?? "") !== ""
);

/** Idle keep-alive connections kept per peer host. */
const _IDLE_SOCKETS_PER_HOST_MAX = 8;
/** Unix socket files dialled at most (one per peer URL; a cluster has a handful). */
const _UNIX_SOCKETS_MAX = 64;
/** Statuses whose responses carry no body (the Response constructor refuses one). */
const _NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** A fetch-like client for peer URLs, plain or TLS. */
export class PeerClient {
  readonly #tls: PeerTlsOptions | undefined;
  #streamClient: Deno.HttpClient | undefined;
  #pipelineClient: Deno.HttpClient | undefined;
  #agent: Agent | undefined;
  /** The OpenSSL context of {@link PeerTlsOptions.openSsl}, made with the agent. */
  #context: TlsContext | undefined;
  /** Plain GETs with a body are rare (one hash request per check): no kept connections. */
  #plainAgent: PlainAgent | undefined;
  /** One connection pool per unix socket file of a peer. */
  readonly #unixClients = new Map<string, Deno.HttpClient>();
  #closed = false;

  /** `tls` is used for `https://` URLs; without it they are verified against system roots. */
  constructor(options: { tls?: PeerTlsOptions } = {}) {
    this.#tls = options.tls;
  }

  /** Sends one request; the promise settles when the response headers arrived. */
  request(url: string, init: PeerRequestInit = {}): Promise<Response> {
    if (this.#closed) return Promise.reject(new Error("peer client closed"));
    if (url.startsWith("https:")) return this.#requestTls(new URL(url), init);
    if (url.startsWith("unix:")) return this.#requestUnix(new URL(url), init);
    if (!url.startsWith("http:")) {
      return Promise.reject(new Error(`unsupported peer URL scheme: ${url}`));
    }
    if ((init.method ?? "GET") === "GET" && init.body !== undefined) {
      return this.#requestNode(new URL(url), init, false);
    }
    const client = init.pool === "stream" ? this.#stream() : this.#pipeline();
    const request: RequestInit & { client: Deno.HttpClient } = { client };
    if (init.method !== undefined) request.method = init.method;
    if (init.headers !== undefined) request.headers = init.headers;
    if (init.body !== undefined) request.body = init.body;
    if (init.signal !== undefined) request.signal = init.signal;
    return fetch(url, request);
  }

  /**
   * Sends a stream GET (etcd's `/raft/stream/...`, a body that never ends). An `http://` peer
   * is read over a connection of its own with our HTTP/1.1 parser (raw_stream_client.ts);
   * `https://` and `unix://` peers take {@link request}'s way, their body read through its
   * `ReadableStream`, and so do `http://` peers when `HTTP_PROXY` is set (etcd's peer transport
   * honours it, Go's ProxyFromEnvironment; `fetch` does too, our parser does not dial proxies).
   */
  openStream(
    url: string,
    init: { headers: Record<string, string>; signal: AbortSignal },
  ): Promise<PeerStreamResponse> {
    if (this.#closed) return Promise.reject(new Error("peer client closed"));
    if (url.startsWith("http:") && !_HTTP_PROXY_SET) return requestRawStream(new URL(url), init);
    return this.request(url, { ...init, pool: "stream" }).then((response) =>
      _streamOfResponse(response, init.signal)
    );
  }

  /**
   * A `unix://host:port` peer, as etcd's unix transport dials it: the socket file is the URL's
   * host (`etcd.unix:1`, relative to the working directory); the request goes there as plain
   * HTTP with the URL's path.
   */
  #requestUnix(url: URL, init: PeerRequestInit): Promise<Response> {
    const socket = url.host;
    if (socket === "") return Promise.reject(new Error(`unix peer URL without a socket: ${url}`));
    let client = this.#unixClients.get(socket);
    if (client === undefined) {
      if (this.#unixClients.size >= _UNIX_SOCKETS_MAX) {
        return Promise.reject(new Error(`more than ${_UNIX_SOCKETS_MAX} unix peer sockets`));
      }
      client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
      this.#unixClients.set(socket, client);
    }
    const request: RequestInit & { client: Deno.HttpClient } = { client };
    if (init.method !== undefined) request.method = init.method;
    if (init.headers !== undefined) request.headers = init.headers;
    if (init.body !== undefined) request.body = init.body;
    if (init.signal !== undefined) request.signal = init.signal;
    // The host is not dialled (the client's proxy is the socket); fetch refuses some ports.
    return fetch(`http://localhost${url.pathname}${url.search}`, request);
  }

  /** Closes the pools; later requests fail. Open responses end with their sockets. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#streamClient?.close();
    this.#pipelineClient?.close();
    for (const client of this.#unixClients.values()) client.close();
    this.#unixClients.clear();
    this.#agent?.destroy();
    this.#plainAgent?.destroy();
    this.#context?.close();
  }

  #stream(): Deno.HttpClient {
    return this.#streamClient ??= Deno.createHttpClient({});
  }

  #pipeline(): Deno.HttpClient {
    return this.#pipelineClient ??= Deno.createHttpClient({
      poolMaxIdlePerHost: _IDLE_SOCKETS_PER_HOST_MAX,
    });
  }

  #tlsAgent(): Agent {
    if (this.#agent !== undefined) return this.#agent;
    const tls = this.#tls;
    if (tls?.openSsl !== undefined) {
      this.#context = _dialContext(tls.openSsl, tls.insecureSkipVerify);
      const agent = new _OpenSslAgent({
        keepAlive: true,
        maxFreeSockets: _IDLE_SOCKETS_PER_HOST_MAX,
      }, this.#context);
      this.#agent = agent;
      return agent;
    }
    const options: ConstructorParameters<typeof Agent>[0] = {
      keepAlive: true,
      maxFreeSockets: _IDLE_SOCKETS_PER_HOST_MAX,
      rejectUnauthorized: tls === undefined || !tls.insecureSkipVerify,
    };
    if (tls?.caPem !== undefined) options.ca = tls.caPem;
    if (tls?.certPem !== undefined) options.cert = tls.certPem;
    if (tls?.keyPem !== undefined) options.key = tls.keyPem;
    const verifyCertificate = tls?.verifyServerCertificate;
    if (verifyCertificate !== undefined) {
      options.checkServerIdentity = (host: string, cert: PeerCertificate) =>
        checkServerIdentity(host, cert) ?? verifyCertificate(cert);
    }
    this.#agent = new Agent(options);
    return this.#agent;
  }

  #requestTls(url: URL, init: PeerRequestInit): Promise<Response> {
    const tls = this.#tls;
    if (tls?.insecureSkipVerify && tls.verifyServerCertificate !== undefined) {
      // etcd: an unverified server certificate has no verified chain, so a CN or host name
      // restriction can never pass (its VerifyPeerCertificate sees no chain).
      const refused = tls.verifyServerCertificate({} as PeerCertificate);
      if (refused !== undefined) return Promise.reject(refused);
    }
    return this.#requestNode(url, init, true);
  }

  /** One request through `node:https` (`secure`) or `node:http`. */
  #requestNode(url: URL, init: PeerRequestInit, secure: boolean): Promise<Response> {
    const signal = init.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const tls = secure ? this.#tls : undefined;
    const headers = { ...init.headers };
    const payload = init.body;
    if (typeof payload === "string" || payload instanceof Uint8Array) {
      // A GET is not sent chunked by node: its body needs a length to be framed at all.
      const bytes = typeof payload === "string"
        ? new TextEncoder().encode(payload).length
        : payload.length;
      if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-length")) {
        headers["Content-Length"] = String(bytes);
      }
    }
    return new Promise<Response>((resolve, reject) => {
      const target = {
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
        path: url.pathname + url.search,
        method: init.method ?? "GET",
        headers,
      };
      const request = secure ? httpsRequest({ ...target, agent: this.#tlsAgent() }) : httpRequest({
        ...target,
        agent: this.#plainAgent ??= new PlainAgent({ keepAlive: false }),
      });
      const verifyConnection = tls?.openSsl === undefined ? tls?.verifyConnection : undefined;
      if (verifyConnection !== undefined) {
        request.on("socket", (socket) => _verifyOnce(socket as TLSSocket, verifyConnection));
      }
      let settled = false;
      let body: _BodySource | undefined;
      const onAbort = () => {
        const reason = signal?.reason ?? new Error("aborted");
        body?.fail(reason);
        request.destroy(reason instanceof Error ? reason : new Error(String(reason)));
        if (!settled) {
          settled = true;
          reject(reason);
        }
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      request.on("error", (error: Error) => {
        body?.fail(error);
        if (!settled) {
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        }
      });
      request.on("response", (incoming: IncomingMessage) => {
        settled = true;
        const status = incoming.statusCode ?? 0;
        const headers = _headers(incoming);
        if (_NULL_BODY_STATUSES.has(status)) {
          incoming.resume();
          incoming.on("end", () => signal?.removeEventListener("abort", onAbort));
          resolve(new Response(null, { status, headers }));
          return;
        }
        body = new _BodySource(incoming, () => signal?.removeEventListener("abort", onAbort));
        resolve(new Response(body.stream, { status, headers }));
      });
      _writeBody(request, payload).catch((error) => request.destroy(error));
    });
  }
}

/**
 * A fetch-like response as a {@link PeerStreamResponse}. Deno's fetch body does not always settle
 * a pending read when the request is aborted while the connection carries no bytes (a frozen
 * link), so each read also ends when `signal` fires: one listener, each read swapping the
 * reject it calls.
 */
function _streamOfResponse(response: Response, signal: AbortSignal): PeerStreamResponse {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let rejectRead: ((reason: unknown) => void) | undefined;
  const onAbort = () => rejectRead?.(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const close = () => {
    signal.removeEventListener("abort", onAbort);
    rejectRead = undefined;
    if (reader !== undefined) reader.cancel().catch(() => {});
    else response.body?.cancel().catch(() => {});
  };
  return {
    status: response.status,
    headers: response.headers,
    read: () =>
      new Promise<Uint8Array | null>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        if (response.body === null) return resolve(null);
        reader ??= response.body.getReader();
        rejectRead = reject;
        reader.read().then(({ done, value }) => resolve(done ? null : value), reject);
      }),
    text: () => response.text().finally(close),
    close,
  };
}

/** The client context of an OpenSSL peer client. */
function _dialContext(options: OpenSslDialOptions, insecureSkipVerify: boolean): TlsContext {
  const contextOptions: TlsContextOptions = { role: "client", verifyPeer: !insecureSkipVerify };
  if (options.certFile !== undefined) contextOptions.certFile = options.certFile;
  if (options.keyFile !== undefined) contextOptions.keyFile = options.keyFile;
  if (options.caFile !== undefined) contextOptions.caFile = options.caFile;
  if (options.cipherList !== undefined) contextOptions.cipherList = options.cipherList;
  const verifyLeaf = options.verifyLeaf;
  if (verifyLeaf !== undefined) contextOptions.verifyLeaf = (der) => verifyLeaf(der);
  if (options.verifyHost !== undefined) contextOptions.verifyHost = options.verifyHost;
  return new TlsContext(contextOptions);
}

/** A keep-alive agent whose connections are OpenSSL TLS sockets over `node:net`. */
class _OpenSslAgent extends Agent {
  readonly #context: TlsContext;

  constructor(options: ConstructorParameters<typeof Agent>[0], context: TlsContext) {
    super(options);
    this.#context = context;
  }

  /**
   * Dials, and hands the socket over through `callback` once its handshake is done (or the
   * error). Node's Agent waits for the callback when nothing is returned; the declared
   * return type is the base class's.
   */
  override createConnection(
    options: ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex {
    return this.#dial(options, (error, socket) => callback?.(error, socket as Duplex)) as never;
  }

  #dial(
    options: ClientRequestArgs,
    callback: (error: Error | null, socket?: TlsSocket) => void,
  ): undefined {
    const host = (options.hostname ?? options.host ?? "localhost").replace(/^\[(.*)\]$/, "$1");
    const raw = connect({ host, port: Number(options.port ?? 443) });
    raw.setNoDelay(true);
    let settled = false;
    const settle = (error: Error | null, socket?: TlsSocket) => {
      if (settled) return;
      settled = true;
      callback(error, socket);
    };
    let socket: TlsSocket;
    try {
      socket = new TlsSocket(raw, this.#context.newSession(host));
    } catch (error) {
      raw.destroy();
      queueMicrotask(() => settle(error as Error));
      return undefined;
    }
    socket.once("secure", () => settle(null, socket));
    socket.once("handshakeFailed", (error: Error) => settle(error));
    socket.once("error", (error: Error) => settle(error));
    socket.once("close", () => settle(new Error("connection closed during the TLS handshake")));
    return undefined;
  }
}

const _verified = new WeakSet<TLSSocket>();

/** Runs `verify` once per connection, when its handshake is done (reused sockets are done). */
function _verifyOnce(socket: TLSSocket, verify: (socket: TLSSocket) => Error | undefined): void {
  if (_verified.has(socket)) return;
  _verified.add(socket);
  const check = () => {
    const refused = verify(socket);
    if (refused !== undefined) socket.destroy(refused);
  };
  if (socket.encrypted && socket.getProtocol() !== null) check();
  else socket.once("secureConnect", check);
}

/** The response headers of a node message as fetch headers. */
function _headers(incoming: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
    else headers.set(name, value);
  }
  return headers;
}

/** Writes the request body, waiting for drain between chunks of a stream, then ends it. */
async function _writeBody(
  request: ReturnType<typeof httpsRequest> | ReturnType<typeof httpRequest>,
  body: PeerRequestInit["body"],
): Promise<void> {
  if (body === undefined || typeof body === "string" || body instanceof Uint8Array) {
    request.end(body);
    return;
  }
  const reader = body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (request.destroyed) throw new Error("peer request closed while sending its body");
      if (!request.write(value)) {
        await drained(request);
      }
    }
    request.end();
  } catch (error) {
    reader.cancel(error).catch(() => {});
    throw error;
  }
}

/** A node response body as a web stream, paused while the reader is behind. */
class _BodySource {
  readonly stream: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #finished = false;

  readonly #incoming: IncomingMessage;
  readonly #onFinish: () => void;

  constructor(incoming: IncomingMessage, onFinish: () => void) {
    this.#incoming = incoming;
    this.#onFinish = onFinish;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        incoming.on("data", (chunk: Uint8Array) => {
          if (this.#finished) return;
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
        });
        incoming.on("end", () => {
          if (this.#finish()) controller.close();
        });
        incoming.on("error", (error: Error) => this.fail(error));
        incoming.on("close", () => this.fail(new Error("peer connection closed mid-body")));
      },
      pull: () => {
        incoming.resume();
      },
      cancel: () => {
        this.#finish();
        incoming.destroy();
      },
    }, { highWaterMark: 16 });
  }

  /** Ends the stream with `reason` unless it already ended. */
  fail(reason: unknown): void {
    if (this.#finish()) this.#controller?.error(reason);
    this.#incoming.destroy();
  }

  #finish(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#onFinish();
    return true;
  }
}
