/**
 * `startEtcd`: one member wired together, as etcd's `embed.StartEtcd`. It generates
 * auto-TLS certificates, bootstraps the server from the data directory, opens the peer
 * listener and transport, starts raft, and serves the client API (gRPC, the JSON gateway and
 * the plain HTTP endpoints) on every `--listen-client-urls` address.
 *
 * This is the one place that knows both `server/` and `api/`: the server knows nothing of
 * listeners or wire formats, and the API knows the server only through its request API.
 *
 * @module
 */

import {
  etcdHttpHandler,
  etcdServices,
  gatewayHandler,
  GRPC_OVERHEAD_BYTES,
  type GrpcServer,
  type GrpcTlsOptions,
  startGrpcServer,
} from "../api/mod.ts";
import {
  bootstrap,
  cipherSuiteNames,
  ClusterPeers,
  EtcdServerCore,
  type Logger,
  newAuthTokenProvider,
  rejectedConnectionFields,
  selfSignedCert,
  type ServerConfig,
  tlsPolicy,
  V3Server,
} from "../server/mod.ts";

/** A running member, as `main.ts` and the tests drive it. */
export interface Etcd {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** `host:port` actually listened on, one per client URL. */
  readonly clientAddrs: string[];
  /** Stops serving, stops raft and closes every file. */
  stop(): Promise<void>;
  /** Settles when the member has stopped (rejects if it stopped on a fatal error). */
  done: Promise<void>;
  /** The member itself (tests). */
  readonly core: EtcdServerCore;
}

/** Bootstraps the member in `cfg.dataDir`, starts raft and serves clients and peers. */
export async function startEtcd(cfg: ServerConfig, log: Logger): Promise<Etcd> {
  // etcd refuses an unknown --cipher-suites name before it touches the data directory.
  cipherSuiteNames(cfg.cipherSuites);
  await _autoTls(cfg, log);
  const serverLog = log.named("etcdserver");
  const boot = await bootstrap(cfg, serverLog);
  let core: EtcdServerCore;
  // Simple tokens wait for the member's applied index: bound late, once the member exists.
  let member: EtcdServerCore | undefined;
  try {
    const tokens = await newAuthTokenProvider(cfg, serverLog, {
      waitApplied: (index) => member?.applied.wait(index) ?? Promise.resolve(),
      committedIndex: () => member?.committedIndex ?? 0,
    });
    core = new EtcdServerCore(cfg, serverLog, boot, tokens);
    member = core;
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
    const api = new V3Server(core);
    const services = etcdServices(api);
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
          http: gatewayHandler(services, etcdHttpHandler(api)),
          tls: secure ? _clientTls(cfg, log) : undefined,
        } as Parameters<typeof startGrpcServer>[0],
      );
      grpcServers.push(grpc);
      clientAddrs.push(`${host}:${grpc.port}`);
      const address = `${host}:${grpc.port}`;
      if (secure) {
        log.named("embed").info("serving client traffic securely", { address });
      } else {
        log.named("embed").info(
          "serving client traffic insecurely; this is strongly discouraged!",
          {
            address,
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

/** Fills in auto-TLS certificate paths, generating the certificates as etcd does. */
async function _autoTls(cfg: ServerConfig, log: Logger): Promise<void> {
  const hostsOf = (urls: URL[]) => urls.map((url) => url.host);
  if (cfg.peerTls.autoTls && (cfg.peerTls.certFile === "" || cfg.peerTls.keyFile === "")) {
    const files = await selfSignedCert(`${cfg.dataDir}/fixtures/peer`, hostsOf(cfg.listenPeerUrls));
    cfg.peerTls.certFile = files.certFile;
    cfg.peerTls.keyFile = files.keyFile;
    log.named("embed").info(`peerTLS: cert = ${files.certFile}, key = ${files.keyFile}`);
  } else if (cfg.peerTls.autoTls) {
    log.named("embed").warn("ignoring peer auto TLS since certs given");
  }
  if (cfg.clientTls.autoTls && (cfg.clientTls.certFile === "" || cfg.clientTls.keyFile === "")) {
    const files = await selfSignedCert(
      `${cfg.dataDir}/fixtures/client`,
      hostsOf(cfg.listenClientUrls),
    );
    cfg.clientTls.certFile = files.certFile;
    cfg.clientTls.keyFile = files.keyFile;
    log.named("embed").info(`ClientTLS: cert = ${files.certFile}, key = ${files.keyFile}`);
  } else if (cfg.clientTls.autoTls) {
    log.named("embed").warn("ignoring client auto TLS since certs given");
  }
}

function _hostPort(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  return { host, port };
}

/**
 * The client listener's TLS settings: `--cert-file`, `--key-file`, `--trusted-ca-file`,
 * `--client-cert-auth`, and the restrictions `--client-crl-file`,
 * `--client-cert-allowed-hostname` and `--cipher-suites` (server/tls_policy.ts).
 */
function _clientTls(cfg: ServerConfig, log: Logger): GrpcTlsOptions {
  const tls = cfg.clientTls;
  if (tls.certFile === "" || tls.keyFile === "") {
    throw new Error(
      "TLS key/cert (--cert-file, --key-file) must be provided for client URLs with https",
    );
  }
  const policy = tlsPolicy(tls, cfg.cipherSuites);
  return {
    certPem: Deno.readTextFileSync(tls.certFile),
    keyPem: Deno.readTextFileSync(tls.keyFile),
    caPem: tls.trustedCaFile === "" ? undefined : Deno.readTextFileSync(tls.trustedCaFile),
    // etcd's TLSInfo.ServerConfig requires and verifies a client certificate as soon as a
    // trusted CA is given, with or without --client-cert-auth.
    clientCertAuth: tls.clientCertAuth || tls.trustedCaFile !== "",
    verifyConnection: policy.active
      ? (socket, requested) => policy.checkAccepted(socket, requested)
      : undefined,
    onRejected: (socket, error) =>
      log.named("embed").warn("rejected connection", rejectedConnectionFields(socket, error)),
  };
}
