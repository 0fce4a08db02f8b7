// Goal: the stream GET's own HTTP/1.1 reader gets the same status, headers and body bytes as
// any HTTP client would, however the network cuts the bytes, and refuses what is not HTTP/1.1.
// Method: canned responses fed through a byte source cut at every offset (and one byte at a
// time); then real GETs on 127.0.0.1:33003-33004 to the node:http peer listener and to
// Deno.serve, a stream body read while it is being written, and an abort.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import {
  type ByteSource,
  HttpParseError,
  readRawStreamResponse,
  requestRawStream,
} from "./raw_stream_client.ts";
import { servePlainHttp } from "./peer_tls_server.ts";

const bytesOf = (s: string) => new TextEncoder().encode(s);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Hands out `pieces` one per read, then EOF. */
function source(pieces: Uint8Array[]): ByteSource & { closed: boolean } {
  let next = 0;
  return {
    closed: false,
    read(into: Uint8Array) {
      const piece = pieces[next];
      if (piece === undefined) return Promise.resolve(null);
      const n = Math.min(piece.length, into.length);
      into.set(piece.subarray(0, n));
      if (n < piece.length) pieces[next] = piece.subarray(n);
      else next++;
      return Promise.resolve(n);
    },
    close() {
      this.closed = true;
    },
  };
}

async function readAll(pieces: Uint8Array[]) {
  const response = await readRawStreamResponse(source(pieces));
  let body = "";
  for (let piece = await response.read(); piece !== null; piece = await response.read()) {
    body += text(piece);
  }
  return { status: response.status, headers: response.headers, body };
}

/** Every way to cut `bytes` in two, plus one byte per read. */
function cuts(bytes: Uint8Array): Uint8Array[][] {
  const all: Uint8Array[][] = [[bytes]];
  for (let at = 1; at < bytes.length; at++) all.push([bytes.subarray(0, at), bytes.subarray(at)]);
  all.push([...bytes].map((b) => Uint8Array.of(b)));
  return all;
}

const CHUNKED = "HTTP/1.1 200 OK\r\nX-Server-Version: 3.4.23\r\nTransfer-Encoding: chunked\r\n" +
  "X-Etcd-Cluster-Id: cdf818194e3a8c32\r\n\r\n" +
  "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n000 ; last\r\nTrailer: x\r\n\r\n";

Deno.test("a chunked response reads the same however the bytes are cut", async () => {
  for (const pieces of cuts(bytesOf(CHUNKED))) {
    const got = await readAll(pieces);
    strictEqual(got.status, 200);
    strictEqual(got.headers.get("x-etcd-cluster-id"), "cdf818194e3a8c32");
    strictEqual(got.headers.get("X-Server-Version"), "3.4.23");
    strictEqual(got.body, "hello 0123456789");
  }
});

Deno.test("a length-delimited error answer and a 100 Continue before it", async () => {
  const answer = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 412 Precondition Failed\r\n" +
    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\ncluster ID mismatch\n";
  for (const pieces of cuts(bytesOf(answer))) {
    const got = await readAll(pieces);
    strictEqual(got.status, 412);
    strictEqual(got.body, "cluster ID mismatch\n");
  }
  const response = await readRawStreamResponse(source([bytesOf(answer)]));
  strictEqual(await response.text(), "cluster ID mismatch\n");
});

Deno.test("a body without length or chunking runs to the connection's end", async () => {
  const got = await readAll([bytesOf("HTTP/1.0 200 OK\r\n\r\nab"), bytesOf("cd")]);
  strictEqual(got.body, "abcd");
});

Deno.test("the reader refuses what is not HTTP/1.1 and a body cut short", async () => {
  const bad = [
    "SSH-2.0-OpenSSH\r\n\r\n",
    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
  ];
  for (const answer of bad) {
    await rejects(readRawStreamResponse(source([bytesOf(answer)])), HttpParseError, answer);
  }
  const badBodies = [
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\rx",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;" + "x".repeat(5000),
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + "1".repeat(5000),
  ];
  for (const answer of badBodies) {
    const response = await readRawStreamResponse(source([bytesOf(answer)]));
    await rejects(
      async () => {
        while ((await response.read()) !== null) { /* drain */ }
      },
      HttpParseError,
      answer,
    );
  }
  await rejects(readRawStreamResponse(source([bytesOf("HTTP/1.1 200 OK\r\n")])), /before/);
});

Deno.test("a stream GET reads a node:http body chunk by chunk as it is written", async () => {
  let push: ((chunk: string) => void) | undefined;
  let end: (() => void) | undefined;
  const seen: Request[] = [];
  const server = servePlainHttp({ hostname: "127.0.0.1", port: 33003 }, (request) => {
    seen.push(request);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (chunk) => controller.enqueue(bytesOf(chunk));
        end = () => controller.close();
        // node:http sends the head with the first body bytes.
        push("first");
      },
    });
    return Promise.resolve(new Response(body, { headers: { "X-Server-Version": "3.4.23" } }));
  });
  await server.listening;
  try {
    const response = await requestRawStream(
      new URL("http://127.0.0.1:33003/raft/stream/message/1?x=1"),
      { headers: { "X-Raft-To": "2", "X-Etcd-Cluster-ID": "7" } },
    );
    strictEqual(response.status, 200);
    strictEqual(response.headers.get("x-server-version"), "3.4.23");
    strictEqual(
      new URL(seen[0]!.url).pathname + new URL(seen[0]!.url).search,
      "/raft/stream/message/1?x=1",
    );
    strictEqual(seen[0]!.headers.get("x-raft-to"), "2");
    strictEqual(seen[0]!.headers.get("host"), "127.0.0.1:33003");
    strictEqual(text((await response.read())!), "first");
    push!("second");
    strictEqual(text((await response.read())!), "second");
    end!();
    strictEqual(await response.read(), null);
    response.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("an abort closes a stream GET's connection and fails its pending read", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 33004, onListen: () => {} }, () => {
    return new Response(new ReadableStream<Uint8Array>({}));
  });
  try {
    const abort = new AbortController();
    const response = await requestRawStream(new URL("http://127.0.0.1:33004/s"), {
      headers: {},
      signal: abort.signal,
    });
    strictEqual(response.status, 200);
    const pending = response.read();
    abort.abort(new Error("stop"));
    await rejects(pending);
    response.close();
    const refused = new AbortController();
    refused.abort(new Error("before"));
    await rejects(
      requestRawStream(new URL("http://127.0.0.1:33004/s"), {
        headers: {},
        signal: refused.signal,
      }),
      /before/,
    );
    deepStrictEqual(
      await requestRawStream(new URL("http://127.0.0.1:1/"), { headers: {} }).then(
        () => "connected",
        (error) => error instanceof Error,
      ),
      true,
      "a refused dial rejects",
    );
  } finally {
    await server.shutdown();
  }
});
