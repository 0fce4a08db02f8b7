// Goal: the client port with TLS terminated by OpenSSL (tls/): the ALPN choice ("http/1.1"
// when offered, else "h2", none for other protocols), HTTP/1.1 served over it, plain HTTP on
// the same port (http:// and https:// client URLs on one address), and the CN of a verified
// client certificate. Method: a server on 127.0.0.1:22030 with etcd's test certificates,
// node:tls clients (Deno's rustls) offering various ALPN lists.
import assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { startGrpcServer, subjectCommonName } from "./grpc_server.ts";
import { clientPortAlpn } from "./grpc_server.ts";
import { TlsContext } from "../tls/mod.ts";

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const HAVE_FIXTURES = await Deno.stat(`${FIXTURES}/server.crt`).then(() => true, () => false);
const PORT = 22030;

/** Connects over TLS offering `alpn`; the protocol chosen and the answer to GET /ping. */
function request(alpn: string[]): Promise<{ alpn: string | false; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: PORT,
      ca: Deno.readTextFileSync(`${FIXTURES}/ca.crt`),
      cert: Deno.readTextFileSync(`${FIXTURES}/server.crt`),
      key: Deno.readTextFileSync(`${FIXTURES}/server.key.insecure`),
      ALPNProtocols: alpn,
    }, () => {
      const chosen = socket.alpnProtocol;
      if (chosen === "h2") {
        socket.destroy();
        resolve({ alpn: chosen, answer: "" });
        return;
      }
      socket.write("GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    });
    let answer = "";
    socket.on("data", (chunk) => answer += chunk.toString());
    socket.on("end", () => resolve({ alpn: socket.alpnProtocol ?? false, answer }));
    socket.on("error", reject);
  });
}

function plainRequest(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(PORT, "127.0.0.1", () => {
      socket.write("GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    });
    let answer = "";
    socket.on("data", (chunk) => answer += chunk.toString());
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

Deno.test("clientPortAlpn: http/1.1 when offered, else h2, else none", () => {
  assert.equal(clientPortAlpn(["h2", "http/1.1"]), "http/1.1");
  assert.equal(clientPortAlpn(["h2"]), "h2");
  assert.equal(clientPortAlpn(["spdy/3"]), undefined);
});

Deno.test("subjectCommonName reads the CN of a DER certificate", () => {
  const pem = Deno.readTextFileSync(`${FIXTURES}/server.crt`);
  const der = Uint8Array.from(
    atob(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, "")),
    (c) => c.charCodeAt(0),
  );
  assert.equal(subjectCommonName(der), "example.com");
});

Deno.test({
  name: "an OpenSSL client port chooses the protocol by ALPN and serves plain HTTP beside TLS",
  ignore: !HAVE_FIXTURES,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const context = new TlsContext({
      role: "server",
      certFile: `${FIXTURES}/server.crt`,
      keyFile: `${FIXTURES}/server.key.insecure`,
      caFile: `${FIXTURES}/ca.crt`,
      verifyPeer: true,
      alpnSelect: clientPortAlpn,
    });
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: PORT,
      services: {},
      http: () => Promise.resolve(new Response("tls\n")),
      plainToo: true,
      plainHttp: () => Promise.resolve(new Response("plain\n")),
      tls: { certPem: "", keyPem: "", clientCertAuth: true, openSsl: { context } },
    });
    try {
      const both = await request(["h2", "http/1.1"]);
      assert.equal(both.alpn, "http/1.1");
      assert.match(both.answer, /^HTTP\/1\.1 200 [^]*\r\n\r\ntls\n$/);
      assert.equal((await request(["h2"])).alpn, "h2");
      // No protocol in common: no ALPN answer, the first bytes decide (HTTP/1.1 here).
      const other = await request(["spdy/3"]);
      assert.equal(other.alpn, false);
      assert.match(other.answer, /tls\n$/);
      assert.match(await plainRequest(), /^HTTP\/1\.1 200 [^]*\r\n\r\nplain\n$/);
    } finally {
      await server.close();
    }
  },
});
