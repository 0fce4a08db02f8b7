/**
 * A TLS connection as a node `Duplex` over a plain `node:net` socket and a {@link TlsSession}:
 * ciphertext from the socket is fed to OpenSSL, plaintext comes out as the stream's data, and
 * what is written is encrypted onto the socket. It carries the few socket methods `node:http`
 * calls (setTimeout, setNoDelay, setKeepAlive, ref, unref), so a `node:http` server takes it
 * through `server.emit("connection", socket)` and an `Agent` through `createConnection`.
 *
 * Flow control: when the reader is behind (`push` answers false) the TCP socket is paused;
 * a write's callback waits for the TCP socket's.
 *
 * @module
 */

import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { TlsHandshakeError, type TlsSession } from "./session.ts";

/** How long a closed connection waits for the peer to take our last bytes and close. */
const _LINGER_MS = 2000;

/**
 * A TLS stream over `raw`; emits `secure` once the handshake is done, or `handshakeFailed`
 * (with the {@link TlsHandshakeError}) right before it is destroyed by a failed handshake.
 */
export class TlsSocket extends Duplex {
  readonly encrypted = true;
  readonly session: TlsSession;
  readonly #raw: Socket;
  /** Plaintext written and not yet encrypted (before the handshake, or in this turn). */
  #queued: { chunk: Uint8Array; callback: (error?: Error | null) => void }[] = [];
  #secure = false;
  #freed = false;
  #encryptScheduled = false;
  /** The handshake's failure, if it failed. */
  handshakeError: TlsHandshakeError | undefined;

  /**
   * Starts the handshake at once (a client sends its ClientHello). `initial`: ciphertext
   * already read from `raw` (a listener that looked at the first bytes).
   */
  constructor(raw: Socket, session: TlsSession, initial?: Uint8Array) {
    super({ allowHalfOpen: false });
    this.#raw = raw;
    this.session = session;
    if (initial !== undefined && initial.length > 0) session.feed(initial);
    raw.on("data", (chunk: Uint8Array) => this.#onCiphertext(chunk));
    raw.on("end", () => {
      this.push(null);
    });
    raw.on("error", (error: Error) => this.destroy(error));
    raw.on("close", () => this.destroy());
    raw.on("timeout", () => this.emit("timeout"));
    queueMicrotask(() => this.#step());
  }

  /** True once the handshake completed. */
  get secure(): boolean {
    return this.#secure;
  }

  /** The protocol ALPN selected (`false` for none), as `tls.TLSSocket.alpnProtocol`. */
  get alpnProtocol(): string | false {
    if (!this.#secure || this.#freed) return false;
    return this.session.alpnProtocol();
  }

  /**
   * True when the peer sent a certificate and it was verified: a context that verifies
   * fails the handshake on a certificate it refuses, so one present after it is verified.
   */
  get authorized(): boolean {
    if (!this.#secure || this.#freed || !this.session.verifiesPeer) return false;
    return this.session.peerCertificates().length > 0;
  }

  get remoteAddress(): string | undefined {
    return this.#raw.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#raw.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.#raw.remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.#raw.localAddress;
  }

  get localPort(): number | undefined {
    return this.#raw.localPort;
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#raw.setTimeout(ms);
    if (callback !== undefined) this.once("timeout", callback);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.#raw.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#raw.setKeepAlive(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.#raw.ref();
    return this;
  }

  unref(): this {
    this.#raw.unref();
    return this;
  }

  #onCiphertext(chunk: Uint8Array): void {
    if (this.#freed) return;
    try {
      this.session.feed(chunk);
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    this.#step();
  }

  /** Advances the handshake or decrypts; flushes what OpenSSL wrote. */
  #step(): void {
    if (this.#freed) return;
    try {
      if (!this.#secure) {
        const state = this.session.handshake();
        this.#flush();
        if (state === "pending") return;
        this.#secure = true;
        this.emit("secure");
        this.#writeQueued();
      }
      const chunks = this.session.readPlain();
      this.#flush();
      let more = true;
      for (const chunk of chunks) more = this.push(chunk);
      if (this.session.peerClosed) this.push(null);
      else if (!more) this.#raw.pause();
    } catch (error) {
      // An alert for the peer (ours refusing it) is in the output: send it before closing.
      this.#flushQuietly();
      if (error instanceof TlsHandshakeError && !this.#secure) {
        this.handshakeError = error;
        // Told while the session still knows the peer (its certificate, SNI name).
        this.emit("handshakeFailed", error);
      }
      this.destroy(error as Error);
    }
  }

  #flush(callback?: (error?: Error | null) => void): void {
    const out = this.session.takeOutput();
    if (out === undefined) {
      if (callback !== undefined) queueMicrotask(() => callback());
      return;
    }
    if (callback !== undefined) this.#raw.write(out, (error) => callback(error ?? null));
    else this.#raw.write(out);
  }

  #flushQuietly(): void {
    if (this.#freed) return;
    try {
      this.#flush();
    } catch {
      // the socket is failing anyway
    }
  }

  #writeQueued(): void {
    if (this.#queued.length > 0) this.#scheduleEncrypt();
  }

  /**
   * Encrypts what was written in this turn of the event loop at once: `node:http` writes a
   * response as several small pieces (headers, chunk size, chunk, CRLF), and one TLS record
   * and one TCP write for all of them cost far less than one each.
   */
  #scheduleEncrypt(): void {
    if (this.#encryptScheduled) return;
    this.#encryptScheduled = true;
    queueMicrotask(() => {
      this.#encryptScheduled = false;
      if (this.#freed || !this.#secure) return;
      const batch = this.#queued;
      this.#queued = [];
      this.#encrypt(batch);
    });
  }

  #encrypt(batch: { chunk: Uint8Array; callback: (error?: Error | null) => void }[]): void {
    if (batch.length === 0) return;
    const done = (error?: Error | null) => {
      for (const { callback } of batch) callback(error ?? null);
    };
    try {
      this.session.writePlain(batch.length === 1 ? batch[0]!.chunk : _concat(batch));
      this.#flush(done);
    } catch (error) {
      done(error as Error);
    }
  }

  override _read(): void {
    if (this.#raw.isPaused()) this.#raw.resume();
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#freed) {
      callback(new Error("TLS socket closed"));
      return;
    }
    this.#queued.push({ chunk, callback });
    if (this.#secure) this.#scheduleEncrypt();
  }

  /** Writes buffered while an earlier one was on its way: one record for all of them. */
  override _writev(
    chunks: { chunk: Uint8Array; encoding: string }[],
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#freed) {
      callback(new Error("TLS socket closed"));
      return;
    }
    this.#queued.push({ chunk: _concat(chunks), callback });
    if (this.#secure) this.#scheduleEncrypt();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#freed) {
      callback();
      return;
    }
    if (!this.#secure) {
      this.#raw.end();
      callback();
      return;
    }
    const batch = this.#queued;
    this.#queued = [];
    this.#encrypt(batch);
    this.session.shutdown();
    this.#flushQuietly();
    this.#raw.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const { callback: queued } of this.#queued) queued(error ?? new Error("socket closed"));
    this.#queued = [];
    if (!this.#freed) {
      this.#freed = true;
      // Let the alert or close_notify already written reach the peer before the FIN.
      const raw = this.#raw;
      raw.end();
      setTimeout(() => raw.destroy(), _LINGER_MS).unref();
      this.session.free();
    }
    callback(error);
  }
}

/** The chunks of a batch as one buffer. */
function _concat(batch: readonly { chunk: Uint8Array }[]): Uint8Array {
  let total = 0;
  for (const { chunk } of batch) total += chunk.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const { chunk } of batch) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
