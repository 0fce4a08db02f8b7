/**
 * etcd's v3 gRPC services over one member's request API (`ServerApi`), transport-independent:
 * each handler validates like etcd's v3rpc, calls the server and encodes its answer.
 *
 * @module
 */

import type { EtcdServices } from "../../rpc/mod.ts";
import type { ServerApi } from "../../server/mod.ts";
import { authService } from "./auth.ts";
import { clusterService } from "./cluster.ts";
import { electionService } from "./election.ts";
import { lockService } from "./lock.ts";
import { interceptServices } from "./interceptor.ts";
import { kvService } from "./kv.ts";
import { leaseService } from "./lease.ts";
import { maintenanceService } from "./maintenance.ts";
import { watchService } from "./watch.ts";
import { togRPCError, withgRPCErrors } from "./grpc_error.ts";
import { instrumentServices } from "./grpc_metrics.ts";

export { checkIntervals, checkPutRequest, checkRangeRequest, checkTxnRequest } from "./kv.ts";
export {
  type InterceptorTarget,
  interceptServices,
  isSupportedForLearner,
  NO_LEADER_CHECKS_MAX,
} from "./interceptor.ts";
export { togRPCError, withgRPCErrors } from "./grpc_error.ts";
export { requestContext } from "./request_context.ts";
export {
  authService,
  clusterService,
  electionService,
  kvService,
  leaseService,
  lockService,
  maintenanceService,
  watchService,
};

/**
 * Every service detcd serves, over the server's request API, with server errors mapped to
 * gRPC ones (`togRPCError`), behind etcd's interceptors (learner and require-leader checks).
 */
export function etcdServices(server: ServerApi): EtcdServices {
  const services: EtcdServices = {
    kv: kvService(server),
    watch: watchService(server),
    lease: leaseService(server),
    cluster: clusterService(server),
    maintenance: maintenanceService(server),
    auth: authService(server),
    election: electionService(server),
    lock: lockService(server),
  };
  // The member's leader and learner state are read live on every call.
  // etcd chains the Prometheus interceptor after its own checks: calls they refuse are not
  // counted.
  // Unary errors are mapped in the counters' `then` (one promise per call, not two).
  const mapped = withgRPCErrors(services, { unary: false });
  return interceptServices(instrumentServices(mapped, { mapUnaryError: togRPCError }), server);
}
