/**
 * etcd's v3 gRPC services over one member (`EtcdServer`), transport-independent: each
 * handler validates like etcd's v3rpc, calls the server and fills the response header.
 *
 * @module
 */

import type { EtcdServices } from "../methods.ts";
import type { EtcdServer } from "../../server/etcd_server.ts";
import { clusterService } from "./cluster.ts";
import { type InterceptorTarget, interceptServices } from "./interceptor.ts";
import { kvService } from "./kv.ts";
import { leaseService } from "./lease.ts";
import { maintenanceService } from "./maintenance.ts";
import { watchService } from "./watch.ts";

export { checkIntervals, checkPutRequest, checkRangeRequest, checkTxnRequest } from "./kv.ts";
export {
  type InterceptorTarget,
  interceptServices,
  isSupportedForLearner,
  NO_LEADER_CHECKS_MAX,
} from "./interceptor.ts";
export { clusterService, kvService, leaseService, maintenanceService, watchService };

/**
 * Every service detcd serves, over `server`, behind etcd's interceptors (learner and
 * require-leader checks). Auth is not served yet (UNIMPLEMENTED).
 */
export function etcdServices(server: EtcdServer): EtcdServices {
  const services: EtcdServices = {
    kv: kvService(server),
    watch: watchService(server),
    lease: leaseService(server),
    cluster: clusterService(server),
    maintenance: maintenanceService(server),
  };
  return interceptServices(services, _interceptorTarget(server));
}

/** The member as the interceptors see it, read live on every call. */
function _interceptorTarget(server: EtcdServer): InterceptorTarget {
  return {
    get leader() {
      return server.leader;
    },
    get isLearner() {
      return server.cluster.members.get(server.memberId)?.isLearner === true;
    },
    electionTimeoutMs: server.cfg.electionTimeoutMs,
  };
}
