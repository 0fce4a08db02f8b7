/**
 * The console's HTTP side: its files under `/ui/` with a strict Content-Security-Policy, and
 * two read-only endpoints of its own, `GET /ui/api/storage` (the page file's accounting, which
 * no etcd API reports) and `GET /ui/api/defrag` (how far a defragmentation has got). Everything else the console does goes through the JSON gateway
 * and `/metrics`, like any other client, so raft and the auth checks apply to it.
 *
 * @module
 */

import type { Asset } from "./assets.ts";

/** An HTTP handler: the shape of every handler on the client listeners. */
export type UiHttpHandler = (request: Request) => Response | Promise<Response>;

/** The console's files, once loaded. */
let _assets: Promise<ReadonlyMap<string, Asset>> | undefined;

/**
 * The console's files by path below `/ui/`, loaded at the first call. A member that nobody
 * opens the console on never holds them (about 0.5 MiB of V8 heap, measured by
 * `bench/idle_memory.ts modules`).
 */
export function loadAssets(): Promise<ReadonlyMap<string, Asset>> {
  _assets ??= import("./assets.ts").then((module) => module.ASSETS);
  return _assets;
}

/** Where the console lives on a client URL. */
export const UI_PATH_PREFIX = "/ui/";

/**
 * The console's pages may load and talk only to their own origin, except that `connect-src`
 * also names the cluster's client URLs (the cluster view asks every member for its status).
 * No inline script, no eval, no plugins, no framing, no form posts, no `<base>`.
 */
function _csp(connectSources: readonly string[]): string {
  const sources = connectSources.filter((source) => /^https?:\/\/[^\s;,']+$/.test(source));
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...sources].join(" "),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** How long the page waits for the member list before it limits itself to its own origin. */
const _MEMBER_LIST_TIMEOUT_MS = 1000;

const _SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** Options of {@link uiHandler}. */
export interface UiOptions {
  /**
   * A value that changes when the page file changes shape (its size): a cached storage report
   * of another generation is not reused.
   */
  storageGeneration?: (() => unknown) | undefined;
  /**
   * The report of `GET /ui/api/storage`, as a JSON-ready object. Undefined (a proxy, which
   * has no storage of its own): every `/ui/api/` path goes to `fallback`, which forwards it.
   */
  storage?: (() => unknown) | undefined;
  /** The answer of `GET /ui/api/defrag`: the defragmentation in progress, as JSON. */
  defrag?: (() => unknown) | undefined;
  /**
   * Whether the caller of a `/ui/api/` endpoint may have its answer: undefined when it may, else
   * the refusal to send (the member's auth check, with the request's `Authorization` token).
   * Asked on every request, before any cached report is reused.
   */
  authorize?: ((request: Request) => Promise<Response | undefined>) | undefined;
  /** The clock, in milliseconds (tests pass a fake one). */
  nowMs?: (() => number) | undefined;
  /** The cluster's client URLs, which the page may connect to besides its own origin. */
  clientUrls?: ((signal: AbortSignal) => Promise<string[]>) | undefined;
}

/**
 * A handler serving the console under `/ui/` and passing every other path to `fallback`.
 * `/ui` redirects to `/ui/`.
 */
export function uiHandler(options: UiOptions, fallback: UiHttpHandler): UiHttpHandler {
  const storage = options.storage === undefined ? undefined : _throttled(
    options.storage,
    options.nowMs ?? (() => performance.now()),
    options.storageGeneration ?? (() => 0),
  );
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/ui") return _withHeaders(Response.redirect(new URL("/ui/", request.url), 301));
    if (!path.startsWith(UI_PATH_PREFIX)) return fallback(request);
    const rest = path.slice(UI_PATH_PREFIX.length);
    if (storage === undefined && rest.startsWith("api/")) return fallback(request);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return _withHeaders(new Response("Method Not Allowed\n", { status: 405 }));
    }
    if (rest === "api/defrag" && options.defrag !== undefined) {
      const refusal = await options.authorize?.(request);
      if (refusal !== undefined) return _withHeaders(refusal);
      return _withHeaders(Response.json(options.defrag()));
    }
    if (rest === "api/storage" && storage !== undefined) {
      const refusal = await options.authorize?.(request);
      if (refusal !== undefined) return _withHeaders(refusal);
      let report: unknown;
      try {
        report = storage();
      } catch (error) {
        return _withHeaders(Response.json({ error: (error as Error).message }, { status: 500 }));
      }
      return _withHeaders(Response.json(report));
    }
    const asset = (await loadAssets()).get(rest);
    if (asset === undefined) {
      return _withHeaders(new Response("404 page not found\n", { status: 404 }));
    }
    const connectSources = rest === "" ? await _clientOrigins(options) : [];
    return _withHeaders(
      new Response(request.method === "HEAD" ? null : asset.body, {
        headers: { "content-type": asset.contentType },
      }),
      connectSources,
    );
  };
}

/** The storage walk may take at most this share of the event loop's time. */
const _STORAGE_WALK_SHARE = 0.1;
/** However fast the walk, a report is reused for this long. */
const _STORAGE_REUSE_MIN_MS = 1000;

/**
 * `report` computed at most once per period, the period growing with the time it takes: a
 * walk of W ms is reused for W / share - W ms, so that however many consoles ask, the walk
 * holds the event loop for at most a tenth of the time (the member serves requests meanwhile);
 * a report is never reused once the page file changed generation (a defragmentation).
 * The answer carries `ageMs`, how old it is.
 */
function _throttled(
  report: () => unknown,
  nowMs: () => number,
  generation: () => unknown,
): () => unknown {
  let cached:
    | { value: unknown; doneAtMs: number; reuseMs: number; generation: unknown }
    | undefined;
  return () => {
    const now = nowMs();
    const current = generation();
    if (
      cached !== undefined && cached.generation === current &&
      now - cached.doneAtMs < cached.reuseMs
    ) {
      return { ...(cached.value as object), ageMs: Math.round(now - cached.doneAtMs) };
    }
    const value = report();
    const doneAtMs = nowMs();
    const walkMs = doneAtMs - now;
    const reuseMs = Math.max(_STORAGE_REUSE_MIN_MS, walkMs / _STORAGE_WALK_SHARE - walkMs);
    cached = { value, doneAtMs, reuseMs, generation: current };
    return { ...(value as object), ageMs: 0 };
  };
}

/** The origins of the cluster's client URLs; none when the member list does not come. */
async function _clientOrigins(options: UiOptions): Promise<string[]> {
  if (options.clientUrls === undefined) return [];
  try {
    const urls = await options.clientUrls(AbortSignal.timeout(_MEMBER_LIST_TIMEOUT_MS));
    return [...new Set(urls.map((url) => new URL(url).origin))];
  } catch {
    return [];
  }
}

function _withHeaders(response: Response, connectSources: readonly string[] = []): Response {
  // Response.redirect has immutable headers: copy it into a plain response.
  const copy = new Response(response.body, { status: response.status, headers: response.headers });
  for (const [name, value] of Object.entries(_SECURITY_HEADERS)) copy.headers.set(name, value);
  copy.headers.set("content-security-policy", _csp(connectSources));
  return copy;
}
