/**
 * The client-facing metrics: gRPC per method as go-grpc-prometheus counts them, /health
 * outcomes, scrapes, and process_* read from /proc/self.
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Counter, Gauge, Histogram, register } from "prom-client";

/** `etcd_server_health_failures`. */
export const etcdServerHealthFailures = new Counter({
  name: "etcd_server_health_failures",
  help: "The total number of failed health checks",
});

/** `etcd_server_health_success`. */
export const etcdServerHealthSuccess = new Counter({
  name: "etcd_server_health_success",
  help: "The total number of successful health checks",
});

/** `grpc_server_handled_total`. */
export const grpcServerHandledTotal = new Counter({
  name: "grpc_server_handled_total",
  help: "Total number of RPCs completed on the server, regardless of success or failure.",
  labelNames: ["grpc_code", "grpc_method", "grpc_service", "grpc_type"] as const,
});

/** `grpc_server_handling_seconds`. */
export const grpcServerHandlingSeconds = new Histogram({
  name: "grpc_server_handling_seconds",
  help:
    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
  labelNames: ["grpc_type", "grpc_service", "grpc_method"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

/** `grpc_server_msg_received_total`. */
export const grpcServerMsgReceivedTotal = new Counter({
  name: "grpc_server_msg_received_total",
  help: "Total number of RPC stream messages received on the server.",
  labelNames: ["grpc_method", "grpc_service", "grpc_type"] as const,
});

/** `grpc_server_msg_sent_total`. */
export const grpcServerMsgSentTotal = new Counter({
  name: "grpc_server_msg_sent_total",
  help: "Total number of gRPC stream messages sent by the server.",
  labelNames: ["grpc_method", "grpc_service", "grpc_type"] as const,
});

/** `grpc_server_started_total`. */
export const grpcServerStartedTotal = new Counter({
  name: "grpc_server_started_total",
  help: "Total number of RPCs started on the server.",
  labelNames: ["grpc_method", "grpc_service", "grpc_type"] as const,
});

/** `promhttp_metric_handler_requests_in_flight`. */
export const promhttpMetricHandlerRequestsInFlight = new Gauge({
  name: "promhttp_metric_handler_requests_in_flight",
  help: "Current number of scrapes being served.",
});

/** `promhttp_metric_handler_requests_total`. */
export const promhttpMetricHandlerRequestsTotal = new Counter({
  name: "promhttp_metric_handler_requests_total",
  help: "Total number of scrapes by HTTP status code.",
  labelNames: ["code"] as const,
});

/** `etcd_network_client_grpc_received_bytes_total`. */
export const networkClientGrpcReceivedBytesTotal = new Counter({
  name: "etcd_network_client_grpc_received_bytes_total",
  help: "The total number of bytes received from grpc clients.",
});

/** `etcd_network_client_grpc_sent_bytes_total`. */
export const networkClientGrpcSentBytesTotal = new Counter({
  name: "etcd_network_client_grpc_sent_bytes_total",
  help: "The total number of bytes sent to grpc clients.",
});

let _handlingTimeEnabled = false;

/** `--metrics extensive`: also time every call (go-grpc-prometheus's handling histogram). */
export function enableHandlingTimeHistogram(): void {
  if (_handlingTimeEnabled) return;
  _handlingTimeEnabled = true;
  register.registerMetric(grpcServerHandlingSeconds);
}

/** Whether calls are timed into `grpc_server_handling_seconds`. */
export function handlingTimeEnabled(): boolean {
  return _handlingTimeEnabled;
}

/** `etcd_server_client_requests_total`. */
export const serverClientRequestsTotal = new Counter({
  name: "etcd_server_client_requests_total",
  help: "The total number of client requests per client version.",
  labelNames: ["client_api_version", "type"] as const,
});

// Go's promhttp starts the scrape counter at zero for each code it can answer with.
for (const code of ["200", "500", "503"]) promhttpMetricHandlerRequestsTotal.inc({ code }, 0);
