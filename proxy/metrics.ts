/**
 * The grpc-proxy's own metrics, with etcd 3.4's names and help texts
 * (proxy/grpcproxy/metrics.go). They live in prom-client's default registry beside the
 * gRPC server metrics, and are served on `/proxy/metrics`.
 *
 * @module
 */

import { Counter, Gauge } from "../metrics/mod.ts";

/** `etcd_grpc_proxy_watchers_coalescing_total`. */
export const watchersCoalescing = new Gauge({
  name: "etcd_grpc_proxy_watchers_coalescing_total",
  help: "Total number of current watchers coalescing",
});

/** `etcd_grpc_proxy_events_coalescing_total`. */
export const eventsCoalescing = new Counter({
  name: "etcd_grpc_proxy_events_coalescing_total",
  help: "Total number of events coalescing",
});

/** `etcd_grpc_proxy_cache_keys_total`. */
export const cacheKeys = new Gauge({
  name: "etcd_grpc_proxy_cache_keys_total",
  help: "Total number of keys/ranges cached",
});

/** `etcd_grpc_proxy_cache_hits_total` (a gauge in etcd 3.4, kept so). */
export const cacheHits = new Gauge({
  name: "etcd_grpc_proxy_cache_hits_total",
  help: "Total number of cache hits",
});

/** `etcd_grpc_proxy_cache_misses_total` (a gauge in etcd 3.4, kept so). */
export const cacheMisses = new Gauge({
  name: "etcd_grpc_proxy_cache_misses_total",
  help: "Total number of cache misses",
});
