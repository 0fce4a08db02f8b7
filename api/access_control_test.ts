// Goal: the client port's HTTP requests pass etcd's access controller: --host-whitelist on
// plain listeners only (421 with etcd's text otherwise), CORS headers for allowed origins,
// OPTIONS answered at once. Method: the wrapper around a handler that counts its calls.
import { equal, ok } from "node:assert/strict";
import { accessController, hostname } from "./access_control.ts";

function _counting(): { calls: number; handler: (request: Request) => Response } {
  const state = {
    calls: 0,
    handler: (_request: Request) => {
      state.calls++;
      return new Response("ok");
    },
  };
  return state;
}

Deno.test("hostname() drops the port as Go's httputil.GetHostname", () => {
  equal(hostname("example.com:2379"), "example.com");
  equal(hostname("[::1]:2379"), "::1");
  equal(hostname("example.com"), "example.com");
  equal(hostname("127.0.0.1:80"), "127.0.0.1");
});

Deno.test("--host-whitelist refuses other Host headers on plain listeners only", async () => {
  const inner = _counting();
  const rejected: string[] = [];
  const options = { cors: ["*"], hostWhitelist: ["good.example"] };
  const plain = accessController(inner.handler, {
    ...options,
    secure: false,
    onRejectedHost: (host) => rejected.push(host),
  });
  const bad = await plain(
    new Request("http://x/health", { headers: { host: "evil.example:2379" } }),
  );
  equal(bad.status, 421);
  ok((await bad.text()).includes('etcd --host-whitelist "evil.example"'));
  equal(rejected.join(), "evil.example");
  const good = await plain(new Request("http://good.example:2379/health"));
  equal(good.status, 200);
  equal(inner.calls, 1);
  const secure = accessController(inner.handler, { ...options, secure: true });
  equal((await secure(new Request("https://evil.example/health"))).status, 200);
  equal(inner.calls, 2);
});

Deno.test("--cors: * allows all; a list echoes allowed origins only; OPTIONS short-cuts", async () => {
  const inner = _counting();
  const all = accessController(inner.handler, { cors: ["*"], hostWhitelist: [], secure: false });
  const response = await all(new Request("http://h/version"));
  equal(response.headers.get("access-control-allow-origin"), "*");
  const listed = accessController(inner.handler, {
    cors: ["http://a.example"],
    hostWhitelist: ["*"],
    secure: false,
  });
  const allowed = await listed(
    new Request("http://h/version", { headers: { origin: "http://a.example" } }),
  );
  equal(allowed.headers.get("access-control-allow-origin"), "http://a.example");
  const other = await listed(
    new Request("http://h/version", { headers: { origin: "http://b.example" } }),
  );
  equal(other.headers.get("access-control-allow-origin"), null);
  const calls = inner.calls;
  const preflight = await listed(new Request("http://h/v3/kv/put", { method: "OPTIONS" }));
  equal(preflight.status, 200);
  equal(inner.calls, calls, "OPTIONS does not reach the handler");
});
