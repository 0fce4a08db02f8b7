/**
 * A response body that may skip the HTTP server's body machinery and be written straight onto
 * the connection's socket, HTTP/1.1 chunk framing included (issue #14: `node:http`'s chunked
 * write, its nextTick cork and `writev` were the largest item of a cluster leader's profile).
 *
 * The owner of the body (the stream writer) builds an ordinary `ReadableStream` for servers that
 * can only take one (`Deno.serve`) and offers a direct writer beside it with
 * {@link offerDirectBody}. A server that owns its sockets (the `node:http` adapter of
 * `peer_tls_server.ts`) asks {@link directBodyOf}, sends the status line and headers itself, and
 * then hands the body a {@link ChunkedSink}; the `ReadableStream` is never read. The bytes on the
 * wire are the same either way: the headers with `Transfer-Encoding: chunked`, then one chunk
 * (`<hex size>\r\n<data>\r\n`) per write, and the last chunk (`0\r\n\r\n`) when the body ends.
 *
 * @module
 */

/** The socket side of a direct body, as the server gives it. */
export interface ChunkedSink {
  /**
   * Writes bytes that are already framed as whole chunks. False when the socket's buffer is
   * above its mark: write no more until the body's `onDrain` is called.
   */
  write(bytes: Uint8Array): boolean;
  /** Ends the body with the last chunk; the connection stays usable for another request. */
  end(): void;
  /** Drops the connection (the peer stopped reading). */
  destroy(): void;
}

/** What a direct body wants to hear of its socket. */
export interface ChunkedSinkEvents {
  /** The socket's buffer went below its mark after a write returned false. */
  onDrain(): void;
  /** The connection closed without the body ending it (the peer left, or an error). */
  onClose(): void;
}

/** Starts writing a body onto `sink`; returns where the socket's events go. */
export type DirectBody = (sink: ChunkedSink) => ChunkedSinkEvents;

const _offers = new WeakMap<ReadableStream<Uint8Array>, DirectBody>();

/** Offers `direct` as the way to write `body` for servers that can (see the module comment). */
export function offerDirectBody(body: ReadableStream<Uint8Array>, direct: DirectBody): void {
  if (_offers.has(body)) throw new Error("a direct writer is already offered for this body");
  _offers.set(body, direct);
}

/**
 * The direct writer offered for `body`, once: a second call gets `undefined`, and so does a body
 * that someone is already reading.
 */
export function directBodyOf(body: ReadableStream<Uint8Array>): DirectBody | undefined {
  const direct = _offers.get(body);
  _offers.delete(body);
  return body.locked ? undefined : direct;
}

const _CRLF_0 = 0x0d;
const _CRLF_1 = 0x0a;
const _HEX = "0123456789abcdef";

/**
 * One HTTP/1.1 chunk holding `pieces` in order, as one buffer: `<hex size>\r\n`, the data,
 * `\r\n` (RFC 9112 §7.1). `bytes` is the pieces' total length, which must not be zero (a
 * zero-size chunk ends the body).
 */
export function frameChunk(pieces: readonly Uint8Array[], bytes: number): Uint8Array {
  if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
    throw new RangeError(`chunk size ${bytes} is not a positive integer`);
  }
  let digits = 1;
  while (bytes >= 16 ** digits) digits++;
  const chunk = new Uint8Array(digits + 2 + bytes + 2);
  let rest = bytes;
  for (let at = digits - 1; at >= 0; at--) {
    chunk[at] = _HEX.charCodeAt(rest % 16);
    rest = Math.floor(rest / 16);
  }
  chunk[digits] = _CRLF_0;
  chunk[digits + 1] = _CRLF_1;
  let at = digits + 2;
  for (const piece of pieces) {
    chunk.set(piece, at);
    at += piece.length;
  }
  if (at !== digits + 2 + bytes) throw new Error(`chunk pieces hold ${at - digits - 2} bytes`);
  chunk[at] = _CRLF_0;
  chunk[at + 1] = _CRLF_1;
  return chunk;
}
