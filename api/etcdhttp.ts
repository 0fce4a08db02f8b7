/**
 * The plain HTTP endpoints etcd serves on its client port beside the gRPC API (etcd's
 * `etcdserver/api/etcdhttp`): `/health`, `/version` and `/metrics`. The first two ask the
 * server's request API, like any other client of it; `/metrics` serves the process's metrics
 * registry (prom-client's default, where every module's `metrics.ts` registers).
 *
 * @module
 */

import { register } from "../metrics/mod.ts";
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
    if (path === "/health") return await healthResponse(server, request);
    if (path === "/version") {
      return Response.json({ etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
    }
    if (path === "/metrics") return _metrics();
    return _notFound();
  };
}

/**
 * The handler of a `--listen-metrics-urls` listener: `/metrics` and `/health` only (etcd's
 * etcdhttp.HandleMetricsHealth); 404 for any other path.
 */
export function metricsHealthHandler(server: ServerApi): HttpHandler {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path === "/health") return await healthResponse(server, request);
    if (path === "/metrics") return _metrics();
    return _notFound();
  };
}

function _notFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** etcd's AlarmType names, for `/health?exclude=NOSPACE`. */
const _ALARM_NAMES: Record<number, string> = { 0: "NONE", 1: "NOSPACE", 2: "CORRUPT" };

/**
 * etcd 3.4's `/health` answer (etcdhttp.NewHealthHandler): GET only (405 otherwise); 200 with
 * `{"health":"true"}`, or 503 with `{"health":"false"}` written as Go's http.Error writes it
 * (text/plain, a trailing newline). `?exclude=NOSPACE` (repeatable) ignores that alarm.
 */
export async function healthResponse(server: ServerApi, request: Request): Promise<Response> {
  if (request.method !== "GET") {
    return new Response("Method Not Allowed\n", {
      status: 405,
      headers: { "allow": "GET", "content-type": "text/plain; charset=utf-8" },
    });
  }
  const excluded = new Set(new URL(request.url, "http://localhost").searchParams.getAll("exclude"));
  const healthy = await _checkHealth(server, excluded);
  (healthy ? etcdServerHealthSuccess : etcdServerHealthFailures).inc();
  // Go's net/http sniffs the JSON body as text/plain; etcd sets no content type of its own.
  if (healthy) {
    return new Response('{"health":"true"}', {
      status: 200,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return new Response('{"health":"false"}\n', {
    status: 503,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
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
 * etcd's /health: unhealthy while any alarm not excluded is raised (NOSPACE, CORRUPT), or
 * there is no leader, or when a quorum read does not complete within a second.
 */
async function _checkHealth(server: ServerApi, excluded: ReadonlySet<string>): Promise<boolean> {
  const context: RequestContext = {
    signal: AbortSignal.timeout(_HEALTH_READ_TIMEOUT_MS),
    user: undefined,
  };
  const alarms = server.alarmList(context);
  if (alarms.some((member) => !excluded.has(_ALARM_NAMES[member.alarm] ?? ""))) return false;
  if (server.leader === 0n) return false;
  try {
    await server.linearizableReadNotify(context);
    return true;
  } catch {
    return false;
  }
}
