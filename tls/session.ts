/**
 * One OpenSSL TLS context (certificate, key, trusted CAs, cipher list, verify callback) and
 * its sessions over memory BIOs: the caller moves the ciphertext between the session and its
 * socket, so the TCP I/O stays on Deno's async sockets while OpenSSL only computes.
 *
 * The verify callback is synchronous: OpenSSL calls it inside `SSL_do_handshake`, which this
 * module calls from JavaScript, so the session being handshaken is known ({@link _current}).
 * It mirrors Go's `VerifyPeerCertificate` as etcd sets it: every verification failure, and a
 * leaf refused by {@link TlsContextOptions.verifyLeaf}, fails the handshake with the
 * `bad_certificate` alert (42), as Go's TLS stack sends for both.
 *
 * @module
 */

import {
  BIO_CTRL_PENDING,
  certificateDer,
  cString,
  type OpenSsl,
  openssl,
  readCString,
  SSL_AD_REASON_OFFSET,
  SSL_CTRL_SET_MAX_PROTO_VERSION,
  SSL_CTRL_SET_MIN_PROTO_VERSION,
  SSL_CTRL_SET_SESS_CACHE_MODE,
  SSL_CTRL_SET_TLSEXT_HOSTNAME,
  SSL_ERROR_NONE,
  SSL_ERROR_WANT_READ,
  SSL_ERROR_ZERO_RETURN,
  SSL_FILETYPE_PEM,
  SSL_OP_NO_RENEGOTIATION,
  SSL_OP_NO_TICKET,
  SSL_TLSEXT_ERR_NOACK,
  SSL_TLSEXT_ERR_OK,
  SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
  SSL_VERIFY_PEER,
  takeErrors,
  TLS1_2_VERSION,
  TLS1_3_VERSION,
  TLSEXT_NAMETYPE_HOST_NAME,
  X509_V_ERR_CERT_REJECTED,
} from "./openssl.ts";
import { goAlertText } from "./alerts.ts";

/** How to build a context. */
export interface TlsContextOptions {
  /** Accepting (server) or dialling (client) side. */
  role: "server" | "client";
  /** PEM file of our certificate (and chain). */
  certFile?: string;
  /** PEM file of its key. */
  keyFile?: string;
  /** PEM file of the CAs a peer certificate must chain to. */
  caFile?: string;
  /**
   * Verify the peer's certificate: a server requires one (Go's RequireAndVerifyClientCert);
   * a client checks the server's chain and the host name it dialled.
   */
  verifyPeer: boolean;
  /** Highest protocol version (default: TLS 1.3); a test forces TLS 1.2 with it. */
  maxVersion?: "TLSv1.2" | "TLSv1.3";
  /**
   * OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not restricted, as in Go); `""`
   * allows no TLS 1.2 suite (TLS 1.3 only).
   */
  cipherList?: string;
  /**
   * A further check of the verified leaf certificate (DER), e.g. etcd's allowed CN; an Error
   * refuses it with the bad_certificate alert. `serverName`: the host a client dialled.
   */
  verifyLeaf?: (der: Uint8Array, serverName: string | undefined) => Error | undefined;
  /** A client's own host check of the server's leaf (Go's VerifyHostname); same contract. */
  verifyHost?: (der: Uint8Array, serverName: string) => Error | undefined;
  /**
   * A server's ALPN choice among the protocols a client offers (in its order); `undefined`
   * selects none and the handshake goes on without ALPN. Without it ALPN is not answered.
   */
  alpnSelect?: (offered: readonly string[]) => string | undefined;
}

/** Why a handshake failed, in Go's words where Go has them. */
export class TlsHandshakeError extends Error {
  /** The alert the other side sent, when one was received. */
  readonly receivedAlert: number | undefined;
  /** True when our side refused the peer's certificate (the alert was sent by us). */
  readonly refusedLocally: boolean;

  constructor(message: string, options: { receivedAlert?: number; refusedLocally?: boolean }) {
    super(message);
    this.name = "TlsHandshakeError";
    this.receivedAlert = options.receivedAlert;
    this.refusedLocally = options.refusedLocally ?? false;
  }
}

/** Bytes read from OpenSSL per `SSL_read` (one TLS record holds at most 16 KiB). */
const _PLAIN_CHUNK_BYTES = 64 * 1024;
/** Plaintext chunks decrypted per {@link TlsSession.readPlain} call at most. */
const _PLAIN_CHUNKS_MAX = 64;

/** The session whose handshake OpenSSL is running (set around every call that can verify). */
let _current: TlsSession | undefined;

/** A TLS context; make sessions with {@link newSession}, free it with {@link close}. */
export class TlsContext {
  readonly #lib: OpenSsl;
  readonly #options: TlsContextOptions;
  readonly #callback: Deno.UnsafeCallback<{ parameters: ["i32", "pointer"]; result: "i32" }>;
  readonly #alpnCallback: Deno.UnsafeCallback<typeof _ALPN_SELECT> | undefined;
  #ctx: Deno.PointerObject | null;
  /** Sessions made and not yet freed. */
  #sessions = 0;

  /** Throws when OpenSSL cannot be loaded or refuses a file or the cipher list. */
  constructor(options: TlsContextOptions) {
    const lib = openssl();
    this.#lib = lib;
    this.#options = options;
    lib.ERR_clear_error();
    const method = options.role === "server" ? lib.TLS_server_method() : lib.TLS_client_method();
    const ctx = lib.SSL_CTX_new(method);
    if (ctx === null) throw new Error(`SSL_CTX_new: ${takeErrors(lib)}`);
    this.#ctx = ctx;
    this.#callback = new Deno.UnsafeCallback(
      { parameters: ["i32", "pointer"], result: "i32" } as const,
      (preverifyOk, store) => _verify(lib, preverifyOk, store),
    );
    const alpnSelect = options.alpnSelect;
    if (alpnSelect !== undefined) {
      this.#alpnCallback = new Deno.UnsafeCallback(
        _ALPN_SELECT,
        (_ssl, out, outLength, offered, offeredLength) =>
          _selectAlpn(alpnSelect, out, outLength, offered, offeredLength),
      );
      lib.SSL_CTX_set_alpn_select_cb(ctx, this.#alpnCallback.pointer, null);
    }
    try {
      this.#configure(ctx, options);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  #configure(ctx: Deno.PointerObject, options: TlsContextOptions): void {
    const lib = this.#lib;
    const check = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`${what}: ${takeErrors(lib) ?? "failed"}`);
    };
    // etcd's TLS configs set MinVersion TLS 1.2.
    check(
      lib.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, BigInt(TLS1_2_VERSION), null) === 1n,
      "set minimum TLS version",
    );
    if (options.maxVersion === "TLSv1.2") {
      check(
        lib.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, BigInt(TLS1_2_VERSION), null) ===
          1n,
        "set maximum TLS version",
      );
    }
    lib.SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    // No resumption: every connection is verified (and refused) in its own full handshake.
    lib.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE, 0n, null);
    if (options.certFile !== undefined) {
      check(
        lib.SSL_CTX_use_certificate_chain_file(ctx, cString(options.certFile)) === 1,
        `load certificate ${options.certFile}`,
      );
    }
    if (options.keyFile !== undefined) {
      check(
        lib.SSL_CTX_use_PrivateKey_file(ctx, cString(options.keyFile), SSL_FILETYPE_PEM) === 1,
        `load key ${options.keyFile}`,
      );
      check(lib.SSL_CTX_check_private_key(ctx) === 1, "certificate and key do not match");
    }
    if (options.caFile !== undefined) {
      check(
        lib.SSL_CTX_load_verify_locations(ctx, cString(options.caFile), null) === 1,
        `load trusted CA ${options.caFile}`,
      );
      if (options.role === "server") {
        // Go's CertificateRequest names the acceptable CAs (ClientCAs subjects): so does this.
        const names = lib.SSL_load_client_CA_file(cString(options.caFile));
        if (names !== null) lib.SSL_CTX_set_client_CA_list(ctx, names);
      }
    }
    if (options.caFile === undefined && options.verifyPeer) {
      // Go verifies against the system roots when no CA is given.
      check(lib.SSL_CTX_set_default_verify_paths(ctx) === 1, "load the system CAs");
    }
    if (options.cipherList === "") {
      // Only TLS 1.3 suites listed: Go then negotiates no TLS 1.2 suite at all.
      check(
        lib.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, BigInt(TLS1_3_VERSION), null) ===
          1n,
        "set minimum TLS version",
      );
    } else if (options.cipherList !== undefined) {
      check(
        lib.SSL_CTX_set_cipher_list(ctx, cString(options.cipherList)) === 1,
        `cipher list ${options.cipherList}`,
      );
    }
    if (options.verifyPeer) {
      const mode = options.role === "server"
        ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        : SSL_VERIFY_PEER;
      lib.SSL_CTX_set_verify(ctx, mode, this.#callback.pointer);
    }
  }

  /** The options it was built with. */
  get options(): TlsContextOptions {
    return this.#options;
  }

  /** A new session; a client's `serverName` is sent as SNI (unless an IP) and verified. */
  newSession(serverName?: string): TlsSession {
    if (this.#ctx === null) throw new Error("TLS context closed");
    const session = new TlsSession(this.#lib, this, this.#ctx, serverName);
    this.#sessions++;
    return session;
  }

  /** Called once by each session when it is freed. */
  released(): void {
    this.#sessions--;
    if (this.#ctx === null && this.#sessions === 0) this.#closeCallbacks();
  }

  #closeCallbacks(): void {
    this.#callback.close();
    this.#alpnCallback?.close();
  }

  /**
   * Frees the context. Open sessions keep OpenSSL's reference to it and stay usable; the
   * verify callback lives until the last of them is freed.
   */
  close(): void {
    if (this.#ctx === null) return;
    this.#lib.SSL_CTX_free(this.#ctx);
    this.#ctx = null;
    if (this.#sessions === 0) this.#closeCallbacks();
  }
}

/** The verify callback: Go's rules (see the module doc) on top of OpenSSL's chain check. */
function _verify(lib: OpenSsl, preverifyOk: number, store: Deno.PointerValue): number {
  const session = _current;
  if (session === undefined || store === null) return 0;
  if (preverifyOk !== 1) {
    // Go answers every chain failure with bad_certificate; OpenSSL's own alert would vary
    // (unknown_ca, certificate_expired...).
    session.noteRefusal(new Error("x509: certificate verification failed"));
    lib.X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  if (lib.X509_STORE_CTX_get_error_depth(store) !== 0) return 1;
  const cert = lib.X509_STORE_CTX_get_current_cert(store);
  if (cert === null) return 0;
  const refused = session.checkLeaf(certificateDer(lib, cert));
  if (refused === undefined) return 1;
  session.noteRefusal(refused);
  lib.X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

/** `SSL_CTX_alpn_select_cb_func`: (ssl, out, outlen, in, inlen, arg) -> SSL_TLSEXT_ERR_*. */
const _ALPN_SELECT = {
  parameters: ["pointer", "pointer", "pointer", "pointer", "u32", "pointer"],
  result: "i32",
} as const;

/**
 * The ALPN select callback: parses the client's list (length-prefixed names), asks `choose`,
 * and points `*out` at the chosen name inside the client's list (OpenSSL copies it).
 */
function _selectAlpn(
  choose: (offered: readonly string[]) => string | undefined,
  out: Deno.PointerValue,
  outLength: Deno.PointerValue,
  offered: Deno.PointerValue,
  offeredLength: number,
): number {
  if (out === null || outLength === null || offered === null) return SSL_TLSEXT_ERR_NOACK;
  const list = new Uint8Array(
    new Deno.UnsafePointerView(offered).getArrayBuffer(offeredLength),
  );
  const names: string[] = [];
  const offsets: number[] = [];
  for (let at = 0; at < list.length;) {
    const length = list[at]!;
    if (length === 0 || at + 1 + length > list.length) return SSL_TLSEXT_ERR_NOACK;
    names.push(new TextDecoder().decode(list.subarray(at + 1, at + 1 + length)));
    offsets.push(at + 1);
    at += 1 + length;
  }
  let chosen: string | undefined;
  try {
    chosen = choose(names);
  } catch {
    chosen = undefined;
  }
  const index = chosen === undefined ? -1 : names.indexOf(chosen);
  if (index < 0) return SSL_TLSEXT_ERR_NOACK;
  const name = Deno.UnsafePointer.offset(offered, offsets[index]!);
  new BigUint64Array(new Deno.UnsafePointerView(out).getArrayBuffer(8))[0] = BigInt(
    Deno.UnsafePointer.value(name),
  );
  new Uint8Array(new Deno.UnsafePointerView(outLength).getArrayBuffer(1))[0] = list[
    offsets[index]! - 1
  ]!;
  return SSL_TLSEXT_ERR_OK;
}

/**
 * OpenSSL's reasons (ssl/sslerr.h) for the server's own refusals that etcd's Go TLS logs in
 * its words (crypto/tls handshake_server.go, handshake_server_tls13.go of go1.19).
 */
const _GO_HANDSHAKE_ERRORS = new Map<number, string>([
  [193, "tls: no cipher suite supported by both client and server"], // SSL_R_NO_SHARED_CIPHER
  // SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE
  [199, "tls: client didn't provide a certificate"],
]);

/** The state of a handshake step. */
export type HandshakeState = "done" | "pending";

/** One TLS connection's state machine over two memory BIOs. */
export class TlsSession {
  readonly #lib: OpenSsl;
  readonly #context: TlsContext;
  readonly #serverName: string | undefined;
  #ssl: Deno.PointerObject | null;
  readonly #input: Deno.PointerObject;
  readonly #output: Deno.PointerObject;
  #established = false;
  #refusal: Error | undefined;
  #peerClosed = false;
  static readonly #plain = new Uint8Array(_PLAIN_CHUNK_BYTES);

  /** Use {@link TlsContext.newSession}. */
  constructor(
    lib: OpenSsl,
    context: TlsContext,
    ctx: Deno.PointerObject,
    serverName: string | undefined,
  ) {
    this.#lib = lib;
    this.#context = context;
    this.#serverName = serverName;
    const ssl = lib.SSL_new(ctx);
    const input = lib.BIO_new(lib.BIO_s_mem());
    const output = lib.BIO_new(lib.BIO_s_mem());
    if (ssl === null || input === null || output === null) {
      throw new Error(`SSL_new: ${takeErrors(lib) ?? "out of memory"}`);
    }
    this.#ssl = ssl;
    this.#input = input;
    this.#output = output;
    lib.SSL_set_bio(ssl, input, output); // the SSL owns both BIOs from here on
    if (context.options.role === "server") {
      lib.SSL_set_accept_state(ssl);
    } else {
      lib.SSL_set_connect_state(ssl);
      if (serverName !== undefined && !_isIpLiteral(serverName)) {
        lib.SSL_ctrl(
          ssl,
          SSL_CTRL_SET_TLSEXT_HOSTNAME,
          BigInt(TLSEXT_NAMETYPE_HOST_NAME),
          cString(serverName),
        );
      }
    }
  }

  /** True once the handshake completed. */
  get established(): boolean {
    return this.#established;
  }

  /** True when the context verifies the peer's certificate. */
  get verifiesPeer(): boolean {
    return this.#context.options.verifyPeer;
  }

  /** True after the peer's close_notify. */
  get peerClosed(): boolean {
    return this.#peerClosed;
  }

  /** Called by the verify callback: the leaf checks of this session's context. */
  checkLeaf(der: Uint8Array): Error | undefined {
    const options = this.#context.options;
    if (options.role === "client" && this.#serverName !== undefined && options.verifyHost) {
      const refused = options.verifyHost(der, this.#serverName);
      if (refused !== undefined) return refused;
    }
    return options.verifyLeaf?.(der, this.#serverName);
  }

  /** Called by the verify callback when it refuses the peer's certificate. */
  noteRefusal(error: Error): void {
    this.#refusal ??= error;
  }

  /** Hands ciphertext received from the socket to OpenSSL. */
  feed(bytes: Uint8Array): void {
    this.#live(); // throws once freed: the BIOs went with the SSL
    let at = 0;
    while (at < bytes.length) {
      const chunk = at === 0 ? bytes : bytes.subarray(at);
      const wrote = this.#lib.BIO_write(
        this.#input,
        chunk as Uint8Array<ArrayBuffer>,
        chunk.length,
      );
      if (wrote <= 0) throw new Error("BIO_write to a memory BIO failed");
      at += wrote;
    }
  }

  /**
   * Advances the handshake with what was fed; `pending` means it waits for more input (send
   * {@link takeOutput} first). Throws a {@link TlsHandshakeError} when it failed.
   */
  handshake(): HandshakeState {
    if (this.#established) return "done";
    const ssl = this.#live();
    const result = this.#call(() => this.#lib.SSL_do_handshake(ssl));
    if (result === 1) {
      this.#established = true;
      return "done";
    }
    const code = this.#lib.SSL_get_error(ssl, result);
    if (code === SSL_ERROR_WANT_READ) return "pending";
    throw this.#failure("handshake");
  }

  /**
   * Decrypts what was fed: the plaintext chunks available now (possibly none). Throws when
   * the connection failed (e.g. an alert arrived after our handshake finished).
   */
  readPlain(): Uint8Array[] {
    const ssl = this.#live();
    const chunks: Uint8Array[] = [];
    const buffer = TlsSession.#plain;
    while (chunks.length < _PLAIN_CHUNKS_MAX) {
      const read = this.#call(() => this.#lib.SSL_read(ssl, buffer, buffer.length));
      if (read > 0) {
        chunks.push(buffer.slice(0, read));
        continue;
      }
      const code = this.#lib.SSL_get_error(ssl, read);
      if (code === SSL_ERROR_WANT_READ) break;
      if (code === SSL_ERROR_ZERO_RETURN) {
        this.#peerClosed = true;
        break;
      }
      throw this.#failure("read");
    }
    return chunks;
  }

  /** Encrypts `bytes` (all of it; the output BIO grows). */
  writePlain(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const ssl = this.#live();
    const wrote = this.#call(() =>
      this.#lib.SSL_write(ssl, bytes as Uint8Array<ArrayBuffer>, bytes.length)
    );
    if (wrote !== bytes.length) {
      const code = this.#lib.SSL_get_error(ssl, wrote);
      if (code !== SSL_ERROR_NONE) throw this.#failure("write");
    }
  }

  /** Sends close_notify (queued in the output). */
  shutdown(): void {
    if (this.#ssl === null || !this.#established) return;
    const ssl = this.#ssl;
    this.#call(() => this.#lib.SSL_shutdown(ssl));
    this.#lib.ERR_clear_error();
  }

  /** The ciphertext OpenSSL produced for the socket, or `undefined` for none. */
  takeOutput(): Uint8Array | undefined {
    const pending = Number(this.#lib.BIO_ctrl(this.#output, BIO_CTRL_PENDING, 0n, null));
    if (pending <= 0) return undefined;
    const out = new Uint8Array(pending);
    const read = this.#lib.BIO_read(this.#output, out, pending);
    if (read !== pending) throw new Error("BIO_read from a memory BIO came short");
    return out;
  }

  /** The negotiated protocol, e.g. `TLSv1.3`. */
  protocol(): string {
    return readCString(this.#lib.SSL_get_version(this.#live()));
  }

  /** The negotiated suite's IANA name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`. */
  cipherStandardName(): string {
    const cipher = this.#lib.SSL_get_current_cipher(this.#live());
    return cipher === null ? "" : readCString(this.#lib.SSL_CIPHER_standard_name(cipher));
  }

  /** The protocol ALPN selected, or `false` when none was. */
  alpnProtocol(): string | false {
    const data = new BigUint64Array(1);
    const length = new Uint32Array(1);
    this.#lib.SSL_get0_alpn_selected(
      this.#live(),
      new Uint8Array(data.buffer),
      new Uint8Array(length.buffer),
    );
    const pointer = Deno.UnsafePointer.create(data[0]!);
    if (pointer === null || length[0] === 0) return false;
    return new TextDecoder().decode(
      new Uint8Array(new Deno.UnsafePointerView(pointer).getArrayBuffer(length[0]!)),
    );
  }

  /** The SNI name a client sent ("" for none). */
  serverNameReceived(): string {
    return readCString(this.#lib.SSL_get_servername(this.#live(), TLSEXT_NAMETYPE_HOST_NAME));
  }

  /**
   * The peer's certificates as DER, leaf first. A server sees the client's chain as sent
   * (`SSL_get_peer_cert_chain` holds the leaf on the client side only, so it is added).
   */
  peerCertificates(): Uint8Array[] {
    const ssl = this.#live();
    const lib = this.#lib;
    const out: Uint8Array[] = [];
    const leaf = lib.SSL_get1_peer_certificate(ssl);
    if (leaf === null) return out;
    try {
      out.push(certificateDer(lib, leaf));
    } finally {
      lib.X509_free(leaf);
    }
    const chain = lib.SSL_get_peer_cert_chain(ssl);
    if (chain === null) return out;
    const count = lib.OPENSSL_sk_num(chain);
    for (let i = 0; i < count; i++) {
      const cert = lib.OPENSSL_sk_value(chain, i);
      if (cert === null) continue;
      const der = certificateDer(lib, cert);
      if (!out.some((seen) => _sameBytes(seen, der))) out.push(der);
    }
    return out;
  }

  /** Frees the SSL (and its BIOs); later calls throw. */
  free(): void {
    if (this.#ssl === null) return;
    this.#lib.SSL_free(this.#ssl);
    this.#ssl = null;
    this.#context.released();
  }

  #live(): Deno.PointerObject {
    if (this.#ssl === null) throw new Error("TLS session closed");
    return this.#ssl;
  }

  /** Runs an OpenSSL call that may verify a certificate, with this session as the current. */
  #call(run: () => number): number {
    const previous = _current;
    _current = this;
    try {
      return run();
    } finally {
      _current = previous;
    }
  }

  /** The error of a failed call, from OpenSSL's error queue and our verify callback. */
  #failure(what: string): TlsHandshakeError {
    const reasons: number[] = [];
    const text = takeErrors(this.#lib, reasons);
    const alert = reasons.find((reason) =>
      reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256
    );
    if (alert !== undefined) {
      const code = alert - SSL_AD_REASON_OFFSET;
      return new TlsHandshakeError(`remote error: tls: ${goAlertText(code)}`, {
        receivedAlert: code,
      });
    }
    if (this.#refusal !== undefined) {
      return new TlsHandshakeError(this.#refusal.message, { refusedLocally: true });
    }
    const goText = reasons.map((reason) => _GO_HANDSHAKE_ERRORS.get(reason)).find((t) => t);
    if (goText !== undefined) return new TlsHandshakeError(goText, {});
    return new TlsHandshakeError(`tls: ${what} failed: ${text ?? "connection reset"}`, {});
  }
}

function _isIpLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
