/**
 * `/members/hashkv` on the peer port (etcd etcdserver/corrupt.go hashKVHandler and
 * getPeerHashKVHTTP): a member answers the hash of its key space at a revision, and asks its
 * peers the same, for the corruption checks.
 *
 * The wire, as etcd 3.4 has it: `GET /members/hashkv` with the JSON body `{"revision":N}`
 * (Go's encoding/json of `HashKVRequest`: `revision` omitted when 0, meaning "now"); the answer
 * is `{"header":{"revision":R},"hash":H,"compact_revision":C}` with zero fields omitted and
 * numbers as JSON numbers, plus the `X-Etcd-Cluster-ID` header. A compacted or future revision
 * is a 400 whose text is mvcc's error message, which the asking side recognises.
 *
 * @module
 */

import { getRequestBody } from "../rafthttp/mod.ts";
import { CompactedError, FutureRevisionError } from "../mvcc/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";
import { peerClientFor } from "./cluster_peer_client.ts";
import type { Logger } from "./log.ts";

/** The peer path of the hash request. */
export const HASHKV_PATH = "/members/hashkv";

/** One member's answer to a hash request. */
export interface PeerHashKV {
  hash: number;
  /** The member's current revision (`header.revision`). */
  revision: number;
  compactRevision: number;
}

/** A peer's hash, or why there is none. */
export interface PeerHashKVResult {
  id: bigint;
  endpoints: string[];
  response?: PeerHashKV;
  error?: Error;
}

/** Largest answer read from a peer (a few dozen bytes expected). */
const _RESPONSE_BYTES_MAX = 64 * 1024;

/** Serves `GET /members/hashkv` (etcd hashKVHandler.ServeHTTP). */
export function serveHashKV(core: EtcdServer, request: Request, log: Logger): Response {
  if (request.method !== "GET") {
    return _textError(405, "Method Not Allowed", { Allow: "GET" });
  }
  let revision: number;
  try {
    revision = parseHashKVRequest(getRequestBody(request));
  } catch (error) {
    log.warn("failed to unmarshal request", { error: String(error) });
    return _textError(400, "error unmarshalling request");
  }
  let hashed;
  try {
    hashed = core.kv.hashByRev(revision);
  } catch (error) {
    log.warn("failed to get hashKV", {
      "requested-revision": revision,
      error: (error as Error).message,
    });
    return _textError(400, (error as Error).message);
  }
  return new Response(hashKVResponseJson(hashed.hash, hashed.currentRev, hashed.compactRev), {
    headers: {
      "X-Etcd-Cluster-ID": core.clusterId.toString(16),
      "Content-Type": "application/json",
    },
  });
}

/** etcd's JSON of a `HashKVResponse` as the hash handler fills it (zero fields omitted). */
export function hashKVResponseJson(hash: number, revision: number, compactRevision: number) {
  const parts: string[] = [];
  parts.push(revision !== 0 ? `"header":{"revision":${revision}}` : `"header":{}`);
  if (hash !== 0) parts.push(`"hash":${hash >>> 0}`);
  if (compactRevision !== 0) parts.push(`"compact_revision":${compactRevision}`);
  return `{${parts.join(",")}}`;
}

/**
 * The revision of a `HashKVRequest` body. Go's decoder matches field names without regard
 * to case and refuses an empty body or a non-integer revision.
 */
export function parseHashKVRequest(body: Uint8Array | undefined): number {
  const text = new TextDecoder().decode(body ?? new Uint8Array());
  const parsed: unknown = JSON.parse(text);
  if (parsed === null) return 0;
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("cannot unmarshal into HashKVRequest");
  }
  let revision = 0;
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name.toLowerCase() !== "revision" || value === null) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      throw new Error("cannot unmarshal revision into an int64");
    }
    revision = value;
  }
  return revision;
}

/** Asks the member at `peerUrl` for its hash at `revision` (etcd getPeerHashKVHTTP). */
export async function fetchPeerHashKV(
  core: EtcdServer,
  peerUrl: string,
  revision: number,
  signal: AbortSignal,
): Promise<PeerHashKV> {
  const body = revision !== 0 ? `{"revision":${revision}}` : "{}";
  const response = await peerClientFor(core.cfg).request(peerUrl + HASHKV_PATH, {
    method: "GET",
    headers: { "Content-Type": "application/json" },
    body,
    signal,
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > _RESPONSE_BYTES_MAX) throw new Error("hashkv answer too large");
  const text = new TextDecoder().decode(bytes);
  if (response.status === 400) {
    if (text.includes(new CompactedError(0).message)) throw new CompactedError(0);
    if (text.includes(new FutureRevisionError(0).message)) throw new FutureRevisionError(0);
  }
  if (response.status !== 200) throw new Error(`unknown error: ${text}`);
  return parseHashKVResponse(text);
}

/** Reads etcd's JSON `HashKVResponse` (numbers, or strings as a gateway would print them). */
export function parseHashKVResponse(text: string): PeerHashKV {
  const parsed = JSON.parse(text) as {
    header?: { revision?: number | string };
    hash?: number | string;
    compact_revision?: number | string;
  };
  return {
    hash: Number(parsed.hash ?? 0) >>> 0,
    revision: Number(parsed.header?.revision ?? 0),
    compactRevision: Number(parsed.compact_revision ?? 0),
  };
}

/**
 * Every other member's hash at `revision` (etcd getPeerHashKVs): each peer URL of a member is
 * tried in turn until one answers; a member none of whose URLs answered is listed with the
 * last error.
 */
export async function peerHashKVs(
  core: EtcdServer,
  revision: number,
  options: { log: Logger; timeoutMs: number },
): Promise<PeerHashKVResult[]> {
  const results: PeerHashKVResult[] = [];
  for (const member of core.cluster.sortedMembers()) {
    if (member.id === core.memberId || member.peerUrls.length === 0) continue;
    const result: PeerHashKVResult = { id: member.id, endpoints: member.peerUrls };
    for (const url of member.peerUrls) {
      try {
        result.response = await fetchPeerHashKV(
          core,
          url,
          revision,
          AbortSignal.timeout(options.timeoutMs),
        );
        delete result.error;
        break;
      } catch (error) {
        result.error = error as Error;
        options.log.warn("failed hash kv request", {
          "local-member-id": core.memberId.toString(16),
          "requested-revision": revision,
          "remote-peer-endpoint": url,
          error: String(error),
        });
      }
    }
    results.push(result);
  }
  return results;
}

function _textError(status: number, text: string, headers: Record<string, string> = {}) {
  return new Response(text + "\n", {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "X-Content-Type-Options": "nosniff",
      ...headers,
    },
  });
}
