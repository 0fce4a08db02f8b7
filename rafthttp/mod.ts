/**
 * rafthttp: etcd 3.4's peer transport. Members exchange raftpb messages over HTTP/1.1: two
 * long-lived streams per pair (msgappv2 for appends, message for the rest), a pipeline of
 * POSTs for the rest, and a snapshot POST that carries the db file.
 *
 * @module
 */

export { Transport, type TransportOptions } from "./transport.ts";
export {
  DEFAULT_TIMINGS,
  ERROR_MEMBER_REMOVED,
  PeerHttpError,
  type RaftHooks,
  SnapshotStatus,
  type SnapshotStore,
  type TransportTimings,
} from "./transport_types.ts";
export {
  type OpenSslDialOptions,
  PeerClient,
  type PeerRequestInit,
  type PeerTlsOptions,
} from "./peer_client.ts";
export {
  type ClosableServer,
  getRequestBody,
  type OpenSslTlsServerOptions,
  serveOpenSslTls,
  servePlainHttp,
  serveVerifyingTls,
  type VerifyingTlsServer,
  type VerifyingTlsServerOptions,
} from "./peer_tls_server.ts";
export { snapshotBody, type SnapshotMessage } from "./snapshot_sender.ts";
export {
  handlePeerRequest,
  type PeerServer,
  type PeerServerHooks,
  startPeerServer,
} from "./peer_server.ts";
export { type LogFields, type Logger, MemoryLogger, silentLogger, stderrLogger } from "./logger.ts";
export {
  CLUSTER_VERSION,
  idFromHex,
  idToHex,
  MIN_CLUSTER_VERSION,
  SERVER_VERSION,
} from "./version.ts";
export { ByteQueue } from "./byte_queue.ts";
export { decodeMessageFrame, encodeMessageFrame, FrameError } from "./msg_codec.ts";
export { isLinkHeartbeat, MsgAppV2Decoder, MsgAppV2Encoder } from "./msgappv2_codec.ts";
export type { StreamType } from "./stream_type.ts";
