/**
 * The sending half of a stream (etcd stream.go streamWriter). The peer dials us with a GET and
 * we answer with a body that never ends: every message queued for that peer is written into it.
 *
 * The body is a pull-driven `ReadableStream`: the HTTP server asks for the next chunk only when
 * the socket took the previous one, and each pull takes every queued message at once, so a burst
 * becomes one write (etcd flushes when its channel runs empty). A peer that stops reading stops
 * the pulls; messages then pile up to the bound of {@link STREAM_BUFFER_MESSAGES} and further
 * sends are refused (the caller drops them and reports the peer unreachable), and after
 * `connWriteTimeoutMs` of a stalled stream with data waiting the connection is dropped. Link
 * heartbeats go out every `connReadTimeoutMs / 3` so that the reader can tell a live idle stream
 * from a dead one.
 *
 * @module
 */

import { concatBytes } from "../bytes/mod.ts";
import type { Message } from "../raft/mod.ts";
import { encodeMessageFrame } from "./msg_codec.ts";
import { linkHeartbeatMessage, MsgAppV2Encoder } from "./msgappv2_codec.ts";
import type { PeerStatus } from "./peer_status.ts";
import { type StreamType, streamTypeName } from "./stream_type.ts";
import { STREAM_BUFFER_MESSAGES, type TransportContext } from "./transport_types.ts";
import { idToHex } from "./version.ts";
import { peerSentBytesTotal, peerSentFailuresTotal } from "./metrics.ts";

/** Bytes taken from the queue into one chunk at most (bounds one write). */
const CHUNK_BYTES_MAX = 4 * 1024 * 1024;

/** One attached outgoing connection. */
interface _Connection {
  readonly type: StreamType;
  readonly encode: (message: Message) => Uint8Array[];
  controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Resolves the pull that is waiting for a message, if one is. */
  wake: (() => void) | undefined;
  /** When the HTTP server last took a chunk (ms, performance.now). */
  lastPullMs: number;
  /** When the last chunk (data or heartbeat) was handed over. */
  lastWriteMs: number;
  closed: boolean;
}

/** The writer of one stream kind to one peer. */
export class StreamWriter {
  #queue: Message[] = [];
  #queueHead = 0;
  #connection: _Connection | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  readonly #context: TransportContext;
  readonly #peerId: bigint;
  readonly #status: PeerStatus;

  constructor(
    context: TransportContext,
    peerId: bigint,
    status: PeerStatus,
  ) {
    this.#context = context;
    this.#peerId = peerId;
    this.#status = status;
  }

  /** True while a connection is attached (messages can go this way). */
  get working(): boolean {
    return this.#connection !== undefined && !this.#connection.closed;
  }

  /** Messages queued and not yet written. */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /**
   * Queues a message; false when the queue is full or no connection is attached, in which
   * case the caller drops it (the stream never blocks the sender).
   */
  send(message: Message): boolean {
    if (message.to !== this.#peerId) throw new Error("stream writer given another peer's message");
    if (!this.working || this.queued >= STREAM_BUFFER_MESSAGES) return false;
    this.#queue.push(message);
    const wake = this.#connection!.wake;
    if (wake !== undefined) {
      this.#connection!.wake = undefined;
      wake();
    }
    return true;
  }

  /**
   * Attaches a new connection of `type` (the peer's GET arrived) and returns the body to answer
   * it with. A connection already attached is closed first, as etcd does.
   */
  attach(type: StreamType): ReadableStream<Uint8Array> {
    if (this.#stopped) throw new Error("stream writer stopped");
    const replaced = this.closeConnection("replaced by a new connection");
    const encoder = type === "msgappv2" ? new MsgAppV2Encoder() : undefined;
    const connection: _Connection = {
      type,
      encode: encoder !== undefined ? (m) => encoder.encode(m) : (m) => [encodeMessageFrame(m)],
      controller: undefined,
      wake: undefined,
      lastPullMs: performance.now(),
      lastWriteMs: performance.now(),
      closed: false,
    };
    this.#connection = connection;
    this.#status.activate();
    const fields = {
      "stream-writer-type": streamTypeName(type),
      "local-member-id": idToHex(this.#context.id),
      "remote-peer-id": idToHex(this.#peerId),
    };
    if (replaced) {
      this.#context.logger.warn("closed TCP streaming connection with remote peer", fields);
    }
    this.#context.logger.info("established TCP streaming connection with remote peer", fields);
    this.#startTimer();
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        connection.controller = controller;
      },
      pull: (controller) => this.#pull(connection, controller),
      cancel: () => {
        // The peer went away (or the server is closing the connection).
        if (connection.closed) return;
        this.#context.logger.warn("lost TCP streaming connection with remote peer", fields);
        peerSentFailuresTotal.inc({ To: idToHex(this.#peerId) });
        this.#context.reportSend(this.#peerId, undefined);
        this.#status.deactivate(streamTypeName(type), "write", "connection closed by the peer");
        this.#detach(connection);
      },
    }, { highWaterMark: 1 });
  }

  /** Closes the attached connection, if any; true when there was one. */
  closeConnection(reason: string): boolean {
    const connection = this.#connection;
    if (connection === undefined || connection.closed) return false;
    try {
      connection.controller?.close();
    } catch {
      // Already errored or closed by the stream machinery.
    }
    this.#context.logger.debug("closing stream connection", { reason });
    this.#detach(connection);
    return true;
  }

  /** Closes the connection and stops the timer for good. */
  stop(): void {
    this.#stopped = true;
    this.closeConnection("writer stopped");
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #detach(connection: _Connection): void {
    connection.closed = true;
    const wake = connection.wake;
    connection.wake = undefined;
    wake?.();
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    // etcd throws the buffered messages away with the connection and tells raft.
    if (this.queued > 0) this.#context.raft.reportUnreachable(this.#peerId);
    this.#queue = [];
    this.#queueHead = 0;
  }

  #pull(
    connection: _Connection,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> | void {
    connection.lastPullMs = performance.now();
    if (connection.closed) return;
    if (this.queued > 0) {
      this.#writeQueued(connection, controller);
      return;
    }
    return new Promise<void>((resolve) => {
      connection.wake = () => {
        if (!connection.closed && this.queued > 0) this.#writeQueued(connection, controller);
        resolve();
      };
    });
  }

  #writeQueued(
    connection: _Connection,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): void {
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    while (this.#queueHead < this.#queue.length && bytes < CHUNK_BYTES_MAX) {
      const message = this.#queue[this.#queueHead++]!;
      const startMs = performance.now();
      for (const piece of connection.encode(message)) {
        pieces.push(piece);
        bytes += piece.length;
      }
      // etcd times each MsgApp its msgappv2 encoder writes (FollowerStats.Succ).
      if (connection.type === "msgappv2") {
        this.#context.reportSend(this.#peerId, performance.now() - startMs);
      }
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    controller.enqueue(pieces.length === 1 ? pieces[0]! : concatBytes(pieces));
    connection.lastWriteMs = performance.now();
    peerSentBytesTotal.inc({ To: idToHex(this.#peerId) }, bytes);
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    const tickMs = Math.max(10, Math.floor(this.#context.timings.connReadTimeoutMs / 3));
    const timer = setInterval(() => this.#tick(), tickMs);
    this.#timer = timer;
  }

  /** Sends a link heartbeat on an idle stream; drops a stream the peer stopped reading. */
  #tick(): void {
    const connection = this.#connection;
    if (connection === undefined || connection.closed) return;
    const now = performance.now();
    const waiting = connection.wake === undefined;
    if (waiting && now - connection.lastPullMs > this.#context.timings.connWriteTimeoutMs) {
      // The server has not taken a chunk for a write timeout: the peer is not reading.
      this.#context.logger.warn("lost TCP streaming connection with remote peer", {
        "stream-writer-type": streamTypeName(connection.type),
        "local-member-id": idToHex(this.#context.id),
        "remote-peer-id": idToHex(this.#peerId),
        error: "write timeout",
      });
      peerSentFailuresTotal.inc({ To: idToHex(this.#peerId) });
      this.#context.reportSend(this.#peerId, undefined);
      this.#status.deactivate(streamTypeName(connection.type), "write", "i/o timeout");
      try {
        connection.controller?.error(new Error("stream write timeout"));
      } catch {
        // Already closed.
      }
      this.#detach(connection);
      return;
    }
    if (connection.wake !== undefined) {
      // Idle and the socket is free: a heartbeat keeps the reader's timeout at bay.
      const wake = connection.wake;
      connection.wake = undefined;
      const controller = connection.controller!;
      const startMs = performance.now();
      for (const piece of connection.encode(linkHeartbeatMessage())) controller.enqueue(piece);
      if (connection.type === "msgappv2") {
        this.#context.reportSend(this.#peerId, performance.now() - startMs);
      }
      connection.lastWriteMs = now;
      wake();
    }
  }
}
