// Goal: peer traffic through OpenSSL (tls/), the path taken when an allowed CN, host name or
// cipher list is set, carries what the peer transport needs: a large streamed request body
// (a db snapshot) arrives whole, a long-lived response streams chunk by chunk and ends on
// abort, kept-alive connections are reused, and concurrent requests do not mix.
// Method: serveOpenSslTls and a PeerClient with OpenSSL options, both with etcd's test
// certificates (client certificates required), on 127.0.0.1:37040-37049.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { PeerClient } from "./peer_client.ts";
import { serveOpenSslTls } from "./peer_tls_server.ts";
import { TlsContext } from "../tls/mod.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _HAVE_FIXTURES = await Deno.stat(`${_FIXTURES}/server.crt`).then(() => true, () => false);
const _encoder = new TextEncoder();

/** Echoes POST bodies as `<bytes> <sum mod 2^32>`; `/ticks` streams until cancelled. */
async function _handler(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === "/echo") {
    const bytes = new Uint8Array(await request.arrayBuffer());
    let sum = 0;
    for (const byte of bytes) sum = (sum + byte) >>> 0;
    return new Response(`${bytes.length} ${sum}`);
  }
  if (path.startsWith("/id/")) return new Response(path.slice(4));
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => controller.enqueue(_encoder.encode("tick")), 20);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body);
}

async function _withPeers(port: number, fn: (url: string, client: PeerClient) => Promise<void>) {
  const context = new TlsContext({
    role: "server",
    certFile: `${_FIXTURES}/server.crt`,
    keyFile: `${_FIXTURES}/server.key.insecure`,
    caFile: `${_FIXTURES}/ca.crt`,
    verifyPeer: true,
  });
  const server = serveOpenSslTls({ hostname: "127.0.0.1", port, context }, _handler);
  await server.listening;
  const client = new PeerClient({
    tls: {
      insecureSkipVerify: false,
      openSsl: {
        certFile: `${_FIXTURES}/server.crt`,
        keyFile: `${_FIXTURES}/server.key.insecure`,
        caFile: `${_FIXTURES}/ca.crt`,
      },
    },
  });
  try {
    await fn(`https://127.0.0.1:${port}`, client);
  } finally {
    client.close();
    await server.shutdown();
    context.close();
  }
}

Deno.test({
  name: "a streamed 8 MiB request body crosses an OpenSSL peer connection whole",
  ignore: !_HAVE_FIXTURES,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await _withPeers(37040, async (url, client) => {
      const chunkBytes = 64 * 1024;
      const chunks = 128;
      let expectedSum = 0;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < chunks; i++) {
            const chunk = new Uint8Array(chunkBytes).fill(i % 251);
            expectedSum = (expectedSum + chunkBytes * (i % 251)) >>> 0;
            controller.enqueue(chunk);
          }
          controller.close();
        },
      });
      const response = await client.request(`${url}/echo`, { method: "POST", body });
      strictEqual(await response.text(), `${chunkBytes * chunks} ${expectedSum}`);
    });
  },
});

Deno.test({
  name: "a long-lived OpenSSL peer stream arrives chunk by chunk and ends on abort",
  ignore: !_HAVE_FIXTURES,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await _withPeers(37041, async (url, client) => {
      const abort = new AbortController();
      const response = await client.request(`${url}/ticks`, {
        signal: abort.signal,
        pool: "stream",
      });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      while (text.length < 12) {
        const { value, done } = await reader.read();
        ok(!done, "the stream must stay open");
        text += decoder.decode(value);
      }
      ok(text.startsWith("ticktick"), text);
      abort.abort();
      let ended = false;
      try {
        while (!(await reader.read()).done);
        ended = true;
      } catch {
        ended = true;
      }
      ok(ended);
    });
  },
});

Deno.test({
  name: "sequential and concurrent requests over kept-alive OpenSSL peer connections",
  ignore: !_HAVE_FIXTURES,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await _withPeers(37042, async (url, client) => {
      for (let i = 0; i < 20; i++) {
        strictEqual(await (await client.request(`${url}/id/${i}`)).text(), String(i));
      }
      const answers = await Promise.all(
        Array.from(
          { length: 10 },
          async (_, i) => await (await client.request(`${url}/id/c${i}`)).text(),
        ),
      );
      deepStrictEqual(answers, Array.from({ length: 10 }, (_, i) => `c${i}`));
    });
  },
});
