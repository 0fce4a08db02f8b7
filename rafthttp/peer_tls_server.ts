/**
 * A TLS peer listener that requires and verifies client certificates (etcd TLSInfo.ServerConfig:
 * RequireAndVerifyClientCert when a trusted CA or `--peer-client-cert-auth` is set). `Deno.serve`
 * cannot ask for a client certificate, so this listener is `node:https` with `requestCert`,
 * adapted to the same `(Request) => Promise<Response>` handler: request bodies (snapshots) and
 * response bodies (the endless streams) stay streamed both ways.
 *
 * The same adapter serves plain HTTP peer listeners ({@link servePlainHttp}): `Deno.serve` drops
 * the body of a GET request, and etcd asks `GET /members/hashkv` with a JSON body; here such a
 * body is read and handed over beside the request ({@link getRequestBody}).
 *
 * @module
 */

import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import {
  createServer as createPlainServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { drained } from "../bytes/mod.ts";
import { type ChunkedSink, type DirectBody, directBodyOf } from "./direct_body.ts";
import { type TlsContext, type TlsHandshakeError, TlsSocket } from "../tls/mod.ts";

/** How to open a client-verifying TLS listener. */
export interface VerifyingTlsServerOptions {
  hostname: string;
  port: number;
  /** PEM of the server certificate. */
  certPem: string;
  /** PEM of its key. */
  keyPem: string;
  /** PEM of the CAs client certificates must chain to; without it, the system roots. */
  caPem?: string;
  /** Ask for and verify a client certificate (default true). */
  requestCert?: boolean;
  /**
   * Checks an established connection before any request on it is read (etcd's allowed CN or
   * host name, CRL and cipher suites); an Error closes it.
   */
  verifyConnection?: (socket: TLSSocket, certificateRequested: boolean) => Error | undefined;
  /** Told of each connection `verifyConnection` refused. */
  onRejected?: (socket: TLSSocket, error: Error) => void;
}

/** A listener that can be shut down like `Deno.HttpServer`. */
export interface ClosableServer {
  /** Stops accepting, ends open connections, and resolves when closed. */
  shutdown(): Promise<void>;
}

/** The node listener: closable, and with a promise of its bind. */
export interface VerifyingTlsServer extends ClosableServer {
  /** Resolves once the listener accepts connections; rejects if it cannot bind. */
  readonly listening: Promise<void>;
}

/** Serves `handler` over TLS, refusing clients without a certificate signed by `caPem`. */
export function serveVerifyingTls(
  options: VerifyingTlsServerOptions,
  handler: (request: Request) => Promise<Response>,
): VerifyingTlsServer {
  const requestCert = options.requestCert ?? true;
  const tls: Parameters<typeof createServer>[0] = {
    cert: options.certPem,
    key: options.keyPem,
    requestCert,
    rejectUnauthorized: requestCert,
  };
  if (options.caPem !== undefined) tls.ca = options.caPem;
  const server: Server = createServer(tls, (incoming, outgoing) => {
    void _serve(options, handler, incoming, outgoing);
  });
  const verify = options.verifyConnection;
  if (verify !== undefined) {
    // Registered after the HTTP server's own listener, but before any data is read.
    server.on("secureConnection", (socket: TLSSocket) => {
      const refused = verify(socket, requestCert);
      if (refused === undefined) return;
      options.onRejected?.(socket, refused);
      socket.destroy();
    });
  }
  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return { listening, shutdown: _trackConnections(server) };
}

/** How long an accepted connection may take to complete its TLS handshake. */
const _HANDSHAKE_TIMEOUT_MS = 120_000;

/** How to open a listener whose TLS is OpenSSL's ({@link serveOpenSslTls}). */
export interface OpenSslTlsServerOptions {
  hostname: string;
  port: number;
  /**
   * The server context: certificate, key, trusted CAs, the verify callback with etcd's
   * allowed CN or host name, and the cipher list (all enforced inside the handshake).
   */
  context: TlsContext;
  /** A check of an established connection (etcd's CRL, after the handshake); an Error closes it. */
  verifyConnection?: (socket: TlsSocket) => Error | undefined;
  /** Told of each connection refused: a failed handshake or `verifyConnection`. */
  onRejected?: (socket: TlsSocket, error: Error | TlsHandshakeError) => void;
}

/**
 * Serves `handler` over TLS terminated by OpenSSL (tls/): a refused certificate or a client
 * offering no listed cipher suite fails the handshake with a TLS alert, as in etcd. Each
 * established connection goes to a `node:http` server as an ordinary socket.
 */
export function serveOpenSslTls(
  options: OpenSslTlsServerOptions,
  handler: (request: Request) => Promise<Response>,
): VerifyingTlsServer {
  const where = { hostname: options.hostname, port: options.port, scheme: "https" };
  const http = createPlainServer((incoming, outgoing) => {
    void _serve(where, handler, incoming, outgoing);
  });
  const pending = new Set<Socket>();
  const listener = createNetServer((raw: Socket) => {
    raw.setNoDelay(true);
    let socket: TlsSocket;
    try {
      socket = new TlsSocket(raw, options.context.newSession());
    } catch {
      raw.destroy();
      return;
    }
    pending.add(raw);
    raw.once("close", () => pending.delete(raw));
    // A bound on a handshake that never completes (node:tls servers default to 120 s).
    const abandon = () => raw.destroy();
    raw.setTimeout(_HANDSHAKE_TIMEOUT_MS);
    raw.once("timeout", abandon);
    socket.once("handshakeFailed", (error: TlsHandshakeError) => {
      options.onRejected?.(socket, error);
    });
    socket.on("error", () => {}); // reported through handshakeFailed or the HTTP server
    socket.once("secure", () => {
      raw.off("timeout", abandon);
      raw.setTimeout(0);
      pending.delete(raw);
      const refused = options.verifyConnection?.(socket);
      if (refused !== undefined) {
        options.onRejected?.(socket, refused);
        socket.destroy();
        return;
      }
      http.emit("connection", socket);
    });
  });
  // The HTTP server never listens itself (its connections are handed to it), but Deno's
  // node:http closes a connection after each response when its server is not listening
  // (resOnFinish): it answers as listening while the TCP listener does.
  Object.defineProperty(http, "listening", { get: () => listener.listening });
  const listening = new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port, options.hostname, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const closeHttp = _trackConnections(http);
  const shutdown = async () => {
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const raw of pending) raw.destroy();
    pending.clear();
    await Promise.all([closed, closeHttp()]);
  };
  return { listening, shutdown };
}

/**
 * Remembers every connection of `server` and answers its shutdown: stop listening and destroy
 * each connection. (`closeAllConnections` leaves a peer's idle keep-alive connections open
 * under Deno, and a peer keeps sending on them to a member that is stopping.)
 */
function _trackConnections(server: Server | ReturnType<typeof createPlainServer>) {
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (socket: import("node:net").Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    });
}

/** Largest body of a GET request read (etcd's `{"revision":N}` is a few bytes). */
const _GET_BODY_BYTES_MAX = 64 * 1024;

/** Bodies of GET requests, which a fetch `Request` cannot carry. */
const _getBodies = new WeakMap<Request, Uint8Array>();

/**
 * The body a client sent with a GET request (etcd's `GET /members/hashkv`), when the request
 * came through a listener of this module; `undefined` for none.
 */
export function getRequestBody(request: Request): Uint8Array | undefined {
  return _getBodies.get(request);
}

/** Serves `handler` over plain HTTP/1.1 on `hostname:port`, GET bodies included. */
export function servePlainHttp(
  options: { hostname: string; port: number },
  handler: (request: Request) => Promise<Response>,
): VerifyingTlsServer {
  const where = { hostname: options.hostname, port: options.port, scheme: "http" };
  const server = createPlainServer((incoming, outgoing) => {
    void _serve(where, handler, incoming, outgoing);
  });
  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return { listening, shutdown: _trackConnections(server) };
}

interface _Where {
  hostname: string;
  port: number;
  scheme?: string;
}

async function _serve(
  options: _Where,
  handler: (request: Request) => Promise<Response>,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  let response: Response;
  try {
    response = await handler(await _toRequest(options, incoming));
  } catch (error) {
    outgoing.writeHead(500, { "Content-Type": "text/plain" });
    outgoing.end(error instanceof Error ? error.message : String(error));
    return;
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => headers[name] = value);
  outgoing.writeHead(response.status, headers);
  if (response.body === null) {
    outgoing.end();
    return;
  }
  const direct = directBodyOf(response.body);
  if (direct !== undefined && outgoing.socket !== null) {
    if (_writeDirect(direct, outgoing, outgoing.socket)) return;
  }
  await _pipeBody(response.body, outgoing);
}

/**
 * Sends the headers and hands the socket to a direct body (direct_body.ts), which writes its
 * chunks onto it framed and whole; `ServerResponse` writes only the headers and, when the body
 * ends, the last chunk, so the connection's HTTP state stays its own. False (nothing handed
 * over) when the response is not chunked.
 */
function _writeDirect(direct: DirectBody, outgoing: ServerResponse, socket: Socket): boolean {
  // Without a length, node:http sends `Transfer-Encoding: chunked` (and would frame what it
  // writes itself); the body's chunks follow the headers on the socket, in order. A response
  // that is not chunked (a Content-Length) is piped as any other.
  outgoing.flushHeaders();
  if ((outgoing as { chunkedEncoding?: boolean }).chunkedEncoding !== true) return false;
  let ended = false;
  // Hoisted: the sink's end may run inside `direct`, before `events` exists; the listener itself
  // is added only after.
  function onDrain(): void {
    events.onDrain();
  }
  const sink: ChunkedSink = {
    write: (bytes) => socket.write(bytes),
    end: () => {
      if (ended) return;
      ended = true;
      socket.off("drain", onDrain);
      outgoing.end();
    },
    destroy: () => {
      ended = true;
      socket.off("drain", onDrain);
      socket.destroy();
    },
  };
  const events = direct(sink);
  if (ended) return true;
  socket.on("drain", onDrain);
  outgoing.once("close", () => {
    socket.off("drain", onDrain);
    if (ended) return;
    ended = true;
    events.onClose();
  });
  return true;
}

/** The node request as a fetch Request whose body streams from the socket. */
async function _toRequest(options: _Where, incoming: IncomingMessage): Promise<Request> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
    else headers.set(name, value);
  }
  const method = incoming.method ?? "GET";
  const host = incoming.headers.host ?? `${options.hostname}:${options.port}`;
  const url = `${options.scheme ?? "https"}://${host}${incoming.url ?? "/"}`;
  if (method === "GET" || method === "HEAD") {
    const request = new Request(url, { method, headers });
    const length = Number(incoming.headers["content-length"] ?? 0);
    if (length > 0) _getBodies.set(request, await _readGetBody(incoming, length));
    return request;
  }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      incoming.on("data", (chunk: Uint8Array) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
      });
      incoming.on("end", () => controller.close());
      incoming.on("error", (error: Error) => controller.error(error));
    },
    pull() {
      incoming.resume();
    },
    cancel() {
      incoming.destroy();
    },
  }, { highWaterMark: 16 });
  return new Request(url, { method, headers, body });
}

/** Reads the body of a GET request (bounded); what is past the bound is refused. */
function _readGetBody(incoming: IncomingMessage, length: number): Promise<Uint8Array> {
  if (length > _GET_BODY_BYTES_MAX) {
    return Promise.reject(new Error(`GET body of ${length} bytes is too large`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    incoming.on("data", (chunk: Uint8Array) => {
      total += chunk.byteLength;
      if (total > _GET_BODY_BYTES_MAX) {
        incoming.destroy();
        reject(new Error("GET body too large"));
        return;
      }
      chunks.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    incoming.on("end", () => {
      const body = new Uint8Array(total);
      let at = 0;
      for (const chunk of chunks) {
        body.set(chunk, at);
        at += chunk.byteLength;
      }
      resolve(body);
    });
    incoming.on("error", reject);
  });
}

/** Writes a response body chunk by chunk (each flushed at once); cancels it if the peer left. */
async function _pipeBody(
  body: ReadableStream<Uint8Array>,
  outgoing: ServerResponse,
): Promise<void> {
  const reader = body.getReader();
  let gone = false;
  outgoing.once("close", () => {
    if (outgoing.writableFinished) return;
    gone = true;
    reader.cancel(new Error("peer closed the connection")).catch(() => {});
  });
  try {
    while (!gone) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!outgoing.write(value)) {
        await drained(outgoing);
      }
    }
    if (!gone) outgoing.end();
  } catch {
    outgoing.destroy();
  }
}
