/**
 * The peer listener (etcd etcdhttp/peer.go): the transport under `/raft`, plus `/members` and
 * `/version`, whose contents the server supplies, and a hook for the server's other peer paths
 * (`/members/promote/`, `/leases`, `/members/hashkv`).
 *
 * @module
 */

import { httpError, isRaftPath } from "./http_handler.ts";
import type { Transport } from "./transport.ts";
import { CLUSTER_VERSION, HEADER_CLUSTER_ID, idToHex, SERVER_VERSION } from "./version.ts";

/** What the server fills in. */
export interface PeerServerHooks {
  /** The members as etcd's `/members` JSON lists them (membership.Member objects). */
  members?: () => unknown[];
  /** The decided cluster version, or `undefined` for "not_decided". */
  clusterVersion?: () => string | undefined;
  /** Serves any other path; `undefined` falls through to 404. */
  extra?: (request: Request) => Promise<Response | undefined> | Response | undefined;
}

/** A running peer listener. */
export interface PeerServer {
  /** The port listened on (useful with port 0). */
  readonly port: number;
  /** Stops listening and closes connections. */
  close(): Promise<void>;
}

/** Serves one peer-port request. */
export async function handlePeerRequest(
  transport: Transport,
  hooks: PeerServerHooks,
  request: Request,
): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (isRaftPath(path)) return transport.handle(request);
  if (path === "/version") {
    if (request.method !== "GET") return httpError(405, "Method Not Allowed", { Allow: "GET" });
    const cluster = hooks.clusterVersion !== undefined ? hooks.clusterVersion() : CLUSTER_VERSION;
    const body = JSON.stringify({
      etcdserver: SERVER_VERSION,
      etcdcluster: cluster ?? "not_decided",
    });
    return new Response(body, { headers: { "Content-Type": "application/json" } });
  }
  if (path === "/members" && hooks.members !== undefined) {
    if (request.method !== "GET") return httpError(405, "Method Not Allowed", { Allow: "GET" });
    return new Response(JSON.stringify(hooks.members()) + "\n", {
      headers: {
        "Content-Type": "application/json",
        [HEADER_CLUSTER_ID]: idToHex(transport.context.clusterId),
      },
    });
  }
  const extra = await hooks.extra?.(request);
  if (extra !== undefined) return extra;
  return httpError(404, "404 page not found");
}

/**
 * Listens on `hostname:port` and serves the peer protocol. Stop the transport before closing
 * the server: open streams end only when the transport closes them.
 */
export function startPeerServer(
  options: { hostname: string; port: number; transport: Transport; hooks?: PeerServerHooks },
): PeerServer {
  const hooks = options.hooks ?? {};
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
  }, (request) => handlePeerRequest(options.transport, hooks, request));
  return {
    port: server.addr.port,
    close: async () => {
      // Streams never end on their own: shutdown() would wait for them forever.
      await server.shutdown().catch(() => {});
    },
  };
}
