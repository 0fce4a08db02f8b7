// Goal: a browser's cross-site write is refused, everything a non-browser client or a
// same-origin page sends passes, and the CORS headers follow --cors as in etcd 3.4.
import assert from "node:assert/strict";
import { CROSS_SITE_MESSAGE, crossSiteGuarded, crossSiteRefusal } from "./mod.ts";

function post(path: string, headers: Record<string, string>): Request {
  return new Request(`http://127.0.0.1:2379${path}`, { method: "POST", headers, body: "{}" });
}

Deno.test("crossSiteRefusal() lets clients without browser headers and same-origin pages pass", () => {
  assert.equal(crossSiteRefusal(post("/v3/kv/put", {})), undefined);
  assert.equal(
    crossSiteRefusal(post("/v3/kv/put", { "sec-fetch-site": "same-origin" })),
    undefined,
  );
  assert.equal(crossSiteRefusal(post("/v3/kv/put", { "sec-fetch-site": "none" })), undefined);
  assert.equal(
    crossSiteRefusal(
      post("/v3/kv/put", { origin: "http://127.0.0.1:2379", host: "127.0.0.1:2379" }),
    ),
    undefined,
  );
});

Deno.test("crossSiteRefusal() refuses cross-site and same-site writes by Sec-Fetch-Site or Origin", () => {
  const crossSite = crossSiteRefusal(post("/v3/kv/put", { "sec-fetch-site": "cross-site" }));
  assert.ok(crossSite?.startsWith(CROSS_SITE_MESSAGE));
  assert.ok(crossSiteRefusal(post("/v3/kv/deleterange", { "sec-fetch-site": "same-site" })));
  assert.ok(crossSiteRefusal(post("/v3/kv/put", { origin: "http://evil.example" })));
  assert.ok(crossSiteRefusal(post("/v3/kv/put", { origin: "null" })));
  // Another port on the same host is another origin.
  assert.ok(crossSiteRefusal(post("/v3/kv/put", { origin: "http://127.0.0.1:2380" })));
});

Deno.test("crossSiteRefusal() lets reads and the member status through from anywhere", () => {
  const get = new Request("http://127.0.0.1:2379/ui/", {
    headers: { "sec-fetch-site": "cross-site" },
  });
  assert.equal(crossSiteRefusal(get), undefined);
  const status = post("/v3/maintenance/status", { "sec-fetch-site": "same-site" });
  assert.equal(crossSiteRefusal(status), undefined);
});

Deno.test("crossSiteGuarded() answers a refused write 403 with the gateway's error shape, never calling the handler", async () => {
  let called = 0;
  const handler = crossSiteGuarded(() => {
    called++;
    return new Response("ok");
  }, { cors: ["*"] });
  const response = await handler(post("/v3/kv/put", { "sec-fetch-site": "cross-site" }));
  assert.equal(response.status, 403);
  const body = await response.json();
  assert.equal(body.code, 7);
  assert.ok(body.error.startsWith(CROSS_SITE_MESSAGE));
  assert.equal(called, 0);
});

Deno.test("crossSiteGuarded() trusts an origin named in --cors, as browsers send it", async () => {
  const listed = crossSiteGuarded(() => new Response("ok"), { cors: ["https://ops.example:443"] });
  const fromListed = await listed(post("/v3/kv/put", {
    origin: "https://ops.example",
    "sec-fetch-site": "cross-site",
  }));
  assert.equal(fromListed.status, 200, "an origin named in --cors is trusted");
  await fromListed.body?.cancel();
  const fromOther = await listed(post("/v3/kv/range", { origin: "https://other.example" }));
  assert.equal(fromOther.status, 403);
  await fromOther.body?.cancel();
});
