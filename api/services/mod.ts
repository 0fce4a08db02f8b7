/**
 * etcd's v3 gRPC services over one member (`EtcdServer`), transport-independent: each
 * handler validates like etcd's v3rpc, calls the server and fills the response header.
 *
 * @module
 */

import type { EtcdServices } from "../methods.ts";
import type { EtcdServer } from "../../server/etcd_server.ts";
import { clusterService } from "./cluster.ts";
import { kvService } from "./kv.ts";
import { leaseService } from "./lease.ts";
import { maintenanceService } from "./maintenance.ts";
import { watchService } from "./watch.ts";

export { checkIntervals, checkPutRequest, checkRangeRequest, checkTxnRequest } from "./kv.ts";
export { clusterService, kvService, leaseService, maintenanceService, watchService };

/** Every service detcd serves, over `server`. Auth is not served yet (UNIMPLEMENTED). */
export function etcdServices(server: EtcdServer): EtcdServices {
  return {
    kv: kvService(server),
    watch: watchService(server),
    lease: leaseService(server),
    cluster: clusterService(server),
    maintenance: maintenanceService(server),
  };
}
