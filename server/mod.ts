/**
 * server/: one detcd member — bootstrap from the data directory, the raft Ready loop, the
 * applier, linearizable reads, quota and alarms, snapshots, auto-compaction — with its
 * configuration (flags, `ETCD_*` variables, config file), logger and TLS helpers. It opens no
 * client listener: `embed/` wires the server to `api/`.
 *
 * @module
 */

export { EtcdServer as EtcdServerCore } from "./etcd_server.ts";
export { checkInitialHashKV, CorruptionMonitor, DataInconsistencyError } from "./corruption.ts";
export { newAuthTokenProvider, type TokenIndexes } from "./auth_tokens.ts";
export type { TokenProvider } from "../auth/mod.ts";
export { bootstrap, type Bootstrapped, initialMembers, memberPaths } from "./bootstrap.ts";
export {
  attributesJson,
  type Member,
  memberJson,
  parseMemberJson,
  peerUrlsProblem,
  RaftCluster,
} from "./membership.ts";
export { alarmName, AlarmStore, BackendQuota, costLeaseGrant, costPut, costTxn } from "./quota.ts";
export { applyRequest, type ApplyResult } from "./apply.ts";
export { type V2Response, V2Server } from "./v2_server.ts";
// v2 auth loads on demand (server/lazy.ts): only its types are exported statically.
export type { V2Auth, V2AuthError, V2Role, V2User } from "./v2_auth.ts";
export { UnknownMethodError } from "./apply_v2.ts";
// The v2 store's wire helpers, for the v2 HTTP layer.
export {
  EcodeIndexNaN,
  EcodeInvalidField,
  EcodeInvalidForm,
  EcodePrevValueRequired,
  EcodeRaftInternal,
  EcodeRefreshTTLRequired,
  EcodeRefreshValue,
  EcodeTTLNaN,
  EcodeUnauthorized,
  eventJson,
  isCreated,
  requestError,
  V2Error,
  type V2Event,
  type Watcher as V2Watcher,
} from "../v2store/mod.ts";
export { allServerErrors, ServerError, ServerErrorCode, toServerError } from "./errors.ts";
export {
  type AlarmMember,
  type AuthApi,
  type ClusterApi,
  type LeaseApi,
  type MaintenanceApi,
  type MemberInfo,
  type RaftKV,
  type RequestContext,
  type ServerApi,
  type StorageReport,
  V3Server,
  type WatchApi,
} from "./v3_server.ts";
// What the request API hands out: the watch stream and its events, a db snapshot, and the
// helpers that turn 64-bit and bytes fields of wire messages into values and back.
export {
  encodeEvent,
  type Event,
  FilterType,
  type KeyValue,
  type WatchOptions,
  type WatchResponse,
  type WatchStream,
} from "../mvcc/mod.ts";
export type { BackendSnapshot } from "../backend/mod.ts";
export { big, bytes, int64, kvToPb, num, rangeEnd } from "./kv_ops.ts";
export { Wait, WaitIndex } from "./wait.ts";
export { ReadIndexer } from "./read_index.ts";
export { RaftNode, type RaftNodeHandler, type Transport } from "./raft_node.ts";
export { Compactor } from "./compactor.ts";
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
export {
  autoCompactionRetention,
  DEFAULT_BACKEND_BATCH_INTERVAL_MS,
  DEFAULT_BACKEND_BATCH_LIMIT,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_QUOTA_BACKEND_BYTES,
  defaultConfig,
  emptyTlsConfig,
  ETCD_CLUSTER_VERSION,
  ETCD_VERSION,
  parseGoDurationMs,
  type ServerConfig,
  type TlsConfig,
} from "./config.ts";
export {
  type CommandLine,
  ConfigError,
  flagToEnv,
  helpText,
  parseCommandLine,
  parseInitialCluster,
  type ParseOptions,
  parseUrls,
  REFUSED_FLAGS,
  usageText,
  verifyBootstrap,
} from "./config_flags.ts";
export {
  createLogger,
  LOG_LEVELS,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from "./log.ts";
export { computeClusterId, computeMemberId, goUrlString, idToHex } from "../ids/mod.ts";
// Discovery loads on demand (server/lazy.ts): only its types are exported statically.
export type { DiscoveryHooks } from "./discovery_bootstrap.ts";
export type { Resolver, SrvClients, SrvRecord } from "./discovery_srv.ts";
export { type Discovery, loadDiscovery, loadV2Auth, type V2AuthModule } from "./lazy.ts";
export { goDurationText, goTimeJson, messageSize, V2Stats } from "./v2_stats.ts";
export { type CertFiles, createSelfSignedCertPem, selfSignedCert } from "./tls.ts";
export { peerClientFor } from "./cluster_peer_client.ts";
export { addProposalsPending, serverProposalsPending } from "./metrics.ts";
export { normalizeSerial, revokedSerials } from "./crl.ts";
export {
  CERT_AUTH_FAILED,
  certificateMatchesHost,
  cipherSuiteNames,
  NO_SHARED_CIPHER,
  rejectedConnectionFields,
  rejectedHandshakeFields,
  requireHandshakeTls,
  TlsPolicy,
  tlsPolicy,
} from "./tls_policy.ts";
