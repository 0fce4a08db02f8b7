/**
 * detcd's proxies, as etcd 3.4 ships them beside the member: `grpc-proxy start` (a gRPC proxy
 * with a serializable-read cache, watch coalescing, keep-alive coalescing, `--namespace` and
 * resolver registration) and `gateway start` (an L4 TCP proxy with endpoint failover).
 *
 * It sits above `api` (whose gRPC transport and HTTP listeners it reuses) and reaches the
 * cluster only as a client, over `rpc`'s method table.
 *
 * @module
 */

export { GRPC_PROXY_FLAGS, type GrpcProxy, runGrpcProxy, startGrpcProxy } from "./grpc_proxy.ts";
export { GATEWAY_FLAGS, runGateway, startTcpProxy, type TcpProxy } from "./gateway.ts";
