/**
 * detcd's client-facing server side: the v3 services over the server's request API
 * (`etcdServices`, with `togRPCError`), the plain HTTP endpoints (`etcdHttpHandler`), the JSON
 * gateway and the transports (the HTTP/2 gRPC server, and a native HTTP/2 client for the load
 * tool). The method table, errors and the grpc-js client are in `rpc/`.
 *
 * It reaches the server only through `server/mod.ts`, and never touches the store, the
 * backend, the lessor or raft.
 *
 * @module
 */

export {
  clientPortAlpn,
  GRPC_OVERHEAD_BYTES,
  type GrpcServer,
  type GrpcServerOptions,
  type GrpcTlsOptions,
  MAX_REQUEST_BYTES_DEFAULT,
  MAX_SEND_BYTES_DEFAULT,
  startGrpcServer,
} from "./grpc_server.ts";
export { eventLoopDelaySeconds, startEventLoopMonitor } from "./event_loop_metrics.ts";
// The gateway and the v2 API load when first used (client_http.ts), the proxies when started.
export { clientHttpHandler, type ClientHttpOptions } from "./client_http.ts";
export type { V2ClusterSource } from "./v2_cluster.ts";
export { CROSS_SITE_MESSAGE, crossSiteGuarded, crossSiteRefusal } from "./access.ts";
export { accessController, type AccessControlOptions } from "./access_control.ts";
export { etcdHttpHandler, healthResponse, metricsHealthHandler } from "./etcdhttp.ts";
export { type HttpServer, type HttpServerOptions, startHttpServer } from "./http_server.ts";
export { PPROF_PREFIX, pprofHandler } from "./pprof.ts";
export type { V2Proxy, V2ProxyOptions } from "./v2_proxy.ts";
export type { ConsoleProxy, ConsoleProxyOptions } from "./ui_proxy.ts";
export { startConsoleProxy, startV2Proxy } from "./lazy.ts";
export {
  countClientRequest,
  countGrpcReceivedBytes,
  countGrpcSentBytes,
  enableHandlingTimeHistogram,
  networkClientGrpcReceivedBytesTotal,
  networkClientGrpcSentBytesTotal,
} from "./metrics.ts";
export { instrumentServices } from "./services/grpc_metrics.ts";
export { etcdServices, requestContext, togRPCError } from "./services/mod.ts";
export { H2GrpcClient } from "./h2/client.ts";
export type { KeepAlivePolicy } from "./h2/connection.ts";
