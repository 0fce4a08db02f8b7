/**
 * Everything we keep for one remote member (etcd peer.go): two stream writers (msgappv2 for
 * MsgApp, message for the rest), two stream readers dialing the peer, the pipeline, the
 * snapshot sender and the inboxes feeding raft.
 *
 * Which way a message leaves (peer.go pick): MsgSnap by the pipeline; MsgApp by the msgappv2
 * stream when it is connected; anything else by the message stream when connected; otherwise
 * the pipeline. When the chosen way is full the message is dropped and raft is told the peer is
 * unreachable, so a slow or dead peer never holds up the sender.
 *
 * @module
 */

import { SnapshotStatus } from "./transport_types.ts";
import { type Message, MessageType, messageTypeName } from "../raft/mod.ts";
import { Inbox } from "./inbox.ts";
import { PeerStatus } from "./peer_status.ts";
import { Pipeline } from "./pipeline.ts";
import { sendSnapshot, type SnapshotMessage } from "./snapshot_sender.ts";
import { StreamReader } from "./stream_reader.ts";
import type { StreamType } from "./stream_type.ts";
import { StreamWriter } from "./stream_writer.ts";
import {
  PROPOSAL_BUFFER_MESSAGES,
  RECEIVE_BUFFER_MESSAGES,
  type TransportContext,
} from "./transport_types.ts";
import { UrlPicker } from "./url_picker.ts";
import { idToHex } from "./version.ts";
import { PeerProber, ROUND_TRIPPER_NAMES } from "./prober.ts";

/** A remote member with streams, pipeline and snapshot sender. */
export class Peer {
  readonly status: PeerStatus;
  readonly #picker: UrlPicker;
  /** etcd's two health probers of this peer (round-trip times). */
  readonly #probers: PeerProber[];
  readonly #msgAppV2Writer: StreamWriter;
  readonly #messageWriter: StreamWriter;
  readonly #pipeline: Pipeline;
  readonly #readers: StreamReader[];
  readonly #receive: Inbox;
  readonly #proposals: Inbox;
  readonly #abort = new AbortController();
  #paused = false;
  #lastDropLogMs = 0;

  readonly #context: TransportContext;

  constructor(context: TransportContext, readonly id: bigint, urls: string[]) {
    this.#context = context;
    this.status = new PeerStatus(context.logger, context.id, id);
    this.#picker = new UrlPicker(urls);
    this.#probers = ROUND_TRIPPER_NAMES.map((name) =>
      new PeerProber(context, id, this.#picker, name)
    );
    this.#msgAppV2Writer = new StreamWriter(context, id, this.status);
    this.#messageWriter = new StreamWriter(context, id, this.status);
    this.#pipeline = new Pipeline(context, id, this.#picker, this.status);
    this.#receive = new Inbox(context, RECEIVE_BUFFER_MESSAGES);
    this.#proposals = new Inbox(context, PROPOSAL_BUFFER_MESSAGES);
    const deliver = (message: Message) => {
      if (message.type === MessageType.MsgProp) this.#proposals.push(message);
      else this.#receive.push(message);
    };
    this.#readers = (["msgappv2", "message"] as const).map((type) =>
      new StreamReader(context, id, type, this.#picker, this.status, deliver)
    );
  }

  /** Starts the pipeline and the stream readers. */
  start(): void {
    this.#pipeline.start();
    for (const reader of this.#readers) reader.start();
    for (const prober of this.#probers) prober.start();
  }

  /** Sends a message without waiting; drops it when its way is full. */
  send(message: Message): void {
    if (message.to !== this.id) {
      throw new Error(`message to ${idToHex(message.to)} given to peer ${idToHex(this.id)}`);
    }
    if (this.#paused) return;
    let sent: boolean;
    let way: string;
    if (message.type === MessageType.MsgSnap) {
      [sent, way] = [this.#pipeline.send(message), "pipeline"];
    } else if (message.type === MessageType.MsgApp && this.#msgAppV2Writer.working) {
      [sent, way] = [this.#msgAppV2Writer.send(message), "streamMsgAppV2"];
    } else if (this.#messageWriter.working) {
      [sent, way] = [this.#messageWriter.send(message), "streamMsg"];
    } else {
      [sent, way] = [this.#pipeline.send(message), "pipeline"];
    }
    if (sent) return;
    this.#context.raft.reportUnreachable(message.to);
    if (message.type === MessageType.MsgSnap) {
      this.#context.raft.reportSnapshot(message.to, SnapshotStatus.SnapshotFailure);
    }
    const now = performance.now();
    if (now - this.#lastDropLogMs > 1000) {
      this.#lastDropLogMs = now;
      this.#context.logger.warn(
        "dropped internal Raft message since sending buffer is full (overloaded network)",
        {
          "message-type": messageTypeName(message.type),
          "local-member-id": idToHex(this.#context.id),
          "remote-peer-id": idToHex(this.id),
          "remote-peer-active": this.status.isActive(),
          "way": way,
        },
      );
    }
  }

  /** Sends a MsgSnap with its db; resolves true when the peer took it. */
  sendSnapshot(snapshot: SnapshotMessage): Promise<boolean> {
    return sendSnapshot(this.#context, {
      peerId: this.id,
      picker: this.#picker,
      status: this.status,
      signal: this.#abort.signal,
    }, snapshot);
  }

  /** Attaches the peer's incoming GET as our writer of `type`; returns the response body. */
  attachOutgoing(type: StreamType): ReadableStream<Uint8Array> {
    return (type === "msgappv2" ? this.#msgAppV2Writer : this.#messageWriter).attach(type);
  }

  /** Messages queued on the streams and not yet written (for tests and metrics). */
  streamQueued(): number {
    return this.#msgAppV2Writer.queued + this.#messageWriter.queued;
  }

  /** True while the given stream kind is connected in the sending direction. */
  writerWorking(type: StreamType): boolean {
    return (type === "msgappv2" ? this.#msgAppV2Writer : this.#messageWriter).working;
  }

  /** Replaces the peer's URLs. */
  update(urls: string[]): void {
    this.#picker.update(urls);
  }

  /** Drops every message to and from this peer until {@link resume} (etcd's CutPeer). */
  pause(): void {
    this.#paused = true;
    for (const reader of this.#readers) reader.setPaused(true);
  }

  /** Undoes {@link pause}. */
  resume(): void {
    this.#paused = false;
    for (const reader of this.#readers) reader.setPaused(false);
  }

  /** Closes streams, aborts POSTs and waits for every loop to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const prober of this.#probers) prober.stop();
    this.#msgAppV2Writer.stop();
    this.#messageWriter.stop();
    this.#receive.stop();
    this.#proposals.stop();
    await Promise.all([this.#pipeline.stop(), ...this.#readers.map((reader) => reader.stop())]);
  }
}

/**
 * A member we only know from a request's headers (etcd remote.go): reachable by the pipeline
 * alone, which is enough for a member that joined after our last applied configuration.
 */
export class Remote {
  readonly #pipeline: Pipeline;
  #paused = false;

  constructor(context: TransportContext, readonly id: bigint, urls: string[]) {
    const status = new PeerStatus(context.logger, context.id, id);
    this.#pipeline = new Pipeline(context, id, new UrlPicker(urls), status);
    this.#pipeline.start();
  }

  /** Sends by the pipeline; drops when full. */
  send(message: Message): void {
    if (!this.#paused) this.#pipeline.send(message);
  }

  /** Drops messages until resumed. */
  setPaused(paused: boolean): void {
    this.#paused = paused;
  }

  /** Stops the pipeline. */
  stop(): Promise<void> {
    return this.#pipeline.stop();
  }
}
