/**
 * The plain HTTP endpoints etcd serves on its client port beside the gRPC API (etcd's
 * `etcdserver/api/etcdhttp`): `/health`, `/version` and `/metrics`. The first two ask the
 * server's request API, like any other client of it; `/metrics` serves the process's metrics
 * registry (prom-client's default, where every module's `metrics.ts` registers).
 *
 * @module
 */

import { register } from "prom-client";
import type { HttpHandler } from "../rpc/mod.ts";
import {
  etcdServerHealthFailures,
  etcdServerHealthSuccess,
  promhttpMetricHandlerRequestsInFlight,
  promhttpMetricHandlerRequestsTotal,
} from "./metrics.ts";
import "./process_metrics.ts";
import {
  ETCD_CLUSTER_VERSION,
  ETCD_VERSION,
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
      (healthy ? etcdServerHealthSuccess : etcdServerHealthFailures).inc();
      return Response.json({ health: healthy ? "true" : "false" }, {
        status: healthy ? 200 : 503,
      });
    }
    if (path === "/version") {
      return Response.json({ etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
    }
    if (path === "/metrics") return _metrics();
    return new Response("404 page not found\n", { status: 404 });
  };
}

/**
 * Every metric of the process's registry in the Prometheus text format, counted in
 * promhttp's own two series as Go's handler does.
 */
async function _metrics(): Promise<Response> {
  promhttpMetricHandlerRequestsInFlight.inc();
  try {
    const text = await register.metrics();
    promhttpMetricHandlerRequestsTotal.inc({ code: "200" });
    return new Response(text, { headers: { "content-type": register.contentType } });
  } catch (error) {
    promhttpMetricHandlerRequestsTotal.inc({ code: "500" });
    return new Response(`An error has occurred while serving metrics:\n\n${error}\n`, {
      status: 500,
    });
  } finally {
    promhttpMetricHandlerRequestsInFlight.dec();
  }
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
