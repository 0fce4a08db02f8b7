/**
 * etcd 3.4's v2 HTTP reverse proxy (`proxy/httpproxy`): `--proxy on|readonly`, or a member
 * whose discovery found the cluster full with `--discovery-fallback proxy`. It holds no data:
 * every HTTP request (the v2 keys, members and stats APIs, `/version`, `/health`, the v3 JSON
 * gateway) is sent to one of the cluster's client URLs, trying the next one when an endpoint
 * cannot be reached; gRPC is not proxied.
 *
 * - The director keeps the endpoints: the client URLs `refresh` returns (asked at start and
 *   every `refreshIntervalMs`, every second while none is known), in random order; an endpoint
 *   that failed is left out for `failureWaitMs`.
 * - Upstream requests go over HTTP/1.1, on kept-alive connections (up to 128 idle per
 *   endpoint, as etcd's transport), with etcd's transport timeouts: `dialTimeoutMs` to connect, `writeTimeoutMs` for each write, `readTimeoutMs` for
 *   each read of the answer (0: no limit). Hop-by-hop headers are dropped both ways.
 * - The proxy's own paths: `/v2/config/local/proxy` (its endpoints) and `/metrics` (the
 *   process's metrics and `etcd_proxy_*`). `readonly` answers anything but GET with 501.
 *
 * @module
 */

import { Counter, Histogram, register, Registry } from "../metrics/mod.ts";
import type { HttpHandler } from "../rpc/mod.ts";
import type { Logger } from "../server/mod.ts";
import { remoteAddress } from "./_http1.ts";
import { accessController } from "./access_control.ts";

/** etcd's defaultRefreshInterval: from it up, an empty endpoint list is retried every second. */
const _DEFAULT_REFRESH_MS = 30000;
const _EMPTY_RETRY_MS = 1000;
/** Hop-by-hop headers a proxy must not forward (Go's httpproxy singleHopHeaders). */
const _SINGLE_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailers",
  "transfer-encoding",
  "upgrade",
];

/** Client TLS settings toward https endpoints. */
export interface ProxyUpstreamTls {
  caPem?: string | undefined;
  certPem?: string | undefined;
  keyPem?: string | undefined;
}

/** Options of {@link V2Proxy}. */
export interface V2ProxyOptions {
  /** The cluster's client URLs now (etcd's GetProxyURLs); [] when no member answered. */
  refresh: () => Promise<string[]>;
  failureWaitMs: number;
  refreshIntervalMs: number;
  dialTimeoutMs: number;
  writeTimeoutMs: number;
  readTimeoutMs: number;
  /** `--proxy readonly`: anything but GET is answered 501. */
  readonly: boolean;
  /** `--cors` origins. */
  cors: readonly string[];
  tls?: ProxyUpstreamTls | undefined;
  log: Logger;
}

interface _Endpoint {
  url: URL;
  available: boolean;
}

const _registry = new Registry();
const _requestsTotal = new Counter({
  name: "etcd_proxy_requests_total",
  help: "Counter requests incoming by method.",
  labelNames: ["method"],
  registers: [_registry],
});
const _handledTotal = new Counter({
  name: "etcd_proxy_handled_total",
  help: "Counter of requests fully handled (by authoratitave servers)",
  labelNames: ["method", "code"],
  registers: [_registry],
});
const _droppedTotal = new Counter({
  name: "etcd_proxy_dropped_total",
  help: "Counter of requests dropped on the proxy.",
  labelNames: ["method", "proxying_error"],
  registers: [_registry],
});
const _handlingSeconds = new Histogram({
  name: "etcd_proxy_handling_duration_seconds",
  help:
    "Bucketed histogram of handling time of successful events (non-watches), by method (GET/PUT etc.).",
  labelNames: ["method"],
  buckets: Array.from({ length: 13 }, (_, i) => 0.0005 * 2 ** i),
  registers: [_registry],
});

/** The v2 proxy: {@link V2Proxy.handler} serves every client listener. */
export class V2Proxy {
  readonly #options: V2ProxyOptions;
  #endpoints: _Endpoint[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #announced = false;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #pool = new _Pool();
  /** What the client listeners serve. */
  readonly handler: HttpHandler;

  private constructor(options: V2ProxyOptions) {
    this.#options = options;
    let proxied: HttpHandler = (request) => this.#route(request);
    proxied = accessController(proxied, { cors: options.cors, hostWhitelist: [], secure: true });
    if (options.readonly) proxied = _readonly(proxied);
    this.handler = (request) =>
      new URL(request.url).pathname === "/metrics" ? _metrics() : proxied(request);
  }

  /** Asks for the endpoints once (as etcd's newDirector does), then keeps refreshing them. */
  static async start(options: V2ProxyOptions): Promise<V2Proxy> {
    const proxy = new V2Proxy(options);
    await proxy.#refresh();
    proxy.#schedule();
    return proxy;
  }

  /** The endpoints not held failed, in the order requests try them. */
  endpoints(): string[] {
    return this.#endpoints.filter((ep) => ep.available).map((ep) => _urlText(ep.url));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#pool.closeAll();
  }

  #schedule(): void {
    if (this.#closed) return;
    const available = this.endpoints();
    let wait = this.#options.refreshIntervalMs;
    if (wait >= _DEFAULT_REFRESH_MS && available.length === 0) wait = _EMPTY_RETRY_MS;
    if (available.length > 0 && !this.#announced) {
      this.#announced = true;
      this.#log().info(`endpoints found ${_goQuoteList(available)}`);
    }
    this.#timer = setTimeout(async () => {
      await this.#refresh();
      this.#schedule();
    }, wait);
  }

  async #refresh(): Promise<void> {
    const urls = await this.#options.refresh();
    const endpoints: _Endpoint[] = [];
    for (const text of urls) {
      try {
        endpoints.push({ url: new URL(text), available: true });
      } catch (error) {
        this.#log().info(`upstream URL invalid: ${(error as Error).message}`);
      }
    }
    // Random order, so that proxies spread their load over the members.
    for (let i = endpoints.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [endpoints[i], endpoints[j]] = [endpoints[j]!, endpoints[i]!];
    }
    if (!this.#closed) this.#endpoints = endpoints;
  }

  #log(): Logger {
    return this.#options.log.named("proxy/httpproxy");
  }

  #failed(endpoint: _Endpoint): void {
    if (!endpoint.available) return;
    endpoint.available = false;
    const text = _urlText(endpoint.url);
    this.#log().info(`marked endpoint ${text} unavailable`);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      endpoint.available = true;
      this.#log().info(`marked endpoint ${text} available, to retest connectivity`);
    }, this.#options.failureWaitMs);
    this.#timers.add(timer);
  }

  #route(request: Request): Promise<Response> | Response {
    if (new URL(request.url).pathname === "/v2/config/local/proxy") {
      if (request.method !== "GET") {
        return new Response("Method Not Allowed\n", {
          status: 405,
          headers: {
            allow: "GET",
            "content-type": "text/plain; charset=utf-8",
            "x-content-type-options": "nosniff",
          },
        });
      }
      // Go sniffs the type of a body written without one.
      return new Response(JSON.stringify({ endpoints: this.endpoints() }) + "\n", {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    return this.#forward(request);
  }

  async #forward(request: Request): Promise<Response> {
    const method = request.method;
    _requestsTotal.inc({ method });
    const started = performance.now();
    const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer());
    const endpoints = this.#endpoints.filter((ep) => ep.available);
    if (endpoints.length === 0) {
      _droppedTotal.inc({ method, proxying_error: "zero_endpoints" });
      this.#log().info("zero endpoints currently available");
      return _httpError(503, "httpproxy: zero endpoints currently available");
    }
    for (const endpoint of endpoints) {
      let response: Response;
      try {
        response = await _roundTrip(endpoint.url, request, body, this.#options, this.#pool);
      } catch (error) {
        _droppedTotal.inc({ method, proxying_error: "failed_sending_request" });
        this.#log().info(
          `failed to direct request to ${_urlText(endpoint.url)}: ${(error as Error).message}`,
        );
        this.#failed(endpoint);
        continue;
      }
      _handledTotal.inc({ method, code: String(response.status) });
      _handlingSeconds.observe({ method }, (performance.now() - started) / 1000);
      return response;
    }
    const message = `unable to get response from ${endpoints.length} endpoint(s)`;
    _droppedTotal.inc({ method, proxying_error: "failed_getting_response" });
    this.#log().info(message);
    return _httpError(502, `httpproxy: ${message}`);
  }
}

/** etcd's NewReadonlyHandler: only GET passes; anything else is 501 with no body. */
function _readonly(next: HttpHandler): HttpHandler {
  return (request) =>
    request.method === "GET" ? next(request) : new Response(null, { status: 501 });
}

/** etcd's httptypes.HTTPError as JSON. */
function _httpError(status: number, message: string): Response {
  return new Response(JSON.stringify({ message }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** The process's metrics and the proxy's, as the proxy's `/metrics`. */
async function _metrics(): Promise<Response> {
  const text = await Registry.merge([register, _registry]).metrics();
  return new Response(text, { headers: { "content-type": register.contentType } });
}

/** Go's url.String() of a bare endpoint URL (no trailing slash for an empty path). */
function _urlText(url: URL): string {
  return url.pathname === "/" && url.href.endsWith("/") ? url.href.slice(0, -1) : url.href;
}

/** Go's %q of a []string: `["a" "b"]`. */
function _goQuoteList(items: readonly string[]): string {
  return `[${items.map((item) => JSON.stringify(item)).join(" ")}]`;
}

// ---------------------------------------------------------------------------------------------
// The upstream HTTP/1.1 client.

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** `promise`, or a rejection after `ms` (0: no limit); `onLate` gets a late value to free. */
function _within<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
  onLate?: (value: T) => void,
): Promise<T> {
  if (ms <= 0) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  return Promise.race([
    promise.then((value) => {
      if (timedOut) onLate?.(value);
      return value;
    }),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(message));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function _dial(
  url: URL,
  options: Pick<V2ProxyOptions, "dialTimeoutMs" | "tls">,
): Promise<Deno.Conn> {
  const secure = url.protocol === "https:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const connecting: Promise<Deno.Conn> = secure
    ? Deno.connectTls({
      hostname,
      port,
      ...(options.tls?.caPem === undefined ? {} : { caCerts: [options.tls.caPem] }),
      ...(options.tls?.certPem !== undefined && options.tls.keyPem !== undefined
        ? { cert: options.tls.certPem, key: options.tls.keyPem }
        : {}),
    })
    : Deno.connect({ hostname, port });
  const conn = await _within(
    connecting,
    options.dialTimeoutMs,
    `dial tcp ${url.host}: i/o timeout`,
    (late) => late.close(),
  );
  if (secure) {
    await _within(
      (conn as Deno.TlsConn).handshake(),
      options.dialTimeoutMs,
      "tls handshake timeout",
    );
  }
  return conn;
}

/** etcd's DefaultMaxIdleConnsPerHost: idle kept-alive connections per endpoint. */
const _MAX_IDLE_PER_ENDPOINT = 128;

/** Idle kept-alive connections to the endpoints, by origin. */
class _Pool {
  readonly #idle = new Map<string, _ConnReader[]>();

  take(key: string): _ConnReader | undefined {
    return this.#idle.get(key)?.pop();
  }

  put(key: string, reader: _ConnReader): void {
    let list = this.#idle.get(key);
    if (list === undefined) this.#idle.set(key, list = []);
    if (list.length >= _MAX_IDLE_PER_ENDPOINT) _close(reader.conn);
    else list.push(reader.reused());
  }

  closeAll(): void {
    for (const list of this.#idle.values()) for (const reader of list) _close(reader.conn);
    this.#idle.clear();
  }
}

/**
 * Sends `request` (its body already read) to `endpoint`; resolves once the head arrived. An
 * idle kept-alive connection is used when there is one; if the member had closed it (nothing
 * came back), the request goes once more on a new connection, as Go's transport retries.
 */
async function _roundTrip(
  endpoint: URL,
  request: Request,
  body: Uint8Array | undefined,
  options: V2ProxyOptions,
  pool: _Pool,
): Promise<Response> {
  const incoming = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const name of _SINGLE_HOP) headers.delete(name);
  headers.delete("content-length");
  // Go's maybeSetForwardedFor: the client's IP after any the request carried.
  const client = remoteAddress(request);
  if (client !== undefined) {
    const prior = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", prior === null ? client.host : `${prior}, ${client.host}`);
  }
  let head = `${request.method} ${incoming.pathname}${incoming.search} HTTP/1.1\r\n`;
  // The client's Host goes through, as Go's reverse proxy keeps req.Host.
  head += `host: ${request.headers.get("host") ?? incoming.host}\r\n`;
  for (const [name, value] of headers) if (name !== "host") head += `${name}: ${value}\r\n`;
  if (body !== undefined && body.length > 0) head += `content-length: ${body.length}\r\n`;
  head += "\r\n";
  const bytes = _encoder.encode(head);
  const all = body === undefined || body.length === 0 ? bytes : _concat(bytes, body);
  const key = endpoint.origin;
  for (let attempt = 0;; attempt++) {
    const pooled = attempt === 0 ? pool.take(key) : undefined;
    const reader = pooled ??
      new _ConnReader(await _dial(endpoint, options), options.readTimeoutMs);
    try {
      await _writeAll(reader.conn, all, options.writeTimeoutMs);
      return await _readResponse(
        reader,
        request.method === "HEAD",
        (reusable) => reusable ? pool.put(key, reader) : _close(reader.conn),
      );
    } catch (error) {
      _close(reader.conn);
      if (pooled !== undefined && !reader.answered) continue;
      throw error;
    }
  }
}

async function _writeAll(conn: Deno.Conn, bytes: Uint8Array, timeoutMs: number): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await _within(
      conn.write(bytes.subarray(offset)),
      timeoutMs,
      "write: i/o timeout",
    );
  }
}

function _close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

function _concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Buffered reads from a connection, each read bounded by the read timeout. */
class _ConnReader {
  readonly conn: Deno.Conn;
  readonly #timeoutMs: number;
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #eof = false;
  /** Whether any byte of the current answer arrived. */
  answered = false;

  constructor(conn: Deno.Conn, timeoutMs: number) {
    this.conn = conn;
    this.#timeoutMs = timeoutMs;
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    const n = await _within(this.conn.read(chunk), this.#timeoutMs, "read: i/o timeout");
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.answered = true;
    this.#buffer = _concat(this.#buffer, chunk.subarray(0, n));
    return true;
  }

  /** Ready for the next exchange on the same connection. */
  reused(): this {
    this.answered = false;
    return this;
  }

  get buffered(): Uint8Array {
    return this.#buffer;
  }

  take(n: number): Uint8Array<ArrayBuffer> {
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** One CRLF-terminated line (without the CRLF). */
  async line(limit = 64 * 1024): Promise<string> {
    for (;;) {
      const end = _indexOfCrlf(this.#buffer);
      if (end >= 0) {
        const text = _decoder.decode(this.take(end));
        this.take(2);
        return text;
      }
      if (this.#buffer.length > limit) throw new Error("malformed HTTP response: line too long");
      if (!await this.fill()) throw new Error("unexpected EOF");
    }
  }
}

function _indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  return -1;
}

/**
 * Reads one answer. `release` gets the connection back once a body of known length (or none)
 * was read, with whether it may carry another request.
 */
async function _readResponse(
  reader: _ConnReader,
  isHead: boolean,
  release: (reusable: boolean) => void,
): Promise<Response> {
  const statusLine = await reader.line();
  const match = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (match === null) throw new Error(`malformed HTTP response "${statusLine}"`);
  const minor = match[1];
  const status = Number(match[2]);
  const statusText = match[3] ?? "";
  const headers = new Headers();
  for (;;) {
    const line = await reader.line();
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed MIME header line: ${line}`);
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const chunked = (headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked");
  const lengthText = headers.get("content-length");
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const keepAlive = minor === "1"
    ? !connection.includes("close")
    : connection.includes("keep-alive");
  for (const name of _SINGLE_HOP) headers.delete(name);
  const noBody = isHead || status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) {
    release(keepAlive && reader.buffered.length === 0);
    return new Response(null, { status, statusText, headers });
  }
  if (!chunked && lengthText !== null) {
    const length = Number(lengthText);
    if (!Number.isSafeInteger(length) || length < 0) throw new Error("bad Content-Length");
    // A known length: the whole body, then one response.
    while (reader.buffered.length < length) {
      if (!await reader.fill()) {
        _close(reader.conn);
        throw new Error("unexpected EOF");
      }
    }
    const bytes = reader.take(length);
    release(keepAlive && reader.buffered.length === 0);
    return new Response(status === 205 ? null : bytes, { status, statusText, headers });
  }
  // A stream (a v2 watch, the gateway's watch): relayed chunk by chunk as it arrives.
  headers.delete("content-length");
  headers.set("transfer-encoding", "chunked");
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        const piece = chunked ? await _nextChunk(reader) : await _nextRaw(reader);
        if (piece === undefined) {
          _close(reader.conn);
          controller.close();
        } else {
          controller.enqueue(piece);
        }
      } catch (error) {
        _close(reader.conn);
        controller.error(error);
      }
    },
    cancel: () => _close(reader.conn),
  });
  return new Response(stream, { status, statusText, headers });
}

/** The next piece of a body that ends when the connection does. */
async function _nextRaw(reader: _ConnReader): Promise<Uint8Array | undefined> {
  if (reader.buffered.length === 0 && !await reader.fill()) return undefined;
  return reader.take(reader.buffered.length);
}

/** The next chunk of a chunked body, or undefined after the last one. */
async function _nextChunk(reader: _ConnReader): Promise<Uint8Array | undefined> {
  const sizeLine = await reader.line();
  const size = parseInt(sizeLine.split(";")[0]!.trim(), 16);
  if (!Number.isFinite(size) || size < 0) throw new Error("malformed chunked encoding");
  if (size === 0) {
    // Trailers, up to the empty line.
    while ((await reader.line()) !== "");
    return undefined;
  }
  while (reader.buffered.length < size + 2) {
    if (!await reader.fill()) throw new Error("unexpected EOF");
  }
  const data = reader.take(size);
  reader.take(2);
  return data;
}
