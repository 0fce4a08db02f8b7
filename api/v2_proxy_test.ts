import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLogger } from "../server/mod.ts";
import { startHttpServer } from "./http_server.ts";
import { V2Proxy, type V2ProxyOptions } from "./v2_proxy.ts";

const _log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });

/** An upstream on an ephemeral port that records what it got. */
function _upstream(handler: (request: Request) => Response | Promise<Response>) {
  const seen: { method: string; path: string; headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
    const url = new URL(r.url);
    seen.push({
      method: r.method,
      path: url.pathname + url.search,
      headers: r.headers,
      body: await r.text(),
    });
    return handler(r);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, server };
}

/** A port nobody listens on. */
function _deadUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `http://127.0.0.1:${port}`;
}

function _options(urls: string[], extra: Partial<V2ProxyOptions> = {}): V2ProxyOptions {
  return {
    refresh: () => Promise.resolve(urls),
    failureWaitMs: 60_000,
    refreshIntervalMs: 60_000,
    dialTimeoutMs: 1000,
    writeTimeoutMs: 1000,
    readTimeoutMs: 0,
    readonly: false,
    cors: [],
    log: _log,
    ...extra,
  };
}

Deno.test("V2Proxy forwards method, path, query, body and end-to-end headers only", async () => {
  const up = _upstream(() =>
    new Response('{"ok":1}', {
      status: 201,
      headers: { "x-etcd-index": "7", "content-type": "application/json", "keep-alive": "x" },
    })
  );
  const proxy = await V2Proxy.start(_options([up.url]));
  try {
    const response = await proxy.handler(
      new Request("http://proxy.example:2379/v2/keys/a?prevExist=false", {
        method: "PUT",
        body: "value=1",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "proxy-authorization": "secret",
          "x-custom": "yes",
        },
      }),
    );
    equal(response.status, 201);
    equal(await response.text(), '{"ok":1}');
    equal(response.headers.get("x-etcd-index"), "7");
    equal(response.headers.get("keep-alive"), null);
    equal(up.seen.length, 1);
    const got = up.seen[0]!;
    deepStrictEqual([got.method, got.path, got.body], [
      "PUT",
      "/v2/keys/a?prevExist=false",
      "value=1",
    ]);
    equal(got.headers.get("x-custom"), "yes");
    equal(got.headers.get("proxy-authorization"), null);
    equal(got.headers.get("host"), "proxy.example:2379");
  } finally {
    proxy.close();
    await up.server.shutdown();
  }
});

Deno.test("V2Proxy fails over to the next endpoint and holds the failed one out", async () => {
  const up = _upstream(() => new Response("fine"));
  const dead = _deadUrl();
  // The order is random (as etcd's): take a proxy that tries the dead endpoint first.
  let proxy = await V2Proxy.start(_options([dead, up.url]));
  for (let i = 0; i < 30 && proxy.endpoints()[0] !== dead; i++) {
    proxy.close();
    proxy = await V2Proxy.start(_options([dead, up.url]));
  }
  try {
    equal(proxy.endpoints()[0], dead);
    for (let i = 0; i < 3; i++) {
      const response = await proxy.handler(new Request("http://p/v2/keys/x"));
      equal(await response.text(), "fine");
    }
    deepStrictEqual(proxy.endpoints(), [up.url]);
    const config = await proxy.handler(new Request("http://p/v2/config/local/proxy"));
    deepStrictEqual(await config.json(), { endpoints: [up.url] });
    equal(
      (await proxy.handler(new Request("http://p/v2/config/local/proxy", { method: "POST" })))
        .status,
      405,
    );
  } finally {
    proxy.close();
    await up.server.shutdown();
  }
});

Deno.test("V2Proxy: 503 without endpoints, 502 when none answers, 501 in readonly", async () => {
  const none = await V2Proxy.start(_options([]));
  const empty = await none.handler(new Request("http://p/v2/keys/x"));
  equal(empty.status, 503);
  equal(await empty.text(), '{"message":"httpproxy: zero endpoints currently available"}');
  none.close();
  const dead = await V2Proxy.start(_options([_deadUrl(), _deadUrl()]));
  const failed = await dead.handler(new Request("http://p/v2/keys/x"));
  equal(failed.status, 502);
  equal(await failed.text(), '{"message":"httpproxy: unable to get response from 2 endpoint(s)"}');
  deepStrictEqual(dead.endpoints(), []);
  dead.close();
  const up = _upstream(() => new Response("read"));
  const readonly = await V2Proxy.start(_options([up.url], { readonly: true }));
  try {
    equal(await (await readonly.handler(new Request("http://p/v2/keys/x"))).text(), "read");
    const put = await readonly.handler(new Request("http://p/v2/keys/x", { method: "PUT" }));
    equal(put.status, 501);
    equal(await put.text(), "");
    equal(up.seen.length, 1);
  } finally {
    readonly.close();
    await up.server.shutdown();
  }
});

Deno.test("V2Proxy relays a streamed answer as it comes, and honours the read timeout", async () => {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const up = _upstream((request) => {
    if (new URL(request.url).pathname === "/slow") {
      return new Promise((resolve) => setTimeout(() => resolve(new Response("late")), 1500));
    }
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode("first\n"));
        await held;
        controller.enqueue(new TextEncoder().encode("second\n"));
        controller.close();
      },
    });
    return new Response(body);
  });
  const proxy = await V2Proxy.start(_options([up.url], { readTimeoutMs: 300 }));
  try {
    const response = await proxy.handler(new Request("http://p/v2/keys/x?wait=true"));
    equal(response.headers.get("transfer-encoding"), "chunked");
    const reader = response.body!.getReader();
    const first = await reader.read();
    equal(new TextDecoder().decode(first.value), "first\n");
    release();
    let rest = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    equal(rest, "second\n");
    // No byte for longer than --proxy-read-timeout: the endpoint counts as failed.
    const slow = await proxy.handler(new Request("http://p/slow"));
    equal(slow.status, 502);
    ok(proxy.endpoints().length === 0);
  } finally {
    release();
    proxy.close();
    await up.server.shutdown();
  }
});

function _closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

/** A raw HTTP/1.1 upstream answering "ok"; `closeAfterOne` drops each connection after one. */
function _rawUpstream(closeAfterOne: boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stats = { accepted: 0 };
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      stats.accepted++;
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(4096);
        let text = "";
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            text += new TextDecoder().decode(buffer.subarray(0, n));
            while (text.includes("\r\n\r\n")) {
              text = text.slice(text.indexOf("\r\n\r\n") + 4);
              await conn.write(
                new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
              );
              if (closeAfterOne) throw new Error("closing");
            }
          }
        } catch {
          // closed
        }
        if (conns.delete(conn)) _closeQuietly(conn);
      })();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => {
      listener.close();
      for (const conn of conns) _closeQuietly(conn);
      conns.clear();
    },
  };
}

Deno.test("V2Proxy keeps connections alive and retries once on one the member closed", async () => {
  for (const closeAfterOne of [false, true]) {
    const up = _rawUpstream(closeAfterOne);
    const proxy = await V2Proxy.start(_options([up.url]));
    try {
      for (let i = 0; i < 3; i++) {
        const response = await proxy.handler(
          new Request("http://p/v2/keys/x", { method: "PUT", body: "value=1" }),
        );
        equal(await response.text(), "ok");
        // Let the upstream's close reach us before the next request.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      equal(up.stats.accepted, closeAfterOne ? 3 : 1);
      deepStrictEqual(proxy.endpoints(), [up.url]);
    } finally {
      proxy.close();
      up.close();
    }
  }
});

Deno.test("V2Proxy behind its HTTP listener adds the client to X-Forwarded-For", async () => {
  const up = _upstream(() => new Response("ok"));
  const proxy = await V2Proxy.start(_options([up.url]));
  const listener = await startHttpServer({ host: "127.0.0.1", port: 0, http: proxy.handler });
  try {
    const response = await fetch(`http://127.0.0.1:${listener.port}/v2/keys/x`, {
      headers: { "x-forwarded-for": "10.0.0.1" },
    });
    equal(await response.text(), "ok");
    equal(up.seen[0]!.headers.get("x-forwarded-for"), "10.0.0.1, 127.0.0.1");
  } finally {
    await listener.close();
    proxy.close();
    await up.server.shutdown();
  }
});
