/**
 * The OpenSSL session layer, two sessions talking through memory (no sockets): a handshake
 * with client certificates, a leaf refused by the verify callback failing the handshake with
 * the bad_certificate alert (42) that the other side reads as Go's `remote error: tls: bad
 * certificate`, and the TLS 1.2 cipher list deciding what is negotiated. Certificates are
 * etcd's own test fixtures.
 */

import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { TlsContext, type TlsContextOptions, TlsHandshakeError, type TlsSession } from "./mod.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _HAVE_FIXTURES = await Deno.stat(`${_FIXTURES}/server.crt`).then(() => true, () => false);

function _files(name: string) {
  return {
    certFile: `${_FIXTURES}/${name}.crt`,
    keyFile: `${_FIXTURES}/${name}.key.insecure`,
    caFile: `${_FIXTURES}/ca.crt`,
  };
}

function _commonName(der: Uint8Array): string {
  const subject = new X509Certificate(der).subject;
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? "";
}

/** A leaf check accepting only `cn`, as etcd's `--peer-cert-allowed-cn`. */
function _allowCn(cn: string): NonNullable<TlsContextOptions["verifyLeaf"]> {
  return (der) =>
    _commonName(der) === cn ? undefined : new Error("client certificate authentication failed");
}

/** Moves bytes both ways until neither side has more to say; returns each side's outcome. */
function _pump(client: TlsSession, server: TlsSession) {
  const outcome: { client?: Error; server?: Error; clientData: string; serverData: string } = {
    clientData: "",
    serverData: "",
  };
  const decoder = new TextDecoder();
  const step = (session: TlsSession, side: "client" | "server") => {
    if (outcome[side] !== undefined) return;
    try {
      if (session.handshake() === "done") {
        for (const chunk of session.readPlain()) {
          outcome[side === "client" ? "clientData" : "serverData"] += decoder.decode(chunk);
        }
      }
    } catch (error) {
      outcome[side] = error as Error;
    }
  };
  for (let round = 0; round < 20; round++) {
    step(client, "client");
    const toServer = client.takeOutput();
    if (toServer !== undefined) server.feed(toServer);
    step(server, "server");
    const toClient = server.takeOutput();
    if (toClient !== undefined) client.feed(toClient);
    if (toServer === undefined && toClient === undefined && round > 2) break;
  }
  return outcome;
}

Deno.test({
  name: "a client certificate from the trusted CA completes the handshake both ways",
  ignore: !_HAVE_FIXTURES,
  fn() {
    const server = new TlsContext({
      role: "server",
      ..._files("server"),
      verifyPeer: true,
      verifyLeaf: _allowCn("example.com"),
    });
    const client = new TlsContext({ role: "client", ..._files("server"), verifyPeer: true });
    const serverSession = server.newSession();
    const clientSession = client.newSession("127.0.0.1");
    try {
      const first = _pump(clientSession, serverSession);
      assertEquals(first.client, undefined);
      assertEquals(first.server, undefined);
      assert(clientSession.established && serverSession.established);
      assertEquals(clientSession.protocol(), "TLSv1.3");
      clientSession.writePlain(new TextEncoder().encode("ping"));
      serverSession.writePlain(new TextEncoder().encode("pong"));
      const second = _pump(clientSession, serverSession);
      assertEquals(second.serverData, "ping");
      assertEquals(second.clientData, "pong");
      assertEquals(_commonName(serverSession.peerCertificates()[0]!), "example.com");
    } finally {
      clientSession.free();
      serverSession.free();
      client.close();
      server.close();
    }
  },
});

Deno.test({
  name: "a server refusing the client's CN sends bad_certificate, read as Go's remote error",
  ignore: !_HAVE_FIXTURES,
  fn() {
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      const server = new TlsContext({
        role: "server",
        ..._files("server"),
        verifyPeer: true,
        verifyLeaf: _allowCn("example2.com"),
      });
      const client = new TlsContext({
        role: "client",
        ..._files("server"),
        verifyPeer: true,
        maxVersion,
      });
      const serverSession = server.newSession();
      const clientSession = client.newSession("127.0.0.1");
      try {
        const outcome = _pump(clientSession, serverSession);
        assert(outcome.server instanceof TlsHandshakeError, maxVersion);
        assertEquals(outcome.server.message, "client certificate authentication failed");
        assert(outcome.server.refusedLocally);
        // TLS 1.3: the client finished before the server verified it; the alert ends its
        // first read. TLS 1.2: it ends the client's handshake.
        assert(outcome.client instanceof TlsHandshakeError, maxVersion);
        assertEquals(outcome.client.receivedAlert, 42);
        assertEquals(outcome.client.message, "remote error: tls: bad certificate");
      } finally {
        clientSession.free();
        serverSession.free();
        client.close();
        server.close();
      }
    }
  },
});

Deno.test({
  name: "a client refusing the server's CN sends bad_certificate to the server",
  ignore: !_HAVE_FIXTURES,
  fn() {
    const server = new TlsContext({ role: "server", ..._files("server2"), verifyPeer: true });
    const client = new TlsContext({
      role: "client",
      ..._files("server"),
      verifyPeer: true,
      verifyLeaf: _allowCn("example.com"),
    });
    const serverSession = server.newSession();
    const clientSession = client.newSession("127.0.0.1");
    try {
      const outcome = _pump(clientSession, serverSession);
      assert(outcome.client instanceof TlsHandshakeError);
      assert(outcome.client.refusedLocally);
      assert(outcome.server instanceof TlsHandshakeError);
      assertEquals(outcome.server.message, "remote error: tls: bad certificate");
    } finally {
      clientSession.free();
      serverSession.free();
      client.close();
      server.close();
    }
  },
});

Deno.test({
  name: "the TLS 1.2 cipher list picks a listed suite and refuses a client offering none",
  ignore: !_HAVE_FIXTURES,
  fn() {
    const server = new TlsContext({
      role: "server",
      ..._files("server"),
      verifyPeer: false,
      cipherList: "ECDHE-RSA-AES128-GCM-SHA256",
    });
    const offer = (cipherList: string) => {
      const client = new TlsContext({
        role: "client",
        caFile: `${_FIXTURES}/ca.crt`,
        verifyPeer: true,
        maxVersion: "TLSv1.2",
        cipherList,
      });
      const serverSession = server.newSession();
      const clientSession = client.newSession("127.0.0.1");
      try {
        const outcome = _pump(clientSession, serverSession);
        return { ...outcome, suite: outcome.client ? "" : clientSession.cipherStandardName() };
      } finally {
        clientSession.free();
        serverSession.free();
        client.close();
      }
    };
    try {
      // Listed and unlisted offered, the unlisted first: the listed one is negotiated.
      const both = offer("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256");
      assertEquals(both.client, undefined);
      assertEquals(both.suite, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
      const none = offer("ECDHE-RSA-AES256-GCM-SHA384");
      assert(none.client instanceof TlsHandshakeError);
      assertEquals(none.client.message, "remote error: tls: handshake failure");
      assert(none.server instanceof TlsHandshakeError);
      // What the listener logs: Go's words (crypto/tls handshake_server.go).
      assertEquals(none.server.message, "tls: no cipher suite supported by both client and server");
    } finally {
      server.close();
    }
  },
});

Deno.test({
  name: "a context refuses a cipher list OpenSSL does not know and a missing certificate",
  ignore: !_HAVE_FIXTURES,
  fn() {
    throws(
      () => new TlsContext({ role: "server", verifyPeer: false, cipherList: "NO-SUCH-SUITE" }),
      /cipher list NO-SUCH-SUITE/,
    );
    throws(
      () => new TlsContext({ role: "server", verifyPeer: false, certFile: "/nonexistent.crt" }),
      /load certificate \/nonexistent.crt/,
    );
  },
});
