/**
 * etcd's access controller on the client port's HTTP side (embed/serve.go accessController):
 * before any HTTP request reaches the gateway or /health, /version, /metrics,
 *
 * - on a plain (non-TLS) listener, the request's Host must be in `--host-whitelist` (empty
 *   or `*` allows all), else 421 with etcd's DNS-rebinding explanation (CVE-2018-5702);
 * - CORS headers are added for an origin `--cors` allows (empty or `*`: every response gets
 *   `Access-Control-Allow-Origin: *`), and an `OPTIONS` request is answered 200 at once.
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";

/** Options of {@link accessController}. */
export interface AccessControlOptions {
  /** `--cors`: allowed origins; empty or containing `*` allows all. */
  cors: readonly string[];
  /** `--host-whitelist`: allowed Host names on plain listeners; empty or `*` allows all. */
  hostWhitelist: readonly string[];
  /** Whether the listener is TLS (the Host check applies to plain listeners only). */
  secure: boolean;
  /** Called when a request is refused for its Host (etcd logs a warning). */
  onRejectedHost?: (host: string) => void;
}

/** Wraps `next` with etcd's Host whitelist and CORS handling. */
export function accessController(next: HttpHandler, options: AccessControlOptions): HttpHandler {
  // Origins as browsers send them: `--cors https://ops.example:443` names the origin a browser
  // sends as `https://ops.example` (etcd compares the texts and would never match it).
  const cors = new Set(options.cors.map(_browserOrigin));
  const hosts = new Set(options.hostWhitelist);
  const anyOrigin = cors.size === 0 || cors.has("*");
  const anyHost = hosts.size === 0 || hosts.has("*");
  return async (request: Request): Promise<Response> => {
    if (!options.secure && !anyHost) {
      const host = hostname(request.headers.get("host") ?? new URL(request.url).host);
      if (!hosts.has(host)) {
        options.onRejectedHost?.(host);
        return new Response(_rebindingText(host) + "\n", {
          status: 421,
          headers: {
            "content-type": "text/plain; charset=utf-8",
            "x-content-type-options": "nosniff",
          },
        });
      }
    }
    const origin = request.headers.get("origin") ?? "";
    const allowed = anyOrigin ? "*" : cors.has(_browserOrigin(origin)) ? origin : undefined;
    if (request.method === "OPTIONS") {
      return _withCors(new Response(null, { status: 200 }), allowed);
    }
    return _withCors(await next(request), allowed);
  };
}

function _browserOrigin(text: string): string {
  try {
    return new URL(text).origin;
  } catch {
    return text;
  }
}

/** Go's httputil.GetHostname: the Host header without its port (`[::1]:2379` -> `::1`). */
export function hostname(host: string): string {
  const bracketed = /^\[([^\]]*)\]:\d*$/.exec(host);
  if (bracketed !== null) return bracketed[1]!;
  const plain = /^([^:]*):\d*$/.exec(host);
  return plain === null ? host : plain[1]!;
}

function _withCors(response: Response, origin: string | undefined): Response {
  if (origin === undefined) return response;
  try {
    _appendCors(response.headers, origin);
    return response;
  } catch {
    // Immutable headers (a Response from fetch, Response.error()): answer with a copy.
    const headers = new Headers(response.headers);
    _appendCors(headers, origin);
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
}

/** etcd's addCORSHeader. */
function _appendCors(headers: Headers, origin: string): void {
  headers.append("access-control-allow-methods", "POST, GET, OPTIONS, PUT, DELETE");
  headers.append("access-control-allow-origin", origin);
  headers.append("access-control-allow-headers", "accept, content-type, authorization");
}

function _rebindingText(host: string): string {
  return [
    "",
    "etcd received your request, but the Host header was unrecognized.",
    "",
    "To fix this, choose one of the following options:",
    "- Enable TLS, then any HTTPS request will be allowed.",
    "- Add the hostname you want to use to the whitelist in settings.",
    `  - e.g. etcd --host-whitelist ${JSON.stringify(host)}`,
    "",
    'This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).',
  ].join("\n");
}
