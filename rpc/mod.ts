/**
 * The etcd v3 RPC surface that servers and clients share (as etcd's `v3rpc/rpctypes` beside
 * `clientv3`): the method table with its codecs, transport-independent handler types, etcd's
 * gRPC errors with their codes and messages and the proto3 JSON mapping. The grpc-js client is
 * in `client/`, a module above this one.
 *
 * It imports only the protocol floor, so that a client (the load tool, the cluster tests) can
 * load it without loading the server.
 *
 * @module
 */

export * from "./errors.ts";
export { EncodedMessage } from "./handler.ts";
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
  type ElectionService,
  type EtcdServices,
  type KVService,
  type LeaseService,
  type LockService,
  type MaintenanceService,
  type MethodDescriptor,
  type MethodKind,
  METHODS,
  SERVICE_KEYS,
  type ServiceName,
  type WatchService,
} from "./methods.ts";
export { parseJsonExact } from "./json.ts";
