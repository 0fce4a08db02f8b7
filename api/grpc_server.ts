/**
 * The gRPC server: serves etcd's v3 services (`methods.ts`) by calling transport-independent
 * handlers (`handler.ts`), and serves plain HTTP/1.1 (health, version, metrics, the JSON
 * gateway) on the same port, as etcd does with cmux.
 *
 * Two HTTP/2 transports behind one API: `native` (default; our own HTTP/2 in `h2/`) and
 * `grpc-js` (@grpc/grpc-js over Deno's node:http2, in `_grpc_js.ts`, imported only when chosen).
 * See `_transportFromEnv` for why native.
 *
 * Port sharing: a `node:net` (or `node:tls`) server accepts each connection and reads its
 * first bytes. A connection that opens with the HTTP/2 client preface (`PRI * HTTP/2.0...`)
 * goes to the HTTP/2 transport; any other is served as HTTP/1.1 by `_http1.ts`. Over TLS,
 * ALPN picks "h2" for gRPC clients and "http/1.1" for clients that offer it (curl).
 *
 * Errors: a handler's `EtcdError` becomes the call's status; a request that does not decode
 * gets INTERNAL, never a crash; a method or service without a handler gets UNIMPLEMENTED.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import type { HttpHandler } from "../rpc/mod.ts";
import { allMethods, type EtcdServices, SERVICE_KEYS } from "../rpc/mod.ts";
import { serveHttp1 } from "./_http1.ts";
import { H2Connection, type KeepAlivePolicy } from "./h2/connection.ts";
import { acceptGrpcStream, type RegisteredMethod } from "./h2/grpc_call.ts";
import type { GrpcJsTransport } from "./_grpc_js.ts";
import { type TlsContext, type TlsHandshakeError, TlsSocket } from "../tls/mod.ts";
import { X509Certificate } from "node:crypto";

/** etcd's default `--max-request-bytes` (1.5 MiB). */
export const MAX_REQUEST_BYTES_DEFAULT = 1.5 * 1024 * 1024;
/** Extra room etcd grants gRPC framing over `--max-request-bytes` (`grpcOverheadBytes`). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** etcd's gRPC send limit (`math.MaxInt32`). */
export const MAX_SEND_BYTES_DEFAULT = 2 ** 31 - 1;

/** Bytes of a new connection read at most before deciding between HTTP/1.1 and HTTP/2. */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** The first byte of a TLS record carrying a handshake (a ClientHello opens with it). */
const TLS_HANDSHAKE = 0x16;

/** How long an accepted connection may take to complete an OpenSSL TLS handshake. */
const OPENSSL_HANDSHAKE_TIMEOUT_MS = 120_000;

/**
 * The ALPN choice of the client port: "http/1.1" when a client offers it (curl, browsers:
 * their requests go to the HTTP handler), else "h2" (gRPC clients offer only it).
 */
export function clientPortAlpn(offered: readonly string[]): string | undefined {
  if (offered.includes("http/1.1")) return "http/1.1";
  return offered.includes("h2") ? "h2" : undefined;
}

/** Options of `startGrpcServer`. */
export interface GrpcServerOptions {
  /** Address to listen on; tests use 127.0.0.1. */
  host: string;
  /** Port to listen on; 0 picks a free one (see `GrpcServer.port`). */
  port: number;
  /**
   * A unix socket file to listen on instead of `host:port` (etcd's `unix://` and `unixs://`
   * client URLs). The file must not exist; it is removed when the server closes.
   */
  unixPath?: string | undefined;
  /** The service handlers. */
  services: EtcdServices;
  /**
   * Largest request message accepted, in bytes; larger ones fail with RESOURCE_EXHAUSTED.
   * etcd uses `--max-request-bytes` + `GRPC_OVERHEAD_BYTES`, and checks the request size
   * itself (`ErrRequestTooLarge`); that is the default here.
   */
  maxRecvBytes?: number;
  /** Largest response message sent, in bytes. Default `MAX_SEND_BYTES_DEFAULT`. */
  maxSendBytes?: number;
  /** Largest number of concurrent streams per connection (`--max-concurrent-streams`). */
  maxConcurrentStreams?: number | undefined;
  /**
   * gRPC keepalive (`--grpc-keepalive-interval`, `-timeout`, `-min-time`): server pings on
   * idle connections and the client ping policy. The native transport applies all three;
   * grpc-js the first two, and it refuses a minimum ping interval other than etcd's default
   * (grpc-js enforces none).
   */
  keepAlive?: KeepAlivePolicy | undefined;
  /** Served for HTTP/1.1 connections on the same port; without it they get 404. */
  http?: HttpHandler | undefined;
  /** Serve TLS only (an `https://` client URL); plain connections are refused. */
  tls?: GrpcTlsOptions | undefined;
  /**
   * With `tls`: serve plain connections too on the same port (etcd's `http://` and `https://`
   * client URLs naming one address). Each connection's first byte decides (0x16 opens a TLS
   * handshake); plain HTTP/1.1 requests then go to `plainHttp` (default `http`).
   */
  plainToo?: boolean | undefined;
  /** The HTTP/1.1 handler of plain connections when `plainToo`. */
  plainHttp?: HttpHandler | undefined;
  /**
   * Which HTTP/2 implementation serves gRPC: `grpc-js` (Deno's node:http2 under
   * @grpc/grpc-js) or `native` (our own, `h2/`). Default: the `DETCD_GRPC_TRANSPORT`
   * environment variable if set, else `native`.
   */
  transport?: "grpc-js" | "native" | undefined;
  /**
   * Connections accepted before this resolves wait, unread, until it does: etcd's client
   * listeners start serving only once the member has published its attributes (`serve()` waits
   * for ReadyNotify), while their sockets are already bound. Without it, connections are served
   * at once (proxies, tests).
   */
  gate?: Promise<void> | undefined;
}

/** Streams per connection when `maxConcurrentStreams` is not given (etcd: unlimited). */
const CONCURRENT_STREAMS_DEFAULT = 10_000;

/** TLS settings of a client listener, as etcd's `--cert-file` and friends. */
export interface GrpcTlsOptions {
  /** Server certificate chain, PEM (`--cert-file`). */
  certPem: string;
  /** Its private key, PEM (`--key-file`). */
  keyPem: string;
  /** CA certificates that client certificates must chain to, PEM (`--trusted-ca-file`). */
  caPem?: string | undefined;
  /** Require and verify a client certificate (`--client-cert-auth`). */
  clientCertAuth?: boolean | undefined;
  /**
   * Checks an established TLS connection before anything on it is read (etcd's allowed
   * host name, CRL and cipher suite restrictions, see server/tls_policy.ts); an Error closes
   * the connection. `certificateRequested` tells whether a client certificate was asked for.
   */
  verifyConnection?:
    | ((socket: tls.TLSSocket, certificateRequested: boolean) => Error | undefined)
    | undefined;
  /** Told of every connection `verifyConnection` refused (etcd logs "rejected connection"). */
  onRejected?: ((socket: tls.TLSSocket, error: Error) => void) | undefined;
  /**
   * Terminate TLS with OpenSSL (tls/) instead of `node:tls`, for restrictions that must act
   * inside the handshake (etcd's `--cipher-suites`, `--client-cert-allowed-hostname`). The
   * PEM fields above are then unused; the server owns the context and frees it on close.
   */
  openSsl?: OpenSslListenerTls | undefined;
}

/** A listener's TLS terminated by OpenSSL. */
export interface OpenSslListenerTls {
  /** Certificate, key, CAs, verify callback, cipher list and ALPN choice (see clientPortAlpn). */
  context: TlsContext;
  /** A check of an established connection (etcd's CRL, after the handshake); an Error closes it. */
  verifyConnection?: ((socket: TlsSocket) => Error | undefined) | undefined;
  /** Told of each refused connection: a failed handshake or `verifyConnection`. */
  onRejected?: ((socket: TlsSocket, error: Error | TlsHandshakeError) => void) | undefined;
}

/**
 * Runs the OpenSSL handshake on an accepted connection; `secure` gets the established TLS
 * socket unless the handshake or `verifyConnection` refused it. `initial`: bytes already read.
 */
export function acceptOpenSslTls(
  raw: net.Socket,
  options: OpenSslListenerTls,
  secure: (socket: TlsSocket) => void,
  initial?: Uint8Array,
): void {
  let socket: TlsSocket;
  try {
    socket = new TlsSocket(raw, options.context.newSession(), initial);
  } catch {
    raw.destroy();
    return;
  }
  const abandon = () => raw.destroy();
  raw.setTimeout(OPENSSL_HANDSHAKE_TIMEOUT_MS);
  raw.once("timeout", abandon);
  socket.once("handshakeFailed", (error: TlsHandshakeError) => options.onRejected?.(socket, error));
  socket.on("error", () => {}); // reported through handshakeFailed, or the connection's reader
  socket.once("secure", () => {
    raw.off("timeout", abandon);
    raw.setTimeout(0);
    const refused = options.verifyConnection?.(socket);
    if (refused !== undefined) {
      options.onRejected?.(socket, refused);
      socket.destroy();
      return;
    }
    secure(socket);
  });
}

/** A running server. */
export interface GrpcServer {
  /** The port actually bound (0 on a unix socket). */
  readonly port: number;
  /** Stops accepting, cancels running calls and closes every connection. */
  close(): Promise<void>;
}

/**
 * etcd's default `--grpc-keepalive-min-time` (5 s): the only client ping policy the grpc-js
 * transport accepts, since it cannot enforce one.
 */
const GRPC_JS_PING_MIN_TIME_MS = 5000;

/** Starts serving etcd's gRPC services (and plain HTTP) on one port. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const maxRecvBytes = options.maxRecvBytes ?? MAX_REQUEST_BYTES_DEFAULT + GRPC_OVERHEAD_BYTES;
  const maxSendBytes = options.maxSendBytes ?? MAX_SEND_BYTES_DEFAULT;
  if (!(maxRecvBytes > 0 && maxSendBytes > 0)) throw new RangeError("message limits must be > 0");
  const native = (options.transport ?? _transportFromEnv()) === "native";
  // grpc-js, and node:http2 beneath it, load only for their transport (2 MiB of idle RSS).
  const keepAlive = options.keepAlive;
  if (!native && keepAlive !== undefined && keepAlive.minTimeMs !== GRPC_JS_PING_MIN_TIME_MS) {
    throw new Error(
      `--grpc-keepalive-min-time=${keepAlive.minTimeMs}ms: the grpc-js transport ` +
        "(DETCD_GRPC_TRANSPORT=grpc-js) cannot enforce a client ping policy; use the native one",
    );
  }
  const grpcJs: GrpcJsTransport | undefined = native
    ? undefined
    : (await import("./_grpc_js.ts")).newGrpcJsTransport(options.services, {
      maxRecvBytes,
      maxSendBytes,
      maxConcurrentStreams: options.maxConcurrentStreams,
      keepAlive,
    });

  const http = options.http ?? (() => new Response("404 page not found\n", { status: 404 }));
  const sockets = new Set<net.Socket>();
  const connections = new Set<H2Connection>();
  const lookup = native ? _methodTable(options.services) : undefined;
  const callLimits = { maxRecvBytes, maxSendBytes };
  const connectionLimits = {
    maxConcurrentStreams: options.maxConcurrentStreams ?? CONCURRENT_STREAMS_DEFAULT,
    keepAlive: options.keepAlive,
  };
  const openSsl = options.tls?.openSsl;
  if (openSsl !== undefined && !native) {
    grpcJs?.shutdown();
    openSsl.context.close();
    throw new Error("the grpc-js transport cannot serve TLS terminated by OpenSSL");
  }
  const verify = options.tls?.verifyConnection;
  const certificateRequested = options.tls?.clientCertAuth ?? false;
  const serveConnection = (socket: net.Socket, initial?: Buffer): void => {
    if (verify !== undefined && socket instanceof tls.TLSSocket) {
      const refused = verify(socket, certificateRequested);
      if (refused !== undefined) {
        options.tls?.onRejected?.(socket, refused);
        socket.destroy();
        return;
      }
    }
    // Small responses must not wait for the peer's delayed ACK (Nagle: +40 ms each).
    socket.setNoDelay(true);
    _route(socket, (first) => {
      if (_isHttp2(first) && lookup !== undefined) {
        const peer = {
          address: `${socket.remoteAddress}:${socket.remotePort}`,
          ..._tlsPeer(socket),
        };
        const connection = new H2Connection(
          socket,
          first,
          (stream, headers) =>
            acceptGrpcStream(stream, headers, (path) => lookup.get(path), callLimits, peer),
          connectionLimits,
        );
        connections.add(connection);
        socket.on("close", () => connections.delete(connection));
      } else if (_isHttp2(first) && grpcJs !== undefined) {
        socket.unshift(first);
        grpcJs.inject(socket);
      } else {
        const plain = options.plainHttp !== undefined && !_isTls(socket);
        serveHttp1(socket, first, plain ? options.plainHttp! : http);
      }
    }, initial);
  };
  let gateOpen = options.gate === undefined;
  options.gate?.then(() => gateOpen = true, () => {});
  const onConnection = (socket: net.Socket, initial?: Buffer): void => {
    if (gateOpen) {
      serveConnection(socket, initial);
      return;
    }
    // Held unread: the kernel keeps what the client sends, and its timeouts run as against an
    // etcd member that has not published yet.
    socket.pause();
    options.gate!.then(() => {
      if (socket.destroyed) return;
      serveConnection(socket, initial);
      socket.resume();
    }, () => socket.destroy());
  };
  const track = (server: net.Server): void => {
    // Every accepted TCP connection, TLS or not, so that close() can end them all.
    server.on("connection", (socket: net.Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    // A failed TLS handshake concerns one client only.
    server.on("tlsClientError", (_error: Error, socket: net.Socket) => socket.destroy());
  };
  // Plain and TLS on one port: Deno's node:tls cannot start a server-side handshake on an
  // accepted socket, so TLS connections are relayed to an internal TLS listener on the
  // loopback. Only this mixed configuration pays for the extra hop.
  let inner: net.Server | undefined;
  let listener: net.Server;
  // OpenSSL's handshake runs on the accepted socket itself: no relay for a shared port.
  const acceptTls = (raw: net.Socket, initial?: Uint8Array): void =>
    acceptOpenSslTls(
      raw,
      openSsl!,
      (socket) => onConnection(socket as unknown as net.Socket),
      initial,
    );
  if (openSsl !== undefined) {
    const plainToo = options.plainToo === true;
    listener = net.createServer((raw) => {
      raw.on("error", () => raw.destroy());
      if (!plainToo) {
        acceptTls(raw);
        return;
      }
      raw.once("data", (chunk: Buffer) => {
        if (chunk[0] === TLS_HANDSHAKE) acceptTls(raw, chunk);
        else onConnection(raw, chunk);
      });
    });
  } else if (options.tls !== undefined && options.plainToo === true) {
    const tlsServer = tls.createServer(_tlsServerOptions(options.tls), (s) => onConnection(s));
    inner = tlsServer;
    track(tlsServer);
    await _listen(tlsServer, (done) => tlsServer.listen(0, "127.0.0.1", done));
    const innerAddress = tlsServer.address();
    if (innerAddress === null || typeof innerAddress === "string") {
      throw new Error("no internal TLS address bound");
    }
    listener = net.createServer((socket) => {
      socket.once("data", (chunk: Buffer) => {
        if (chunk[0] !== TLS_HANDSHAKE) {
          onConnection(socket, chunk);
          return;
        }
        socket.pause();
        const upstream = net.connect(innerAddress.port, "127.0.0.1");
        sockets.add(upstream);
        upstream.setNoDelay(true);
        upstream.on("close", () => {
          sockets.delete(upstream);
          socket.destroy();
        });
        upstream.on("error", () => upstream.destroy());
        socket.on("close", () => upstream.destroy());
        upstream.write(chunk);
        socket.pipe(upstream);
        upstream.pipe(socket);
        socket.resume();
      });
      socket.on("error", () => socket.destroy());
    });
  } else {
    listener = options.tls === undefined
      ? net.createServer((s) => onConnection(s))
      : tls.createServer(_tlsServerOptions(options.tls), (s) => onConnection(s));
  }
  track(listener);
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    const onListening = () => {
      listener.off("error", reject);
      resolve();
    };
    if (options.unixPath !== undefined) listener.listen(options.unixPath, onListening);
    else listener.listen(options.port, options.host, onListening);
  });
  const address = listener.address();
  if (address === null) throw new Error("no address bound");
  if (typeof address === "string" && options.unixPath === undefined) {
    throw new Error("no TCP address bound");
  }

  let closing: Promise<void> | undefined;
  return {
    port: typeof address === "string" ? 0 : address.port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        inner?.close();
        listener.close(() => resolve());
        for (const connection of connections) connection.close(true);
        grpcJs?.shutdown();
        for (const socket of sockets) socket.destroy();
        openSsl?.context.close();
      });
      return closing;
    },
  };
}

/**
 * Node TLS server options. ALPN: gRPC clients offer only "h2"; curl and browsers offer
 * "http/1.1" too and get it, so that their requests reach the HTTP handler rather than
 * grpc-js (etcd routes HTTP/2 requests by content type instead; grpc-js cannot share an
 * HTTP/2 session with another handler). The first bytes decide in the end, as for plain TCP.
 */
function _tlsServerOptions(options: GrpcTlsOptions): tls.TlsOptions {
  const clientCertAuth = options.clientCertAuth ?? false;
  if (clientCertAuth && options.caPem === undefined) {
    throw new Error("clientCertAuth needs caPem (--trusted-ca-file)");
  }
  const result: tls.TlsOptions & { ALPNCallback: (arg: { protocols: string[] }) => string } = {
    cert: options.certPem,
    key: options.keyPem,
    requestCert: clientCertAuth,
    rejectUnauthorized: clientCertAuth,
    ALPNCallback: ({ protocols }) => protocols.includes("http/1.1") ? "http/1.1" : "h2",
  };
  if (options.caPem !== undefined) result.ca = options.caPem;
  return result;
}

/** Listens (through `start`), rejecting on a listen error. */
function _listen(server: net.Server, start: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    start(() => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Reads until the first bytes tell HTTP/2 from HTTP/1.x, then calls `decide` once. `initial`
 * holds bytes already read from the socket.
 */
function _route(socket: net.Socket, decide: (first: Buffer) => void, initial?: Buffer): void {
  let first: Buffer = Buffer.alloc(0);
  let decided = false;
  const onData = (chunk: Buffer): void => {
    first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
    // A prefix of the preface may still grow into it; anything else has decided already.
    const undecided = first.length < PREFACE.length &&
      PREFACE.subarray(0, first.length).equals(first);
    if (undecided) return;
    decided = true;
    socket.off("data", onData);
    socket.pause();
    decide(first);
    socket.resume();
  };
  socket.on("error", () => socket.destroy());
  if (initial !== undefined) onData(initial);
  if (!decided) socket.on("data", onData);
}

function _isHttp2(first: Buffer): boolean {
  return first.length >= PREFACE.length && first.subarray(0, PREFACE.length).equals(PREFACE);
}

/**
 * `DETCD_GRPC_TRANSPORT`, when set and readable; lets whole test suites switch transport.
 * The default is `native`: under load, Deno 2.9.6's node:http2 (beneath grpc-js) aborts the
 * process (`free(): invalid pointer`, nghttp2 assertions) when busy client connections
 * close, and it costs about 5x the CPU per request (bench: 212 us vs 39 us).
 */
function _transportFromEnv(): "grpc-js" | "native" {
  try {
    return Deno.env.get("DETCD_GRPC_TRANSPORT") === "grpc-js" ? "grpc-js" : "native";
  } catch {
    return "native"; // no env permission
  }
}

/** True for a TLS connection (node:tls or OpenSSL's). */
function _isTls(socket: net.Socket): boolean {
  return socket instanceof tls.TLSSocket || (socket as unknown) instanceof TlsSocket;
}

/** The common name of a verified client certificate, when the socket is TLS. */
function _tlsPeer(socket: net.Socket): { commonName?: string } {
  if ((socket as unknown) instanceof TlsSocket) {
    const tlsSocket = socket as unknown as TlsSocket;
    if (!tlsSocket.authorized) return {};
    const leaf = tlsSocket.session.peerCertificates()[0];
    const commonName = leaf === undefined ? undefined : subjectCommonName(leaf);
    return commonName === undefined || commonName === "" ? {} : { commonName };
  }
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return {};
  const commonName = socket.getPeerCertificate()?.subject?.CN;
  return typeof commonName === "string" && commonName !== "" ? { commonName } : {};
}

/**
 * The first CN of a DER certificate's subject (what `node:tls` reports as `subject.CN`), or
 * `undefined` when it has none.
 */
export function subjectCommonName(der: Uint8Array): string | undefined {
  for (const line of new X509Certificate(der).subject.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return undefined;
}

/** Path -> method and handler, for the native transport. */
function _methodTable(services: EtcdServices): Map<string, RegisteredMethod> {
  const table = new Map<string, RegisteredMethod>();
  for (const method of allMethods()) {
    const service = services[SERVICE_KEYS[method.service]] as Record<string, unknown> | undefined;
    const handler = service?.[method.handlerKey];
    if (handler === undefined) continue;
    if (typeof handler !== "function") throw new TypeError(`${method.path}: not a function`);
    table.set(method.path, { method, handler });
  }
  return table;
}
