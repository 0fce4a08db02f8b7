/**
 * server/: one detcd member — bootstrap from the data directory, the raft Ready loop, the
 * applier, linearizable reads, quota and alarms, snapshots, auto-compaction — and
 * `startServer`, which also opens the client and peer listeners.
 *
 * @module
 */

import { type GrpcServer, type GrpcTlsOptions, startGrpcServer } from "../api/grpc_server.ts";
import { gatewayHandler } from "../api/gateway.ts";
import { revokedSerials } from "../api/crl.ts";
import { GRPC_OVERHEAD_BYTES } from "../api/grpc_server.ts";
import { etcdServices } from "../api/services/mod.ts";
import type { ServerConfig } from "./config.ts";
import { ETCD_CLUSTER_VERSION, ETCD_VERSION } from "./config.ts";
import type { Logger } from "./log.ts";
import { bootstrap } from "./bootstrap.ts";
import { EtcdServer as _EtcdServer } from "./etcd_server.ts";
import { ClusterPeers } from "./cluster_peers.ts";

export { EtcdServer as EtcdServerCore } from "./etcd_server.ts";
export { bootstrap, type Bootstrapped, initialMembers, memberPaths } from "./bootstrap.ts";
export {
  attributesJson,
  type Member,
  memberJson,
  parseMemberJson,
  RaftCluster,
  v2StoreJson,
} from "./membership.ts";
export { AlarmStore, BackendQuota, costLeaseGrant, costPut, costTxn } from "./quota.ts";
export { applyRequest, type ApplyResult, toApiError } from "./apply.ts";
export { Wait, WaitIndex } from "./wait.ts";
export { ReadIndexer } from "./read_index.ts";
export { RaftNode, type RaftNodeHandler, type Transport } from "./raft_node.ts";
export { Compactor, parseGoDurationMs } from "./compactor.ts";
export { ClusterPeers } from "./cluster_peers.ts";
export {
  addMember,
  moveLeader,
  promoteMember,
  removeMember,
  updateMember,
} from "./cluster_membership.ts";
export { leaseTimeToLiveOnLeader, renewLease } from "./cluster_lease.ts";
export { forceNewClusterLog, memberIdsOf } from "./cluster_force.ts";
export {
  assertNotBootstrapped,
  fetchRemoteCluster,
  joinExistingCluster,
  parseMembersJson,
  type RemoteCluster,
} from "./cluster_join.ts";

/** A running member, as `main.ts` drives it. */
export interface EtcdServer {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** `host:port` actually listened on, one per client URL. */
  readonly clientAddrs: string[];
  /** Stops serving, stops raft and closes every file. */
  stop(): Promise<void>;
  /** Settles when the member has stopped (rejects if it stopped on a fatal error). */
  done: Promise<void>;
  /** The member itself (tests). */
  readonly core: _EtcdServer;
}

/** The plain HTTP endpoints etcd serves on its client port. */
function _httpHandler(core: _EtcdServer) {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path === "/health") {
      const healthy = await _checkHealth(core);
      return Response.json({ health: healthy ? "true" : "false" }, {
        status: healthy ? 200 : 503,
      });
    }
    if (path === "/version") {
      return Response.json({ etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
    }
    if (path === "/metrics") {
      const lines = [
        "# TYPE etcd_server_has_leader gauge",
        `etcd_server_has_leader ${core.leader !== 0n ? 1 : 0}`,
        "# TYPE etcd_mvcc_db_total_size_in_bytes gauge",
        `etcd_mvcc_db_total_size_in_bytes ${core.backend.size()}`,
        "# TYPE etcd_debugging_mvcc_current_revision gauge",
        `etcd_debugging_mvcc_current_revision ${core.kv.rev}`,
      ];
      return new Response(lines.join("\n") + "\n", { headers: { "content-type": "text/plain" } });
    }
    return new Response("404 page not found\n", { status: 404 });
  };
}

/**
 * etcd's /health: unhealthy while any alarm is raised or there is no leader, or when a
 * quorum read does not complete within a second.
 */
async function _checkHealth(core: _EtcdServer): Promise<boolean> {
  if (core.alarms.get(0).length > 0) return false;
  if (core.leader === 0n) return false;
  try {
    await core.linearizableReadNotify(AbortSignal.timeout(1000));
    return true;
  } catch {
    return false;
  }
}

function _hostPort(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  return { host, port };
}

/** The client listener's TLS files (`--cert-file`, `--key-file`, `--trusted-ca-file`). */
function _clientTls(cfg: ServerConfig): GrpcTlsOptions {
  const tls = cfg.clientTls;
  if (tls.certFile === "" || tls.keyFile === "") {
    throw new Error(
      "TLS key/cert (--cert-file, --key-file) must be provided for client URLs with https",
    );
  }
  return {
    certPem: Deno.readTextFileSync(tls.certFile),
    keyPem: Deno.readTextFileSync(tls.keyFile),
    caPem: tls.trustedCaFile === "" ? undefined : Deno.readTextFileSync(tls.trustedCaFile),
    clientCertAuth: tls.clientCertAuth,
    revokedSerials: tls.crlFile === "" ? undefined : revokedSerials(Deno.readFileSync(tls.crlFile)),
  };
}

/** Bootstraps the member in `cfg.dataDir`, starts raft and serves clients and peers. */
export async function startServer(cfg: ServerConfig, log: Logger): Promise<EtcdServer> {
  const serverLog = log.named("etcdserver");
  const boot = await bootstrap(cfg, serverLog);
  let core: _EtcdServer;
  try {
    core = new _EtcdServer(cfg, serverLog, boot);
  } catch (error) {
    await boot.wal.close();
    throw error;
  }
  const grpcServers: GrpcServer[] = [];
  let clusterPeers: ClusterPeers | undefined;
  const clientAddrs: string[] = [];
  try {
    clusterPeers = new ClusterPeers(core, cfg, log);
    clusterPeers.listen();
    core.transport = clusterPeers;
    core.onMembershipApplied = () => clusterPeers?.syncPeers();
    clusterPeers.start();
    core.start();
    const services = etcdServices(core);
    for (const url of cfg.listenClientUrls) {
      const secure = url.protocol === "https:" || url.protocol === "unixs:";
      const { host, port } = _hostPort(url);
      const grpc = await startGrpcServer(
        {
          host,
          port,
          services,
          maxRecvBytes: cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES,
          maxConcurrentStreams: cfg.maxConcurrentStreams > 0 ? cfg.maxConcurrentStreams : undefined,
          // etcd's grpc-gateway: the JSON API under /v3/ beside /health, /version, /metrics.
          http: gatewayHandler(services, _httpHandler(core)),
          tls: secure ? _clientTls(cfg) : undefined,
        } as Parameters<typeof startGrpcServer>[0],
      );
      grpcServers.push(grpc);
      clientAddrs.push(`${host}:${grpc.port}`);
      if (secure) {
        log.named("embed").info("serving client traffic securely", {
          address: `${host}:${grpc.port}`,
        });
      } else {
        log.named("embed").info(
          "serving client traffic insecurely; this is strongly discouraged!",
          {
            address: `${host}:${grpc.port}`,
          },
        );
      }
    }
  } catch (error) {
    for (const grpc of grpcServers) await grpc.close();
    await clusterPeers?.stop();
    await core.stop();
    throw error;
  }
  log.named("embed").info("ready to serve client requests");
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const grpc of grpcServers) await grpc.close();
      await clusterPeers?.stop();
      await core.stop();
    })();
    return stopping;
  };
  // A member that stops by itself (a fatal error) closes its listeners too.
  const done = core.done.then(async () => {
    if (stopping === undefined) await stop();
    if (core.fatalError !== undefined) throw core.fatalError;
  });
  return { memberId: core.memberId, clusterId: core.clusterId, clientAddrs, stop, done, core };
}
