/**
 * TLS terminated by the system OpenSSL through FFI, for the connections whose restrictions
 * must act inside the handshake (etcd's allowed CN or host name, cipher suites): contexts and
 * sessions over memory BIOs, and a node `Duplex` that `node:http` servers and agents accept.
 *
 * @module
 */

export { openssl, openSslCipherName } from "./openssl.ts";
export { goAlertText } from "./alerts.ts";
export {
  type HandshakeState,
  TlsContext,
  type TlsContextOptions,
  TlsHandshakeError,
  TlsSession,
} from "./session.ts";
export { TlsSocket } from "./socket.ts";
