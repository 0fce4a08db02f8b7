/**
 * A server-side HTTP/2 connection (RFC 7540) over one socket, as much of it as gRPC needs:
 * SETTINGS, PING, GOAWAY, HEADERS + CONTINUATION (HPACK), DATA with flow control in both
 * directions, RST_STREAM. No server push, priorities ignored.
 *
 * Writes are gathered into one socket write per microtask checkpoint, so the responses of
 * many streams finished in one event-loop turn leave in one syscall.
 *
 * Frame header (§4.1), 9 bytes:
 *
 * | offset | size | field                         |
 * |--------|------|-------------------------------|
 * | 0      | 3    | payload length, big-endian    |
 * | 3      | 1    | type                          |
 * | 4      | 1    | flags                         |
 * | 5      | 4    | reserved bit + stream ID (31) |
 *
 * @module
 */

import type { Socket } from "node:net";
import { Buffer } from "node:buffer";
import { concatBytes, Slab } from "../../bytes/mod.ts";
import { type HeaderField, HpackDecoder, HpackError } from "./hpack.ts";

export const FRAME_HEADER_BYTES = 9;
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const _EMPTY = new Uint8Array(0);
/**
 * Copies of received DATA payloads. Small slabs: a decoded request's bytes fields are views
 * into its payload, and a call that waits long (a Lock, a Campaign) keeps its slab alive, so a
 * slab pins at most 8 KiB; payloads of 1 KiB and more get arrays of their own.
 */
const _dataCopies = new Slab(8 * 1024);

// Frame types (§6).
const TYPE_DATA = 0x0;
const TYPE_HEADERS = 0x1;
const TYPE_RST_STREAM = 0x3;
const TYPE_SETTINGS = 0x4;
const TYPE_PUSH_PROMISE = 0x5;
const TYPE_PING = 0x6;
const TYPE_GOAWAY = 0x7;
const TYPE_WINDOW_UPDATE = 0x8;
const TYPE_CONTINUATION = 0x9;

// Flags.
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

// Settings identifiers (§6.5.2).
const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

// Error codes (§7).
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;

const DEFAULT_WINDOW_BYTES = 65_535;
const WINDOW_BYTES_MAX = 2 ** 31 - 1;
/** Frames we accept are at most this large (the protocol default; we never raise it). */
const FRAME_BYTES_MAX = 16_384;
/** Our per-stream receive window, announced in SETTINGS. */
const STREAM_WINDOW_BYTES = 1 << 20;
/** Received stream bytes that make us send a WINDOW_UPDATE (grpc-go: a quarter window). */
const STREAM_WINDOW_UPDATE_BYTES = STREAM_WINDOW_BYTES / 4;
/** Our connection receive window, raised by a WINDOW_UPDATE after the preface. */
const CONNECTION_WINDOW_BYTES = 16 << 20;
/** Unsent bytes a connection may hold before its streams wait for the socket to drain. */
const SOCKET_BUFFER_BYTES_MAX = 16 << 20;
/** Initial size of a connection's output buffer. */
const OUT_BUFFER_BYTES = 64 * 1024;
/** Microtask turns without a new frame after which queued frames are written. */
const FLUSH_SETTLE_TURNS = 8;
/** Queued bytes that are written at once, without waiting for more. */
const FLUSH_BYTES_MIN = 256 * 1024;
/** Largest header block (HEADERS + CONTINUATION) accepted. */
const HEADER_BLOCK_BYTES_MAX = 64 * 1024;

/** Limits of one connection. */
export interface ConnectionLimits {
  /** Streams open at once; more are refused with REFUSED_STREAM. */
  maxConcurrentStreams: number;
  /** gRPC keepalive, as etcd configures grpc-go's server; none when absent. */
  keepAlive?: KeepAlivePolicy | undefined;
}

/**
 * etcd's gRPC keepalive settings (`--grpc-keepalive-*`), with grpc-go's server semantics:
 * after `intervalMs` without a frame from the client the server sends a PING, and closes the
 * connection when nothing arrives within `timeoutMs` more; a client that pings more often than
 * `minTimeMs` while streams are open (or more often than every 2 h without any) earns a strike,
 * and the third strike gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
 */
export interface KeepAlivePolicy {
  intervalMs: number;
  timeoutMs: number;
  minTimeMs: number;
}

/** grpc-go: pings without active streams are fine once per 2 hours (PermitWithoutStream off). */
const _PING_WITHOUT_STREAM_MS = 2 * 60 * 60 * 1000;
/** grpc-go's maxPingStrikes: the third bad ping ends the connection. */
const _PING_STRIKES_MAX = 2;
const ENHANCE_YOUR_CALM = 0xb;

/** What the connection tells the layer above about one stream. */
export interface StreamEvents {
  /** A DATA payload arrived. */
  onData(bytes: Uint8Array): void;
  /** The client half-closed (END_STREAM). */
  onEnd(): void;
  /** The stream was reset by the client or the connection went away. */
  onReset(): void;
}

/** Creates the handler of a new stream from its request headers. */
export type StreamAcceptor = (stream: H2Stream, headers: HeaderField[]) => StreamEvents;

/** One stream, as the layer above sees it. */
export class H2Stream {
  readonly id: number;
  readonly #connection: H2Connection;
  /** Bytes we may still send on this stream (the client's window for it). */
  sendWindowBytes: number;
  /** Frames waiting for flow-control window, in order; trailers may end the queue. */
  readonly pending: { data?: Uint8Array; trailers?: Uint8Array; resolve?: () => void }[] = [];
  /** Bytes received on this stream since its last WINDOW_UPDATE. */
  recvUnackedBytes = 0;
  receivedEnd = false;
  sentEnd = false;
  reset = false;
  events: StreamEvents | undefined;

  constructor(id: number, connection: H2Connection, sendWindowBytes: number) {
    this.id = id;
    this.#connection = connection;
    this.sendWindowBytes = sendWindowBytes;
  }

  /** Sends a HEADERS frame (an encoded block), ending the stream if `endStream`. */
  sendHeaders(block: Uint8Array, endStream: boolean): void {
    if (this.reset || this.sentEnd) return;
    if (endStream && this.pending.length > 0) {
      // Trailers wait for the data queued before them.
      this.pending.push({ trailers: block });
      return;
    }
    this.#connection.writeHeaders(this.id, block, endStream);
    if (endStream) this.#finishSending();
  }

  /**
   * Sends DATA. Returns undefined when all of it was queued out at once (or the stream is
   * gone), else a promise that resolves once it fits the flow-control windows and is queued.
   */
  sendData(bytes: Uint8Array): Promise<void> | undefined {
    if (this.reset || this.sentEnd) return undefined;
    if (this.pending.length === 0 && this.#connection.trySendData(this, bytes)) {
      return undefined;
    }
    // Send what the windows allow now: the peer only opens them after receiving data.
    const queued = new Promise<void>((resolve) => this.pending.push({ data: bytes, resolve }));
    this.drain();
    return queued;
  }

  /** Resets the stream from our side. */
  sendReset(code: number): void {
    if (this.reset) return;
    this.reset = true;
    this.#connection.writeFrame(TYPE_RST_STREAM, 0, this.id, _u32(code));
    this.#connection.forget(this);
  }

  /** Flushes queued frames as far as the windows allow (after a WINDOW_UPDATE). */
  drain(): void {
    while (this.pending.length > 0 && !this.reset) {
      const head = this.pending[0];
      if (head === undefined) break;
      if (head.trailers !== undefined) {
        this.pending.shift();
        this.#connection.writeHeaders(this.id, head.trailers, true);
        this.#finishSending();
        return;
      }
      const data = head.data ?? new Uint8Array();
      const sent = this.#connection.sendDataPartially(this, data);
      if (sent < data.length) {
        head.data = data.subarray(sent);
        return;
      }
      this.pending.shift();
      head.resolve?.();
    }
  }

  /** Wakes every sender still waiting (the stream is gone). */
  releaseWaiters(): void {
    if (this.pending.length === 0) return;
    for (const item of this.pending.splice(0)) item.resolve?.();
  }

  #finishSending(): void {
    this.sentEnd = true;
    // A client still sending gets RST_STREAM(NO_ERROR), as grpc-go does (§8.1).
    if (!this.receivedEnd) this.sendReset(NO_ERROR);
    else this.#connection.forget(this);
  }
}

/** Serves HTTP/2 on an accepted socket whose first bytes (`initial`) were already read. */
export class H2Connection {
  readonly #socket: Socket;
  readonly #accept: StreamAcceptor;
  readonly #limits: ConnectionLimits;
  readonly #decoder = new HpackDecoder();
  readonly #streams = new Map<number, H2Stream>();
  /** Received bytes not yet parsed into frames. */
  #input: Uint8Array;
  #prefaceSeen = false;
  #lastStreamId = 0;
  #goingAway = false;
  #closed = false;
  /** Peer settings. */
  #peerInitialWindowBytes = DEFAULT_WINDOW_BYTES;
  #peerMaxFrameBytes = FRAME_BYTES_MAX;
  #connectionSendWindowBytes = DEFAULT_WINDOW_BYTES;
  #connectionRecvConsumedBytes = 0;
  /** A header block being continued: stream, flags of its HEADERS, fragments. */
  #continuation: { streamId: number; endStream: boolean; fragments: Uint8Array[] } | undefined;
  #out = new Uint8Array(OUT_BUFFER_BYTES);
  #outBytes = 0;
  #flushScheduled = false;
  /** Where in `#out` the last frame queued starts if it is a flagless DATA frame, else -1. */
  #lastDataAt = -1;
  #lastDataStream = 0;
  /** Frames queued since the connection opened (tells a waiting flush that more came). */
  #writes = 0;
  /** What `#settleTurn` saw: the write count, and the microtask turns it stayed the same. */
  #settleSeen = 0;
  #settleIdleTurns = 0;
  /** `#settleTurn`, bound once: queued every microtask turn a flush waits. */
  readonly #settleTask = () => this.#settleTurn();
  /** Keepalive state: when a frame last arrived, the server's timer, the client's pings. */
  #lastReadMs = Date.now();
  #keepAliveTimer: ReturnType<typeof setTimeout> | undefined;
  #lastClientPingMs = 0;
  #pingStrikes = 0;
  #resetPingStrikes = false;

  constructor(socket: Socket, initial: Buffer, accept: StreamAcceptor, limits: ConnectionLimits) {
    this.#socket = socket;
    this.#accept = accept;
    this.#limits = limits;
    this.#input = new Uint8Array(initial.buffer, initial.byteOffset, initial.length);
    this.#writeSettings();
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("drain", () => {
      for (const stream of [...this.#streams.values()]) stream.drain();
    });
    socket.on("close", () => this.#teardown());
    socket.on("error", () => socket.destroy());
    if (limits.keepAlive !== undefined && limits.keepAlive.intervalMs > 0) {
      this.#armKeepAlive(limits.keepAlive.intervalMs);
    }
    this.#receive(Buffer.alloc(0));
  }

  // ---- keepalive (grpc-go's server keepalive and enforcement policy) ----

  /** Checks for silence after `delayMs`; pings, then closes if the silence lasts. */
  #armKeepAlive(delayMs: number): void {
    const policy = this.#limits.keepAlive!;
    this.#keepAliveTimer = setTimeout(() => {
      if (this.#closed) return;
      const silentMs = Date.now() - this.#lastReadMs;
      if (silentMs < policy.intervalMs) return this.#armKeepAlive(policy.intervalMs - silentMs);
      const pingedAtMs = Date.now();
      this.writeFrame(TYPE_PING, 0, 0, new Uint8Array(8));
      this.#keepAliveTimer = setTimeout(() => {
        if (this.#closed) return;
        if (this.#lastReadMs < pingedAtMs) {
          this.close(true);
          return;
        }
        this.#armKeepAlive(policy.intervalMs);
      }, Math.max(1, policy.timeoutMs));
    }, Math.max(1, delayMs));
  }

  /** A client PING under the enforcement policy; false when the connection was ended. */
  #pingAllowed(): boolean {
    const policy = this.#limits.keepAlive;
    if (policy === undefined) return true;
    const now = Date.now();
    if (this.#resetPingStrikes) {
      this.#resetPingStrikes = false;
      this.#pingStrikes = 0;
      this.#lastClientPingMs = now;
      return true;
    }
    const sinceMs = now - this.#lastClientPingMs;
    this.#lastClientPingMs = now;
    const minMs = this.#streams.size === 0 ? _PING_WITHOUT_STREAM_MS : policy.minTimeMs;
    if (sinceMs >= minMs) return true;
    this.#pingStrikes++;
    if (this.#pingStrikes <= _PING_STRIKES_MAX) return true;
    const debug = new TextEncoder().encode("too_many_pings");
    this.writeFrame(
      TYPE_GOAWAY,
      0,
      0,
      concatBytes([_u32(this.#lastStreamId), _u32(ENHANCE_YOUR_CALM), debug]),
    );
    this.#goingAway = true;
    this.close(true);
    return false;
  }

  /** Sends GOAWAY and closes once the open streams finish (or at once with `force`). */
  close(force: boolean): void {
    if (!this.#goingAway) {
      this.#goingAway = true;
      this.writeFrame(TYPE_GOAWAY, 0, 0, concatBytes([_u32(this.#lastStreamId), _u32(NO_ERROR)]));
    }
    if (force || this.#streams.size === 0) {
      this.#flush();
      this.#socket.end();
      if (force) this.#socket.destroy();
    }
  }

  // ---- receiving ----

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    if (chunk.length > 0) this.#lastReadMs = Date.now();
    // Plain Uint8Array views from here on: a Buffer's subarray() makes a Buffer, which costs
    // several times as much, twice per frame.
    this.#input = this.#input.length === 0
      ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)
      : concatBytes([this.#input, chunk]);
    try {
      if (!this.#prefaceSeen) {
        if (this.#input.length < PREFACE.length) return;
        if (!_startsWith(this.#input, PREFACE)) {
          throw new _ConnectionError(PROTOCOL_ERROR, "bad preface");
        }
        this.#prefaceSeen = true;
        this.#input = this.#input.subarray(PREFACE.length);
      }
      const input = this.#input;
      let offset = 0;
      while (input.length - offset >= FRAME_HEADER_BYTES) {
        const length = (input[offset]! << 16) | (input[offset + 1]! << 8) | input[offset + 2]!;
        if (length > FRAME_BYTES_MAX) throw new _ConnectionError(FRAME_SIZE_ERROR, "frame size");
        if (input.length - offset < FRAME_HEADER_BYTES + length) break;
        const type = input[offset + 3]!;
        const flags = input[offset + 4]!;
        const streamId = ((input[offset + 5]! & 0x7f) << 24 | input[offset + 6]! << 16 |
          input[offset + 7]! << 8 | input[offset + 8]!) >>> 0;
        const start = offset + FRAME_HEADER_BYTES;
        // DATA is copied: its payload may outlive this read buffer (messages are reassembled
        // and decoded later). Every other frame is consumed before this function returns.
        const payload = type === TYPE_DATA
          ? _dataCopies.copyRange(input, start, start + length)
          : input.subarray(start, start + length);
        offset = start + length;
        this.#frame(type, flags, streamId, payload);
      }
      this.#input = offset === input.length ? _EMPTY : input.subarray(offset);
      this.#replenishConnectionWindow();
    } catch (error) {
      const code = error instanceof _ConnectionError
        ? error.code
        : error instanceof HpackError
        ? COMPRESSION_ERROR
        : INTERNAL_ERROR;
      this.writeFrame(TYPE_GOAWAY, 0, 0, concatBytes([_u32(this.#lastStreamId), _u32(code)]));
      this.#flush();
      this.#socket.end();
      this.#teardown();
    }
  }

  #frame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (this.#continuation !== undefined && type !== TYPE_CONTINUATION) {
      throw new _ConnectionError(PROTOCOL_ERROR, "expected CONTINUATION");
    }
    switch (type) {
      case TYPE_DATA:
        return this.#onData(flags, streamId, payload);
      case TYPE_HEADERS:
        return this.#onHeaders(flags, streamId, payload);
      case TYPE_CONTINUATION:
        return this.#onContinuation(flags, streamId, payload);
      case TYPE_RST_STREAM:
        return this.#onReset(streamId);
      case TYPE_SETTINGS:
        return this.#onSettings(flags, streamId, payload);
      case TYPE_PING:
        if ((flags & FLAG_ACK) === 0 && this.#pingAllowed()) {
          this.writeFrame(TYPE_PING, FLAG_ACK, 0, payload);
        }
        return;
      case TYPE_GOAWAY:
        // A client's GOAWAY concerns streams the server would open (none here): grpc-go's
        // server reads it and does nothing, and the client closes the connection itself. No
        // GOAWAY goes back: Deno's node:http2 client (nghttp2) can abort on a GOAWAY that meets
        // its own closing streams (denoland/deno#36788), which etcd never sends it either.
        return;
      case TYPE_WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, payload);
      case TYPE_PUSH_PROMISE:
        throw new _ConnectionError(PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      default:
        return; // PRIORITY and unknown types are ignored (§5.5).
    }
  }

  #onData(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw new _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0");
    this.#connectionRecvConsumedBytes += payload.length;
    const stream = this.#streams.get(streamId);
    const data = _unpad(flags, payload);
    if (stream === undefined || stream.receivedEnd) {
      // A stream we already finished: the data is dropped, the window still refilled.
      if (streamId > this.#lastStreamId) throw new _ConnectionError(PROTOCOL_ERROR, "idle");
      return;
    }
    // Refill the stream window once a quarter of it is used, as grpc-go's inFlow does
    // (back-pressure is applied by the layer above), and never for a stream the client has
    // ended: a unary call's one DATA frame needs no WINDOW_UPDATE, which would cost a socket
    // write and a wake-up of the client per request.
    if ((flags & FLAG_END_STREAM) === 0) {
      stream.recvUnackedBytes += payload.length;
      if (stream.recvUnackedBytes >= STREAM_WINDOW_UPDATE_BYTES) {
        this.writeFrame(TYPE_WINDOW_UPDATE, 0, streamId, _u32(stream.recvUnackedBytes));
        stream.recvUnackedBytes = 0;
      }
    }
    if (data.length > 0) stream.events?.onData(data);
    if (flags & FLAG_END_STREAM) {
      stream.receivedEnd = true;
      stream.events?.onEnd();
      if (stream.sentEnd) this.forget(stream);
    }
  }

  #onHeaders(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw new _ConnectionError(PROTOCOL_ERROR, "HEADERS on stream 0");
    let fragment = _unpad(flags, payload);
    if (flags & FLAG_PRIORITY) fragment = fragment.subarray(5);
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (flags & FLAG_END_HEADERS) this.#headerBlock(streamId, endStream, fragment);
    else this.#continuation = { streamId, endStream, fragments: [fragment.slice()] };
  }

  #onContinuation(flags: number, streamId: number, payload: Uint8Array): void {
    const continuation = this.#continuation;
    if (continuation === undefined || continuation.streamId !== streamId) {
      throw new _ConnectionError(PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    continuation.fragments.push(payload.slice());
    const total = continuation.fragments.reduce((sum, part) => sum + part.length, 0);
    if (total > HEADER_BLOCK_BYTES_MAX) throw new _ConnectionError(PROTOCOL_ERROR, "headers");
    if ((flags & FLAG_END_HEADERS) === 0) return;
    this.#continuation = undefined;
    this.#headerBlock(streamId, continuation.endStream, concatBytes(continuation.fragments));
  }

  #headerBlock(streamId: number, endStream: boolean, block: Uint8Array): void {
    // Always decode: the HPACK table must follow every block, even of a refused stream.
    const headers = this.#decoder.decode(block);
    const existing = this.#streams.get(streamId);
    if (existing !== undefined) {
      // Trailers from the client: they only end its side.
      if (!endStream) throw new _ConnectionError(PROTOCOL_ERROR, "second HEADERS");
      existing.receivedEnd = true;
      existing.events?.onEnd();
      return;
    }
    if (streamId % 2 === 0 || streamId <= this.#lastStreamId) {
      if (streamId <= this.#lastStreamId) return; // a trailer of a stream already gone
      throw new _ConnectionError(PROTOCOL_ERROR, "bad stream ID");
    }
    this.#lastStreamId = streamId;
    const stream = new H2Stream(streamId, this, this.#peerInitialWindowBytes);
    if (this.#goingAway || this.#streams.size >= this.#limits.maxConcurrentStreams) {
      stream.sendReset(REFUSED_STREAM);
      return;
    }
    this.#streams.set(streamId, stream);
    stream.events = this.#accept(stream, headers);
    if (endStream) {
      stream.receivedEnd = true;
      stream.events.onEnd();
    }
  }

  #onReset(streamId: number): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    stream.reset = true;
    this.forget(stream);
    stream.events?.onReset();
  }

  #onSettings(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) throw new _ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & FLAG_ACK) return;
    if (payload.length % 6 !== 0) throw new _ConnectionError(FRAME_SIZE_ERROR, "SETTINGS size");
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let offset = 0; offset < payload.length; offset += 6) {
      const id = view.getUint16(offset);
      const value = view.getUint32(offset + 2);
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > WINDOW_BYTES_MAX) throw new _ConnectionError(FLOW_CONTROL_ERROR, "window");
        const delta = value - this.#peerInitialWindowBytes;
        this.#peerInitialWindowBytes = value;
        for (const stream of this.#streams.values()) stream.sendWindowBytes += delta;
      } else if (id === SETTINGS_MAX_FRAME_SIZE) {
        if (value < FRAME_BYTES_MAX || value > 16_777_215) {
          throw new _ConnectionError(PROTOCOL_ERROR, "max frame size");
        }
        this.#peerMaxFrameBytes = value;
      }
    }
    this.writeFrame(TYPE_SETTINGS, FLAG_ACK, 0, new Uint8Array());
    for (const stream of [...this.#streams.values()]) stream.drain();
  }

  #onWindowUpdate(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) throw new _ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE");
    const increment = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) &
      0x7fffffff;
    if (increment === 0) throw new _ConnectionError(PROTOCOL_ERROR, "zero window increment");
    if (streamId === 0) {
      this.#connectionSendWindowBytes += increment;
      if (this.#connectionSendWindowBytes > WINDOW_BYTES_MAX) {
        throw new _ConnectionError(FLOW_CONTROL_ERROR, "connection window overflow");
      }
      for (const stream of [...this.#streams.values()]) stream.drain();
      return;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    stream.sendWindowBytes += increment;
    stream.drain();
  }

  /** Refills the connection receive window once half of it has been used. */
  #replenishConnectionWindow(): void {
    if (this.#connectionRecvConsumedBytes < CONNECTION_WINDOW_BYTES / 2) return;
    this.writeFrame(TYPE_WINDOW_UPDATE, 0, 0, _u32(this.#connectionRecvConsumedBytes));
    this.#connectionRecvConsumedBytes = 0;
  }

  // ---- sending ----

  #writeSettings(): void {
    const settings = new Uint8Array(24);
    const view = new DataView(settings.buffer);
    const entries: [number, number][] = [
      [SETTINGS_MAX_CONCURRENT_STREAMS, this.#limits.maxConcurrentStreams],
      [SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES],
      [SETTINGS_MAX_HEADER_LIST_SIZE, HEADER_BLOCK_BYTES_MAX],
      [SETTINGS_HEADER_TABLE_SIZE, 4096],
    ];
    entries.forEach(([id, value], index) => {
      view.setUint16(index * 6, id);
      view.setUint32(index * 6 + 2, value);
    });
    this.writeFrame(TYPE_SETTINGS, 0, 0, settings);
    const increment = CONNECTION_WINDOW_BYTES - DEFAULT_WINDOW_BYTES;
    this.writeFrame(TYPE_WINDOW_UPDATE, 0, 0, _u32(increment));
  }

  /** Queues one frame for the next flush (copied into the connection's output buffer). */
  writeFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (this.#closed) return;
    // grpc-go forgives earlier pings once the server sends headers or data.
    if (type === TYPE_DATA || type === TYPE_HEADERS) this.#resetPingStrikes = true;
    const frameBytes = FRAME_HEADER_BYTES + payload.length;
    this.#reserve(frameBytes);
    const out = this.#out;
    const at = this.#outBytes;
    out[at] = (payload.length >>> 16) & 0xff;
    out[at + 1] = (payload.length >>> 8) & 0xff;
    out[at + 2] = payload.length & 0xff;
    out[at + 3] = type;
    out[at + 4] = flags;
    out[at + 5] = (streamId >>> 24) & 0x7f;
    out[at + 6] = (streamId >>> 16) & 0xff;
    out[at + 7] = (streamId >>> 8) & 0xff;
    out[at + 8] = streamId & 0xff;
    out.set(payload, at + FRAME_HEADER_BYTES);
    this.#outBytes = at + frameBytes;
    this.#writes++;
    // Only a flagless DATA frame may take more bytes (see #extendData).
    this.#lastDataAt = type === TYPE_DATA && flags === 0 ? at : -1;
    this.#lastDataStream = streamId;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#settleSeen = this.#writes;
      this.#settleIdleTurns = 0;
      queueMicrotask(this.#settleTask);
    }
  }

  /**
   * Writes the queued frames once the microtask queue has stopped adding to them: a flush
   * waits while frames keep coming within {@link FLUSH_SETTLE_TURNS} microtask turns, so a
   * stream that sends message after message through a promise chain (a watch stream's
   * responses: about four turns apart) leaves in one socket write, not one per message. The
   * wait stays inside the current event-loop turn, and a large buffer goes out at once.
   */
  #settleTurn(): void {
    if (this.#closed || !this.#flushScheduled) return;
    if (this.#outBytes < FLUSH_BYTES_MIN) {
      if (this.#writes !== this.#settleSeen) {
        this.#settleSeen = this.#writes;
        this.#settleIdleTurns = 0;
        queueMicrotask(this.#settleTask);
        return;
      }
      if (this.#settleIdleTurns < FLUSH_SETTLE_TURNS) {
        this.#settleIdleTurns++;
        queueMicrotask(this.#settleTask);
        return;
      }
    }
    this.#flush();
  }

  /** Grows the output buffer to hold `bytes` more. */
  #reserve(bytes: number): void {
    if (this.#outBytes + bytes <= this.#out.length) return;
    let size = this.#out.length * 2;
    while (size < this.#outBytes + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#out.subarray(0, this.#outBytes));
    this.#out = grown;
  }

  /** Queues a header block, split into HEADERS + CONTINUATION frames as needed. */
  writeHeaders(streamId: number, block: Uint8Array, endStream: boolean): void {
    const max = this.#peerMaxFrameBytes;
    if (block.length <= max) {
      // One HEADERS frame, as nearly always: no view of the block.
      const flags = FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0);
      return this.writeFrame(TYPE_HEADERS, flags, streamId, block);
    }
    let offset = 0;
    let first = true;
    do {
      const part = block.subarray(offset, offset + max);
      offset += part.length;
      const last = offset >= block.length;
      const flags = (last ? FLAG_END_HEADERS : 0) | (first && endStream ? FLAG_END_STREAM : 0);
      this.writeFrame(first ? TYPE_HEADERS : TYPE_CONTINUATION, flags, streamId, part);
      first = false;
    } while (offset < block.length);
  }

  /** Sends all of `bytes` if both windows allow it now; otherwise sends nothing. */
  trySendData(stream: H2Stream, bytes: Uint8Array): boolean {
    const window = Math.min(stream.sendWindowBytes, this.#connectionSendWindowBytes);
    if (window < bytes.length) return false;
    if (this.#socket.writableLength + this.#outBytes > SOCKET_BUFFER_BYTES_MAX) return false;
    this.sendDataPartially(stream, bytes);
    return true;
  }

  /** Sends as much of `bytes` as the windows allow; returns the number of bytes sent. */
  sendDataPartially(stream: H2Stream, bytes: Uint8Array): number {
    // A client that announces huge windows but does not read must not grow our memory
    // without bound: past this many unsent socket bytes, wait for 'drain'.
    if (this.#socket.writableLength + this.#outBytes > SOCKET_BUFFER_BYTES_MAX) return 0;
    let sent = 0;
    while (sent < bytes.length) {
      const window = Math.min(stream.sendWindowBytes, this.#connectionSendWindowBytes);
      const size = Math.min(window, this.#peerMaxFrameBytes, bytes.length - sent);
      if (size <= 0) break;
      // Nearly always all of it in one frame: then no view of it.
      const part = size === bytes.length ? bytes : bytes.subarray(sent, sent + size);
      if (!this.#extendData(stream.id, part)) this.writeFrame(TYPE_DATA, 0, stream.id, part);
      stream.sendWindowBytes -= size;
      this.#connectionSendWindowBytes -= size;
      sent += size;
    }
    return sent;
  }

  /**
   * Appends `part` to the DATA frame queued last when that frame is this stream's, has no
   * flags and has room under the peer's frame size: the messages a stream sends in one turn
   * (a watch stream's responses, one per watcher) leave in a few frames instead of one each,
   * so the peer parses fewer frames. Frame boundaries mean nothing to gRPC (a stream of
   * length-prefixed messages), and the flow-control count is per byte either way.
   */
  #extendData(streamId: number, part: Uint8Array): boolean {
    const at = this.#lastDataAt;
    if (at < 0 || this.#lastDataStream !== streamId || this.#closed) return false;
    const out = this.#out;
    const length = (out[at]! << 16) | (out[at + 1]! << 8) | out[at + 2]!;
    if (length + part.length > this.#peerMaxFrameBytes) return false;
    this.#reserve(part.length);
    const grown = this.#out; // #reserve may have replaced the buffer
    const newLength = length + part.length;
    grown[at] = (newLength >>> 16) & 0xff;
    grown[at + 1] = (newLength >>> 8) & 0xff;
    grown[at + 2] = newLength & 0xff;
    grown.set(part, this.#outBytes);
    this.#outBytes += part.length;
    this.#writes++;
    return true;
  }

  /** Drops a finished stream. */
  forget(stream: H2Stream): void {
    if (!this.#streams.delete(stream.id)) return;
    stream.releaseWaiters();
    if (this.#goingAway && this.#streams.size === 0) queueMicrotask(() => this.close(false));
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#outBytes === 0 || this.#closed) return;
    // One socket write per flush; the copy lets the output buffer be reused at once. A plain
    // slice: Buffer.from() would copy through the small-buffer pool and make a new pool
    // every 8 KiB.
    this.#socket.write(this.#out.slice(0, this.#outBytes));
    this.#outBytes = 0;
    this.#lastDataAt = -1;
    // A buffer grown by a large response does not stay large.
    if (this.#out.length > OUT_BUFFER_BYTES * 16) this.#out = new Uint8Array(OUT_BUFFER_BYTES);
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#keepAliveTimer);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) {
      stream.reset = true;
      stream.releaseWaiters();
      stream.events?.onReset();
    }
  }
}

class _ConnectionError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Removes padding (§6.1) when the PADDED flag is set. */
function _unpad(flags: number, payload: Uint8Array): Uint8Array {
  if ((flags & FLAG_PADDED) === 0) return payload;
  const padBytes = payload[0] ?? 0;
  if (padBytes >= payload.length) throw new _ConnectionError(PROTOCOL_ERROR, "padding");
  return payload.subarray(1, payload.length - padBytes);
}

function _startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function _u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0);
  return bytes;
}
