/**
 * Peer TLS connection cost, both ends in one process: `deno run -A bench/peer_tls_micro.ts`.
 *
 * The same peer client and listener code over `node:https` (Deno's rustls) and over OpenSSL
 * through FFI (tls/), with etcd's test certificates and client certificates required, each
 * running (1) sequential small POSTs on a kept-alive connection, as the pipeline sends, and
 * (2) one long-lived response of many small chunks, as a msgapp stream. Reports wall time and
 * the process's CPU time (user + system) per operation, variants interleaved over rounds.
 * Ports 37110-37119.
 *
 * @module
 */

import { cpuUsage } from "node:process";
import {
  PeerClient,
  type PeerTlsOptions,
  serveOpenSslTls,
  serveVerifyingTls,
  type VerifyingTlsServer,
} from "../rafthttp/mod.ts";
import { TlsContext } from "../tls/mod.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _POSTS = 2000;
const _CHUNKS = 20000;
const _CHUNK_BYTES = 100;
const _ROUNDS = 3;

type _Variant = "node" | "openssl";

async function _handler(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === "/post") {
    await request.arrayBuffer();
    return new Response(null, { status: 204 });
  }
  const chunk = new Uint8Array(_CHUNK_BYTES).fill(7);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(chunk);
      if (++sent === _CHUNKS) controller.close();
    },
  }, { highWaterMark: 1 });
  return new Response(body);
}

async function _setUp(variant: _Variant, port: number) {
  const read = (name: string) => Deno.readTextFileSync(`${_FIXTURES}/${name}`);
  let server: VerifyingTlsServer;
  let context: TlsContext | undefined;
  let tls: PeerTlsOptions;
  if (variant === "node") {
    server = serveVerifyingTls({
      hostname: "127.0.0.1",
      port,
      certPem: read("server.crt"),
      keyPem: read("server.key.insecure"),
      caPem: read("ca.crt"),
    }, _handler);
    tls = {
      insecureSkipVerify: false,
      caPem: read("ca.crt"),
      certPem: read("server.crt"),
      keyPem: read("server.key.insecure"),
    };
  } else {
    context = new TlsContext({
      role: "server",
      certFile: `${_FIXTURES}/server.crt`,
      keyFile: `${_FIXTURES}/server.key.insecure`,
      caFile: `${_FIXTURES}/ca.crt`,
      verifyPeer: true,
    });
    server = serveOpenSslTls({ hostname: "127.0.0.1", port, context }, _handler);
    tls = {
      insecureSkipVerify: false,
      openSsl: {
        certFile: `${_FIXTURES}/server.crt`,
        keyFile: `${_FIXTURES}/server.key.insecure`,
        caFile: `${_FIXTURES}/ca.crt`,
      },
    };
  }
  await server.listening;
  const client = new PeerClient({ tls });
  return {
    url: `https://127.0.0.1:${port}`,
    client,
    async close() {
      client.close();
      await server.shutdown();
      context?.close();
    },
  };
}

async function _measure(run: () => Promise<void>): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu = cpuUsage();
  const start = performance.now();
  await run();
  const used = cpuUsage(cpu);
  return { wallMs: performance.now() - start, cpuMs: (used.user + used.system) / 1000 };
}

async function _round(variant: _Variant, port: number): Promise<string[]> {
  const peers = await _setUp(variant, port);
  try {
    const body = new Uint8Array(256).fill(1);
    // Warm up: the connection and its handshake are not what is measured.
    await (await peers.client.request(`${peers.url}/post`, { method: "POST", body })).text();
    const posts = await _measure(async () => {
      for (let i = 0; i < _POSTS; i++) {
        const response = await peers.client.request(`${peers.url}/post`, { method: "POST", body });
        await response.arrayBuffer();
      }
    });
    const stream = await _measure(async () => {
      const response = await peers.client.request(`${peers.url}/stream`, { pool: "stream" });
      let bytes = 0;
      for await (const chunk of response.body!) bytes += chunk.length;
      if (bytes !== _CHUNKS * _CHUNK_BYTES) throw new Error(`stream short: ${bytes}`);
    });
    return [
      `${variant.padEnd(8)} POST    ${
        (posts.wallMs * 1000 / _POSTS).toFixed(0).padStart(6)
      } us wall ` +
      `${(posts.cpuMs * 1000 / _POSTS).toFixed(0).padStart(6)} us CPU per request`,
      `${variant.padEnd(8)} stream  ${
        (stream.wallMs * 1000 / _CHUNKS).toFixed(1).padStart(6)
      } us wall ` +
      `${
        (stream.cpuMs * 1000 / _CHUNKS).toFixed(1).padStart(6)
      } us CPU per ${_CHUNK_BYTES}-byte chunk`,
    ];
  } finally {
    await peers.close();
  }
}

console.log(`load average before: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
for (let round = 0; round < _ROUNDS; round++) {
  const order: _Variant[] = round % 2 === 0 ? ["node", "openssl"] : ["openssl", "node"];
  for (const [index, variant] of order.entries()) {
    for (const line of await _round(variant, 37110 + 2 * round + index)) console.log(line);
  }
}
console.log(`load average after: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
