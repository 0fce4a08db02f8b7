/**
 * A refusal of state-changing requests that a browser sends on behalf of another site, on the
 * client listeners' HTTP side, in front of the gateway, the console and /health.
 *
 etcd's CORS headers and Host whitelist are `access_control.ts`, which wraps this guard.
 *
 * Cross-site requests: etcd 3.4's gateway decodes a POST body as JSON whatever its content
 * type, so any web page can make a visitor's browser `POST /v3/kv/put` to
 * `http://127.0.0.1:2379` as a "simple" `text/plain` request with no CORS preflight: request
 * forgery against every etcd on a developer's machine, and the console would make such a page
 * worth writing. detcd refuses these requests by what the browser itself says about them:
 *
 * - `Sec-Fetch-Site` (sent by every current browser): anything but `same-origin` or `none`
 *   (typed in the address bar) is refused;
 * - `Origin` (sent on cross-origin POSTs by older browsers too): refused when its host and
 *   port differ from the request's `Host`.
 *
 * An origin listed by name in `--cors` is trusted and passes (that is what listing it means);
 * `*` trusts none. `POST /v3/maintenance/status` always passes: it changes nothing, holds no
 * secret, and is how the console of one member shows the status of the others. Clients that
 * are not browsers (etcdctl, curl, client libraries) send neither header and are not affected.
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";

/** The start of the gateway's error message for a refused cross-site request. */
export const CROSS_SITE_MESSAGE = "detcd: cross-site request refused";

/** Gateway paths a browser of another site may still POST to (read-only, no secrets). */
const _CROSS_SITE_ALLOWED = new Set(["/v3/maintenance/status", "/v3beta/maintenance/status"]);

/** Options of {@link crossSiteGuarded}. */
export interface CrossSiteOptions {
  /** `--cors`: origins named here are trusted; `*` trusts none. */
  cors: readonly string[];
}

/**
 * Wraps `handler` with detcd's cross-site refusal: a refused request is answered 403 in the
 * gateway's error shape and never reaches `handler`. etcd's CORS headers and `OPTIONS` answers
 * come from the access controller around it (`access_control.ts`).
 */
export function crossSiteGuarded(handler: HttpHandler, options: CrossSiteOptions): HttpHandler {
  const listed = new Set(options.cors.filter((origin) => origin !== "*").map(_normalOrigin));
  return async (request) => {
    const origin = request.headers.get("origin");
    const trusted = origin !== null && listed.has(_normalOrigin(origin));
    const refusal = trusted ? undefined : crossSiteRefusal(request);
    if (refusal === undefined) return await handler(request);
    return Response.json({ error: refusal, message: refusal, code: 7 }, { status: 403 });
  };
}

/**
 * The reason to refuse `request` if it is a state-changing request that a browser sends for
 * another site, else undefined. Only unsafe methods are checked.
 */
export function crossSiteRefusal(request: Request): string | undefined {
  const method = request.method.toUpperCase();
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return undefined;
  if (_CROSS_SITE_ALLOWED.has(new URL(request.url).pathname)) return undefined;
  const fetchSite = request.headers.get("sec-fetch-site");
  if (fetchSite !== null && fetchSite !== "same-origin" && fetchSite !== "none") {
    return `${CROSS_SITE_MESSAGE} (Sec-Fetch-Site: ${fetchSite})`;
  }
  const origin = request.headers.get("origin");
  if (origin === null) return undefined;
  const host = request.headers.get("host") ?? new URL(request.url).host;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = ""; // "null" (a sandboxed page, a file) or garbage: never the same host
  }
  return originHost === host ? undefined : `${CROSS_SITE_MESSAGE} (Origin: ${origin})`;
}

/**
 * An origin as browsers send it: `--cors` takes URLs with a port (`https://ops.example:443`),
 * which a browser sends as `https://ops.example`.
 */
function _normalOrigin(text: string): string {
  try {
    return new URL(text).origin;
  } catch {
    return text;
  }
}
