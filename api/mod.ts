/**
 * detcd's client API: the method table, transport-independent handler types, etcd's errors,
 * the v3 services over the server's request API (`etcdServices`, with `togRPCError`), the
 * plain HTTP endpoints (`etcdHttpHandler`), and the transports (server and client).
 *
 * It reaches the server only through `server/mod.ts`, and never touches the store, the
 * backend, the lessor or raft.
 *
 * @module
 */

export * from "./errors.ts";
export type {
  BidiHandler,
  CallContext,
  HttpHandler,
  ServerStreamHandler,
  StreamSink,
  UnaryHandler,
} from "./handler.ts";
export {
  allMethods,
  type AnyMethodDescriptor,
  type AuthService,
  type ClusterService,
  type Codec,
  type EtcdServices,
  type KVService,
  type LeaseService,
  type MaintenanceService,
  type MethodDescriptor,
  type MethodKind,
  METHODS,
  SERVICE_KEYS,
  type ServiceName,
  type WatchService,
} from "./methods.ts";
export {
  GRPC_OVERHEAD_BYTES,
  type GrpcServer,
  type GrpcServerOptions,
  type GrpcTlsOptions,
  MAX_REQUEST_BYTES_DEFAULT,
  MAX_SEND_BYTES_DEFAULT,
  startGrpcServer,
} from "./grpc_server.ts";
export { gatewayHandler } from "./gateway.ts";
export { etcdHttpHandler } from "./etcdhttp.ts";
export { etcdServices, requestContext, togRPCError } from "./services/mod.ts";
export {
  type BidiCall,
  type CallOptions,
  EtcdGrpcClient,
  type EtcdGrpcClientOptions,
  toClientError,
} from "./grpc_client.ts";
export { normalizeSerial, revokedSerials } from "./crl.ts";
export { H2GrpcClient } from "./h2/client.ts";
