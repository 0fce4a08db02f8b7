/**
 * The server's configuration: every setting of etcd 3.4's `embed.Config` that detcd knows,
 * with etcd's defaults (embed/config.go `NewConfig`, etcdmain/config.go `newConfig`).
 *
 * Values here are RESOLVED: durations are milliseconds, `walDir`/`snapDir` are filled in from
 * the data dir, `quotaBackendBytes` 0 has become etcd's 2 GiB default, the backend batch
 * settings hold etcd's backend defaults. `parseConfig` (below) builds one from flags, `ETCD_*`
 * variables and etcd's YAML config file.
 *
 * @module
 */

/** TLS settings for one side (client or peer), as etcd's `transport.TLSInfo`. */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  clientCertAuth: boolean;
  /** `--auto-tls` / `--peer-auto-tls`: generate a self-signed certificate when none is given. */
  autoTls: boolean;
  skipClientSanVerify?: boolean;
  crlFile: string;
  allowedCn: string;
  allowedHostname: string;
}

/** Every setting of a detcd member. Field names follow etcd's flags in camelCase. */
export interface ServerConfig {
  name: string;
  dataDir: string;
  /** Resolved: `--wal-dir` or `${dataDir}/member/wal`. */
  walDir: string;
  /** Resolved: `--snap-dir` (a detcd extension) or `${dataDir}/member/snap`; db stays in member/snap/db. */
  snapDir: string;
  listenClientUrls: URL[];
  advertiseClientUrls: URL[];
  listenPeerUrls: URL[];
  initialAdvertisePeerUrls: URL[];
  /** The `--initial-cluster` map: member name -> its peer URLs. */
  initialCluster: Map<string, URL[]>;
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  snapshotCount: number;
  /** etcd's DefaultSnapshotCatchUpEntries: raft entries kept after a snapshot for slow followers. */
  snapshotCatchUpEntries: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  initialElectionTickAdvance: boolean;
  /** Resolved: the flag's 0 means etcd's default of 2 GiB; a negative value disables the quota. */
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  maxConcurrentStreams: number;
  /** Kept as written (`0`, `1h`, `30m`, `1000`); interpreted by {@link autoCompactionMode}. */
  autoCompactionRetention: string;
  autoCompactionMode: "periodic" | "revision";
  backendFreelistType: "map" | "array";
  /** Resolved: etcd's backend default of 100 ms when the flag is unset. */
  backendBatchIntervalMs: number;
  /** Resolved: etcd's backend default of 10 000 when the flag is 0. */
  backendBatchLimit: number;
  maxSnapshots: number;
  maxWals: number;
  forceNewCluster: boolean;
  strictReconfigCheck: boolean;
  preVote: boolean;
  enableV2: boolean;
  enablePprof: boolean;
  enableGrpcGateway: boolean;
  /** detcd only: `--enable-ui`, the web console under `/ui/` on the client URLs. */
  enableUi: boolean;
  /** detcd only: `--experimental-backend-cache-bytes`, the byte budget of the db page cache. */
  backendCacheBytes: number;
  /** `capnslog` (etcd 3.4's default) or `zap`. */
  logger: string;
  logOutputs: string[];
  logLevel: string;
  clientTls: TlsConfig;
  peerTls: TlsConfig;
  cipherSuites: string[];
  cors: string[];
  hostWhitelist: string[];
  listenMetricsUrls: URL[];
  /** `basic` or `extensive`. */
  metrics: string;
  /** `simple` or `jwt,...`. */
  authToken: string;
  authTokenTtlSeconds: number;
  bcryptCost: number;
  grpcKeepAliveMinTimeMs: number;
  grpcKeepAliveIntervalMs: number;
  grpcKeepAliveTimeoutMs: number;
  discovery: string;
  discoveryFallback: "proxy" | "exit";
  /** `--proxy`: run etcd 3.4's v2 HTTP reverse proxy instead of a member (docs/v2-proxy.md). */
  proxy: "off" | "on" | "readonly";
  /** `--proxy-failure-wait`: ms an endpoint that failed is left out. */
  proxyFailureWaitMs: number;
  /** `--proxy-refresh-interval`: ms between refreshes of the member list. */
  proxyRefreshIntervalMs: number;
  /** `--proxy-dial-timeout`, `--proxy-write-timeout`, `--proxy-read-timeout` (ms, 0: none). */
  proxyDialTimeoutMs: number;
  proxyWriteTimeoutMs: number;
  proxyReadTimeoutMs: number;
  discoveryProxy: string;
  discoverySrv: string;
  discoverySrvName: string;
  experimentalInitialCorruptCheck: boolean;
  experimentalCorruptCheckTimeMs: number;
  experimentalEnableV2v3: string;
  experimentalEnableLeaseCheckpoint: boolean;
  /** Persist checkpointed remaining TTLs in the lease bucket (requires the flag above). */
  experimentalEnableLeaseCheckpointPersist: boolean;
  experimentalCompactionBatchLimit: number;
  experimentalWatchProgressNotifyIntervalMs: number;
  experimentalWarningApplyDurationMs: number;
  unsafeNoFsync: boolean;
}

/** etcd's DefaultQuotaBytes (etcdserver/quota.go): 2 GiB. */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;
/** etcd's DefaultMaxRequestBytes (embed/config.go): 1.5 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** etcd's backend defaultBatchInterval (mvcc/backend/backend.go). */
export const DEFAULT_BACKEND_BATCH_INTERVAL_MS = 100;
/** etcd's backend defaultBatchLimit (mvcc/backend/backend.go). */
export const DEFAULT_BACKEND_BATCH_LIMIT = 10000;
/** The etcd version detcd speaks and reports (Status, /version, `--version`). */
export const ETCD_VERSION = "3.4.23";
/** The cluster version etcd 3.4 reports. */
export const ETCD_CLUSTER_VERSION = "3.4.0";

/** A TLS config with nothing set: plain TCP. */
export function emptyTlsConfig(): TlsConfig {
  return {
    certFile: "",
    keyFile: "",
    trustedCaFile: "",
    clientCertAuth: false,
    autoTls: false,
    skipClientSanVerify: false,
    crlFile: "",
    allowedCn: "",
    allowedHostname: "",
  };
}

/** etcd's defaults for a member named `default`, with its directories resolved. */
export function defaultConfig(): ServerConfig {
  const name = "default";
  const dataDir = `${name}.etcd`;
  return {
    name,
    dataDir,
    walDir: `${dataDir}/member/wal`,
    snapDir: `${dataDir}/member/snap`,
    listenClientUrls: [new URL("http://localhost:2379")],
    advertiseClientUrls: [new URL("http://localhost:2379")],
    listenPeerUrls: [new URL("http://localhost:2380")],
    initialAdvertisePeerUrls: [new URL("http://localhost:2380")],
    initialCluster: new Map([[name, [new URL("http://localhost:2380")]]]),
    initialClusterState: "new",
    initialClusterToken: "etcd-cluster",
    snapshotCount: 100000,
    snapshotCatchUpEntries: 5000,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    initialElectionTickAdvance: true,
    quotaBackendBytes: DEFAULT_QUOTA_BACKEND_BYTES,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
    maxTxnOps: 128,
    maxConcurrentStreams: 4294967295,
    autoCompactionRetention: "0",
    autoCompactionMode: "periodic",
    backendFreelistType: "map",
    backendBatchIntervalMs: DEFAULT_BACKEND_BATCH_INTERVAL_MS,
    backendBatchLimit: DEFAULT_BACKEND_BATCH_LIMIT,
    maxSnapshots: 5,
    maxWals: 5,
    forceNewCluster: false,
    strictReconfigCheck: true,
    preVote: false,
    enableV2: false,
    enablePprof: false,
    enableGrpcGateway: true,
    enableUi: true,
    backendCacheBytes: 16 * 1024 * 1024,
    logger: "capnslog",
    logOutputs: ["default"],
    logLevel: "info",
    clientTls: emptyTlsConfig(),
    peerTls: emptyTlsConfig(),
    cipherSuites: [],
    cors: ["*"],
    hostWhitelist: ["*"],
    listenMetricsUrls: [],
    metrics: "basic",
    authToken: "simple",
    authTokenTtlSeconds: 300,
    bcryptCost: 10,
    grpcKeepAliveMinTimeMs: 5000,
    grpcKeepAliveIntervalMs: 2 * 60 * 60 * 1000,
    grpcKeepAliveTimeoutMs: 20000,
    discovery: "",
    discoveryFallback: "proxy",
    proxy: "off",
    proxyFailureWaitMs: 5000,
    proxyRefreshIntervalMs: 30000,
    proxyDialTimeoutMs: 1000,
    proxyWriteTimeoutMs: 5000,
    proxyReadTimeoutMs: 0,
    discoveryProxy: "",
    discoverySrv: "",
    discoverySrvName: "",
    experimentalInitialCorruptCheck: false,
    experimentalCorruptCheckTimeMs: 0,
    experimentalEnableV2v3: "",
    experimentalEnableLeaseCheckpoint: false,
    experimentalEnableLeaseCheckpointPersist: false,
    experimentalCompactionBatchLimit: 1000,
    experimentalWatchProgressNotifyIntervalMs: 10 * 60 * 1000,
    experimentalWarningApplyDurationMs: 100,
    unsafeNoFsync: false,
  };
}

/**
 * The auto-compaction retention, interpreted as etcd does (embed/etcd.go): in `revision` mode a
 * number of revisions; in `periodic` mode a Go duration, or a bare number of HOURS.
 * Returns 0 when auto-compaction is off.
 */
export function autoCompactionRetention(
  cfg: Pick<ServerConfig, "autoCompactionRetention" | "autoCompactionMode">,
): { mode: "periodic"; periodMs: number } | { mode: "revision"; revisions: number } {
  const text = cfg.autoCompactionRetention.trim();
  if (cfg.autoCompactionMode === "revision") {
    const revisions = Number(text === "" ? "0" : text);
    if (!Number.isSafeInteger(revisions) || revisions < 0) {
      throw new Error(`invalid auto-compaction-retention ${JSON.stringify(text)}`);
    }
    return { mode: "revision", revisions };
  }
  if (/^\d+$/.test(text)) return { mode: "periodic", periodMs: Number(text) * 3600 * 1000 };
  return { mode: "periodic", periodMs: parseGoDurationMs(text) };
}

const _DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 3600 * 1000,
};

/** Parses a Go `time.Duration` string (`1h30m`, `500ms`, `0`, `-1.5s`) into milliseconds. */
export function parseGoDurationMs(text: string): number {
  const input = text.trim();
  if (input === "0" || input === "+0" || input === "-0") return 0;
  const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(input);
  if (match === null) throw new Error(`time: invalid duration "${text}"`);
  const sign = match[1] === "-" ? -1 : 1;
  let totalMs = 0;
  for (
    const part of input.slice(match[1]!.length).matchAll(
      /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g,
    )
  ) {
    totalMs += Number(part[1]) * _DURATION_UNITS_MS[part[2]!]!;
  }
  return sign * totalMs;
}
