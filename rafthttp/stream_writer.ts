/**
 * The sending half of a stream (etcd stream.go streamWriter). The peer dials us with a GET and
 * we answer with a body that never ends: every message queued for that peer is written into it.
 *
 * Messages queued in one turn of the event loop leave as one HTTP chunk: the first `send` of a
 * turn schedules a flush (a microtask, so it runs once the raft round that sent them yields),
 * and the flush takes every queued message at once (etcd flushes when its channel runs empty).
 * The chunk goes one of two ways:
 *
 * - straight onto the socket, framing and payload in one buffer, when the server took the
 *   direct body offered beside the response (`direct_body.ts`; the `node:http` listeners of
 *   `peer_tls_server.ts`, which carry a running member's peer traffic, plain and TLS);
 * - otherwise as the next chunk of the response's `ReadableStream` (`Deno.serve`), which the
 *   server asks for only when it wrote the previous one.
 *
 * A peer that stops reading stops the flushes (the socket stays above its mark, or the server
 * stops asking); messages then pile up to the bound of {@link STREAM_BUFFER_MESSAGES} and
 * further sends are refused (the caller drops them and reports the peer unreachable), and after
 * `connWriteTimeoutMs` of a stalled stream the connection is dropped. Link heartbeats go out
 * every `connReadTimeoutMs / 3` so that the reader can tell a live idle stream from a dead one.
 *
 * @module
 */

import { concatBytes } from "../bytes/mod.ts";
import type { Message } from "../raft/mod.ts";
import {
  type ChunkedSink,
  type ChunkedSinkEvents,
  frameChunk,
  offerDirectBody,
} from "./direct_body.ts";
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
  /** The log fields naming this stream. */
  readonly fields: Record<string, string>;
  /** The response body's controller (the `ReadableStream` way). */
  controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Resolves the server's pull that is waiting for a chunk, if one is (`ReadableStream` way). */
  wake: (() => void) | undefined;
  /** Chunks handed to the `ReadableStream`; a direct body can be taken only before the first. */
  streamChunks: number;
  /** The socket, once the server took the direct body. */
  sink: ChunkedSink | undefined;
  /** True while the socket's buffer is above its mark (a write returned false). */
  blocked: boolean;
  /** When the output last took bytes or asked for more (ms, performance.now). */
  lastProgressMs: number;
  /** A flush is due in a microtask. */
  flushScheduled: boolean;
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
  /** `etcd_network_peer_sent_bytes_total`'s labels for this peer, built once. */
  readonly #sentLabels: { To: string };

  constructor(
    context: TransportContext,
    peerId: bigint,
    status: PeerStatus,
  ) {
    this.#context = context;
    this.#peerId = peerId;
    this.#status = status;
    this.#sentLabels = { To: idToHex(peerId) };
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
    const connection = this.#connection;
    if (connection === undefined || connection.closed) return false;
    if (this.queued >= STREAM_BUFFER_MESSAGES) return false;
    this.#queue.push(message);
    if (!connection.flushScheduled && _free(connection)) {
      connection.flushScheduled = true;
      queueMicrotask(() => this.#flush(connection));
    }
    return true;
  }

  /**
   * Attaches a new connection of `type` (the peer's GET arrived) and returns the body to answer
   * it with, with a direct writer offered beside it. A connection already attached is closed
   * first, as etcd does.
   */
  attach(type: StreamType): ReadableStream<Uint8Array> {
    if (this.#stopped) throw new Error("stream writer stopped");
    const replaced = this.closeConnection("replaced by a new connection");
    const encoder = type === "msgappv2" ? new MsgAppV2Encoder() : undefined;
    const connection: _Connection = {
      type,
      encode: encoder !== undefined ? (m) => encoder.encode(m) : (m) => [encodeMessageFrame(m)],
      fields: {
        "stream-writer-type": streamTypeName(type),
        "local-member-id": idToHex(this.#context.id),
        "remote-peer-id": idToHex(this.#peerId),
      },
      controller: undefined,
      wake: undefined,
      streamChunks: 0,
      sink: undefined,
      blocked: false,
      lastProgressMs: performance.now(),
      flushScheduled: false,
      closed: false,
    };
    this.#connection = connection;
    this.#status.activate();
    if (replaced) {
      this.#context.logger.warn(
        "closed TCP streaming connection with remote peer",
        connection.fields,
      );
    }
    this.#context.logger.info(
      "established TCP streaming connection with remote peer",
      connection.fields,
    );
    this.#startTimer();
    // No chunk is made ahead of the server's read (highWaterMark 0): until a server reads this
    // body, it may still take the direct one instead and nothing has gone into the stream.
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        connection.controller = controller;
      },
      pull: () => this.#pull(connection),
      cancel: () => this.#lost(connection),
    }, { highWaterMark: 0 });
    offerDirectBody(body, (sink) => this.#takeDirect(connection, sink));
    return body;
  }

  /** Closes the attached connection, if any; true when there was one. */
  closeConnection(reason: string): boolean {
    const connection = this.#connection;
    if (connection === undefined || connection.closed) return false;
    if (connection.sink !== undefined) {
      connection.sink.end();
    } else {
      try {
        connection.controller?.close();
      } catch {
        // Already errored or closed by the stream machinery.
      }
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

  /** The server writes this connection's body onto its socket from now on. */
  #takeDirect(connection: _Connection, sink: ChunkedSink): ChunkedSinkEvents {
    if (connection.sink !== undefined || connection.streamChunks > 0) {
      throw new Error("stream body taken twice");
    }
    connection.sink = sink;
    connection.lastProgressMs = performance.now();
    if (connection.closed) {
      // Replaced or stopped while the server was writing the headers.
      sink.end();
    } else if (this.queued > 0 && !connection.flushScheduled) {
      connection.flushScheduled = true;
      queueMicrotask(() => this.#flush(connection));
    }
    return {
      onDrain: () => {
        connection.blocked = false;
        connection.lastProgressMs = performance.now();
        if (!connection.flushScheduled) this.#flush(connection);
      },
      onClose: () => this.#lost(connection),
    };
  }

  /** The peer went away (or the server is closing the connection). */
  #lost(connection: _Connection): void {
    if (connection.closed) return;
    this.#context.logger.warn("lost TCP streaming connection with remote peer", connection.fields);
    peerSentFailuresTotal.inc({ To: idToHex(this.#peerId) });
    this.#context.reportSend(this.#peerId, undefined);
    this.#status.deactivate(
      streamTypeName(connection.type),
      "write",
      "connection closed by the peer",
    );
    this.#detach(connection);
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

  /** The server asks for the next chunk of the `ReadableStream`. */
  #pull(connection: _Connection): Promise<void> | void {
    connection.lastProgressMs = performance.now();
    if (connection.closed) return;
    return new Promise<void>((resolve) => {
      connection.wake = resolve;
      if (this.queued > 0) this.#flush(connection);
    });
  }

  /** Writes every queued message (up to a chunk's bound) if the output is free. */
  #flush(connection: _Connection): void {
    connection.flushScheduled = false;
    if (connection.closed || this.queued === 0 || !_free(connection)) return;
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    // etcd times each MsgApp its msgappv2 encoder writes (FollowerStats.Succ). One clock read
    // ends a message's encoding and starts the next one's; the last is the output's progress.
    const timed = connection.type === "msgappv2";
    let nowMs = performance.now();
    while (this.#queueHead < this.#queue.length && bytes < CHUNK_BYTES_MAX) {
      const message = this.#queue[this.#queueHead++]!;
      for (const piece of connection.encode(message)) {
        pieces.push(piece);
        bytes += piece.length;
      }
      if (timed) {
        const encodedMs = performance.now();
        this.#context.reportSend(this.#peerId, encodedMs - nowMs);
        nowMs = encodedMs;
      }
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    this.#output(connection, pieces, bytes, nowMs);
    peerSentBytesTotal.inc(this.#sentLabels, bytes);
  }

  /** Hands one chunk's pieces (ready at `nowMs`) to the socket or to the waiting pull. */
  #output(connection: _Connection, pieces: Uint8Array[], bytes: number, nowMs: number): void {
    const sink = connection.sink;
    if (sink !== undefined) {
      connection.lastProgressMs = nowMs;
      if (!sink.write(frameChunk(pieces, bytes))) connection.blocked = true;
      return;
    }
    const wake = connection.wake!;
    connection.wake = undefined;
    connection.streamChunks++;
    connection.controller!.enqueue(pieces.length === 1 ? pieces[0]! : concatBytes(pieces));
    wake();
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
    const free = _free(connection);
    if (!free && now - connection.lastProgressMs > this.#context.timings.connWriteTimeoutMs) {
      this.#writeTimedOut(connection);
      return;
    }
    if (free && this.queued === 0) {
      // Idle and the output is free: a heartbeat keeps the reader's timeout at bay.
      const startMs = performance.now();
      const pieces = connection.encode(linkHeartbeatMessage());
      if (connection.type === "msgappv2") {
        this.#context.reportSend(this.#peerId, performance.now() - startMs);
      }
      let bytes = 0;
      for (const piece of pieces) bytes += piece.length;
      this.#output(connection, pieces, bytes, performance.now());
    }
  }

  /** The output has not taken bytes for a write timeout: the peer is not reading. */
  #writeTimedOut(connection: _Connection): void {
    this.#context.logger.warn("lost TCP streaming connection with remote peer", {
      ...connection.fields,
      error: "write timeout",
    });
    peerSentFailuresTotal.inc({ To: idToHex(this.#peerId) });
    this.#context.reportSend(this.#peerId, undefined);
    this.#status.deactivate(streamTypeName(connection.type), "write", "i/o timeout");
    if (connection.sink !== undefined) {
      connection.sink.destroy();
    } else {
      try {
        connection.controller?.error(new Error("stream write timeout"));
      } catch {
        // Already closed.
      }
    }
    this.#detach(connection);
  }
}

/** True when a chunk written now goes out without waiting behind an earlier one. */
function _free(connection: _Connection): boolean {
  return connection.sink !== undefined ? !connection.blocked : connection.wake !== undefined;
}
