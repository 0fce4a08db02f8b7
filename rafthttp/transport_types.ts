/**
 * The contracts between the transport and its owner (etcd rafthttp transport.go `Raft`), and
 * the settings every part of the transport shares.
 *
 * @module
 */

import type { Message } from "../raft/mod.ts";
import { SnapshotStatus } from "../raft/mod.ts";
import type { Logger } from "./logger.ts";
import type { PeerClient } from "./peer_client.ts";

/** How a snapshot send ended: raft's own `SnapshotStatus` (SnapshotFinish / SnapshotFailure). */
export { SnapshotStatus };

/** What the transport needs from the raft node that owns it. */
export interface RaftHooks {
  /**
   * Steps a message received from a peer. May throw a {@link PeerHttpError} to answer the
   * sender with a particular status (etcd answers 403 for a removed member). Messages of one
   * stream are processed in order; a returned promise is awaited before the next one.
   */
  process(message: Message): void | Promise<void>;
  /** True when the member was removed from the cluster (its streams are refused with 410). */
  isIdRemoved(id: bigint): boolean;
  /** A message to `id` could not be sent (raft then probes the follower). */
  reportUnreachable(id: bigint): void;
  /** A snapshot to `id` was delivered or failed. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void;
}

/** Where a received database snapshot goes (etcd's Snapshotter.SaveDBFrom). */
export interface SnapshotStore {
  /** Saves the db bytes of the snapshot at `index`; resolves to the number of bytes saved. */
  saveDbFrom(body: ReadableStream<Uint8Array>, index: number): Promise<number>;
}

/** An error with an HTTP status, written back to the peer as `{"message": ...}` JSON. */
export class PeerHttpError extends Error {
  override name = "PeerHttpError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The critical error a member gets when a peer says it was removed (util.go errMemberRemoved). */
export const ERROR_MEMBER_REMOVED = "the member has been permanently removed from the cluster";

/** Timing and size settings, all with etcd's defaults. */
export interface TransportTimings {
  /** A stream with no bytes for this long is dropped (ConnReadTimeout, 5 s). */
  connReadTimeoutMs: number;
  /** A stream whose peer reads nothing for this long while data waits is dropped (5 s). */
  connWriteTimeoutMs: number;
  /** First wait before redialing a stream (etcd: 100 ms between attempts). */
  dialRetryMs: number;
  /** The most the redial wait grows to after repeated failures. */
  dialRetryMaxMs: number;
  /** Whole-request limit of a pipeline POST (etcd relies on its 5 s connection timeouts). */
  pipelineTimeoutMs: number;
  /** Whole-request limit of a snapshot POST. */
  snapshotTimeoutMs: number;
}

/** etcd's timing defaults. */
export const DEFAULT_TIMINGS: TransportTimings = {
  connReadTimeoutMs: 5000,
  connWriteTimeoutMs: 5000,
  dialRetryMs: 100,
  dialRetryMaxMs: 1000,
  pipelineTimeoutMs: 5000,
  snapshotTimeoutMs: 120_000,
};

/** Queue bounds (stream.go streamBufSize, pipeline.go, peer.go). */
export const STREAM_BUFFER_MESSAGES = 4096;
/** Messages waiting for a pipeline connection. */
export const PIPELINE_BUFFER_MESSAGES = 64;
/** Concurrent pipeline POSTs per peer. */
export const PIPELINE_CONNECTIONS = 4;
/** Received messages waiting for raft, per peer. */
export const RECEIVE_BUFFER_MESSAGES = 4096;
/** Received proposals waiting for raft, per peer. */
export const PROPOSAL_BUFFER_MESSAGES = 4096;

/** What the parts of one transport share. */
export interface TransportContext {
  readonly id: bigint;
  clusterId: bigint;
  urls: readonly string[];
  readonly raft: RaftHooks;
  readonly logger: Logger;
  readonly timings: TransportTimings;
  /** The HTTP client of every request to a peer (plain or TLS). */
  readonly peerClient: PeerClient;
  /** Reports a critical error (member removed) to the owner. */
  reportCriticalError(error: Error): void;
  /** Learns a peer from request headers (transport.AddRemote). */
  addRemote(id: bigint, urls: string[]): void;
  /**
   * Reports a message written to a peer's msgappv2 stream or posted through its pipeline,
   * with how long the write took, or a failed one (`latencyMs` undefined): etcd's
   * FollowerStats Succ and Fail, for `/v2/stats/leader`.
   */
  reportSend(peerId: bigint, latencyMs: number | undefined): void;
}
