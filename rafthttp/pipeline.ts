/**
 * The pipeline (etcd pipeline.go): messages that have no stream — before streams connect, and
 * always for MsgSnap without a db body — go one per POST to `/raft`, with
 * {@link PIPELINE_CONNECTIONS} POSTs in flight and at most {@link PIPELINE_BUFFER_MESSAGES}
 * waiting. A failed POST reports the peer unreachable (and a MsgSnap as failed).
 *
 * @module
 */

import { SnapshotStatus } from "./transport_types.ts";
import { encodeMessage, type Message, MessageType } from "../raft/mod.ts";
import type { PeerStatus } from "./peer_status.ts";
import { postToPeer } from "./post.ts";
import { idToHex } from "./version.ts";
import { RAFT_PREFIX } from "./stream_type.ts";
import {
  PIPELINE_BUFFER_MESSAGES,
  PIPELINE_CONNECTIONS,
  type TransportContext,
} from "./transport_types.ts";
import type { UrlPicker } from "./url_picker.ts";
import { peerSentBytesTotal, peerSentFailuresTotal } from "./metrics.ts";

/** The POST pipeline to one peer. */
export class Pipeline {
  #queue: Message[] = [];
  #waiters: ((message: Message | undefined) => void)[] = [];
  readonly #abort = new AbortController();
  #workers: Promise<void>[] = [];
  #stopped = false;

  readonly #context: TransportContext;
  readonly #peerId: bigint;
  readonly #picker: UrlPicker;
  readonly #status: PeerStatus;

  constructor(
    context: TransportContext,
    peerId: bigint,
    picker: UrlPicker,
    status: PeerStatus,
  ) {
    this.#context = context;
    this.#peerId = peerId;
    this.#picker = picker;
    this.#status = status;
  }

  /** Starts the workers. */
  start(): void {
    for (let i = 0; i < PIPELINE_CONNECTIONS; i++) this.#workers.push(this.#work());
  }

  /** Queues a message; false when the buffer is full (the caller drops it). */
  send(message: Message): boolean {
    if (this.#stopped) return false;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter(message);
      return true;
    }
    if (this.#queue.length >= PIPELINE_BUFFER_MESSAGES) return false;
    this.#queue.push(message);
    return true;
  }

  /** Stops the workers, aborting POSTs in flight, and waits for them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    this.#queue = [];
    await Promise.all(this.#workers);
  }

  #next(): Promise<Message | undefined> {
    const message = this.#queue.shift();
    if (message !== undefined || this.#stopped) return Promise.resolve(message);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async #work(): Promise<void> {
    while (true) {
      const message = await this.#next();
      if (message === undefined) return;
      await this.#post(message);
    }
  }

  async #post(message: Message): Promise<void> {
    const base = this.#picker.pick();
    const body = encodeMessage(message) as Uint8Array<ArrayBuffer>;
    const to = { To: idToHex(this.#peerId) };
    const startMs = performance.now();
    try {
      await postToPeer(this.#context, {
        url: base + RAFT_PREFIX,
        peerId: this.#peerId,
        body,
        contentType: "application/protobuf",
        timeoutMs: this.#context.timings.pipelineTimeoutMs,
        signal: this.#abort.signal,
      });
    } catch (error) {
      if (this.#stopped) return;
      peerSentFailuresTotal.inc(to);
      this.#context.reportSend(this.#peerId, undefined);
      this.#picker.unreachable(base);
      const reason = error instanceof Error ? error.message : String(error);
      this.#status.deactivate("pipeline", "write", reason);
      this.#context.raft.reportUnreachable(message.to);
      if (message.type === MessageType.MsgSnap) {
        this.#context.raft.reportSnapshot(message.to, SnapshotStatus.SnapshotFailure);
      }
      return;
    }
    this.#status.activate();
    this.#context.reportSend(this.#peerId, performance.now() - startMs);
    peerSentBytesTotal.inc(to, body.length);
    if (message.type === MessageType.MsgSnap) {
      this.#context.raft.reportSnapshot(message.to, SnapshotStatus.SnapshotFinish);
    }
  }
}
