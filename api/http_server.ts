/**
 * A plain HTTP/1.1 listener for the endpoints etcd serves on its `--listen-metrics-urls`
 * (`/metrics` and `/health`, etcd's embed serveMetrics): no gRPC, no gateway. `https://`
 * URLs use the client TLS files, as etcd does (the metrics listener shares ClientTLSInfo),
 * including `--client-cert-auth` and `--client-crl-file`.
 *
 * It shares the HTTP/1.1 loop of the client port (`_http1.ts`) over `node:net`/`node:tls`
 * sockets, so that a client certificate can be required, which `Deno.serve` cannot do.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import type { HttpHandler } from "../rpc/mod.ts";
import { serveHttp1 } from "./_http1.ts";
import { acceptOpenSslTls, type GrpcTlsOptions } from "./grpc_server.ts";

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  /** Address to listen on. */
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Serves every request. */
  http: HttpHandler;
  /** Serve TLS only, with these files (etcd: the client TLS info). */
  tls?: GrpcTlsOptions | undefined;
}

/** A running listener. */
export interface HttpServer {
  /** The port actually bound. */
  readonly port: number;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/** Starts an HTTP/1.1 (or HTTPS) listener serving `options.http`. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const sockets = new Set<net.Socket>();
  const verify = options.tls?.verifyConnection;
  const certificateRequested = options.tls?.clientCertAuth ?? false;
  const onConnection = (socket: net.Socket): void => {
    if (verify !== undefined && socket instanceof tls.TLSSocket) {
      const refused = verify(socket, certificateRequested);
      if (refused !== undefined) {
        options.tls?.onRejected?.(socket, refused);
        socket.destroy();
        return;
      }
    }
    socket.setNoDelay(true);
    socket.on("error", () => socket.destroy());
    serveHttp1(socket, Buffer.alloc(0), options.http);
  };
  const openSsl = options.tls?.openSsl;
  const listener = openSsl !== undefined
    ? net.createServer((raw) => {
      raw.on("error", () => raw.destroy());
      acceptOpenSslTls(raw, openSsl, (socket) => onConnection(socket as unknown as net.Socket));
    })
    : options.tls === undefined
    ? net.createServer(onConnection)
    : tls.createServer(_tlsOptions(options.tls), onConnection);
  listener.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // A failed TLS handshake concerns one client only.
  listener.on("tlsClientError", (_error: Error, socket: net.Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port, options.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const address = listener.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address bound");
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        listener.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        openSsl?.context.close();
      });
      return closing;
    },
  };
}

function _tlsOptions(options: GrpcTlsOptions): tls.TlsOptions {
  const clientCertAuth = options.clientCertAuth ?? false;
  if (clientCertAuth && options.caPem === undefined) {
    throw new Error("clientCertAuth needs caPem (--trusted-ca-file)");
  }
  const result: tls.TlsOptions = {
    cert: options.certPem,
    key: options.keyPem,
    requestCert: clientCertAuth,
    rejectUnauthorized: clientCertAuth,
    ALPNProtocols: ["http/1.1"],
  };
  if (options.caPem !== undefined) result.ca = options.caPem;
  return result;
}
