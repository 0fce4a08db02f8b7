/**
 * A TLS peer listener that requires and verifies client certificates (etcd TLSInfo.ServerConfig:
 * RequireAndVerifyClientCert when a trusted CA or `--peer-client-cert-auth` is set). `Deno.serve`
 * cannot ask for a client certificate, so this listener is `node:https` with `requestCert`,
 * adapted to the same `(Request) => Promise<Response>` handler: request bodies (snapshots) and
 * response bodies (the endless streams) stay streamed both ways.
 *
 * @module
 */

import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import type { IncomingMessage, ServerResponse } from "node:http";
import { drained } from "../bytes/mod.ts";

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
  return {
    listening,
    shutdown: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function _serve(
  options: VerifyingTlsServerOptions,
  handler: (request: Request) => Promise<Response>,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  let response: Response;
  try {
    response = await handler(_toRequest(options, incoming));
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
  await _pipeBody(response.body, outgoing);
}

/** The node request as a fetch Request whose body streams from the socket. */
function _toRequest(options: VerifyingTlsServerOptions, incoming: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
    else headers.set(name, value);
  }
  const method = incoming.method ?? "GET";
  const host = incoming.headers.host ?? `${options.hostname}:${options.port}`;
  const url = `https://${host}${incoming.url ?? "/"}`;
  if (method === "GET" || method === "HEAD") return new Request(url, { method, headers });
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
