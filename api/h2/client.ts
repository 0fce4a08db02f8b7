/**
 * A lean gRPC client over one HTTP/2 connection (cleartext, `Deno.connect`), for unary calls
 * only. It exists for the load tool and tests: grpc-js as a client under Deno spends about
 * 0.3 ms of CPU per call, which caps a one-process load generator near 3-4k calls/s.
 *
 * Requests are framed as HEADERS + DATA(END_STREAM); frames of all calls started in one
 * microtask checkpoint leave in one socket write. Flow control: our receive windows are
 * refilled as DATA arrives; our sends respect the server's windows (waiting when full).
 *
 * @module
 */

import { errorFromMessage, EtcdError, Status, type StatusCode } from "../../rpc/mod.ts";
import type { MethodDescriptor } from "../../rpc/mod.ts";
import { encodeLiteral, type HeaderField, HpackDecoder } from "./hpack.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME_HEADER_BYTES = 9;
const FRAME_BYTES_MAX = 16_384;
const DEFAULT_WINDOW_BYTES = 65_535;
const RECEIVE_WINDOW_BYTES = 16 << 20;
/** Calls in flight on one connection at most; more wait. */
const STREAMS_MAX = 1000;

interface _Call {
  data: Uint8Array[];
  headers: HeaderField[];
  resolve: (message: Uint8Array) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One HTTP/2 connection carrying unary gRPC calls. */
export class H2GrpcClient {
  readonly #connection: Deno.Conn;
  readonly #authority: string;
  readonly #decoder = new HpackDecoder();
  readonly #calls = new Map<number, _Call>();
  readonly #headerBlocks = new Map<string, Uint8Array>();
  #nextStreamId = 1;
  #sendWindowBytes = DEFAULT_WINDOW_BYTES;
  #peerInitialWindowBytes = DEFAULT_WINDOW_BYTES;
  #blocked: (() => void)[] = [];
  /** Calls waiting for the connection send window to open. */
  #windowWaiters: (() => void)[] = [];
  #out: Uint8Array[] = [];
  #flushing = false;
  #closed: Error | undefined;
  #receivedBytes = 0;

  private constructor(connection: Deno.Conn, authority: string) {
    this.#connection = connection;
    this.#authority = authority;
  }

  /** Connects to `host:port` and starts reading. */
  static async connect(endpoint: string): Promise<H2GrpcClient> {
    const colon = endpoint.lastIndexOf(":");
    const hostname = endpoint.slice(0, colon);
    const port = Number(endpoint.slice(colon + 1));
    const connection = await Deno.connect({ hostname, port });
    connection.setNoDelay(true);
    const client = new H2GrpcClient(connection, endpoint);
    client.#start();
    return client;
  }

  /** Calls a unary method. */
  unary<Req, ReqProps, Resp, RespProps>(
    method: MethodDescriptor<Req, ReqProps, Resp, RespProps>,
    request: ReqProps,
    options: { timeoutMs?: number } = {},
  ): Promise<Resp> {
    const payload = method.request.encode(request);
    return this.#call(method.path, payload, options.timeoutMs).then((bytes) =>
      method.response.decode(bytes)
    );
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    this.#fail(new EtcdError(Status.CANCELLED, "client closed"));
    try {
      this.#connection.close();
    } catch { /* already closed */ }
  }

  async #call(path: string, payload: Uint8Array, timeoutMs?: number): Promise<Uint8Array> {
    while (this.#calls.size >= STREAMS_MAX) await new Promise<void>((r) => this.#blocked.push(r));
    if (this.#closed !== undefined) throw this.#closed;
    const streamId = this.#nextStreamId;
    this.#nextStreamId += 2;
    const message = new Uint8Array(5 + payload.length);
    new DataView(message.buffer).setUint32(1, payload.length);
    message.set(payload, 5);
    if (message.length > this.#peerInitialWindowBytes) {
      // Simplification: a request is sent whole, so it must fit a fresh stream window.
      throw new EtcdError(Status.RESOURCE_EXHAUSTED, "request larger than a stream window");
    }
    while (message.length > this.#sendWindowBytes && this.#closed === undefined) {
      await new Promise<void>((resolve) => this.#windowWaiters.push(resolve));
    }
    if (this.#closed !== undefined) throw this.#closed;
    return await new Promise<Uint8Array>((resolve, reject) => {
      const call: _Call = { data: [], headers: [], resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        call.timer = setTimeout(() => {
          this.#calls.delete(streamId);
          this.#write(3, 0, streamId, Uint8Array.from([0, 0, 0, 8])); // RST_STREAM CANCEL
          reject(new EtcdError(Status.DEADLINE_EXCEEDED, "context deadline exceeded"));
        }, timeoutMs);
      }
      this.#calls.set(streamId, call);
      this.#write(1, 0x4, streamId, this.#headerBlock(path, timeoutMs));
      this.#sendData(streamId, message);
    });
  }

  /** Request headers for a path, HPACK literals, cached per path and timeout. */
  #headerBlock(path: string, timeoutMs?: number): Uint8Array {
    const key = `${path} ${timeoutMs ?? ""}`;
    let block = this.#headerBlocks.get(key);
    if (block === undefined) {
      // :method POST (static 3), :scheme http (static 6), then literals.
      const out = [0x83, 0x86];
      encodeLiteral(out, ":path", path);
      encodeLiteral(out, ":authority", this.#authority);
      encodeLiteral(out, "content-type", "application/grpc");
      encodeLiteral(out, "te", "trailers");
      if (timeoutMs !== undefined) encodeLiteral(out, "grpc-timeout", `${timeoutMs}m`);
      block = Uint8Array.from(out);
      this.#headerBlocks.set(key, block);
    }
    return block;
  }

  #sendData(streamId: number, message: Uint8Array): void {
    let offset = 0;
    while (offset < message.length) {
      const size = Math.min(FRAME_BYTES_MAX, message.length - offset);
      const last = offset + size >= message.length;
      this.#write(0, last ? 0x1 : 0, streamId, message.subarray(offset, offset + size));
      offset += size;
    }
    // The request fit the connection window (checked by the caller); account for it.
    this.#sendWindowBytes -= message.length;
  }

  #write(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    header[0] = payload.length >>> 16;
    header[1] = (payload.length >>> 8) & 0xff;
    header[2] = payload.length & 0xff;
    header[3] = type;
    header[4] = flags;
    new DataView(header.buffer).setUint32(5, streamId);
    this.#out.push(header, payload);
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(() => void this.#flush());
    }
  }

  async #flush(): Promise<void> {
    while (this.#out.length > 0 && this.#closed === undefined) {
      const parts = this.#out;
      this.#out = [];
      const total = parts.reduce((sum, part) => sum + part.length, 0);
      const bytes = new Uint8Array(total);
      let offset = 0;
      for (const part of parts) {
        bytes.set(part, offset);
        offset += part.length;
      }
      try {
        for (let written = 0; written < bytes.length;) {
          written += await this.#connection.write(bytes.subarray(written));
        }
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.#flushing = false;
  }

  #start(): void {
    this.#out.push(PREFACE);
    const settings = new Uint8Array(6);
    new DataView(settings.buffer).setUint16(0, 0x4); // INITIAL_WINDOW_SIZE
    new DataView(settings.buffer).setUint32(2, RECEIVE_WINDOW_BYTES);
    this.#write(4, 0, 0, settings);
    this.#write(8, 0, 0, _u32(RECEIVE_WINDOW_BYTES - DEFAULT_WINDOW_BYTES));
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(256 * 1024);
    try {
      while (true) {
        const count = await this.#connection.read(chunk);
        if (count === null) break;
        const joined = new Uint8Array(buffer.length + count);
        joined.set(buffer);
        joined.set(chunk.subarray(0, count), buffer.length);
        let offset = 0;
        while (joined.length - offset >= FRAME_HEADER_BYTES) {
          const length = (joined[offset]! << 16) | (joined[offset + 1]! << 8) |
            joined[offset + 2]!;
          if (joined.length - offset < FRAME_HEADER_BYTES + length) break;
          const type = joined[offset + 3]!;
          const flags = joined[offset + 4]!;
          const streamId = new DataView(joined.buffer, offset + 5, 4).getUint32(0) & 0x7fffffff;
          const start = offset + FRAME_HEADER_BYTES;
          this.#frame(type, flags, streamId, joined.subarray(start, start + length));
          offset = start + length;
        }
        buffer = joined.slice(offset);
        if (this.#receivedBytes >= RECEIVE_WINDOW_BYTES / 2) {
          this.#write(8, 0, 0, _u32(this.#receivedBytes));
          this.#receivedBytes = 0;
        }
      }
      this.#fail(new EtcdError(Status.UNAVAILABLE, "connection closed"));
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #frame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    const call = this.#calls.get(streamId);
    switch (type) {
      case 0: { // DATA
        this.#receivedBytes += payload.length;
        if (payload.length > 0) this.#write(8, 0, streamId, _u32(payload.length));
        const data = (flags & 0x8) ? payload.subarray(1, payload.length - payload[0]!) : payload;
        call?.data.push(data.slice());
        if (flags & 0x1) this.#complete(streamId);
        return;
      }
      case 1: { // HEADERS (we never split ours; the server's fit one frame here)
        let block = (flags & 0x8) ? payload.subarray(1, payload.length - payload[0]!) : payload;
        if (flags & 0x20) block = block.subarray(5);
        const headers = this.#decoder.decode(block);
        call?.headers.push(...headers);
        if (flags & 0x1) this.#complete(streamId);
        return;
      }
      case 3: // RST_STREAM
        if (call !== undefined) {
          this.#finish(streamId, call);
          call.reject(new EtcdError(Status.UNAVAILABLE, "stream reset by the server"));
        }
        return;
      case 4: // SETTINGS
        if ((flags & 0x1) === 0) {
          const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
          for (let offset = 0; offset + 6 <= payload.length; offset += 6) {
            if (view.getUint16(offset) === 0x4) {
              this.#peerInitialWindowBytes = view.getUint32(offset + 2);
            }
          }
          this.#write(4, 0x1, 0, new Uint8Array());
        }
        return;
      case 6: // PING
        if ((flags & 0x1) === 0) this.#write(6, 0x1, 0, payload.slice());
        return;
      case 7: // GOAWAY
        this.#fail(new EtcdError(Status.UNAVAILABLE, "server sent GOAWAY"));
        return;
      case 8: // WINDOW_UPDATE
        if (streamId === 0) {
          this.#sendWindowBytes += new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
          for (const wake of this.#windowWaiters.splice(0)) wake();
        }
        return;
      default:
        return;
    }
  }

  #complete(streamId: number): void {
    const call = this.#calls.get(streamId);
    if (call === undefined) return;
    this.#finish(streamId, call);
    const headers = new Map(call.headers);
    const code = Number(headers.get("grpc-status") ?? Status.UNKNOWN) as StatusCode;
    if (code !== Status.OK) {
      const message = decodeURIComponent(headers.get("grpc-message") ?? "");
      call.reject(errorFromMessage(message) ?? new EtcdError(code, message));
      return;
    }
    const total = call.data.reduce((sum, part) => sum + part.length, 0);
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const part of call.data) {
      bytes.set(part, offset);
      offset += part.length;
    }
    if (bytes.length < 5) {
      call.reject(new EtcdError(Status.INTERNAL, "no response message"));
      return;
    }
    call.resolve(bytes.subarray(5, 5 + new DataView(bytes.buffer).getUint32(1)));
  }

  #finish(streamId: number, call: _Call): void {
    this.#calls.delete(streamId);
    if (call.timer !== undefined) clearTimeout(call.timer);
    this.#blocked.shift()?.();
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const [streamId, call] of [...this.#calls]) {
      this.#finish(streamId, call);
      call.reject(error);
    }
    for (const wake of this.#blocked.splice(0)) wake();
    for (const wake of this.#windowWaiters.splice(0)) wake();
  }
}

function _u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0);
  return bytes;
}
