/**
 * The peer transport (etcd rafthttp transport.go): carries raftpb messages between members over
 * HTTP/1.1, with the URL paths, headers, framings and status codes of etcd 3.4 so that a real
 * etcd member and a detcd member can talk to each other.
 *
 * Life cycle: `new Transport(options)`, `start()`, `addPeer` for every other member, mount
 * `handle` on the peer listener (see `peer_server.ts`), then `send(ready.messages)` after each
 * Ready; `stop()` at the end. Received messages go to `options.raft.process`.
 *
 * @module
 */

import { SnapshotStatus } from "./transport_types.ts";
import { type Message, messageTypeName } from "../raft/mod.ts";
import { handleRaftRequest, type HandlerHost, isRaftPath } from "./http_handler.ts";
import { type Logger, stderrLogger } from "./logger.ts";
import { Peer, Remote } from "./peer.ts";
import { PeerClient, type PeerTlsOptions } from "./peer_client.ts";
import type { SnapshotMessage } from "./snapshot_sender.ts";
import {
  DEFAULT_TIMINGS,
  type RaftHooks,
  type SnapshotStore,
  type TransportContext,
  type TransportTimings,
} from "./transport_types.ts";
import { idToHex } from "./version.ts";

/** How to build a transport. */
export interface TransportOptions {
  /** Our member ID. */
  id: bigint;
  /** The cluster ID every request carries and every received request must carry. */
  clusterId: bigint;
  /** Our advertised peer URLs (sent as X-PeerURLs). */
  urls: readonly string[];
  /** The raft node that receives messages and hears about failures. */
  raft: RaftHooks;
  /** Where received db snapshots are saved; without it `/raft/snapshot` answers 500. */
  snapshotStore?: SnapshotStore;
  /** Defaults to JSON lines on stderr. */
  logger?: Logger;
  /** Told about critical errors (we were removed from the cluster); the owner should stop. */
  onCriticalError?: (error: Error) => void;
  /** Overrides of etcd's timing defaults (tests shorten them). */
  timings?: Partial<TransportTimings>;
  /** TLS settings for `https://` peers (etcd's peer TLSInfo as a client). */
  tls?: PeerTlsOptions;
  /** Told of each message written to a follower, or failed (see TransportContext.reportSend). */
  onSendResult?: (peerId: bigint, latencyMs: number | undefined) => void;
}

/** The peer transport of one member. */
export class Transport implements HandlerHost {
  readonly context: TransportContext;
  readonly snapshotStore: SnapshotStore | undefined;
  readonly #peers = new Map<bigint, Peer>();
  readonly #remotes = new Map<bigint, Remote>();
  #started = false;
  #stopped = false;
  #criticalReported = false;

  constructor(options: TransportOptions) {
    if (options.id === 0n) throw new Error("member ID 0 is reserved");
    if (options.urls.length === 0) throw new Error("a member advertises at least one peer URL");
    const logger = options.logger ?? stderrLogger();
    const onCritical = options.onCriticalError;
    this.snapshotStore = options.snapshotStore;
    this.context = {
      id: options.id,
      clusterId: options.clusterId,
      urls: [...options.urls],
      raft: options.raft,
      logger,
      timings: { ...DEFAULT_TIMINGS, ...options.timings },
      peerClient: options.tls === undefined
        ? new PeerClient()
        : new PeerClient({ tls: options.tls }),
      reportCriticalError: (error) => {
        // Like etcd's errorc (buffered 1, extra reports dropped): tell the owner once.
        if (this.#criticalReported) return;
        this.#criticalReported = true;
        logger.error("critical transport error", { error: error.message });
        onCritical?.(error);
      },
      addRemote: (id, urls) => this.addRemote(id, urls),
      reportSend: options.onSendResult ?? (() => {}),
    };
  }

  /** Our member ID. */
  get id(): bigint {
    return this.context.id;
  }

  /** Allows sending and receiving. */
  start(): void {
    if (this.#stopped) throw new Error("transport stopped");
    this.#started = true;
  }

  /** Sets the cluster ID (a joining member learns it from the cluster before it starts). */
  setClusterId(clusterId: bigint): void {
    this.context.clusterId = clusterId;
  }

  /** Serves a request under `/raft`; see {@link isRaftPath}. */
  handle(request: Request): Promise<Response> {
    return handleRaftRequest(this, request);
  }

  /** True for the paths {@link handle} serves. */
  static isRaftPath(path: string): boolean {
    return isRaftPath(path);
  }

  /** The peer with `id`, if added. */
  peer(id: bigint): Peer | undefined {
    return this.#peers.get(id);
  }

  /** IDs of the added peers. */
  peerIds(): bigint[] {
    return [...this.#peers.keys()];
  }

  /** Adds a member: starts its pipeline and dials its streams. Adding twice does nothing. */
  addPeer(id: bigint, urls: string[]): void {
    this.#assertRunning();
    if (id === 0n) throw new Error("member ID 0 is reserved");
    if (id === this.context.id) throw new Error("cannot add the local member as a peer");
    if (this.#peers.has(id)) return;
    const peer = new Peer(this.context, id, urls);
    this.#peers.set(id, peer);
    peer.start();
    this.context.logger.info("added remote peer", {
      "local-member-id": idToHex(this.context.id),
      "remote-peer-id": idToHex(id),
      "remote-peer-urls": urls.join(","),
    });
  }

  /** Learns a member reachable only by pipeline until it is added as a peer. */
  addRemote(id: bigint, urls: string[]): void {
    if (!this.#started || this.#stopped || id === this.context.id) return;
    if (this.#peers.has(id) || this.#remotes.has(id)) return;
    this.#remotes.set(id, new Remote(this.context, id, urls));
    this.context.logger.info("added new remote peer", {
      "local-member-id": idToHex(this.context.id),
      "remote-peer-id": idToHex(id),
      "remote-peer-urls": urls.join(","),
    });
  }

  /** Removes a member, closing its streams. Resolves when its loops ended. */
  async removePeer(id: bigint): Promise<void> {
    const peer = this.#peers.get(id);
    if (peer === undefined) {
      throw new Error(`unexpected removal of unknown remote peer ${idToHex(id)}`);
    }
    this.#peers.delete(id);
    this.context.logger.info("removed remote peer", {
      "local-member-id": idToHex(this.context.id),
      "removed-remote-peer-id": idToHex(id),
    });
    await peer.stop();
  }

  /** Replaces a member's URLs. */
  updatePeer(id: bigint, urls: string[]): void {
    this.#peers.get(id)?.update(urls);
  }

  /** Sends messages without waiting; unknown targets and `to = 0` are skipped. */
  send(messages: readonly Message[]): void {
    if (!this.#started || this.#stopped) return;
    for (const message of messages) {
      if (message.to === 0n) continue;
      const peer = this.#peers.get(message.to);
      if (peer !== undefined) {
        peer.send(message);
        continue;
      }
      const remote = this.#remotes.get(message.to);
      if (remote !== undefined) {
        remote.send(message);
        continue;
      }
      this.context.logger.debug("ignored message send request; unknown remote peer target", {
        type: messageTypeName(message.type),
        "unknown-target-peer-id": idToHex(message.to),
      });
    }
  }

  /**
   * Sends a MsgSnap followed by the db. Resolves true when the peer saved and processed it;
   * raft hears the outcome through `reportSnapshot` either way.
   */
  sendSnapshot(snapshot: SnapshotMessage): Promise<boolean> {
    const peer = this.#peers.get(snapshot.message.to);
    if (peer === undefined || this.#stopped) {
      this.context.raft.reportSnapshot(snapshot.message.to, SnapshotStatus.SnapshotFailure);
      return Promise.resolve(false);
    }
    return peer.sendSnapshot(snapshot);
  }

  /** When the peer became reachable, or `undefined` while it is not (transport.ActiveSince). */
  activeSince(id: bigint): Date | undefined {
    return this.#peers.get(id)?.status.activeSince();
  }

  /** Drops every message to and from `id` until {@link mendPeer} (etcd's CutPeer, for tests). */
  cutPeer(id: bigint): void {
    this.#peers.get(id)?.pause();
    this.#remotes.get(id)?.setPaused(true);
  }

  /** Undoes {@link cutPeer}. */
  mendPeer(id: bigint): void {
    this.#peers.get(id)?.resume();
    this.#remotes.get(id)?.setPaused(false);
  }

  /** Stops every peer and remote, waits for their loops, and closes the HTTP clients. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const stopping = [
      ...[...this.#peers.values()].map((peer) => peer.stop()),
      ...[...this.#remotes.values()].map((remote) => remote.stop()),
    ];
    this.#peers.clear();
    this.#remotes.clear();
    await Promise.all(stopping);
    this.context.peerClient.close();
  }

  #assertRunning(): void {
    if (!this.#started) throw new Error("transport not started");
    if (this.#stopped) throw new Error("transport stopped");
  }
}
