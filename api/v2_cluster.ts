/**
 * The v2 cluster endpoints behind `--enable-v2` (etcd 3.4's `etcdserver/api/v2http`):
 * `/v2/members` (GET list, GET `leader`, POST add, DELETE remove, PUT update peer URLs),
 * `/v2/machines`, `/v2/stats/self`, `/v2/stats/leader` and, when the v2 store gives it,
 * `/v2/stats/store`. Bodies, status codes and headers are etcd's; what `ETCDCTL_API=2
 * etcdctl member ...` and `cluster-health` read.
 *
 * The member list is the member's local view (as etcd's, no quorum read); changes go through
 * the request API like the v3 Cluster service's.
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";
import type { Member, RequestContext, ServerApi } from "../server/mod.ts";
import { peerUrlsProblem, ServerError, ServerErrorCode } from "../server/mod.ts";

/** What the v2 cluster endpoints read from the member. */
export interface V2ClusterSource {
  /** The members as this member knows them, sorted by ID. */
  members(): Member[];
  /** The cluster ID. */
  clusterId(): bigint;
  /** Whether `id` was removed from the cluster (etcd's ErrIDRemoved). */
  isRemoved(id: bigint): boolean;
  /** `/v2/stats/self` and `/v2/stats/leader` (undefined on a follower). */
  selfStats(): string;
  leaderStats(): string | undefined;
  /** `/v2/stats/store`: the v2 store's counters, when a v2 store is served. */
  storeStats?: () => string;
}

const _MEMBERS = "/v2/members";

/**
 * The handler of the v2 cluster endpoints in front of `next` (which gets every other path).
 * `server` carries member changes; `source` the local view.
 */
export function v2ClusterHandler(
  server: ServerApi,
  source: V2ClusterSource,
  next: HttpHandler,
): HttpHandler {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path === _MEMBERS || path.startsWith(`${_MEMBERS}/`)) {
      return await _members(server, source, request, path);
    }
    if (path === "/v2/machines") return _machines(source, request);
    if (path === "/v2/stats/self") {
      return _allow(request, ["GET"]) ?? _jsonText(200, source.selfStats());
    }
    if (path === "/v2/stats/leader") {
      const refused = _allow(request, ["GET"]);
      if (refused !== undefined) return refused;
      const stats = source.leaderStats();
      if (stats === undefined) return _httpError(403, "not current leader");
      return _jsonText(200, stats);
    }
    if (path === "/v2/stats/store" && source.storeStats !== undefined) {
      return _allow(request, ["GET"]) ?? _jsonText(200, source.storeStats());
    }
    return await next(request);
  };
}

/** Go's http.Error: a text body with its newline and nosniff. */
function _plainError(status: number, text: string, headers: Record<string, string> = {}) {
  return new Response(`${text}\n`, {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "X-Content-Type-Options": "nosniff",
      ...headers,
    },
  });
}

/** etcd's allowMethod: undefined when allowed, else the 405 with `Allow`. */
function _allow(request: Request, methods: string[]): Response | undefined {
  if (methods.includes(request.method)) return undefined;
  return _plainError(405, "Method Not Allowed", { Allow: methods.join(",") });
}

function _jsonText(status: number, body: string, headers: Record<string, string> = {}) {
  return new Response(body, {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** etcd's httptypes.HTTPError as written by WriteTo. */
function _httpError(status: number, message: string, headers: Record<string, string> = {}) {
  return _jsonText(status, JSON.stringify({ message }), headers);
}

function _machines(source: V2ClusterSource, request: Request): Response {
  const refused = _allow(request, ["GET", "HEAD"]);
  if (refused !== undefined) return refused;
  const urls = source.members().flatMap((member) => member.clientUrls).sort(_byteOrder);
  const body = urls.join(", ");
  return new Response(request.method === "HEAD" ? null : body, {
    status: 200,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
}

function _byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function _memberJson(member: Member) {
  return {
    id: member.id.toString(16),
    name: member.name,
    peerURLs: [...member.peerUrls],
    clientURLs: [...member.clientUrls],
  };
}

async function _members(
  server: ServerApi,
  source: V2ClusterSource,
  request: Request,
  path: string,
): Promise<Response> {
  const refused = _allow(request, ["GET", "POST", "DELETE", "PUT"]);
  if (refused !== undefined) return refused;
  const headers = { "X-Etcd-Cluster-ID": source.clusterId().toString(16) };
  // etcd's trimPrefix: the member part after "/v2/members/".
  const rest = path.slice(_MEMBERS.length).replace(/^\//, "");
  // etcd's v2 request timeout: 5 s plus two election timeouts.
  const signal = AbortSignal.timeout(5000 + 2 * server.electionTimeoutMs);
  const context: RequestContext = { signal, user: undefined };
  switch (request.method) {
    case "GET":
      if (rest === "") {
        // json.Encoder ends what it encodes with a newline (HTTP errors are Marshal'd: none).
        return _jsonText(
          200,
          `${JSON.stringify({ members: source.members().map(_memberJson) })}\n`,
          headers,
        );
      }
      if (rest === "leader") {
        const leader = server.leader;
        const member = source.members().find((m) => m.id === leader);
        if (leader === 0n || member === undefined) {
          return _httpError(503, "During election", headers);
        }
        return _jsonText(200, `${JSON.stringify(_memberJson(member))}\n`, headers);
      }
      return _httpError(404, "Not found", headers);
    case "POST": {
      const parsed = await _peerUrlsRequest(request);
      if (parsed instanceof Response) return _withHeaders(parsed, headers);
      try {
        const { member } = await server.memberAdd({ peerUrls: parsed, isLearner: false }, context);
        return _jsonText(201, `${JSON.stringify(_memberJson(member))}\n`, headers);
      } catch (error) {
        if (
          _isCode(error, ServerErrorCode.MemberExist) ||
          _isCode(error, ServerErrorCode.PeerURLExist)
        ) {
          return _httpError(409, (error as Error).message, headers);
        }
        return _httpError(500, "Internal Server Error", headers);
      }
    }
    case "DELETE": {
      const id = _memberId(rest);
      if (id instanceof Response) return _withHeaders(id, headers);
      if (source.isRemoved(id)) {
        return _httpError(410, `Member permanently removed: ${id.toString(16)}`, headers);
      }
      try {
        await server.memberRemove(id, context);
        return new Response(null, { status: 204, headers });
      } catch (error) {
        if (_isCode(error, ServerErrorCode.MemberNotFound)) {
          return _httpError(404, `No such member: ${id.toString(16)}`, headers);
        }
        return _httpError(500, "Internal Server Error", headers);
      }
    }
    default: {
      const id = _memberId(rest);
      if (id instanceof Response) return _withHeaders(id, headers);
      const parsed = await _peerUrlsRequest(request);
      if (parsed instanceof Response) return _withHeaders(parsed, headers);
      try {
        await server.memberUpdate({ id, peerUrls: parsed }, context);
        return new Response(null, { status: 204, headers });
      } catch (error) {
        if (_isCode(error, ServerErrorCode.PeerURLExist)) {
          return _httpError(409, (error as Error).message, headers);
        }
        if (_isCode(error, ServerErrorCode.MemberNotFound)) {
          return _httpError(404, `No such member: ${id.toString(16)}`, headers);
        }
        return _httpError(500, "Internal Server Error", headers);
      }
    }
  }
}

function _withHeaders(response: Response, headers: Record<string, string>): Response {
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

function _isCode(error: unknown, code: string): boolean {
  return error instanceof ServerError && error.code === code;
}

/** etcd's getID: the hex member ID of the path, or the error response. */
function _memberId(text: string): bigint | Response {
  if (text === "") return _plainError(405, "Method Not Allowed");
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return _httpError(404, `No such member: ${text}`);
  return BigInt(`0x${text}`);
}

/**
 * etcd's unmarshalRequest of a MemberCreateRequest: JSON only, `peerURLs` checked as
 * types.NewURLs checks them (and sorted). Returns the URLs or the error response.
 */
async function _peerUrlsRequest(request: Request): Promise<string[] | Response> {
  let contentType = request.headers.get("Content-Type") ?? "";
  const semicolon = contentType.indexOf(";");
  // As etcd: the media type is trimmed and lowercased only when parameters follow it.
  if (semicolon >= 0) contentType = contentType.slice(0, semicolon).trim().toLowerCase();
  if (contentType !== "application/json") {
    return _httpError(415, `Bad Content-Type ${contentType}, accept application/json`);
  }
  const text = await request.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return _httpError(400, _goJsonError(text, error as Error));
  }
  const raw = body !== null && typeof body === "object"
    ? (body as Record<string, unknown>).peerURLs
    : undefined;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return _httpError(
      400,
      `json: cannot unmarshal ${
        _goJsonType(body)
      } into Go value of type struct { PeerURLs []string "json:\\"peerURLs\\"" }`,
    );
  }
  if (
    raw !== undefined && raw !== null &&
    (!Array.isArray(raw) || raw.some((u) => typeof u !== "string"))
  ) {
    return _httpError(
      400,
      `json: cannot unmarshal ${_goJsonType(raw)} into Go struct field .peerURLs of type []string`,
    );
  }
  const urls = ((raw ?? []) as string[]).map((url) => url.trim());
  const problem = peerUrlsProblem(urls);
  if (problem !== undefined) return _httpError(400, problem);
  return urls.sort(_byteOrder);
}

function _goJsonType(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "bool";
  return "object";
}

/** The words of Go's encoding/json for the syntax errors a client meets most. */
function _goJsonError(text: string, _error: Error): string {
  if (text.trim() === "") return "unexpected end of JSON input";
  const first = text.trimStart()[0]!;
  if (!'{["-0123456789tfn'.includes(first)) {
    return `invalid character '${first}' looking for beginning of value`;
  }
  return "unexpected end of JSON input";
}
