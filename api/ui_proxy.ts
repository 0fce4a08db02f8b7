/**
 * The web console behind a proxy that holds no data (`grpc-proxy start --enable-ui`): the
 * console's files under `/ui/` are served by the proxy itself, and every HTTP call the console
 * makes to its own origin is forwarded to the cluster's client URLs:
 *
 * - the JSON gateway (`/v3/`, `/v3beta/`, `/v3alpha/`), streams (watch, keep-alive) included;
 * - the console's own read-only endpoints (`/ui/api/storage`, `/ui/api/defrag`);
 * - `/version`.
 *
 * The forwarding is the v2 proxy's ({@link V2Proxy}): kept-alive HTTP/1.1, the next endpoint
 * when one cannot be reached (held out for `failureWaitMs`), hop-by-hop headers dropped, the
 * rest (`Authorization` among them) passed through, so the member that answers checks the
 * caller's token as for any client. detcd's cross-site guard stands in front of all of it, and
 * the member's guard checks again (the proxy passes the browser's `Origin`, `Host` and
 * `Sec-Fetch-Site` through).
 *
 * `/metrics` and `/health` are the proxy's own (the caller's handler), as etcd's proxy serves
 * them.
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";
import type { Logger } from "../server/mod.ts";
import { UI_PATH_PREFIX, uiHandler } from "../ui/mod.ts";
import { crossSiteGuarded } from "./access.ts";
import { type ProxyUpstreamTls, V2Proxy } from "./v2_proxy.ts";

/** Options of {@link startConsoleProxy}. */
export interface ConsoleProxyOptions {
  /** The cluster's client URLs (`http://host:port` or `https://...`). */
  endpoints: readonly string[];
  /** Client TLS toward `https` endpoints. */
  tls?: ProxyUpstreamTls | undefined;
  /** The cluster's client URLs as its member list says, for the page's connect-src. */
  clientUrls?: ((signal: AbortSignal) => Promise<string[]>) | undefined;
  /** `--cors` of the listener (trusted origins of the cross-site guard); none for grpc-proxy. */
  cors?: readonly string[] | undefined;
  /**
   * Set when the console must not be served (grpc-proxy's `--namespace`): `/ui/` answers 501
   * with this text and nothing is forwarded.
   */
  refusal?: string | undefined;
  log: Logger;
}

/** A started console proxy. */
export interface ConsoleProxy {
  /** `fallback` with the console and its forwarded paths in front. */
  wrap(fallback: HttpHandler): HttpHandler;
  close(): void;
}

/** etcd's v2 proxy defaults: `--proxy-failure-wait`, refresh, dial and write timeouts. */
const _FAILURE_WAIT_MS = 5000;
const _REFRESH_MS = 30000;
const _DIAL_TIMEOUT_MS = 1000;
const _WRITE_TIMEOUT_MS = 5000;

/** Whether the console's calls to `path` go to the cluster. */
export function consoleForwarded(path: string): boolean {
  return /^\/v3(?:beta|alpha)?\//.test(path) || path.startsWith(`${UI_PATH_PREFIX}api/`) ||
    path === "/version";
}

/** Whether `path` is the console's (its files, its API, or what it forwards). */
function _consolePath(path: string): boolean {
  return path === "/ui" || path.startsWith(UI_PATH_PREFIX) || consoleForwarded(path);
}

/** Starts the forwarding (when not refused) and answers the console's handler. */
export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<ConsoleProxy> {
  if (options.refusal !== undefined) {
    const text = options.refusal;
    options.log.warn(text);
    return {
      wrap: (fallback) => (request) => {
        const path = new URL(request.url).pathname;
        if (path !== "/ui" && !path.startsWith(UI_PATH_PREFIX)) return fallback(request);
        return new Response(text + "\n", {
          status: 501,
          headers: {
            "content-type": "text/plain; charset=utf-8",
            "x-content-type-options": "nosniff",
          },
        });
      },
      close: () => {},
    };
  }
  const endpoints = [...options.endpoints];
  const forwarder = await V2Proxy.start({
    refresh: () => Promise.resolve(endpoints),
    failureWaitMs: _FAILURE_WAIT_MS,
    refreshIntervalMs: _REFRESH_MS,
    dialTimeoutMs: _DIAL_TIMEOUT_MS,
    writeTimeoutMs: _WRITE_TIMEOUT_MS,
    readTimeoutMs: 0, // watches and keep-alives stream for as long as the page keeps them
    readonly: false,
    cors: options.cors ?? [],
    tls: options.tls,
    log: options.log,
  });
  return {
    wrap(fallback) {
      const forward: HttpHandler = (request) => {
        const path = new URL(request.url).pathname;
        return consoleForwarded(path) ? forwarder.handler(request) : fallback(request);
      };
      const served = crossSiteGuarded(
        uiHandler({ clientUrls: options.clientUrls }, forward),
        { cors: options.cors ?? [] },
      );
      return (request) =>
        _consolePath(new URL(request.url).pathname) ? served(request) : fallback(request);
    },
    close: () => forwarder.close(),
  };
}
