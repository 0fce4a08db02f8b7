/**
 * The JSON gateway of etcd 3.4 (grpc-gateway v1): `POST /v3/kv/put` with a JSON body calls
 * the same handler as the gRPC method `/etcdserverpb.KV/Put`, and prints the response as
 * JSON with .proto field names, base64 bytes and 64-bit integers as strings.
 *
 * - Unary methods answer one JSON object; errors answer `{"error", "message", "code"}` with
 *   grpc-gateway's HTTP status for the gRPC code.
 * - Streaming methods (`/v3/watch`, `/v3/lease/keepalive`, `/v3/maintenance/snapshot`,
 *   `/v3/election/observe`)
 *   answer a chunked stream of `{"result": ...}` lines, ended by an `{"error": ...}` line on
 *   failure. The request body holds one or more JSON objects, sent to the handler in order;
 *   the call lasts until the client disconnects or the handler returns.
 * - `/v3beta/` is an alias of `/v3/`, as in etcd 3.4. WebSocket upgrades are not served.
 * - The auth token comes from the `Authorization` header (etcd reads the `authorization`
 *   metadata as the `token` one), other metadata from `Grpc-Metadata-<key>` headers.
 *
 * @module
 */

import { EtcdError, parseJsonExact, Status, type StatusCode, toEtcdError } from "../rpc/mod.ts";
import type { CallContext, HttpHandler, StreamSink } from "../rpc/mod.ts";
import { type AnyMethodDescriptor, type EtcdServices, METHODS, SERVICE_KEYS } from "../rpc/mod.ts";

/**
 * Gateway paths, as etcd 3.4 registers them: every `post:` binding of rpc.proto's
 * google.api.http options (additional bindings included), v3election.proto's and
 * v3lock.proto's.
 */
const _ROUTES: [string, AnyMethodDescriptor][] = [
  ["/v3/kv/range", METHODS.KV.Range],
  ["/v3/kv/put", METHODS.KV.Put],
  ["/v3/kv/deleterange", METHODS.KV.DeleteRange],
  ["/v3/kv/txn", METHODS.KV.Txn],
  ["/v3/kv/compaction", METHODS.KV.Compact],
  ["/v3/watch", METHODS.Watch.Watch],
  ["/v3/lease/grant", METHODS.Lease.LeaseGrant],
  ["/v3/lease/revoke", METHODS.Lease.LeaseRevoke],
  ["/v3/kv/lease/revoke", METHODS.Lease.LeaseRevoke],
  ["/v3/lease/keepalive", METHODS.Lease.LeaseKeepAlive],
  ["/v3/lease/timetolive", METHODS.Lease.LeaseTimeToLive],
  ["/v3/kv/lease/timetolive", METHODS.Lease.LeaseTimeToLive],
  ["/v3/lease/leases", METHODS.Lease.LeaseLeases],
  ["/v3/kv/lease/leases", METHODS.Lease.LeaseLeases],
  ["/v3/cluster/member/add", METHODS.Cluster.MemberAdd],
  ["/v3/cluster/member/remove", METHODS.Cluster.MemberRemove],
  ["/v3/cluster/member/update", METHODS.Cluster.MemberUpdate],
  ["/v3/cluster/member/list", METHODS.Cluster.MemberList],
  ["/v3/cluster/member/promote", METHODS.Cluster.MemberPromote],
  ["/v3/maintenance/alarm", METHODS.Maintenance.Alarm],
  ["/v3/maintenance/status", METHODS.Maintenance.Status],
  ["/v3/maintenance/defragment", METHODS.Maintenance.Defragment],
  // Hash and HashKV share this path in etcd; grpc-gateway's mux serves the first one
  // registered, Hash (HashKV is reachable over gRPC only).
  ["/v3/maintenance/hash", METHODS.Maintenance.Hash],
  ["/v3/maintenance/snapshot", METHODS.Maintenance.Snapshot],
  ["/v3/maintenance/transfer-leadership", METHODS.Maintenance.MoveLeader],
  ["/v3/auth/enable", METHODS.Auth.AuthEnable],
  ["/v3/auth/disable", METHODS.Auth.AuthDisable],
  ["/v3/auth/authenticate", METHODS.Auth.Authenticate],
  ["/v3/auth/user/add", METHODS.Auth.UserAdd],
  ["/v3/auth/user/get", METHODS.Auth.UserGet],
  ["/v3/auth/user/list", METHODS.Auth.UserList],
  ["/v3/auth/user/delete", METHODS.Auth.UserDelete],
  ["/v3/auth/user/changepw", METHODS.Auth.UserChangePassword],
  ["/v3/auth/user/grant", METHODS.Auth.UserGrantRole],
  ["/v3/auth/user/revoke", METHODS.Auth.UserRevokeRole],
  ["/v3/auth/role/add", METHODS.Auth.RoleAdd],
  ["/v3/auth/role/get", METHODS.Auth.RoleGet],
  ["/v3/auth/role/list", METHODS.Auth.RoleList],
  ["/v3/auth/role/delete", METHODS.Auth.RoleDelete],
  ["/v3/auth/role/grant", METHODS.Auth.RoleGrantPermission],
  ["/v3/auth/role/revoke", METHODS.Auth.RoleRevokePermission],
  ["/v3/election/campaign", METHODS.Election.Campaign],
  ["/v3/election/proclaim", METHODS.Election.Proclaim],
  ["/v3/election/leader", METHODS.Election.Leader],
  ["/v3/election/observe", METHODS.Election.Observe],
  ["/v3/election/resign", METHODS.Election.Resign],
  ["/v3/lock/lock", METHODS.Lock.Lock],
  ["/v3/lock/unlock", METHODS.Lock.Unlock],
];

/** grpc-gateway's `HTTPStatusFromCode`. */
const _HTTP_STATUS: Record<number, number> = {
  [Status.OK]: 200,
  [Status.CANCELLED]: 408,
  [Status.UNKNOWN]: 500,
  [Status.INVALID_ARGUMENT]: 400,
  [Status.DEADLINE_EXCEEDED]: 504,
  [Status.NOT_FOUND]: 404,
  [Status.ALREADY_EXISTS]: 409,
  [Status.PERMISSION_DENIED]: 403,
  [Status.UNAUTHENTICATED]: 401,
  [Status.RESOURCE_EXHAUSTED]: 429,
  [Status.FAILED_PRECONDITION]: 412,
  [Status.ABORTED]: 409,
  [Status.OUT_OF_RANGE]: 400,
  [Status.UNIMPLEMENTED]: 501,
  [Status.INTERNAL]: 500,
  [Status.UNAVAILABLE]: 503,
  [Status.DATA_LOSS]: 500,
};

/** Responses a streaming call may have queued before its handler waits (back-pressure). */
const STREAM_QUEUE_MAX = 64;
/** Largest JSON request body accepted (etcd's default --max-request-bytes + overhead). */
const BODY_BYTES_MAX = 2 * 1024 * 1024;

/** Options of the gateway of one client listener. */
export interface GatewayOptions {
  /**
   * How many gateway calls run at once (`--max-concurrent-streams`); more wait for a free
   * slot. etcd's gateway reaches the server through one gRPC connection per listener, whose
   * streams this flag bounds: with the limit reached by open watches, a range waits (and the
   * client times out) rather than fails. Default: unbounded.
   */
  maxConcurrentStreams?: number | undefined;
}

/** Requests that may wait for a slot at once; beyond it the gateway answers 503. */
const SLOT_WAITERS_MAX = 100_000;

/** A counting semaphore whose waiters give up when their client goes away. */
class _CallSlots {
  readonly #limit: number;
  #used = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(limit: number) {
    if (!(limit >= 1)) throw new RangeError(`max concurrent streams must be >= 1, not ${limit}`);
    this.#limit = limit;
  }

  /** Resolves with a release function once a slot is free; undefined if `signal` fired. */
  acquire(signal: AbortSignal): Promise<(() => void) | undefined> | (() => void) | undefined {
    if (signal.aborted) return undefined;
    if (this.#used < this.#limit) {
      this.#used++;
      return this.#releaser();
    }
    if (this.#waiters.length >= SLOT_WAITERS_MAX) {
      throw new EtcdError(Status.UNAVAILABLE, "too many gateway requests waiting");
    }
    return new Promise((resolve) => {
      const wake = () => {
        signal.removeEventListener("abort", onAbort);
        this.#used++;
        resolve(this.#releaser());
      };
      const onAbort = () => {
        const index = this.#waiters.indexOf(wake);
        if (index >= 0) this.#waiters.splice(index, 1);
        resolve(undefined);
      };
      this.#waiters.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used--;
      if (this.#used < 0) throw new Error("gateway: slot released twice");
      this.#waiters.shift()?.();
    };
  }
}

/**
 * An HTTP handler serving the JSON gateway for `services`, passing every other path to
 * `fallback` (health, version, metrics).
 */
export function gatewayHandler(
  services: EtcdServices,
  fallback: HttpHandler,
  options: GatewayOptions = {},
): HttpHandler {
  const limit = options.maxConcurrentStreams;
  const slots = limit === undefined ? undefined : new _CallSlots(limit);
  const routes = new Map<string, { method: AnyMethodDescriptor; handler: unknown }>();
  for (const [path, method] of _ROUTES) {
    const service = services[SERVICE_KEYS[method.service]] as Record<string, unknown> | undefined;
    routes.set(path, { method, handler: service?.[method.handlerKey] });
  }
  return (request) => {
    const url = new URL(request.url);
    const path = url.pathname.startsWith("/v3beta/")
      ? "/v3/" + url.pathname.slice("/v3beta/".length)
      : url.pathname;
    const route = routes.get(path);
    if (route === undefined) {
      // etcd hands all of /v3/ to grpc-gateway's mux, which answers unknown paths in text.
      if (path.startsWith("/v3/")) return new Response("Not Found\n", { status: 404 });
      return fallback(request);
    }
    if (request.method !== "POST") {
      // grpc-gateway answers in plain text here.
      return new Response("Method Not Allowed\n", { status: 405 });
    }
    if (typeof route.handler !== "function") {
      const service = route.method.path.split("/")[1];
      const message = `unknown method ${route.method.name} for service ${service}`;
      return _errorResponse(new EtcdError(Status.UNIMPLEMENTED, message));
    }
    if (slots === undefined) return _serve(route.method, route.handler, request, () => {});
    return _serveInSlot(slots, route.method, route.handler, request);
  };
}

async function _serveInSlot(
  slots: _CallSlots,
  method: AnyMethodDescriptor,
  handler: unknown,
  request: Request,
): Promise<Response> {
  let release: (() => void) | undefined;
  try {
    release = await slots.acquire(request.signal);
  } catch (error) {
    return _errorResponse(_asStatusError(error));
  }
  // The client left while waiting: nobody reads the answer.
  if (release === undefined) {
    return _errorResponse(new EtcdError(Status.CANCELLED, "context canceled"));
  }
  return await _serve(method, handler, request, release);
}

/** Serves one call; `release` runs once it has ended (a stream: when its body closes). */
async function _serve(
  method: AnyMethodDescriptor,
  handler: unknown,
  request: Request,
  release: () => void,
): Promise<Response> {
  let streaming = false;
  try {
    const response = await _serveCall(method, handler, request, release);
    streaming = method.kind !== "unary" && response.status === 200;
    return response;
  } finally {
    if (!streaming) release();
  }
}

async function _serveCall(
  method: AnyMethodDescriptor,
  handler: unknown,
  request: Request,
  release: () => void,
): Promise<Response> {
  let bodies: unknown[];
  try {
    const sequence = _parseJsonSequence(await _readBody(request));
    // A unary call decodes the first value only, as grpc-gateway's decoder does.
    if (sequence.error !== undefined && (method.kind !== "unary" || sequence.values.length === 0)) {
      throw sequence.error;
    }
    bodies = sequence.values.length === 0 ? [{}] : sequence.values;
  } catch (error) {
    return _errorResponse(new EtcdError(Status.INVALID_ARGUMENT, _goJsonMessage(error)));
  }
  const context = _httpCallContext(method.path, request);
  try {
    if (method.kind === "unary") {
      const decoded = method.request.fromJson(bodies[0] ?? {});
      const unary = handler as (request: unknown, context: CallContext) => Promise<unknown>;
      const response = await unary(decoded, context);
      return Response.json(method.response.toJson(response));
    }
    const requests = bodies.map((body) => method.request.fromJson(body));
    return _streamResponse(method, handler, requests, context, release);
  } catch (error) {
    return _errorResponse(_asStatusError(error));
  }
}

/** Runs a streaming handler; its messages become the lines of a chunked response. */
function _streamResponse(
  method: AnyMethodDescriptor,
  handler: unknown,
  requests: unknown[],
  context: CallContext,
  release: () => void,
): Response {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pulled: (() => void) | undefined;
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start: (streamController) => void (controller = streamController),
    pull: () => {
      pulled?.();
      pulled = undefined;
    },
    cancel: () => {
      closed = true;
      // A send waiting for room must wake up and fail, or the handler (and whatever it
      // holds open, such as a db snapshot) would wait forever for a reader that is gone.
      pulled?.();
      pulled = undefined;
    },
  }, { highWaterMark: STREAM_QUEUE_MAX });
  const line = (object: unknown) => encoder.encode(JSON.stringify(object) + "\n");
  const sink: StreamSink<unknown> = {
    get closed() {
      return closed || context.signal.aborted;
    },
    async send(message) {
      if (this.closed) throw new EtcdError(Status.CANCELLED, "context canceled");
      controller.enqueue(line({ result: method.response.toJson(message) }));
      if ((controller.desiredSize ?? 0) <= 0) {
        await new Promise<void>((resolve) => pulled = resolve);
      }
    },
  };
  const run = method.kind === "bidi"
    ? (handler as (input: AsyncIterable<unknown>, s: typeof sink, c: CallContext) => Promise<void>)(
      _iterate(requests),
      sink,
      context,
    )
    : (handler as (request: unknown, s: typeof sink, c: CallContext) => Promise<void>)(
      requests[0] ?? method.request.fromJson({}),
      sink,
      context,
    );
  run.then(
    () => {
      if (!closed) controller.close();
    },
    (thrown) => {
      if (closed) return;
      const error = toEtcdError(thrown);
      const httpCode = _HTTP_STATUS[error.code] ?? 500;
      controller.enqueue(line({
        error: {
          grpc_code: error.code,
          http_code: httpCode,
          message: error.message,
          http_status: _STATUS_TEXT[httpCode] ?? "",
        },
      }));
      controller.close();
    },
  ).finally(() => {
    closed = true;
    release();
  });
  return new Response(body, {
    headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
  });
}

async function* _iterate(items: unknown[]): AsyncGenerator<unknown> {
  for (const item of items) yield item;
}

const _STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  412: "Precondition Failed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A JSON decoding error is the client's fault (INVALID_ARGUMENT), as in grpc-gateway. */
function _asStatusError(error: unknown): EtcdError {
  if (error instanceof EtcdError) return error;
  if (error instanceof TypeError || error instanceof SyntaxError || error instanceof RangeError) {
    return new EtcdError(Status.INVALID_ARGUMENT, error.message);
  }
  return toEtcdError(error);
}

/** A failed call's answer as the gateway gives it: `{error, message, code}`, its HTTP status. */
export function gatewayErrorResponse(error: unknown): Response {
  return _errorResponse(_asStatusError(error));
}

function _errorResponse(error: EtcdError): Response {
  const status = _HTTP_STATUS[error.code as StatusCode] ?? 500;
  return Response.json(
    { error: error.message, message: error.message, code: error.code },
    { status },
  );
}

async function _readBody(request: Request): Promise<string> {
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > BODY_BYTES_MAX) throw new Error("request body too large");
  return new TextDecoder().decode(bytes);
}

/**
 * The JSON values of a body, in order: grpc-gateway reads a stream body with a JSON decoder,
 * so a body may hold several objects one after another. Values up to the first error are
 * kept beside it (a unary call uses only the first value, whatever follows).
 */
function _parseJsonSequence(text: string): { values: unknown[]; error?: Error } {
  const values: unknown[] = [];
  let start = -1;
  let depth = 0;
  let inString = false;
  try {
    for (let index = 0; index < text.length; index++) {
      const char = text[index];
      if (inString) {
        if (char === "\\") index++;
        else if (char === '"') inString = false;
        continue;
      }
      if (char === '"') inString = true;
      else if (char === "{" || char === "[") {
        if (depth === 0) start = index;
        depth++;
      } else if (char === "}" || char === "]") {
        depth--;
        if (depth < 0) {
          throw new SyntaxError(`invalid character '${char}' looking for beginning of value`);
        }
        if (depth === 0) values.push(_parseOne(text.slice(start, index + 1)));
      } else if (depth === 0 && char !== undefined && !/\s/.test(char)) {
        throw new SyntaxError(`invalid character '${char}' looking for beginning of value`);
      }
    }
    if (depth !== 0 || inString) throw new SyntaxError("unexpected EOF");
  } catch (error) {
    return { values, error: error as Error };
  }
  return { values };
}

/** One JSON value; a parse error keeps the text, for `_goJsonMessage`'s positions. */
function _parseOne(text: string): unknown {
  try {
    return parseJsonExact(text);
  } catch (error) {
    if (error instanceof SyntaxError) Object.assign(error, { source: text });
    throw error;
  }
}

/**
 * V8's JSON.parse messages in the words of Go's encoding/json, which etcd's gateway answers
 * with (the common cases; others keep V8's words).
 */
function _goJsonMessage(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  const token = /^Unexpected token '(.)'/.exec(message);
  if (token !== null) return `invalid character '${token[1]}' looking for beginning of value`;
  if (/Unexpected end of JSON input|Unterminated string/.test(message)) return "unexpected EOF";
  const at = /at position (\d+)/.exec(message);
  const context = (error as { source?: string }).source;
  const found = at !== null && context !== undefined ? context[Number(at[1])] : undefined;
  if (found !== undefined) {
    if (message.startsWith("Expected property name")) {
      return `invalid character '${found}' looking for beginning of object key string`;
    }
    if (message.startsWith("Expected ',' or '}'")) {
      return `invalid character '${found}' after object key:value pair`;
    }
    if (message.startsWith("Expected ':'")) {
      return `invalid character '${found}' after object key`;
    }
    if (message.startsWith("Expected ',' or ']'")) {
      return `invalid character '${found}' after array element`;
    }
  }
  return message;
}

/** A CallContext for a gateway request: token from Authorization, metadata from headers. */
function _httpCallContext(path: string, request: Request): CallContext {
  const metadata = (key: string): string | undefined => {
    const lower = key.toLowerCase();
    if (lower === "authorization") return request.headers.get("authorization") ?? undefined;
    return request.headers.get(`grpc-metadata-${lower}`) ?? undefined;
  };
  return {
    method: path,
    get token() {
      return metadata("token") ?? metadata("authorization");
    },
    get requireLeader() {
      return metadata("hasleader") === "true";
    },
    commonName: undefined,
    peer: "",
    signal: request.signal,
    get cancelled() {
      return request.signal.aborted;
    },
    metadata,
  };
}
