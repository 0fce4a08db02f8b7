/**
 * A grpc-js client of the etcd v3 API (as etcd's `clientv3` beside `v3rpc/rpctypes`): the load
 * tools, the benchmarks, the tests and the grpc-proxy's upstream use it; a member never does.
 *
 * It is a module of its own, above `rpc`, so that the member's path (`api` and `embed` import
 * `rpc`) does not load @grpc/grpc-js and node:http2 beneath it: about 1.6 MiB of V8 heap in an
 * idle member that serves gRPC with the native transport.
 *
 * @module
 */

export {
  type BidiCall,
  type CallOptions,
  EtcdGrpcClient,
  type EtcdGrpcClientOptions,
  toClientError,
} from "./grpc_client.ts";
