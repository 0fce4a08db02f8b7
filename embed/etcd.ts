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
  clientHttpHandler,
  clientPortAlpn,
  enableHandlingTimeHistogram,
  etcdHttpHandler,
  etcdServices,
  GRPC_OVERHEAD_BYTES,
  type GrpcServer,
  type GrpcTlsOptions,
  type HttpServer,
  type KeepAlivePolicy,
  metricsHealthHandler,
  PPROF_PREFIX,
  pprofHandler,
  startEventLoopMonitor,
  startGrpcServer,
  startHttpServer,
  type V2ClusterSource,
} from "../api/mod.ts";
import {
  bootstrap,
  checkInitialHashKV,
  cipherSuiteNames,
  ClusterPeers,
  CorruptionMonitor,
  EtcdServerCore,
  type Logger,
  newAuthTokenProvider,
  rejectedConnectionFields,
  rejectedHandshakeFields,
  selfSignedCert,
  type ServerConfig,
  tlsPolicy,
  V2Server,
  V3Server,
} from "../server/mod.ts";
import { TlsContext, type TlsContextOptions } from "../tls/mod.ts";

/** A running member, as `main.ts` and the tests drive it. */
export interface Etcd {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** `host:port` actually listened on, one per client URL. */
  readonly clientAddrs: string[];
  /** `host:port` actually listened on, one per `--listen-metrics-urls` URL. */
  readonly metricsAddrs: string[];
  /**
   * Settles once the member has joined the cluster (published itself through raft) and its
   * client listeners serve: etcd's ReadyNotify, after which etcd notifies systemd.
   */
  readonly ready: Promise<void>;
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
  // etcd checks only a member that was initialized before (it had a WAL).
  const memberInitialized = _hasWal(cfg.walDir);
  const boot = await bootstrap(cfg, serverLog);
  let core: EtcdServerCore;
  // Simple tokens wait for the member's applied index: bound late, once the member exists.
  let member: EtcdServerCore | undefined;
  try {
    const tokens = await newAuthTokenProvider(cfg, serverLog, {
      waitApplied: (index) => member?.applied.wait(index) ?? Promise.resolve(),
      appliedIndex: () => member?.applied.reached ?? 0,
      committedIndex: () => member?.committedIndex ?? 0,
    });
    core = new EtcdServerCore(cfg, serverLog, boot, tokens);
    member = core;
  } catch (error) {
    await boot.wal.close();
    throw error;
  }
  const grpcServers: GrpcServer[] = [];
  const httpServers: HttpServer[] = [];
  let clusterPeers: ClusterPeers | undefined;
  const clientAddrs: string[] = [];
  const metricsAddrs: string[] = [];
  let corruptionMonitor: CorruptionMonitor | undefined;
  try {
    clusterPeers = new ClusterPeers(core, cfg, log);
    // etcd checks before raft starts and before it serves peers (embed.StartEtcd:
    // CheckInitialHashKV, then Start, then servePeers): a peer's message must not reach a
    // raft node whose transport is not running yet.
    if (cfg.experimentalInitialCorruptCheck && memberInitialized) {
      await checkInitialHashKV(core, serverLog);
    }
    clusterPeers.listen();
    core.transport = clusterPeers;
    core.onMembershipApplied = () => clusterPeers?.syncPeers();
    clusterPeers.start();
    core.start();
    if (cfg.experimentalCorruptCheckTimeMs > 0) {
      corruptionMonitor = new CorruptionMonitor(
        core,
        serverLog,
        cfg.experimentalCorruptCheckTimeMs,
      );
      corruptionMonitor.start();
    }
    const api = new V3Server(core);
    // etcd: `--metrics extensive` adds the gRPC handling-time histograms; any other value
    // is basic.
    if (cfg.metrics === "extensive") enableHandlingTimeHistogram();
    const services = etcdServices(api);
    // `--enable-v2`: etcd's v2 keys API beside the v3 one.
    const v2Server = cfg.enableV2 ? new V2Server(core) : undefined;
    const gatewayStreams = _gatewayStreamLimit(cfg.maxConcurrentStreams);
    let plainHttp = etcdHttpHandler(api);
    if (cfg.enablePprof) {
      // etcd adds its pprof handlers to the client port's HTTP mux.
      plainHttp = pprofHandler(plainHttp);
      log.named("embed").info(`pprof is enabled under ${PPROF_PREFIX}/`);
    }
    for (const { url, both } of _clientListeners(cfg.listenClientUrls)) {
      const secure = url.protocol === "https:" || url.protocol === "unixs:";
      const { host, port } = _hostPort(url);
      const unixPath = _unixSocketPath(url);
      const httpHandler = async (secure: boolean) =>
        await clientHttpHandler(api, services, {
          endpoints: plainHttp,
          cors: cfg.cors,
          hostWhitelist: cfg.hostWhitelist,
          secure,
          onRejectedHost: (host) =>
            log.named("embed").warn("rejecting HTTP request to prevent DNS rebinding attacks", {
              host,
            }),
          enableUi: cfg.enableUi,
          enableGateway: cfg.enableGrpcGateway,
          gatewayStreams,
          v2: v2Server === undefined
            ? undefined
            : { server: v2Server, timeoutMs: 5000 + 2 * cfg.electionTimeoutMs },
          ...(cfg.enableV2 ? { v2Cluster: v2ClusterSource(core, v2Server) } : {}),
        });
      const grpc = await startGrpcServer(
        {
          host,
          port,
          unixPath,
          services,
          maxRecvBytes: cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES,
          maxConcurrentStreams: cfg.maxConcurrentStreams > 0 ? cfg.maxConcurrentStreams : undefined,
          keepAlive: _keepAlive(cfg),
          // etcd's grpc-gateway: the JSON API under /v3/ beside /health, /version, /metrics,
          // detcd's console under /ui/; etcd's access controller (--host-whitelist on plain
          // listeners, --cors everywhere) and detcd's cross-site refusal in front.
          http: await httpHandler(secure),
          // http:// and https:// on one address: etcd's cmux serves both on one port.
          ...(both ? { plainToo: true, plainHttp: await httpHandler(false) } : {}),
          tls: secure ? _clientTls(cfg, log, clientPortAlpn) : undefined,
          // As etcd's serve(): bound now, served once the member has published itself.
          gate: core.ready,
        } as Parameters<typeof startGrpcServer>[0],
      );
      grpcServers.push(grpc);
      const address = unixPath ?? `${host}:${grpc.port}`;
      clientAddrs.push(address);
      if (both) clientAddrs.push(address); // one per client URL
      if (secure) {
        log.named("embed").info("serving client traffic securely", { address });
        if (both) {
          log.named("embed").info(
            "serving client traffic insecurely; this is strongly discouraged!",
            { address },
          );
        }
      } else {
        log.named("embed").info(
          "serving client traffic insecurely; this is strongly discouraged!",
          {
            address,
          },
        );
      }
    }
    // etcd's serveMetrics: /metrics and /health on each --listen-metrics-urls address, with the
    // client TLS files for https URLs.
    for (const url of cfg.listenMetricsUrls) {
      const { host, port } = _hostPort(url);
      const server = await startHttpServer({
        host,
        port,
        http: metricsHealthHandler(api),
        tls: url.protocol === "https:" ? _clientTls(cfg, log, _http1Only) : undefined,
      });
      httpServers.push(server);
      metricsAddrs.push(`${host}:${server.port}`);
      log.named("embed").info(`listening for metrics on ${_urlText(url)}`, {
        address: `${url.protocol}//${host}:${server.port}`,
      });
    }
  } catch (error) {
    corruptionMonitor?.stop();
    for (const server of httpServers) await server.close();
    for (const grpc of grpcServers) await grpc.close();
    await clusterPeers?.stop();
    await core.stop();
    throw error;
  }
  // etcd logs this once its client listeners start serving, after the member has published.
  void core.ready.then(() => log.named("embed").info("ready to serve client requests"));
  const stopEventLoopMonitor = startEventLoopMonitor();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopEventLoopMonitor();
      corruptionMonitor?.stop();
      for (const server of httpServers) await server.close();
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
  return {
    memberId: core.memberId,
    clusterId: core.clusterId,
    clientAddrs,
    metricsAddrs,
    ready: core.ready,
    stop,
    done,
    core,
  };
}

/** Whether `walDir` holds a WAL segment (etcd's wal.Exist). */
function _hasWal(walDir: string): boolean {
  try {
    return [...Deno.readDirSync(walDir)].some((entry) => entry.name.endsWith(".wal"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
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

/**
 * `--max-concurrent-streams` for the gateway: etcd's default (2^32 - 1) means unbounded, for
 * which the gateway keeps no slots. (The HTTP/2 transports get the flag's value as it is.)
 */
function _gatewayStreamLimit(value: number): number | undefined {
  if (!(value > 0) || value >= 0xffffffff) return undefined;
  return value;
}

/**
 * The socket file of a `unix://` or `unixs://` client URL, as etcd joins it: host and path
 * (`unix://localhost:2379` is the file `localhost:2379` in the working directory,
 * `unix:///run/etcd.sock` is `/run/etcd.sock`); undefined for TCP URLs.
 */
function _unixSocketPath(url: URL): string | undefined {
  if (url.protocol !== "unix:" && url.protocol !== "unixs:") return undefined;
  const path = url.host + url.pathname;
  if (path === "") throw new Error(`unix client URL ${url.href} names no socket file`);
  return path;
}

/** grpc-go's server keepalive defaults, which etcd keeps unless both flags are positive. */
const _KEEPALIVE_INTERVAL_DEFAULT_MS = 2 * 60 * 60 * 1000;
const _KEEPALIVE_TIMEOUT_DEFAULT_MS = 20 * 1000;

/** etcd's gRPC keepalive options (embed/etcd.go: KeepaliveParams and EnforcementPolicy). */
function _keepAlive(cfg: ServerConfig): KeepAlivePolicy {
  const both = cfg.grpcKeepAliveIntervalMs > 0 && cfg.grpcKeepAliveTimeoutMs > 0;
  return {
    intervalMs: both ? cfg.grpcKeepAliveIntervalMs : _KEEPALIVE_INTERVAL_DEFAULT_MS,
    timeoutMs: both ? cfg.grpcKeepAliveTimeoutMs : _KEEPALIVE_TIMEOUT_DEFAULT_MS,
    minTimeMs: cfg.grpcKeepAliveMinTimeMs,
  };
}

function _urlText(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * The client listeners to open: one per address. An `http://` and an `https://` URL naming the
 * same host and port make one listener serving both (`both`), as etcd's serveCtx does; the
 * https URL stands for it.
 */
export function _clientListeners(urls: readonly URL[]): { url: URL; both: boolean }[] {
  const byAddress = new Map<string, { url: URL; both: boolean }>();
  const result: { url: URL; both: boolean }[] = [];
  for (const url of urls) {
    const tcp = url.protocol === "http:" || url.protocol === "https:";
    const key = tcp ? `${url.hostname}:${_hostPort(url).port}` : undefined;
    const seen = key === undefined ? undefined : byAddress.get(key);
    if (seen !== undefined && seen.url.protocol !== url.protocol) {
      seen.both = true;
      if (url.protocol === "https:") seen.url = url;
      continue;
    }
    const entry = { url, both: false };
    if (key !== undefined && seen === undefined) byAddress.set(key, entry);
    result.push(entry);
  }
  return result;
}

function _hostPort(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  return { host, port };
}

/** The ALPN choice of the metrics listener (HTTP/1.1 only). */
function _http1Only(offered: readonly string[]): string | undefined {
  return offered.includes("http/1.1") ? "http/1.1" : undefined;
}

/**
 * The client listener's TLS settings: `--cert-file`, `--key-file`, `--trusted-ca-file`,
 * `--client-cert-auth`, and the restrictions `--client-crl-file`,
 * `--client-cert-allowed-hostname` and `--cipher-suites` (server/tls_policy.ts). The last two
 * act inside the handshake in etcd (Go's CipherSuites, VerifyPeerCertificate): with either,
 * OpenSSL terminates TLS (tls/), and `alpn` chooses the application protocol there.
 */
function _clientTls(
  cfg: ServerConfig,
  log: Logger,
  alpn: (offered: readonly string[]) => string | undefined,
): GrpcTlsOptions {
  const tls = cfg.clientTls;
  if (tls.certFile === "" || tls.keyFile === "") {
    throw new Error(
      "TLS key/cert (--cert-file, --key-file) must be provided for client URLs with https",
    );
  }
  const policy = tlsPolicy(tls, cfg.cipherSuites);
  // etcd's TLSInfo.ServerConfig requires and verifies a client certificate as soon as a
  // trusted CA is given, with or without --client-cert-auth.
  const clientCertAuth = tls.clientCertAuth || tls.trustedCaFile !== "";
  if (policy.restrictsHandshake) {
    const contextOptions: TlsContextOptions = {
      role: "server",
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      verifyPeer: clientCertAuth,
      alpnSelect: alpn,
    };
    if (tls.trustedCaFile !== "") contextOptions.caFile = tls.trustedCaFile;
    const cipherList = policy.openSslCipherList();
    if (cipherList !== undefined) contextOptions.cipherList = cipherList;
    if (clientCertAuth && policy.verifiesCertificate) {
      contextOptions.verifyLeaf = (der) => policy.verifyCertificateDer(der);
    }
    const embedLog = log.named("embed");
    return {
      certPem: "",
      keyPem: "",
      clientCertAuth,
      openSsl: {
        context: new TlsContext(contextOptions),
        verifyConnection: (socket) => policy.checkRevokedDer(socket.session.peerCertificates()),
        onRejected: (socket, error) =>
          embedLog.warn(
            "rejected connection",
            rejectedHandshakeFields(
              socket,
              socket.session.serverNameReceived(),
              socket.session.peerCertificates(),
              error,
            ),
          ),
      },
    };
  }
  return {
    certPem: Deno.readTextFileSync(tls.certFile),
    keyPem: Deno.readTextFileSync(tls.keyFile),
    caPem: tls.trustedCaFile === "" ? undefined : Deno.readTextFileSync(tls.trustedCaFile),
    clientCertAuth,
    verifyConnection: policy.active
      ? (socket, requested) => policy.checkAccepted(socket, requested)
      : undefined,
    onRejected: (socket, error) =>
      log.named("embed").warn("rejected connection", rejectedConnectionFields(socket, error)),
  };
}

/** What `/v2/members`, `/v2/machines` and `/v2/stats/` read from the member (`--enable-v2`). */
function v2ClusterSource(core: EtcdServerCore, v2Server: V2Server | undefined): V2ClusterSource {
  return {
    ...(v2Server === undefined ? {} : { storeStats: () => v2Server.storeStatsJson() }),
    members: () => core.cluster.sortedMembers(),
    clusterId: () => core.clusterId,
    isRemoved: (id) => core.cluster.removed.has(id),
    selfStats: () => core.v2Stats.selfJson(),
    leaderStats: () => {
      if (!core.isLeader) return undefined;
      // etcd keeps an entry for every peer the transport knows, and none for removed ones.
      const peers = core.cluster.sortedMembers().map((m) => m.id).filter((id) =>
        id !== core.memberId
      );
      core.v2Stats.keepFollowers(peers);
      return core.v2Stats.leaderJson();
    },
  };
}
