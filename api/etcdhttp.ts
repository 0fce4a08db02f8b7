/**
 * The plain HTTP endpoints etcd serves on its client port beside the gRPC API (etcd's
 * `etcdserver/api/etcdhttp`): `/health`, `/version` and `/metrics`. They ask the server's
 * request API, like any other client of it.
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";
import {
  big,
  ETCD_CLUSTER_VERSION,
  ETCD_VERSION,
  num,
  type RequestContext,
  type ServerApi,
} from "../server/mod.ts";

/** How long /health waits for a quorum read (etcd's one second). */
const _HEALTH_READ_TIMEOUT_MS = 1000;

/** The handler of `/health`, `/version` and `/metrics`; 404 for any other path. */
export function etcdHttpHandler(server: ServerApi): HttpHandler {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path === "/health") {
      const healthy = await _checkHealth(server);
      return Response.json({ health: healthy ? "true" : "false" }, {
        status: healthy ? 200 : 503,
      });
    }
    if (path === "/version") {
      return Response.json({ etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
    }
    if (path === "/metrics") return _metrics(server);
    return new Response("404 page not found\n", { status: 404 });
  };
}

/** The few gauges served so far, from the member's status. */
function _metrics(server: ServerApi): Response {
  const status = server.status({ signal: new AbortController().signal, user: undefined });
  const lines = [
    "# TYPE etcd_server_has_leader gauge",
    `etcd_server_has_leader ${big(status.leader) !== 0n ? 1 : 0}`,
    "# TYPE etcd_mvcc_db_total_size_in_bytes gauge",
    `etcd_mvcc_db_total_size_in_bytes ${num(status.dbSize)}`,
    "# TYPE etcd_debugging_mvcc_current_revision gauge",
    `etcd_debugging_mvcc_current_revision ${num(status.header?.revision)}`,
  ];
  return new Response(lines.join("\n") + "\n", { headers: { "content-type": "text/plain" } });
}

/**
 * etcd's /health: unhealthy while any alarm is raised or there is no leader, or when a
 * quorum read does not complete within a second.
 */
async function _checkHealth(server: ServerApi): Promise<boolean> {
  const context: RequestContext = {
    signal: AbortSignal.timeout(_HEALTH_READ_TIMEOUT_MS),
    user: undefined,
  };
  if (server.alarmList(context).length > 0) return false;
  if (server.leader === 0n) return false;
  try {
    await server.linearizableReadNotify(context);
    return true;
  } catch {
    return false;
  }
}
