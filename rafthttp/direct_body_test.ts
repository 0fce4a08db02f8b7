// Goal: a direct body puts on the wire exactly what the chunked `ReadableStream` way did: the
// headers with `Transfer-Encoding: chunked`, one HTTP/1.1 chunk per write, the last chunk at
// the end, and the connection stays usable for the next request.
// Method: frameChunk against hand-written chunks; then the node:http peer listener of
// peer_tls_server.ts on 127.0.0.1:33001 with a handler whose body offers a direct writer, read
// by a raw TCP client byte for byte.
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { type ChunkedSink, directBodyOf, frameChunk, offerDirectBody } from "./direct_body.ts";
import { servePlainHttp } from "./peer_tls_server.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);

Deno.test("frameChunk writes the size in hex, CRLF, the pieces, CRLF", () => {
  strictEqual(text(frameChunk([bytesOf("hello")], 5)), "5\r\nhello\r\n");
  strictEqual(text(frameChunk([bytesOf("ab"), bytesOf("c")], 3)), "3\r\nabc\r\n");
  const big = new Uint8Array(0x1a2b).fill(0x61);
  const framed = frameChunk([big.subarray(0, 100), big.subarray(100)], big.length);
  strictEqual(text(framed.subarray(0, 6)), "1a2b\r\n");
  strictEqual(framed.length, 6 + 0x1a2b + 2);
  strictEqual(text(framed.subarray(framed.length - 2)), "\r\n");
  strictEqual(text(frameChunk([new Uint8Array(16)], 16).subarray(0, 4)), "10\r\n");
  strictEqual(text(frameChunk([new Uint8Array(15)], 15).subarray(0, 3)), "f\r\n");
  throws(() => frameChunk([], 0), RangeError, "a zero-size chunk would end the body");
  throws(() => frameChunk([bytesOf("ab")], 3), /hold 2 bytes/);
});

/** Reads from `conn` until `until` holds for what arrived (bounded by 5 s). */
async function readUntil(
  conn: Deno.Conn,
  got: { text: string },
  until: (all: string) => boolean,
): Promise<void> {
  const buffer = new Uint8Array(65536);
  const deadline = Date.now() + 5000;
  while (!until(got.text)) {
    if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(got.text)}`);
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`EOF; got ${JSON.stringify(got.text)}`);
    got.text += text(buffer.subarray(0, n));
  }
}

Deno.test("the node:http listener writes a direct body's chunks onto the socket", async () => {
  let sink: ChunkedSink | undefined;
  let closedByPeer = 0;
  let bodyRead = false;
  const handler = (request: Request) => {
    if (new URL(request.url).pathname === "/plain") {
      return Promise.resolve(new Response("plain answer"));
    }
    const body = new ReadableStream<Uint8Array>({
      pull: () => {
        bodyRead = true;
      },
    }, { highWaterMark: 0 });
    offerDirectBody(body, (taken) => {
      sink = taken;
      return { onDrain: () => {}, onClose: () => closedByPeer++ };
    });
    return Promise.resolve(new Response(body, { headers: { "X-Server-Version": "3.4.23" } }));
  };
  const server = servePlainHttp({ hostname: "127.0.0.1", port: 33001 }, handler);
  await server.listening;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: 33001 });
  try {
    await conn.write(bytesOf("GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    const got = { text: "" };
    await readUntil(conn, got, (all) => all.includes("\r\n\r\n"));
    const [head, rest] = got.text.split("\r\n\r\n") as [string, string];
    ok(head.startsWith("HTTP/1.1 200 OK\r\n"), head);
    ok(/\r\nTransfer-Encoding: chunked(\r\n|$)/i.test(head), head);
    ok(/\r\nX-Server-Version: 3\.4\.23(\r\n|$)/i.test(head), head);
    ok(!/content-length/i.test(head), head);
    strictEqual(rest, "");
    ok(sink !== undefined, "the listener took the direct body");
    ok(sink.write(frameChunk([bytesOf("one")], 3)));
    sink.write(frameChunk([bytesOf("two"), bytesOf("!")], 4));
    got.text = "";
    await readUntil(conn, got, (all) => all.length >= 16);
    strictEqual(got.text, "3\r\none\r\n4\r\ntwo!\r\n");
    sink.end();
    got.text = "";
    await readUntil(conn, got, (all) => all.length >= 5);
    strictEqual(got.text, "0\r\n\r\n");
    // The body ended the response, not the connection: the next request is answered on it.
    await conn.write(bytesOf("GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    got.text = "";
    await readUntil(conn, got, (all) => all.endsWith("0\r\n\r\n"));
    ok(got.text.startsWith("HTTP/1.1 200 OK\r\n"), got.text);
    ok(got.text.includes("\r\nplain answer\r\n"), got.text);
    strictEqual(bodyRead, false, "the ReadableStream was never read");
    strictEqual(closedByPeer, 0, "a body that ended itself hears no close");
  } finally {
    conn.close();
    await server.shutdown();
  }
});

Deno.test("the peer closing a direct body's connection is reported once", async () => {
  const closes: number[] = [];
  let sink: ChunkedSink | undefined;
  const handler = () => {
    const body = new ReadableStream<Uint8Array>({}, { highWaterMark: 0 });
    offerDirectBody(body, (taken) => {
      sink = taken;
      return { onDrain: () => {}, onClose: () => closes.push(performance.now()) };
    });
    strictEqual(directBodyOf(new ReadableStream()), undefined, "only offered bodies are direct");
    return Promise.resolve(new Response(body));
  };
  const server = servePlainHttp({ hostname: "127.0.0.1", port: 33002 }, handler);
  await server.listening;
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: 33002 });
    await conn.write(bytesOf("GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    await readUntil(conn, { text: "" }, (all) => all.includes("\r\n\r\n"));
    ok(sink !== undefined);
    conn.close();
    const deadline = Date.now() + 5000;
    while (closes.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    deepStrictEqual(closes.length, 1);
    sink.end();
    strictEqual(closes.length, 1);
  } finally {
    await server.shutdown();
  }
});
