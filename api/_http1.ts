/**
 * A small HTTP/1.1 server loop over one `node:net` socket, for the plain HTTP endpoints etcd
 * serves on its client port (`/health`, `/version`, `/metrics`, the JSON gateway).
 *
 * Why not `node:http`: the connection has already been accepted and its first bytes read
 * (to tell HTTP/1.1 from HTTP/2), and handing such a socket to Deno's `node:http` server is
 * not supported. The endpoints are simple request/response pairs, so a bounded parser of the
 * request line, headers and a `Content-Length` body is all that is needed. Chunked request
 * bodies are refused with 411.
 *
 * @module
 */

import type { Socket } from "node:net";
import { Buffer } from "node:buffer";
import { drained } from "../bytes/mod.ts";
import type { HttpHandler } from "../rpc/mod.ts";

/** Largest request head (request line + headers) accepted. */
const HEAD_BYTES_MAX = 16 * 1024;
/** Largest request body accepted. */
const BODY_BYTES_MAX = 4 * 1024 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");

const _STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  415: "Unsupported Media Type",
  411: "Length Required",
  413: "Payload Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/**
 * Serves HTTP/1.1 requests on `socket` until the client closes it or asks to. `initial`
 * holds bytes already read from the socket.
 */
export function serveHttp1(socket: Socket, initial: Buffer, handler: HttpHandler): void {
  let pending = initial;
  let busy = false;
  let closed = false;
  const localAddress = `${socket.localAddress ?? "127.0.0.1"}:${socket.localPort ?? 0}`;

  // Aborted when the connection closes: the signal of every request on it.
  const connection = new AbortController();

  const pump = async (): Promise<void> => {
    if (busy || closed) return;
    busy = true;
    try {
      // One request at a time, in order (no pipelining of responses).
      while (!closed) {
        const parsed = _parseRequest(pending, localAddress, connection.signal);
        if (parsed === "incomplete") break;
        if (typeof parsed === "number") {
          await _writeResponse(socket, new Response(null, { status: parsed }), false);
          socket.end();
          closed = true;
          break;
        }
        pending = pending.subarray(parsed.consumedBytes);
        if (socket.remoteAddress !== undefined) {
          _remoteAddresses.set(parsed.request, {
            host: socket.remoteAddress,
            port: socket.remotePort ?? 0,
          });
        }
        let response: Response;
        try {
          response = await handler(parsed.request);
        } catch (error) {
          const text = error instanceof Error ? error.message : String(error);
          response = new Response(text, { status: 500 });
        }
        await _writeResponse(socket, response, parsed.keepAlive);
        if (!parsed.keepAlive) {
          socket.end();
          closed = true;
        }
      }
    } finally {
      busy = false;
    }
  };

  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    void pump();
  });
  socket.on("error", () => socket.destroy());
  socket.on("close", () => {
    closed = true;
    connection.abort();
  });
  void pump();
}

interface _Parsed {
  request: Request;
  keepAlive: boolean;
  consumedBytes: number;
}

/** Parses one request from the front of `bytes`; a number is an HTTP status to fail with. */
function _parseRequest(
  bytes: Buffer,
  host: string,
  signal: AbortSignal,
): _Parsed | "incomplete" | number {
  const headEnd = bytes.indexOf(HEAD_END);
  if (headEnd < 0) return bytes.length > HEAD_BYTES_MAX ? 413 : "incomplete";
  const lines = bytes.subarray(0, headEnd).toString("latin1").split("\r\n");
  const [method, target, version] = (lines[0] ?? "").split(" ");
  if (method === undefined || target === undefined || version === undefined) return 400;
  if (!version.startsWith("HTTP/1.")) return 400;
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return 400;
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  if (headers.has("transfer-encoding")) return 411;
  const bodyBytes = Number(headers.get("content-length") ?? "0");
  if (!Number.isSafeInteger(bodyBytes) || bodyBytes < 0) return 400;
  if (bodyBytes > BODY_BYTES_MAX) return 413;
  const bodyStart = headEnd + HEAD_END.length;
  if (bytes.length < bodyStart + bodyBytes) return "incomplete";
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const keepAlive = version === "HTTP/1.1" ? connection !== "close" : connection === "keep-alive";
  const hasBody = bodyBytes > 0 && method !== "GET" && method !== "HEAD";
  const url = new URL(target, `http://${headers.get("host") ?? host}`);
  const init: RequestInit = { method, headers, signal };
  if (hasBody) init.body = bytes.slice(bodyStart, bodyStart + bodyBytes);
  const request = new Request(url, init);
  _rawTargets.set(request, target);
  return { request, keepAlive, consumedBytes: bodyStart + bodyBytes };
}

const _rawTargets = new WeakMap<Request, string>();
const _remoteAddresses = new WeakMap<Request, { host: string; port: number }>();

/** The client's address of a request read by {@link serveHttp1} (Go's Request.RemoteAddr). */
export function remoteAddress(request: Request): { host: string; port: number } | undefined {
  return _remoteAddresses.get(request);
}

/**
 * The request target as the client sent it (the URL of a Request has `..` and `.` resolved,
 * which Go's ServeMux answers with a redirect instead).
 */
export function rawTarget(request: Request): string | undefined {
  return _rawTargets.get(request);
}

/**
 * Writes a response. One with `transfer-encoding: chunked` (a stream, such as the gateway's
 * watch) is sent chunk by chunk as its body yields; any other is buffered and sent with a
 * content-length.
 */
async function _writeResponse(
  socket: Socket,
  response: Response,
  keepAlive: boolean,
): Promise<void> {
  const chunked = response.headers.get("transfer-encoding")?.toLowerCase() === "chunked";
  const statusText = response.statusText || _STATUS_TEXT[response.status] || "";
  let head = `HTTP/1.1 ${response.status} ${statusText}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  head += `connection: ${keepAlive ? "keep-alive" : "close"}\r\n`;
  if (!chunked || response.body === null) {
    const body = new Uint8Array(await response.arrayBuffer());
    head += `content-length: ${body.length}\r\n\r\n`;
    socket.write(Buffer.concat([Buffer.from(head, "latin1"), body]));
    return;
  }
  socket.write(Buffer.from(head + "transfer-encoding: chunked\r\n\r\n", "latin1"));
  const reader = response.body.getReader();
  const onClose = () => void reader.cancel().catch(() => {});
  socket.once("close", onClose);
  try {
    while (!socket.destroyed) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      const frame = Buffer.concat([
        Buffer.from(`${value.length.toString(16)}\r\n`, "latin1"),
        value,
        Buffer.from("\r\n", "latin1"),
      ]);
      // Back-pressure: wait for the socket to drain before reading more of the body.
      if (!socket.write(frame)) await drained(socket);
    }
    if (!socket.destroyed) socket.write(Buffer.from("0\r\n\r\n", "latin1"));
  } catch {
    socket.destroy();
  } finally {
    socket.off("close", onClose);
  }
}
