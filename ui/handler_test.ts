// Goal: the console's files are served with their types and a strict CSP, the storage endpoint
// answers what it is given, and nothing but GET/HEAD under /ui/ reaches the console.
import assert from "node:assert/strict";
import { loadAssets, uiHandler } from "./mod.ts";

const fallback = () => new Response("fallback", { status: 418 });

Deno.test("uiHandler() serves index.html at /ui/ with a CSP naming the cluster's client URLs", async () => {
  const handler = uiHandler({
    storage: () => ({}),
    clientUrls: () => Promise.resolve(["http://127.0.0.1:2379", "https://10.0.0.2:2379/x"]),
  }, fallback);
  const response = await handler(new Request("http://127.0.0.1:2379/ui/"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = response.headers.get("content-security-policy")!;
  assert.ok(csp.includes("script-src 'self'"));
  assert.ok(csp.includes("frame-ancestors 'none'"));
  assert.ok(csp.includes("connect-src 'self' http://127.0.0.1:2379 https://10.0.0.2:2379;"));
  assert.equal(response.headers.get("x-frame-options"), "DENY");
  assert.ok((await response.text()).includes('<script type="module" src="./app.js">'));
});

Deno.test("uiHandler() limits the page to its own origin when the member list does not come", async () => {
  const handler = uiHandler({
    storage: () => ({}),
    clientUrls: () => Promise.reject(new Error("no leader")),
  }, fallback);
  const response = await handler(new Request("http://127.0.0.1:2379/ui/"));
  assert.match(response.headers.get("content-security-policy")!, /connect-src 'self';/);
  await response.body?.cancel();
});

Deno.test("uiHandler() serves every vendored file, hooks relinked to the served preact", async () => {
  const handler = uiHandler({ storage: () => ({}) }, fallback);
  const ASSETS = await loadAssets();
  for (const [path, asset] of ASSETS) {
    const response = await handler(new Request(`http://h/ui/${path}`));
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get("content-type"), asset.contentType);
    assert.equal(await response.text(), asset.body);
  }
  assert.ok(ASSETS.get("vendor/hooks.mjs")!.body.includes('from"./preact.mjs"'));
  assert.ok(ASSETS.get("vendor/uplot.mjs")!.body.includes("export { uPlot as default }"));
});

Deno.test("uiHandler() answers the storage report, 404 for unknown files, 405 for POST", async () => {
  const handler = uiHandler({ storage: () => ({ pages: { total: 7 } }) }, fallback);
  const storage = await handler(new Request("http://h/ui/api/storage"));
  assert.deepEqual(await storage.json(), { pages: { total: 7 }, ageMs: 0 });
  assert.equal(storage.headers.get("cache-control"), "no-store");
  const missing = await handler(new Request("http://h/ui/nope.js"));
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await handler(new Request("http://h/ui/api/storage", { method: "POST" }));
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const redirect = await handler(new Request("http://h/ui"));
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get("location"), "http://h/ui/");
  const other = await handler(new Request("http://h/health"));
  assert.equal(other.status, 418);
  await other.body?.cancel();
});

Deno.test("uiHandler() reports a failing storage walk as a 500 with its message", async () => {
  const handler = uiHandler({
    storage: () => {
      throw new Error("backend is closed");
    },
  }, fallback);
  const response = await handler(new Request("http://h/ui/api/storage"));
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "backend is closed" });
});

Deno.test("uiHandler() reuses a storage report for longer the longer its walk took", async () => {
  let now = 0;
  let walks = 0;
  let walkMs = 50;
  const handler = uiHandler({
    storage: () => {
      walks++;
      now += walkMs; // the walk takes walkMs of the fake clock
      return { pages: { total: walks } };
    },
    nowMs: () => now,
  }, fallback);
  const ask = async () => (await handler(new Request("http://h/ui/api/storage"))).json();
  assert.deepEqual(await ask(), { pages: { total: 1 }, ageMs: 0 });
  now += 999; // a 50 ms walk is reused for the 1 s minimum
  assert.deepEqual(await ask(), { pages: { total: 1 }, ageMs: 999 });
  now += 1;
  assert.deepEqual(await ask(), { pages: { total: 2 }, ageMs: 0 });
  assert.equal(walks, 2);
  walkMs = 400; // a 400 ms walk: reused for 3.6 s, so it takes a tenth of the loop at most
  now += 1000;
  await ask();
  now += 3599;
  assert.equal((await ask()).pages.total, 3);
  now += 1;
  assert.equal((await ask()).pages.total, 4);
});

Deno.test("uiHandler() asks authorize() on every /ui/api/ request, before a reused report", async () => {
  // Goal: a cached storage report never reaches a caller that the member refuses.
  // Method: a fake clock keeps the report cached; the authorizer refuses requests without
  // `authorization: root`, with the refusal it is given.
  let walks = 0;
  const asked: string[] = [];
  const handler = uiHandler({
    storage: () => ({ walk: ++walks }),
    defrag: () => ({ running: true, copied: 5, total: 10 }),
    nowMs: () => 0,
    authorize: (request) => {
      asked.push(new URL(request.url).pathname);
      return Promise.resolve(
        request.headers.get("authorization") === "root"
          ? undefined
          : Response.json({ error: "auth: permission denied", code: 2 }, { status: 500 }),
      );
    },
  }, fallback);
  const get = (path: string, token?: string) =>
    handler(
      new Request(
        `http://h${path}`,
        token === undefined ? {} : { headers: { authorization: token } },
      ),
    );
  const first = await get("/ui/api/storage", "root");
  assert.deepEqual(await first.json(), { walk: 1, ageMs: 0 });
  for (const path of ["/ui/api/storage", "/ui/api/defrag"]) {
    const refused = await get(path);
    assert.equal(refused.status, 500);
    assert.deepEqual(await refused.json(), { error: "auth: permission denied", code: 2 });
    assert.ok(refused.headers.get("content-security-policy"));
  }
  const progress = await get("/ui/api/defrag", "root");
  assert.deepEqual(await progress.json(), { running: true, copied: 5, total: 10 });
  assert.equal(walks, 1, "the refused requests did not walk the file");
  assert.deepEqual(asked, [
    "/ui/api/storage",
    "/ui/api/storage",
    "/ui/api/defrag",
    "/ui/api/defrag",
  ]);
});

Deno.test("uiHandler() without a storage report passes /ui/api/ (any method) to the fallback", async () => {
  const handler = uiHandler({}, fallback);
  const calls: [string, string][] = [["GET", "/ui/api/storage"], ["POST", "/ui/api/defrag"]];
  for (const [method, path] of calls) {
    const response = await handler(new Request(`http://127.0.0.1:23790${path}`, { method }));
    assert.equal(response.status, 418, `${method} ${path}`);
    await response.body?.cancel();
  }
  const page = await handler(new Request("http://127.0.0.1:23790/ui/"));
  assert.equal(page.status, 200);
  await page.body?.cancel();
});
