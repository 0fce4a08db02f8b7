/**
 * The GET of a stream (etcd's `/raft/stream/...`) on its own plain TCP connection, with the
 * HTTP/1.1 response read by hand: the status line and headers, then the chunked body decoded
 * as the bytes arrive (RFC 9112 §6-7). A stream body never ends, and every byte of it is a
 * raft message the member waits for; `fetch` handed each chunk through its body stream (a
 * resource read, a `ReadableStream` and a promise per chunk: 0.28-0.41 ms of a leader's JS
 * thread per put, issue #14). Here one socket read is one op, and the payload of every chunk in
 * it comes back as one buffer.
 *
 * Only `http://` peers: TLS peers keep `node:https` (peer_client.ts), unix sockets `fetch`.
 *
 * @module
 */

/** The longest status line plus headers accepted. */
const _HEAD_BYTES_MAX = 64 * 1024;
/** The longest chunk-size line accepted (hex size plus extensions). */
const _SIZE_LINE_BYTES_MAX = 4096;
/** The largest chunk accepted (etcd's whole-message bound, msg_codec.go). */
const _CHUNK_BYTES_MAX = 512 * 1024 * 1024;
/** Bytes asked of the socket per read. */
const _READ_BYTES = 64 * 1024;
/** The most of an error answer's body read (a one-line text). */
const _ERROR_BODY_BYTES_MAX = 64 * 1024;

/** A stream response: status and headers at once, the body read on demand. */
export interface RawStreamResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The next body bytes (one or more chunks' data, copied out), or null at its end. */
  read(): Promise<Uint8Array | null>;
  /** The body as text, up to a bound (error answers). */
  text(): Promise<string>;
  /** Closes the connection; a pending read rejects. */
  close(): void;
}

/** Raised when the peer's bytes are not the HTTP/1.1 we expect. */
export class HttpParseError extends Error {
  override name = "HttpParseError";
}

/**
 * Sends `GET url` with `headers` on a new connection and resolves when the response headers
 * arrived. `signal` aborts the dial and, later, closes the connection.
 */
export async function requestRawStream(
  url: URL,
  options: { headers: Record<string, string>; signal?: AbortSignal },
): Promise<RawStreamResponse> {
  if (url.protocol !== "http:") throw new Error(`raw stream client: not an http URL: ${url}`);
  const signal = options.signal;
  signal?.throwIfAborted();
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? 80 : Number(url.port);
  const conn = await _connect(hostname, port, signal);
  const onAbort = () => _closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    conn.setNoDelay(true);
    await _writeAll(conn, _requestHead(url, options.headers));
    return await readRawStreamResponse(
      conn,
      () => signal?.removeEventListener("abort", onAbort),
    );
  } catch (error) {
    signal?.removeEventListener("abort", onAbort);
    _closeQuietly(conn);
    throw signal?.aborted ? signal.reason : error;
  }
}

/** What the response is read from: a connection, or a test's byte source. */
export interface ByteSource {
  read(into: Uint8Array): Promise<number | null>;
  close(): void;
}

/**
 * Reads a response head from `source` and returns the response, its body still to read.
 * `onDone` runs when the body ended or was given up.
 */
export async function readRawStreamResponse(
  source: ByteSource,
  onDone: () => void = () => {},
): Promise<RawStreamResponse> {
  const reader = new _ResponseReader(source, onDone);
  await reader.readHead();
  return reader;
}

/** Dials, giving up (and closing a late connection) when `signal` fires first. */
function _connect(hostname: string, port: number, signal?: AbortSignal): Promise<Deno.TcpConn> {
  const dial = Deno.connect({ hostname, port, transport: "tcp" });
  if (signal === undefined) return dial;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      dial.then(_closeQuietly, () => {});
    };
    signal.addEventListener("abort", onAbort, { once: true });
    dial.then((conn) => {
      signal.removeEventListener("abort", onAbort);
      if (signal.aborted) _closeQuietly(conn);
      else resolve(conn);
    }, (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
  });
}

function _closeQuietly(conn: ByteSource): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** The request head: `GET`, the path, Host, the caller's headers (no body). */
function _requestHead(url: URL, headers: Record<string, string>): Uint8Array {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new Error(`header ${JSON.stringify(name)} holds a line break`);
    }
    head += `${name}: ${value}\r\n`;
  }
  return new TextEncoder().encode(head + "\r\n");
}

async function _writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Where the body decoder is (RFC 9112 §7.1's chunked-body grammar). */
const enum _State {
  /** Reading a chunk-size line up to its CRLF. */
  size,
  /** Inside a chunk's data. */
  data,
  /** The CRLF after a chunk's data. */
  dataEnd,
  /** Trailer lines after the last chunk, up to an empty one. */
  trailer,
  /** A body with a length: `remaining` bytes left. */
  length,
  /** A body that runs to the connection's end. */
  untilClose,
  done,
}

class _ResponseReader implements RawStreamResponse {
  status = 0;
  headers = new Headers();

  readonly #conn: ByteSource;
  readonly #onDone: () => void;
  readonly #buffer = new Uint8Array(_READ_BYTES);
  /** Received bytes not parsed yet: `#buffer[#start, #end)`. */
  #start = 0;
  #end = 0;
  #state = _State.size;
  /** Bytes left of the current chunk (data state) or body (length state). */
  #remaining = 0;
  /** The trailer line read so far (lines split across reads). */
  #line = "";
  /** The chunk-size line being read: its value so far, digits, bytes, and where it is. */
  #size = 0;
  #sizeDigits = 0;
  #sizeLineBytes = 0;
  #inExtension = false;
  #sawCr = false;
  /** Bytes of the CRLF after a chunk's data seen so far (0-1). */
  #dataEndBytes = 0;
  #closed = false;

  constructor(conn: ByteSource, onDone: () => void) {
    this.#conn = conn;
    this.#onDone = onDone;
  }

  /** Reads the status line and headers; 1xx answers are skipped. */
  async readHead(): Promise<void> {
    while (true) {
      const headEnd = await this.#fillUntilHeadEnd();
      const head = new TextDecoder().decode(this.#buffer.subarray(this.#start, headEnd));
      this.#start = headEnd + 4;
      const lines = head.split("\r\n");
      const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
      if (match === null) throw new HttpParseError(`bad status line ${JSON.stringify(lines[0])}`);
      const status = Number(match[1]);
      if (status >= 100 && status < 200) continue;
      this.status = status;
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon <= 0) throw new HttpParseError(`bad header line ${JSON.stringify(line)}`);
        this.headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      this.#chooseFraming();
      return;
    }
  }

  /** How the body is delimited (RFC 9112 §6.3). */
  #chooseFraming(): void {
    const encoding = this.headers.get("transfer-encoding");
    const length = this.headers.get("content-length");
    if (this.status === 204 || this.status === 304) {
      this.#state = _State.done;
    } else if (encoding !== null) {
      if (encoding.toLowerCase().split(",").map((s) => s.trim()).at(-1) !== "chunked") {
        throw new HttpParseError(`unsupported transfer-encoding ${encoding}`);
      }
      this.#state = _State.size;
    } else if (length !== null) {
      if (!/^\d+$/.test(length)) throw new HttpParseError(`bad content-length ${length}`);
      this.#remaining = Number(length);
      this.#state = this.#remaining === 0 ? _State.done : _State.length;
    } else {
      this.#state = _State.untilClose;
    }
    if (this.#state === _State.done) this.#finish();
  }

  /** Reads until the buffer holds `\r\n\r\n`; returns its offset. */
  async #fillUntilHeadEnd(): Promise<number> {
    let from = this.#start;
    while (true) {
      for (let at = from; at + 3 < this.#end; at++) {
        if (
          this.#buffer[at] === 0x0d && this.#buffer[at + 1] === 0x0a &&
          this.#buffer[at + 2] === 0x0d && this.#buffer[at + 3] === 0x0a
        ) return at;
      }
      from = Math.max(this.#start, this.#end - 3);
      if (this.#end - this.#start >= _HEAD_BYTES_MAX || this.#end === this.#buffer.length) {
        if (this.#start === 0) throw new HttpParseError("response head too large");
        this.#buffer.copyWithin(0, this.#start, this.#end);
        from -= this.#start;
        this.#end -= this.#start;
        this.#start = 0;
      }
      const n = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (n === null) throw new HttpParseError("connection closed before the response head");
      this.#end += n;
    }
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#state !== _State.done) {
      if (this.#start === this.#end) {
        this.#start = 0;
        this.#end = 0;
        const n = await this.#conn.read(this.#buffer);
        if (n === null) {
          if (this.#state === _State.untilClose) {
            this.#finish();
            return null;
          }
          throw new HttpParseError("connection closed inside the response body");
        }
        this.#end = n;
      }
      const payload = this.#parse();
      if (payload !== undefined) return payload;
    }
    return null;
  }

  async text(): Promise<string> {
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    try {
      for (let piece = await this.read(); piece !== null; piece = await this.read()) {
        pieces.push(piece);
        bytes += piece.length;
        if (bytes >= _ERROR_BODY_BYTES_MAX) break;
      }
    } finally {
      this.close();
    }
    const all = new Uint8Array(bytes);
    let at = 0;
    for (const piece of pieces) {
      all.set(piece, at);
      at += piece.length;
    }
    return new TextDecoder().decode(all.subarray(0, _ERROR_BODY_BYTES_MAX));
  }

  close(): void {
    this.#finish();
    if (this.#closed) return;
    this.#closed = true;
    _closeQuietly(this.#conn);
  }

  /** The body ended (or was given up): no more reads, and the abort listener goes. */
  #finish(): void {
    this.#state = _State.done;
    this.#onDone();
  }

  /**
   * Consumes the buffered bytes; returns the data they held (copied into one buffer), or
   * undefined when they held framing only.
   */
  #parse(): Uint8Array | undefined {
    // First pass: walk the framing, recording where the data lies.
    const spans: number[] = [];
    let bytes = 0;
    const buffer = this.#buffer;
    let at = this.#start;
    const end = this.#end;
    while (at < end && this.#state !== _State.done) {
      switch (this.#state) {
        case _State.size:
          at = this.#parseSizeLine(buffer, at, end);
          break;
        case _State.trailer: {
          const lineEnd = buffer.indexOf(_LF, at);
          const stop = lineEnd === -1 || lineEnd >= end ? end : lineEnd + 1;
          if (this.#line.length + (stop - at) > _SIZE_LINE_BYTES_MAX) {
            throw new HttpParseError("trailer line too long");
          }
          for (; at < stop; at++) this.#line += String.fromCharCode(buffer[at]!);
          if (this.#line.endsWith("\r\n")) {
            if (this.#line === "\r\n") this.#finish();
            this.#line = "";
          }
          break;
        }
        case _State.data:
        case _State.length:
        case _State.untilClose: {
          const take = this.#state === _State.untilClose
            ? end - at
            : Math.min(this.#remaining, end - at);
          spans.push(at, take);
          bytes += take;
          at += take;
          if (this.#state === _State.untilClose) break;
          this.#remaining -= take;
          if (this.#remaining > 0) break;
          if (this.#state === _State.length) this.#finish();
          else this.#state = _State.dataEnd;
          break;
        }
        case _State.dataEnd: {
          // The CRLF may be split across reads.
          const expected = this.#dataEndBytes === 0 ? _CR : _LF;
          if (buffer[at] !== expected) throw new HttpParseError("chunk data not followed by CRLF");
          at++;
          if (++this.#dataEndBytes < 2) break;
          this.#dataEndBytes = 0;
          this.#state = _State.size;
          break;
        }
      }
    }
    this.#start = at;
    if (bytes === 0) return undefined;
    const payload = new Uint8Array(bytes);
    let to = 0;
    for (let i = 0; i < spans.length; i += 2) {
      payload.set(buffer.subarray(spans[i]!, spans[i]! + spans[i + 1]!), to);
      to += spans[i + 1]!;
    }
    return payload;
  }

  /**
   * Reads a chunk-size line (the size in hex, maybe extensions after `;`, ignored) from
   * `buffer[at, end)`, byte by byte so that a line cut across reads needs no string; returns
   * where it stopped. At the line's end the chunk starts.
   */
  #parseSizeLine(buffer: Uint8Array, at: number, end: number): number {
    while (at < end) {
      const byte = buffer[at++]!;
      if (++this.#sizeLineBytes > _SIZE_LINE_BYTES_MAX) {
        throw new HttpParseError("chunk-size line too long");
      }
      if (this.#sawCr) {
        if (byte !== _LF) throw new HttpParseError("chunk-size line: CR without LF");
        this.#startChunk();
        return at;
      }
      if (byte === _CR) {
        this.#sawCr = true;
      } else if (!this.#inExtension) {
        const digit = _hexValue(byte);
        if (digit >= 0) {
          // Eight hex digits bound a chunk to 4 GiB; the size check below is tighter.
          if (this.#sizeDigits === 8) throw new HttpParseError("chunk size too large");
          this.#size = this.#size * 16 + digit;
          this.#sizeDigits++;
        } else if (byte === 0x3b || byte === 0x20 || byte === 0x09) {
          this.#inExtension = true; // `;name=value`, or whitespace before it
        } else {
          throw new HttpParseError(`bad byte ${byte} in a chunk-size line`);
        }
      }
    }
    return at;
  }

  /** The chunk-size line ended: a data chunk, or the last chunk (then trailers). */
  #startChunk(): void {
    const size = this.#size;
    const digits = this.#sizeDigits;
    this.#size = 0;
    this.#sizeDigits = 0;
    this.#sizeLineBytes = 0;
    this.#inExtension = false;
    this.#sawCr = false;
    if (digits === 0) throw new HttpParseError("chunk-size line without a size");
    if (size > _CHUNK_BYTES_MAX) throw new HttpParseError(`chunk of ${size} bytes`);
    if (size === 0) {
      this.#state = _State.trailer;
      return;
    }
    this.#remaining = size;
    this.#state = _State.data;
  }
}

const _CR = 0x0d;
const _LF = 0x0a;

/** The value of an ASCII hex digit, or -1. */
function _hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}
