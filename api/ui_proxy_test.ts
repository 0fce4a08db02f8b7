// Goal: the console behind a proxy serves its files itself and forwards only the console's
// calls (gateway, /ui/api/*, /version) to the first endpoint that answers, with the caller's
// Authorization; a cross-site write never leaves the proxy; with a refusal, /ui/ answers 501
// and nothing is forwarded.
// Method: two endpoints on loopback, the first a closed port (a dead member), the second a
// Deno.serve that records what reaches it.
import assert from "node:assert/strict";
import { createLogger } from "../server/mod.ts";
import { consoleForwarded, startConsoleProxy } from "./ui_proxy.ts";

const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
const own = () => new Response("own", { status: 299 });

function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("consoleForwarded() names the gateway, the console's API and /version only", () => {
  for (const path of ["/v3/kv/range", "/v3beta/watch", "/v3alpha/kv/put", "/ui/api/storage"]) {
    assert.ok(consoleForwarded(path), path);
  }
  assert.ok(consoleForwarded("/version"));
  for (const path of ["/ui/", "/ui/app.js", "/metrics", "/health", "/v2/keys", "/v3", "/v4/x"]) {
    assert.ok(!consoleForwarded(path), path);
  }
});

Deno.test({
  name: "startConsoleProxy() forwards the console's calls past a dead endpoint",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seen: { path: string; authorization: string | null; body: string }[] = [];
    const member = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
      seen.push({
        path: new URL(r.url).pathname,
        authorization: r.headers.get("authorization"),
        body: await r.text(),
      });
      return Response.json({ header: { member_id: "1" } });
    });
    const alive = `http://127.0.0.1:${member.addr.port}`;
    // The forwarder shuffles its endpoints; a random() near 1 keeps the order: dead one first.
    const random = Math.random;
    Math.random = () => 0.999999;
    const proxy = await startConsoleProxy({
      endpoints: [`http://127.0.0.1:${deadPort()}`, alive],
      clientUrls: () => Promise.resolve([alive]),
      log,
    }).finally(() => Math.random = random);
    try {
      const handler = proxy.wrap(own);
      const base = "http://127.0.0.1:23790";
      // The first call meets the dead endpoint and goes on; the next ones skip it.
      for (let i = 0; i < 3; i++) {
        const response = await handler(
          new Request(`${base}/v3/kv/range`, {
            method: "POST",
            headers: { authorization: "tok", "sec-fetch-site": "same-origin" },
            body: '{"key":"YQ=="}',
          }),
        );
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { header: { member_id: "1" } });
      }
      assert.deepEqual(seen[0], {
        path: "/v3/kv/range",
        authorization: "tok",
        body: '{"key":"YQ=="}',
      });
      const storage = await handler(new Request(`${base}/ui/api/storage`));
      assert.equal(storage.status, 200);
      await storage.body?.cancel();
      assert.equal(seen.at(-1)!.path, "/ui/api/storage");
      // The files are the proxy's own, with the members in connect-src.
      const page = await handler(new Request(`${base}/ui/`));
      assert.equal(page.status, 200);
      assert.match(
        page.headers.get("content-security-policy")!,
        new RegExp(`connect-src 'self' ${alive};`),
      );
      await page.body?.cancel();
      // Not the console's: the proxy's own handler.
      assert.equal((await handler(new Request(`${base}/health`))).status, 299);
      assert.equal((await handler(new Request(`${base}/metrics`))).status, 299);
      // A cross-site write is refused before it is forwarded.
      const count = seen.length;
      const evil = await handler(
        new Request(`${base}/v3/kv/put`, {
          method: "POST",
          headers: { origin: "http://evil.example", "content-type": "text/plain" },
          body: "{}",
        }),
      );
      assert.equal(evil.status, 403);
      await evil.body?.cancel();
      assert.equal(seen.length, count);
    } finally {
      proxy.close();
      await member.shutdown();
    }
  },
});

Deno.test("startConsoleProxy() with a refusal answers 501 on /ui/ and forwards nothing", async () => {
  const proxy = await startConsoleProxy({
    endpoints: ["http://127.0.0.1:1"],
    refusal: "no console here",
    log,
  });
  const handler = proxy.wrap(own);
  const page = await handler(new Request("http://127.0.0.1:23790/ui/"));
  assert.equal(page.status, 501);
  assert.equal(await page.text(), "no console here\n");
  const gateway = await handler(
    new Request("http://127.0.0.1:23790/v3/kv/range", { method: "POST" }),
  );
  assert.equal(gateway.status, 299);
  proxy.close();
});
