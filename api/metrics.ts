/**
 * The client-facing metrics: gRPC per method as go-grpc-prometheus counts them, /health
 * outcomes, scrapes, and process_* read from /proc/self.
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Counter, Gauge, Histogram, register } from "../metrics/mod.ts";

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
  collect() {
    const bytes = _grpcBytes[0]!;
    if (bytes === 0) return;
    _grpcBytes[0] = 0;
    this.inc(bytes);
  },
});

/** `etcd_network_client_grpc_sent_bytes_total`. */
export const networkClientGrpcSentBytesTotal = new Counter({
  name: "etcd_network_client_grpc_sent_bytes_total",
  help: "The total number of bytes sent to grpc clients.",
  collect() {
    const bytes = _grpcBytes[1]!;
    if (bytes === 0) return;
    _grpcBytes[1] = 0;
    this.inc(bytes);
  },
});

/**
 * gRPC bytes received ([0]) and sent ([1]) since the two counters above were last collected:
 * adding to a prom-client counter makes two objects, twice per call. A typed array: the sums
 * outgrow small integers, and a module variable would box each new value.
 */
const _grpcBytes = new Float64Array(2);

/** Counts bytes of gRPC messages received from clients. */
export function countGrpcReceivedBytes(bytes: number): void {
  _grpcBytes[0]! += bytes;
}

/** Counts bytes of gRPC messages sent to clients. */
export function countGrpcSentBytes(bytes: number): void {
  _grpcBytes[1]! += bytes;
}

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

// Go's promhttp starts the scrape counter at zero for each code it can answer with.
for (const code of ["200", "500", "503"]) promhttpMetricHandlerRequestsTotal.inc({ code }, 0);

/** grpc-go's code names, as the `grpc_code` label spells them, by code number. */
export const GRPC_CODE_NAMES: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/**
 * One method's counts. The interceptor adds to plain numbers on the hot path; the gRPC
 * counters copy them on scrape (a prom-client labelled inc hashes its labels every time).
 */
export interface GrpcMethodCounts {
  /** Label names in Go's sorted order, which the exposition keeps. */
  readonly labels: { grpc_method: string; grpc_service: string; grpc_type: string };
  started: number;
  received: number;
  sent: number;
  /** By gRPC code number. */
  readonly handled: Float64Array;
}

const _grpcCounts = new Map<string, GrpcMethodCounts>();

/** The counts of a method (`/etcdserverpb.KV/Put`), made once at zero. */
export function grpcMethodCounts(
  path: string,
  labels: GrpcMethodCounts["labels"],
): GrpcMethodCounts {
  let counts = _grpcCounts.get(path);
  if (counts === undefined) {
    counts = {
      labels,
      started: 0,
      received: 0,
      sent: 0,
      handled: new Float64Array(GRPC_CODE_NAMES.length),
    };
    _grpcCounts.set(path, counts);
  }
  return counts;
}

function _grpcCounter(
  name: string,
  help: string,
  read: (counts: GrpcMethodCounts) => number,
): Counter<"grpc_method" | "grpc_service" | "grpc_type"> {
  return new Counter({
    name,
    help,
    labelNames: ["grpc_method", "grpc_service", "grpc_type"] as const,
    collect() {
      this.reset();
      for (const counts of _grpcCounts.values()) this.inc(counts.labels, read(counts));
    },
  });
}

/** `grpc_server_started_total`. */
export const grpcServerStartedTotal = _grpcCounter(
  "grpc_server_started_total",
  "Total number of RPCs started on the server.",
  (counts) => counts.started,
);

/** `grpc_server_msg_received_total`. */
export const grpcServerMsgReceivedTotal = _grpcCounter(
  "grpc_server_msg_received_total",
  "Total number of RPC stream messages received on the server.",
  (counts) => counts.received,
);

/** `grpc_server_msg_sent_total`. */
export const grpcServerMsgSentTotal = _grpcCounter(
  "grpc_server_msg_sent_total",
  "Total number of gRPC stream messages sent by the server.",
  (counts) => counts.sent,
);

/** `grpc_server_handled_total`. */
export const grpcServerHandledTotal = new Counter({
  name: "grpc_server_handled_total",
  help: "Total number of RPCs completed on the server, regardless of success or failure.",
  labelNames: ["grpc_code", "grpc_method", "grpc_service", "grpc_type"] as const,
  collect() {
    this.reset();
    for (const counts of _grpcCounts.values()) {
      counts.handled.forEach((value, code) => {
        this.inc({ grpc_code: GRPC_CODE_NAMES[code]!, ...counts.labels }, value);
      });
    }
  },
});

/** `grpc_server_handling_seconds`. */
export const grpcServerHandlingSeconds = new Histogram({
  name: "grpc_server_handling_seconds",
  help: "Histogram of response latency (seconds) of gRPC that had been application-level " +
    "handled by the server.",
  labelNames: ["grpc_method", "grpc_service", "grpc_type"] as const,
  // go-grpc-prometheus's default buckets (Prometheus's DefBuckets).
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  // Registered only by --metrics extensive, as go-grpc-prometheus does.
  registers: [],
});

/**
 * Client requests by call type, then by `client-api-version`: two lookups instead of a key
 * string built per call.
 */
const _clientRequests = {
  unary: new Map<string, { labels: Record<string, string>; count: number }>(),
  stream: new Map<string, { labels: Record<string, string>; count: number }>(),
};

/** The entries of `_clientRequests` in the order they were first counted (as scraped). */
const _clientRequestsInOrder: { labels: Record<string, string>; count: number }[] = [];

/** etcd's client request counter, by call type and the client's `client-api-version`. */
export function countClientRequest(type: "unary" | "stream", version: string): void {
  const byVersion = _clientRequests[type];
  const entry = byVersion.get(version);
  if (entry !== undefined) entry.count++;
  else {
    const created = { labels: { client_api_version: version, type }, count: 1 };
    byVersion.set(version, created);
    _clientRequestsInOrder.push(created);
  }
}

/** `etcd_server_client_requests_total`. */
export const serverClientRequestsTotal = new Counter({
  name: "etcd_server_client_requests_total",
  help: "The total number of client requests per client version.",
  labelNames: ["client_api_version", "type"] as const,
  collect() {
    this.reset();
    for (const { labels, count } of _clientRequestsInOrder) this.inc(labels, count);
  },
});
