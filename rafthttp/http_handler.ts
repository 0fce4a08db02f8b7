/**
 * The server side of the peer protocol (etcd rafthttp http.go): `/raft` takes one pipelined
 * message, `/raft/stream/{msgapp,message}/<from>` opens a stream towards the caller,
 * `/raft/snapshot` takes a MsgSnap followed by the db, `/raft/probing` answers health probes.
 *
 * Every request is checked first: versions compatible, and `X-Etcd-Cluster-ID` equal to ours;
 * otherwise 412 with `incompatible version` / `cluster ID mismatch`, and the request is logged
 * as etcd does (`request cluster ID mismatch`).
 *
 * @module
 */

import { decodeMessage, type Message, MessageType } from "../raft/mod.ts";
import { ByteQueue } from "./byte_queue.ts";
import { decodeMessageFrame } from "./msg_codec.ts";
import type { Peer } from "./peer.ts";
import {
  PROBING_PREFIX,
  RAFT_PREFIX,
  RAFT_SNAPSHOT_PREFIX,
  RAFT_STREAM_PREFIX,
  streamTypeOfEndpoint,
} from "./stream_type.ts";
import { PeerHttpError, type SnapshotStore, type TransportContext } from "./transport_types.ts";
import {
  ERROR_CLUSTER_ID_MISMATCH,
  ERROR_INCOMPATIBLE_VERSION,
  HEADER_CLUSTER_ID,
  HEADER_PEER_URLS,
  HEADER_RAFT_TO,
  HEADER_SERVER_FROM,
  HEADER_SERVER_VERSION,
  idFromHex,
  idToHex,
  SERVER_VERSION,
  versionIncompatibility,
} from "./version.ts";
import {
  peerReceivedBytesTotal,
  peerReceivedFailuresTotal,
  snapshotReceiveFailures,
  snapshotReceiveInflightsTotal,
  snapshotReceiveSuccess,
  snapshotReceiveTotalDurationSeconds,
} from "./metrics.ts";

/** What the handler needs from the transport. */
export interface HandlerHost {
  readonly context: TransportContext;
  readonly snapshotStore: SnapshotStore | undefined;
  peer(id: bigint): Peer | undefined;
}

/** A plain-text error answer the way Go's http.Error writes it. */
export function httpError(status: number, text: string, headers: HeadersInit = {}): Response {
  const all = new Headers(headers);
  all.set("Content-Type", "text/plain; charset=utf-8");
  all.set("X-Content-Type-Options", "nosniff");
  return new Response(text + "\n", { status, headers: all });
}

/** True for paths this handler serves. */
export function isRaftPath(path: string): boolean {
  return path === RAFT_PREFIX || path.startsWith(RAFT_PREFIX + "/");
}

/** Serves one request under `/raft`. */
export function handleRaftRequest(host: HandlerHost, request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === RAFT_PREFIX) return _handlePipeline(host, request);
  if (path === RAFT_SNAPSHOT_PREFIX) return _handleSnapshot(host, request);
  if (path === PROBING_PREFIX) return Promise.resolve(_handleProbing());
  if (path.startsWith(RAFT_STREAM_PREFIX + "/")) {
    return Promise.resolve(_handleStream(host, request, path));
  }
  return Promise.resolve(httpError(404, "404 page not found"));
}

function _methodNotAllowed(allow: string): Response {
  return httpError(405, "Method Not Allowed", { Allow: allow });
}

/** Checks versions and cluster ID (http.go checkClusterCompatibilityFromHeader). */
function _checkCluster(host: HandlerHost, request: Request): string | undefined {
  const { context } = host;
  const incompatible = versionIncompatibility(request.headers);
  if (incompatible !== undefined) {
    context.logger.warn("failed to check version compatibility", {
      "local-member-id": idToHex(context.id),
      "remote-peer-server-name": request.headers.get(HEADER_SERVER_FROM) ?? "",
      "remote-peer-server-version": request.headers.get(HEADER_SERVER_VERSION) ?? "",
      error: incompatible,
    });
    return ERROR_INCOMPATIBLE_VERSION;
  }
  const remoteClusterId = request.headers.get(HEADER_CLUSTER_ID) ?? "";
  if (remoteClusterId !== idToHex(context.clusterId)) {
    if (context.logger.format === "capnslog") {
      // etcd's capnslog line, at error level.
      context.logger.error(
        `request cluster ID mismatch (got ${remoteClusterId} want ${idToHex(context.clusterId)})`,
      );
    } else {
      context.logger.warn("request cluster ID mismatch", {
        "local-member-id": idToHex(context.id),
        "local-member-cluster-id": idToHex(context.clusterId),
        "remote-peer-server-name": request.headers.get(HEADER_SERVER_FROM) ?? "",
        "remote-peer-cluster-id": remoteClusterId,
      });
    }
    return ERROR_CLUSTER_ID_MISMATCH;
  }
  return undefined;
}

/** Learns the sender's URLs from the headers (util.go addRemoteFromRequest). */
function _addRemoteFromRequest(host: HandlerHost, request: Request): void {
  const from = idFromHex(request.headers.get(HEADER_SERVER_FROM) ?? "");
  const urls = request.headers.get(HEADER_PEER_URLS);
  if (from !== undefined && urls !== null && urls !== "") {
    host.context.addRemote(from, urls.split(","));
  }
}

async function _process(host: HandlerHost, message: Message): Promise<Response> {
  try {
    await host.context.raft.process(message);
  } catch (error) {
    if (error instanceof PeerHttpError) {
      return new Response(JSON.stringify({ message: error.message }), {
        status: error.status,
        headers: { "Content-Type": "application/json" },
      });
    }
    host.context.logger.warn("failed to process Raft message", {
      "local-member-id": idToHex(host.context.id),
      error: error instanceof Error ? error.message : String(error),
    });
    return httpError(500, "error processing raft message");
  }
  // 204 only after raft took the message, so that a MsgSnap sender can report the outcome.
  return new Response(null, { status: 204 });
}

async function _handlePipeline(host: HandlerHost, request: Request): Promise<Response> {
  if (request.method !== "POST") return _methodNotAllowed("POST");
  const clusterHeader = { [HEADER_CLUSTER_ID]: idToHex(host.context.clusterId) };
  const refused = _checkCluster(host, request);
  if (refused !== undefined) return httpError(412, refused, clusterHeader);
  _addRemoteFromRequest(host, request);
  let message: Message;
  try {
    const bytes = new Uint8Array(await request.arrayBuffer());
    message = decodeMessage(bytes);
    peerReceivedBytesTotal.inc({ From: idToHex(message.from) }, bytes.length);
  } catch (error) {
    host.context.logger.warn("failed to unmarshal Raft message", {
      "local-member-id": idToHex(host.context.id),
      error: error instanceof Error ? error.message : String(error),
    });
    return httpError(400, "error unmarshalling raft message", clusterHeader);
  }
  const response = await _process(host, message);
  response.headers.set(HEADER_CLUSTER_ID, idToHex(host.context.clusterId));
  return response;
}

async function _handleSnapshot(host: HandlerHost, request: Request): Promise<Response> {
  if (request.method !== "POST") return _methodNotAllowed("POST");
  const clusterHeader = { [HEADER_CLUSTER_ID]: idToHex(host.context.clusterId) };
  const refused = _checkCluster(host, request);
  if (refused !== undefined) return httpError(412, refused, clusterHeader);
  _addRemoteFromRequest(host, request);
  if (request.body === null) return httpError(400, "failed to decode raft message (EOF)");
  const reader = request.body.getReader();
  const queue = new ByteQueue();
  let message: Message | undefined;
  try {
    while ((message = decodeMessageFrame(queue, Number.MAX_SAFE_INTEGER)) === undefined) {
      const { done, value } = await reader.read();
      if (done) throw new Error("unexpected EOF");
      queue.push(value);
    }
  } catch (error) {
    const text = `failed to decode raft message (${
      error instanceof Error ? error.message : error
    })`;
    return httpError(400, text, clusterHeader);
  }
  if (message.type !== MessageType.MsgSnap) {
    return httpError(400, "wrong raft message type", clusterHeader);
  }
  const index = message.snapshot?.metadata.index ?? 0;
  const from = idToHex(message.from);
  host.context.logger.info("receiving database snapshot", {
    "local-member-id": idToHex(host.context.id),
    "remote-snapshot-sender-id": from,
    "incoming-snapshot-index": index,
  });
  const fromLabel = { From: from };
  const began = performance.now();
  const store = host.snapshotStore;
  if (store === undefined) {
    snapshotReceiveFailures.inc(fromLabel);
    return httpError(500, "failed to save KV snapshot (no snapshot store)", clusterHeader);
  }
  // The rest of the body, starting with what the header read already buffered.
  const buffered = queue.drain();
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = buffered.shift();
      if (chunk !== undefined) {
        controller.enqueue(chunk);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      reader.cancel(reason).catch(() => {});
    },
  });
  let savedBytes: number;
  snapshotReceiveInflightsTotal.inc(fromLabel);
  try {
    savedBytes = await store.saveDbFrom(rest, index);
  } catch (error) {
    snapshotReceiveInflightsTotal.dec(fromLabel);
    peerReceivedFailuresTotal.inc(fromLabel);
    snapshotReceiveFailures.inc(fromLabel);
    const text = `failed to save KV snapshot (${error instanceof Error ? error.message : error})`;
    host.context.logger.warn("failed to save incoming database snapshot", { error: text });
    return httpError(500, text, clusterHeader);
  }
  snapshotReceiveInflightsTotal.dec(fromLabel);
  peerReceivedBytesTotal.inc(fromLabel, savedBytes);
  snapshotReceiveSuccess.inc(fromLabel);
  snapshotReceiveTotalDurationSeconds.observe(fromLabel, (performance.now() - began) / 1000);
  host.context.logger.info("received and saved database snapshot", {
    "local-member-id": idToHex(host.context.id),
    "remote-snapshot-sender-id": from,
    "incoming-snapshot-index": index,
    "incoming-snapshot-size-bytes": savedBytes,
  });
  const response = await _process(host, message);
  response.headers.set(HEADER_CLUSTER_ID, idToHex(host.context.clusterId));
  return response;
}

function _handleStream(host: HandlerHost, request: Request, path: string): Response {
  const { context } = host;
  if (request.method !== "GET") return _methodNotAllowed("GET");
  const headers = {
    [HEADER_SERVER_VERSION]: SERVER_VERSION,
    [HEADER_CLUSTER_ID]: idToHex(context.clusterId),
  };
  const refused = _checkCluster(host, request);
  if (refused !== undefined) return httpError(412, refused, headers);
  const slash = path.lastIndexOf("/");
  const type = streamTypeOfEndpoint(path.slice(0, slash));
  if (type === undefined) return httpError(404, "invalid path", headers);
  const from = idFromHex(path.slice(slash + 1));
  if (from === undefined) return httpError(404, "invalid from", headers);
  if (context.raft.isIdRemoved(from)) {
    context.logger.warn("rejected stream from remote peer because it was removed", {
      "local-member-id": idToHex(context.id),
      "remote-peer-id-from": idToHex(from),
    });
    return httpError(410, "removed member", headers);
  }
  const peer = host.peer(from);
  if (peer === undefined) {
    // A member that joined after our configuration, or one of another cluster with our ID.
    const urls = request.headers.get(HEADER_PEER_URLS);
    if (urls !== null && urls !== "") context.addRemote(from, urls.split(","));
    context.logger.warn("failed to find remote peer in cluster", {
      "local-member-id": idToHex(context.id),
      "remote-peer-id-from": idToHex(from),
      "cluster-id": idToHex(context.clusterId),
    });
    return httpError(404, "error sender not found", headers);
  }
  const to = request.headers.get(HEADER_RAFT_TO) ?? "";
  if (to !== idToHex(context.id)) {
    context.logger.warn("ignored streaming request; ID mismatch", {
      "local-member-id": idToHex(context.id),
      "remote-peer-id-header": to,
      "remote-peer-id-from": idToHex(from),
    });
    return httpError(412, "to field mismatch", headers);
  }
  let body: ReadableStream<Uint8Array>;
  try {
    body = peer.attachOutgoing(type);
  } catch {
    // The peer is being removed or the transport stopped under us.
    return httpError(404, "error sender not found", headers);
  }
  return new Response(body, { status: 200, headers });
}

function _handleProbing(): Response {
  // xiang90/probing's health answer, which etcd's prober expects.
  const text = JSON.stringify({ OK: true, Now: new Date().toISOString() }) + "\n";
  return new Response(text, { status: 200 });
}
