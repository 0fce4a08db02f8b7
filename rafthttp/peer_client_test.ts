// Goal: PeerClient speaks to TLS peers as etcd's peer transport does (verify against a trusted
// CA, or skip verification for self-signed auto-TLS certificates, never silently) and keeps
// fetch's streaming: a long-lived body arrives chunk by chunk, an abort ends it, a streamed
// request body reaches the server whole, and a 204 has no body.
// Method: a Deno.serve TLS server with etcd's test certificate (127.0.0.1 SAN, signed by its
// ca.crt) on 127.0.0.1:24280-24289.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { PeerClient } from "./peer_client.ts";
import { serveVerifyingTls } from "./peer_tls_server.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _CA = Deno.readTextFileSync(`${_FIXTURES}/ca.crt`);
const _CERT = Deno.readTextFileSync(`${_FIXTURES}/server.crt`);
const _KEY = Deno.readTextFileSync(`${_FIXTURES}/server.key.insecure`);
const _encoder = new TextEncoder();

/** Streams "tick" every 20 ms until cancelled; echoes POST bodies with their byte count. */
async function _handler(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === "/empty") return new Response(null, { status: 204 });
  if (path === "/echo") {
    const bytes = new Uint8Array(await request.arrayBuffer());
    return new Response(`${request.method} ${bytes.length} ${bytes[bytes.length - 1]}`, {
      headers: { "X-Echo": request.headers.get("X-In") ?? "" },
    });
  }
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

async function _withServer(
  port: number,
  fn: (url: string) => Promise<void>,
  verifying = false,
): Promise<void> {
  const server = verifying
    ? serveVerifyingTls(
      { hostname: "127.0.0.1", port, certPem: _CERT, keyPem: _KEY, caPem: _CA },
      _handler,
    )
    : Deno.serve(
      { hostname: "127.0.0.1", port, cert: _CERT, key: _KEY, onListen: () => {} },
      _handler,
    );
  if ("listening" in server) await server.listening;
  try {
    await fn(`https://127.0.0.1:${port}`);
  } finally {
    await server.shutdown();
  }
}

async function _readTicks(client: PeerClient, url: string, ticks: number): Promise<void> {
  const abort = new AbortController();
  const response = await client.request(`${url}/stream`, { signal: abort.signal, pool: "stream" });
  strictEqual(response.status, 200);
  const reader = response.body!.getReader();
  let text = "";
  while (text.length < 4 * ticks) {
    const { done, value } = await reader.read();
    strictEqual(done, false, "the endless body does not end by itself");
    text += new TextDecoder().decode(value);
  }
  strictEqual(text.slice(0, 8), "ticktick");
  // An abort after the headers ends the body with an error, as fetch does.
  abort.abort();
  await rejects(async () => {
    while (!(await reader.read()).done) { /* drain what was buffered */ }
  });
}

Deno.test("PeerClient verifies a TLS peer against the trusted CA and streams its body", async () => {
  const client = new PeerClient({ tls: { caPem: _CA, insecureSkipVerify: false } });
  try {
    await _withServer(24280, (url) => _readTicks(client, url, 3));
  } finally {
    client.close();
  }
});

Deno.test("PeerClient refuses an unverifiable certificate unless told to skip verification", async () => {
  const strict = new PeerClient({ tls: { insecureSkipVerify: false } });
  const skipping = new PeerClient({ tls: { insecureSkipVerify: true } });
  try {
    await _withServer(24281, async (url) => {
      await rejects(strict.request(`${url}/empty`), "system roots do not know the test CA");
      const response = await skipping.request(`${url}/empty`);
      strictEqual(response.status, 204);
      strictEqual(response.body, null, "a 204 has no body");
    });
  } finally {
    strict.close();
    skipping.close();
  }
});

Deno.test("PeerClient sends a streamed request body whole, with its headers", async () => {
  const client = new PeerClient({ tls: { caPem: _CA, insecureSkipVerify: false } });
  const chunks = 64;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < chunks; i++) controller.enqueue(new Uint8Array(16 * 1024).fill(i));
      controller.close();
    },
  });
  try {
    await _withServer(24282, async (url) => {
      const response = await client.request(`${url}/echo`, {
        method: "POST",
        headers: { "X-In": "snapshot" },
        body,
      });
      strictEqual(await response.text(), `POST ${chunks * 16 * 1024} ${chunks - 1}`);
      strictEqual(response.headers.get("X-Echo"), "snapshot");
    });
  } finally {
    client.close();
  }
});

Deno.test("a client-verifying listener serves a peer with a certificate and refuses one without", async () => {
  const member = new PeerClient({
    tls: { caPem: _CA, certPem: _CERT, keyPem: _KEY, insecureSkipVerify: false },
  });
  const anonymous = new PeerClient({ tls: { caPem: _CA, insecureSkipVerify: false } });
  try {
    await _withServer(24283, async (url) => {
      await rejects(anonymous.request(`${url}/empty`, { signal: AbortSignal.timeout(5000) }));
      const response = await member.request(`${url}/echo`, {
        method: "POST",
        body: new Uint8Array([1, 2, 3]),
      });
      deepStrictEqual(await response.text(), "POST 3 3");
      await _readTicks(member, url, 3);
    }, true);
  } finally {
    member.close();
    anonymous.close();
  }
});
