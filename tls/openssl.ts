/**
 * The system OpenSSL (libssl.so.3, libcrypto.so.3) through Deno's FFI: only the calls a TLS
 * session over memory BIOs needs. Deno's own TLS (rustls, also behind `node:tls`) has no hook
 * inside the handshake and ignores a cipher list; OpenSSL's verify callback runs inside
 * `SSL_do_handshake`, so a certificate refused there fails the handshake with an alert, as
 * Go's `VerifyPeerCertificate` does in etcd.
 *
 * The library is opened on first use ({@link openssl}); a host without libssl 3 or a process
 * without `--allow-ffi` gets an Error saying which, so that a flag needing it can be refused
 * at start.
 *
 * Constants are OpenSSL 3.0's (include/openssl/ssl.h, x509_vfy.h, err.h).
 *
 * @module
 */

/** `SSL_FILETYPE_PEM`. */
export const SSL_FILETYPE_PEM = 1;
/** `SSL_VERIFY_PEER`. */
export const SSL_VERIFY_PEER = 0x01;
/** `SSL_VERIFY_FAIL_IF_NO_PEER_CERT`. */
export const SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x02;
/** `SSL_CTRL_SET_TLSEXT_HOSTNAME` (SNI, client side). */
export const SSL_CTRL_SET_TLSEXT_HOSTNAME = 55;
/** `SSL_CTRL_SET_MIN_PROTO_VERSION`. */
export const SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
/** `SSL_CTRL_SET_MAX_PROTO_VERSION`. */
export const SSL_CTRL_SET_MAX_PROTO_VERSION = 124;
/** `TLS1_2_VERSION`. */
export const TLS1_2_VERSION = 0x0303;
/** `TLS1_3_VERSION`. */
export const TLS1_3_VERSION = 0x0304;
/** `SSL_OP_NO_RENEGOTIATION`: the verify callback must only ever run in the first handshake. */
export const SSL_OP_NO_RENEGOTIATION = 1n << 30n;
/** `SSL_OP_NO_TICKET`: no session tickets (every handshake verifies the peer afresh). */
export const SSL_OP_NO_TICKET = 1n << 14n;
/** `SSL_CTRL_SET_SESS_CACHE_MODE` (`SSL_CTX_set_session_cache_mode`; mode 0 is `SSL_SESS_CACHE_OFF`). */
export const SSL_CTRL_SET_SESS_CACHE_MODE = 44;
/** `BIO_CTRL_PENDING`. */
export const BIO_CTRL_PENDING = 10;
/** `SSL_ERROR_*` of `SSL_get_error`. */
export const SSL_ERROR_NONE = 0;
export const SSL_ERROR_SSL = 1;
export const SSL_ERROR_WANT_READ = 2;
export const SSL_ERROR_WANT_WRITE = 3;
export const SSL_ERROR_SYSCALL = 5;
export const SSL_ERROR_ZERO_RETURN = 6;
/**
 * `X509_V_ERR_CERT_REJECTED`: the error the verify callback sets to refuse a certificate;
 * OpenSSL's `ssl_x509err2alert` turns it into the `bad_certificate` alert (42), the alert Go
 * sends when `VerifyPeerCertificate` fails.
 */
export const X509_V_ERR_CERT_REJECTED = 28;
/** `SSL_AD_REASON_OFFSET`: an error reason of 1000 + N means "received alert N". */
export const SSL_AD_REASON_OFFSET = 1000;
/** `SSL_TLSEXT_ERR_OK`: the ALPN select callback chose a protocol. */
export const SSL_TLSEXT_ERR_OK = 0;
/** `SSL_TLSEXT_ERR_NOACK`: the ALPN select callback chose none (the handshake goes on). */
export const SSL_TLSEXT_ERR_NOACK = 3;
/** `TLSEXT_NAMETYPE_host_name`. */
export const TLSEXT_NAMETYPE_HOST_NAME = 0;

const _SSL_SYMBOLS = {
  TLS_server_method: { parameters: [], result: "pointer" },
  TLS_client_method: { parameters: [], result: "pointer" },
  SSL_CTX_new: { parameters: ["pointer"], result: "pointer" },
  SSL_CTX_free: { parameters: ["pointer"], result: "void" },
  SSL_CTX_use_certificate_chain_file: { parameters: ["pointer", "buffer"], result: "i32" },
  SSL_CTX_use_PrivateKey_file: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  SSL_CTX_check_private_key: { parameters: ["pointer"], result: "i32" },
  SSL_CTX_load_verify_locations: {
    parameters: ["pointer", "buffer", "pointer"],
    result: "i32",
  },
  SSL_CTX_set_default_verify_paths: { parameters: ["pointer"], result: "i32" },
  SSL_load_client_CA_file: { parameters: ["buffer"], result: "pointer" },
  SSL_CTX_set_client_CA_list: { parameters: ["pointer", "pointer"], result: "void" },
  SSL_CTX_set_verify: { parameters: ["pointer", "i32", "function"], result: "void" },
  SSL_CTX_ctrl: { parameters: ["pointer", "i32", "i64", "pointer"], result: "i64" },
  SSL_CTX_set_cipher_list: { parameters: ["pointer", "buffer"], result: "i32" },
  SSL_CTX_set_options: { parameters: ["pointer", "u64"], result: "u64" },
  SSL_new: { parameters: ["pointer"], result: "pointer" },
  SSL_free: { parameters: ["pointer"], result: "void" },
  SSL_set_bio: { parameters: ["pointer", "pointer", "pointer"], result: "void" },
  SSL_set_accept_state: { parameters: ["pointer"], result: "void" },
  SSL_set_connect_state: { parameters: ["pointer"], result: "void" },
  SSL_do_handshake: { parameters: ["pointer"], result: "i32" },
  SSL_get_error: { parameters: ["pointer", "i32"], result: "i32" },
  SSL_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  SSL_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  SSL_shutdown: { parameters: ["pointer"], result: "i32" },
  SSL_ctrl: { parameters: ["pointer", "i32", "i64", "buffer"], result: "i64" },
  SSL_get_version: { parameters: ["pointer"], result: "pointer" },
  SSL_get_current_cipher: { parameters: ["pointer"], result: "pointer" },
  SSL_CIPHER_standard_name: { parameters: ["pointer"], result: "pointer" },
  SSL_get1_peer_certificate: { parameters: ["pointer"], result: "pointer" },
  SSL_get_peer_cert_chain: { parameters: ["pointer"], result: "pointer" },
  SSL_get_servername: { parameters: ["pointer", "i32"], result: "pointer" },
  OPENSSL_cipher_name: { parameters: ["buffer"], result: "pointer" },
  SSL_CTX_set_alpn_select_cb: {
    parameters: ["pointer", "function", "pointer"],
    result: "void",
  },
  SSL_get0_alpn_selected: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

const _CRYPTO_SYMBOLS = {
  BIO_s_mem: { parameters: [], result: "pointer" },
  BIO_new: { parameters: ["pointer"], result: "pointer" },
  BIO_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  BIO_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  BIO_ctrl: { parameters: ["pointer", "i32", "i64", "pointer"], result: "i64" },
  X509_STORE_CTX_get_error_depth: { parameters: ["pointer"], result: "i32" },
  X509_STORE_CTX_get_current_cert: { parameters: ["pointer"], result: "pointer" },
  X509_STORE_CTX_set_error: { parameters: ["pointer", "i32"], result: "void" },
  X509_free: { parameters: ["pointer"], result: "void" },
  i2d_X509: { parameters: ["pointer", "buffer"], result: "i32" },
  OPENSSL_sk_num: { parameters: ["pointer"], result: "i32" },
  OPENSSL_sk_value: { parameters: ["pointer", "i32"], result: "pointer" },
  OPENSSL_sk_pop_free: { parameters: ["pointer", "pointer"], result: "void" },
  ERR_get_error: { parameters: [], result: "u64" },
  ERR_error_string_n: { parameters: ["u64", "buffer", "usize"], result: "void" },
  ERR_clear_error: { parameters: [], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened libraries' symbols. */
export type OpenSsl =
  & Deno.DynamicLibrary<typeof _SSL_SYMBOLS>["symbols"]
  & Deno.DynamicLibrary<typeof _CRYPTO_SYMBOLS>["symbols"];

let _lib: OpenSsl | undefined;
let _failure: Error | undefined;

/** The sonames opened (Debian package libssl3 ships both). */
const _SSL_SONAME = "libssl.so.3";
const _CRYPTO_SONAME = "libcrypto.so.3";

/**
 * The OpenSSL symbols, opening the libraries on first call. Throws an Error naming the cause
 * (no FFI permission, no libssl 3) on every call when they cannot be opened.
 */
export function openssl(): OpenSsl {
  if (_lib !== undefined) return _lib;
  if (_failure !== undefined) throw _failure;
  try {
    const crypto = Deno.dlopen(_CRYPTO_SONAME, _CRYPTO_SYMBOLS);
    const ssl = Deno.dlopen(_SSL_SONAME, _SSL_SYMBOLS);
    _lib = { ...crypto.symbols, ...ssl.symbols };
    return _lib;
  } catch (error) {
    const why =
      error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
        ? "FFI is not permitted (run with --allow-ffi)"
        : `cannot load ${_SSL_SONAME}/${_CRYPTO_SONAME} (Debian package libssl3): ${
          error instanceof Error ? error.message : String(error)
        }`;
    _failure = new Error(`OpenSSL is needed for this TLS setting, but ${why}`);
    throw _failure;
  }
}

/** A NUL-terminated C string of `text`. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  if (bytes.includes(0)) throw new Error("a C string cannot hold NUL");
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The C string at `pointer` ("" for NULL). */
export function readCString(pointer: Deno.PointerValue): string {
  if (pointer === null) return "";
  return new Deno.UnsafePointerView(pointer).getCString();
}

/**
 * Drains OpenSSL's error queue of this thread into one message (the first error's text), or
 * `undefined` when it was empty; `reasons` receives every error's reason code.
 */
export function takeErrors(lib: OpenSsl, reasons?: number[]): string | undefined {
  let first: string | undefined;
  const text = new Uint8Array(256);
  for (let i = 0; i < 32; i++) {
    const code = lib.ERR_get_error();
    if (code === 0n) break;
    // OpenSSL 3: the reason is the low 23 bits (ERR_REASON_MASK); system errors set bit 31.
    if ((code & 0x80000000n) === 0n) reasons?.push(Number(code & 0x7fffffn));
    if (first === undefined) {
      lib.ERR_error_string_n(code, text, BigInt(text.length));
      const end = text.indexOf(0);
      first = new TextDecoder().decode(text.subarray(0, end < 0 ? text.length : end));
    }
  }
  return first;
}

/** The DER bytes of an `X509*` (not freed here). */
export function certificateDer(lib: OpenSsl, x509: Deno.PointerObject): Uint8Array {
  const length = lib.i2d_X509(x509, null);
  if (length <= 0) throw new Error("i2d_X509 failed");
  const der = new Uint8Array(length);
  // i2d writes through `unsigned char **out` and advances it: hand it a pointer to our buffer.
  const out = new BigUint64Array([BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(der)))]);
  const written = lib.i2d_X509(x509, new Uint8Array(out.buffer));
  if (written !== length) throw new Error("i2d_X509 wrote an unexpected length");
  return der;
}

/**
 * OpenSSL's name of a TLS 1.2 cipher suite given by its IANA name
 * (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` -> `ECDHE-RSA-AES128-GCM-SHA256`), or `undefined`
 * when this OpenSSL does not know it.
 */
export function openSslCipherName(ianaName: string): string | undefined {
  const lib = openssl();
  const name = readCString(lib.OPENSSL_cipher_name(cString(ianaName)));
  return name === "" || name === "(NONE)" ? undefined : name;
}
