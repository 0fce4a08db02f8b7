/**
 * `/v2/keys` on the client listener behind `--enable-v2` (etcd 3.4 `etcdserver/api/v2http`
 * keysHandler): parses the form (query string, and a urlencoded body for POST and PUT) the
 * way Go's `ParseForm` does, turns it into a v2 Request, runs it on the member and writes the
 * event, the watch stream or the v2 error with etcd's headers (`X-Etcd-Cluster-ID`,
 * `X-Etcd-Index`, `X-Raft-Index`, `X-Raft-Term`) and bodies (JSON and a newline).
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";
import { rawTarget } from "./_http1.ts";
import {
  EcodeIndexNaN,
  EcodeInvalidField,
  EcodeInvalidForm,
  EcodePrevValueRequired,
  EcodeRaftInternal,
  EcodeRefreshTTLRequired,
  EcodeRefreshValue,
  EcodeTTLNaN,
  EcodeUnauthorized,
  eventJson,
  isCreated,
  loadV2Auth,
  requestError,
  type V2Auth,
  V2Error,
  type V2Event,
  type V2Response,
  type V2Server,
  type V2Watcher,
} from "../server/mod.ts";
import { hasKeyPrefixAccess, v2AuthHandler } from "./v2_auth.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import { bigintToLong, bigintToULong } from "../etcdserverpb/mod.ts";

// The server's v2 auth, loaded with ./v2_auth.ts (this file is imported only for --enable-v2).
const v2AuthModule = await loadV2Auth();

/** The path prefix etcd serves the keys under. */
export const KEYS_PREFIX = "/v2/keys";
const _STORE_KEYS_PREFIX = "/1";
const _ALLOWED = ["HEAD", "GET", "PUT", "POST", "DELETE"];
/** Go's maxFormSize: a larger urlencoded body is refused ("http: POST too large"). */
const _MAX_FORM_BYTES = 10 << 20;
const _encoder = new TextEncoder();

/** Options of {@link v2KeysHandler}. */
export interface V2KeysOptions {
  /** The request timeout (etcd's ReqTimeout), for writes and quorum reads. */
  timeoutMs: number;
  /** v2 auth, whose users, roles and guest role `/v2/keys` checks once it is enabled. */
  auth?: V2Auth;
}

/** `/v2/keys` and `/v2/auth/*` of one member (what `--enable-v2` adds to a client listener). */
export function v2ApiHandler(
  v2: V2Server,
  next: HttpHandler,
  options: { timeoutMs: number },
): HttpHandler {
  const auth = new v2AuthModule.V2Auth(v2);
  return v2AuthHandler(
    auth,
    v2.clusterIdHex,
    v2KeysHandler(v2, next, { timeoutMs: options.timeoutMs, auth }),
  );
}

/** The `/v2/keys` handler; other paths go to `next`. */
export function v2KeysHandler(
  v2: V2Server,
  next: HttpHandler,
  options: V2KeysOptions,
): HttpHandler {
  return (request) => {
    const url = new URL(request.url);
    if (url.pathname !== KEYS_PREFIX && !url.pathname.startsWith(KEYS_PREFIX + "/")) {
      return next(request);
    }
    // The path as sent (a Request's URL has dot segments resolved already).
    let path: string;
    try {
      path = decodeURIComponent((rawTarget(request) ?? url.pathname).split("?")[0]!);
    } catch {
      return new Response("400 Bad Request", { status: 400 });
    }
    const clean = _muxCleanPath(path);
    if (clean !== path && request.method !== "CONNECT") {
      // Go's ServeMux answers an unclean path with a redirect to the clean one.
      return _redirect(request, encodeURI(clean) + url.search);
    }
    return _serveKeys(v2, request, { url, path }, options);
  };
}

async function _serveKeys(
  v2: V2Server,
  request: Request,
  target: { url: URL; path: string },
  options: V2KeysOptions,
): Promise<Response> {
  if (!_ALLOWED.includes(request.method)) {
    return new Response("Method Not Allowed\n", {
      status: 405,
      headers: {
        "Allow": _ALLOWED.join(","),
        "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff",
      },
    });
  }
  const headers = new Headers({ "X-Etcd-Cluster-ID": v2.clusterIdHex });
  let parsed: { request: etcdserverpb.Request.$Properties; noValueOnSuccess: boolean };
  try {
    parsed = await parseKeyRequest(request, target.url, target.path);
  } catch (error) {
    return _errorResponse(headers, error, request.method);
  }
  const recursive = parsed.request.Recursive === true;
  const key = target.path.slice(KEYS_PREFIX.length);
  if (
    options.auth !== undefined && !(await hasKeyPrefixAccess(options.auth, request, key, recursive))
  ) {
    return _errorResponse(
      headers,
      new V2Error(EcodeUnauthorized, "Insufficient credentials", 0),
      request.method,
    );
  }
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: V2Response;
  try {
    response = await v2.do(parsed.request, signal);
  } catch (error) {
    if (error instanceof V2Error) _trimCause(error);
    return _errorResponse(headers, error, request.method);
  }
  if (response.event !== undefined) {
    return _eventResponse(headers, response, response.event, {
      noValueOnSuccess: parsed.noValueOnSuccess,
      head: request.method === "HEAD",
    });
  }
  if (response.watcher !== undefined) {
    return _watchResponse(headers, response, response.watcher, {
      stream: parsed.request.Stream === true,
      requestSignal: request.signal,
    });
  }
  return _errorResponse(headers, new Error("received response with no Event/Watcher"), "GET");
}

/**
 * etcd's parseKeyRequest: the form fields into a v2 Request, with its request errors for
 * bad numbers and booleans, an empty prevValue, a value or a missing TTL on refresh.
 */
export async function parseKeyRequest(
  request: Request,
  url: URL,
  decodedPath: string,
): Promise<{ request: etcdserverpb.Request.$Properties; noValueOnSuccess: boolean }> {
  const form = await _parseForm(request, url);
  const path = _storePath(decodedPath.slice(KEYS_PREFIX.length));
  const prevIndex = _getUint(form, "prevIndex", EcodeIndexNaN, `invalid value for "prevIndex"`);
  const waitIndex = _getUint(form, "waitIndex", EcodeIndexNaN, `invalid value for "waitIndex"`);
  const flag = (name: string) =>
    _getBool(form, name, EcodeInvalidField, `invalid value for "${name}"`);
  const recursive = flag("recursive");
  const sorted = flag("sorted");
  const wait = flag("wait");
  const dir = flag("dir");
  const quorum = flag("quorum");
  const stream = flag("stream");
  if (wait && request.method !== "GET") {
    throw requestError(EcodeInvalidField, `"wait" can only be used with GET requests`);
  }
  const prevValue = _first(form, "prevValue");
  if (form.has("prevValue") && prevValue === "") {
    throw requestError(EcodePrevValueRequired, `"prevValue" cannot be empty`);
  }
  const noValueOnSuccess = flag("noValueOnSuccess");
  let ttl: bigint | undefined;
  if (_first(form, "ttl").length > 0) {
    ttl = _getUint(form, "ttl", EcodeTTLNaN, `invalid value for "ttl"`);
  }
  let prevExist: boolean | undefined;
  if (form.has("prevExist")) {
    prevExist = _getBool(form, "prevExist", EcodeInvalidField, "invalid value for prevExist");
  }
  let refresh: boolean | undefined;
  if (form.has("refresh")) {
    refresh = _getBool(form, "refresh", EcodeInvalidField, "invalid value for refresh");
    if (refresh) {
      if (form.has("value") && _first(form, "value") !== "") {
        throw requestError(EcodeRefreshValue, "A value was provided on a refresh");
      }
      if (ttl === undefined) throw requestError(EcodeRefreshTTLRequired, "No TTL value set");
    }
  }
  // etcd marshals every non-nullable field of the Request, zero or not.
  const r: etcdserverpb.Request.$Properties = {
    Method: request.method,
    Path: path,
    Val: _first(form, "value"),
    Dir: dir,
    PrevValue: prevValue,
    PrevIndex: bigintToULong(prevIndex),
    Expiration: bigintToLong(0n),
    Wait: wait,
    Since: bigintToULong(waitIndex),
    Recursive: recursive,
    Sorted: sorted,
    Quorum: quorum,
    Time: bigintToLong(0n),
    Stream: stream,
  };
  if (prevExist !== undefined) r.PrevExist = prevExist;
  if (refresh !== undefined) r.Refresh = refresh;
  if (ttl !== undefined) {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    r.Expiration = bigintToLong(BigInt.asIntN(64, nowNs + ttl * 1_000_000_000n));
  }
  return { request: r, noValueOnSuccess };
}

// -- the form --------------------------------------------------------------------------

type _Form = Map<string, string[]>;

/** Go's Request.ParseForm: the urlencoded body (POST, PUT, PATCH) first, then the query. */
async function _parseForm(request: Request, url: URL): Promise<_Form> {
  const form: _Form = new Map();
  let firstError: string | undefined;
  const method = request.method;
  if (method === "POST" || method === "PUT" || method === "PATCH") {
    const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type === "application/x-www-form-urlencoded") {
      const body = new Uint8Array(await request.arrayBuffer());
      if (body.length > _MAX_FORM_BYTES) {
        firstError = "http: POST too large";
      } else {
        firstError = _parseQuery(form, new TextDecoder().decode(body));
      }
    }
  }
  const queryError = _parseQuery(form, url.search.replace(/^\?/, ""));
  if (firstError === undefined) firstError = queryError;
  if (firstError !== undefined) throw requestError(EcodeInvalidForm, firstError);
  return form;
}

/** Go's url.ParseQuery into `form`; returns the first error's text (parsing goes on). */
function _parseQuery(form: _Form, query: string): string | undefined {
  let firstError: string | undefined;
  for (const part of query.split("&")) {
    if (part === "") continue;
    if (part.includes(";")) {
      firstError ??= "invalid semicolon separator in query";
      continue;
    }
    const eq = part.indexOf("=");
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    const key = _unescape(rawKey);
    if (typeof key !== "string") {
      firstError ??= key.error;
      continue;
    }
    const value = _unescape(rawValue);
    if (typeof value !== "string") {
      firstError ??= value.error;
      continue;
    }
    const values = form.get(key);
    if (values === undefined) form.set(key, [value]);
    else values.push(value);
  }
  return firstError;
}

/** Go's QueryUnescape: `+` is a space, `%XX` a byte; a bad escape is an error. */
function _unescape(text: string): string | { error: string } {
  // Fast paths: nothing escaped, or escapes that are valid UTF-8 (a 2 MiB value must not be
  // decoded byte by byte).
  if (!text.includes("%")) return text.includes("+") ? text.replaceAll("+", " ") : text;
  if (!/%(?![0-9a-fA-F]{2})/.test(text)) {
    try {
      return decodeURIComponent(text.replaceAll("+", " "));
    } catch {
      // Escapes of bytes that are not UTF-8: decoded one by one below.
    }
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        const bad = text.slice(i, i + 3);
        return { error: `invalid URL escape ${_goQuote(bad)}` };
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === "+") {
      bytes.push(0x20);
    } else {
      for (const b of _encoder.encode(c)) bytes.push(b);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function _goQuote(text: string): string {
  return JSON.stringify(text);
}

function _first(form: _Form, key: string): string {
  return form.get(key)?.[0] ?? "";
}

/** strconv.ParseUint(v, 10, 64) of the first value, 0 when absent. */
function _getUint(form: _Form, key: string, code: number, cause: string): bigint {
  const values = form.get(key);
  if (values === undefined) return 0n;
  const text = values[0]!;
  if (!/^[0-9]+$/.test(text)) throw requestError(code, cause);
  const value = BigInt(text);
  if (value >= 1n << 64n) throw requestError(code, cause);
  return value;
}

const _TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const _FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** strconv.ParseBool of the first value, false when absent. */
function _getBool(form: _Form, key: string, code: number, cause: string): boolean {
  const values = form.get(key);
  if (values === undefined) return false;
  const text = values[0]!;
  if (_TRUE.has(text)) return true;
  if (_FALSE.has(text)) return false;
  throw requestError(code, cause);
}

// -- paths -----------------------------------------------------------------------------

/** `path.Join("/1", rest)`. */
function _storePath(rest: string): string {
  const parts: string[] = [];
  for (const part of (_STORE_KEYS_PREFIX + "/" + rest).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}

/** Go ServeMux's cleanPath: path.Clean, keeping a trailing slash. */
function _muxCleanPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  let clean = "/" + parts.join("/");
  if (p.endsWith("/") && clean !== "/") clean += "/";
  return clean;
}

function _redirect(request: Request, location: string): Response {
  const headers = new Headers({ "Location": location });
  let body: string | null = null;
  if (request.method === "GET" || request.method === "HEAD") {
    headers.set("Content-Type", "text/html; charset=utf-8");
    body = request.method === "GET"
      ? `<a href="${
        location.replace(/&/g, "&amp;").replace(/</g, "&lt;")
      }">Moved Permanently</a>.\n\n`
      : null;
  }
  return new Response(body, { status: 301, headers });
}

// -- responses -------------------------------------------------------------------------

function _trimCause(error: V2Error): void {
  if (error.cause_.startsWith(_STORE_KEYS_PREFIX)) {
    (error as { cause_: string }).cause_ = error.cause_.slice(_STORE_KEYS_PREFIX.length);
  }
}

function _errorResponse(headers: Headers, error: unknown, method: string): Response {
  const e = error instanceof V2Error
    ? error
    : new V2Error(EcodeRaftInternal, error instanceof Error ? error.message : String(error), 0);
  headers.set("X-Etcd-Index", String(e.index));
  headers.set("Content-Type", "application/json");
  const body = method === "HEAD" ? null : e.toJson() + "\n";
  return new Response(body, { status: e.statusCode, headers });
}

function _setIndexes(headers: Headers, etcdIndex: number, response: V2Response): void {
  headers.set("Content-Type", "application/json");
  headers.set("X-Etcd-Index", String(etcdIndex));
  headers.set("X-Raft-Index", String(response.index));
  headers.set("X-Raft-Term", String(response.term));
}

/** Keys without `/1`, and no refresh flag (etcd's responses are clones, which drop it). */
const _HTTP_JSON = { trimPrefix: _STORE_KEYS_PREFIX, refresh: false };

const _NO_VALUE_ACTIONS = new Set(["set", "compareAndSwap", "create", "update"]);

function _eventResponse(
  headers: Headers,
  response: V2Response,
  event: V2Event,
  options: { noValueOnSuccess: boolean; head: boolean },
): Response {
  _setIndexes(headers, event.etcdIndex, response);
  const status = isCreated(event) ? 201 : 200;
  let body: string;
  if (options.noValueOnSuccess && _NO_VALUE_ACTIONS.has(event.action)) {
    body = `{"action":"${event.action}"}`;
  } else {
    body = eventJson(event, _HTTP_JSON);
  }
  return new Response(options.head ? null : body + "\n", { status, headers });
}

function _watchResponse(
  headers: Headers,
  response: V2Response,
  watcher: V2Watcher,
  options: { stream: boolean; requestSignal: AbortSignal },
): Response {
  _setIndexes(headers, watcher.startIndex, response);
  const stop = new AbortController();
  const finish = () => {
    stop.abort();
    watcher.remove();
  };
  options.requestSignal.addEventListener("abort", finish, { once: true });
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // An empty first chunk sends the headers at once (etcd flushes them for long polls).
      controller.enqueue(new Uint8Array(0));
    },
    async pull(controller) {
      const event = await watcher.next(stop.signal);
      if (event === undefined) {
        finish();
        controller.close();
        return;
      }
      controller.enqueue(
        _encoder.encode(eventJson(event, _HTTP_JSON) + "\n"),
      );
      if (!options.stream) {
        finish();
        controller.close();
      }
    },
    cancel() {
      finish();
    },
  });
  return new Response(body, { status: 200, headers });
}
