// Goal: the web console served by `grpc-proxy start` works as on a member: it lists what the
// real etcdctl wrote, what it creates etcdctl reads, and it keeps working when the member the
// proxy forwards to is killed. The proxy's guard refuses cross-site writes, the caller's token
// reaches the member (auth is the member's), and `--namespace` / `--enable-ui=false` behave as
// documented (docs/ui.md).
// Method: a 3-member detcd cluster (ports 28600-28621), three proxies (28650 plain, 28660 with
// `--namespace`, 28670 with `--enable-ui=false`), one headless chromium on the plain proxy's
// `/ui/`. Which member the proxy forwards to is read from the member id in the gateway's answer
// header through the proxy.
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { etcdctl, type ServerProcess, spawnServer } from "./_harness.ts";
import { retryCtl, startCluster } from "./_proxy_cluster.ts";
import { b64, HAVE_CHROMIUM, keyRow, launchBrowser, newPage, screenshot } from "./_ui_browser.ts";

const MEMBER_PORTS = [28600, 28610, 28620];
const PROXY = "127.0.0.1:28650";
const NS_PROXY = "127.0.0.1:28660";
const NO_UI_PROXY = "127.0.0.1:28670";

function startProxy(listen: string, endpoints: string[], extra: string[] = []): ServerProcess {
  return spawnServer("detcd", [
    "grpc-proxy",
    "start",
    `--listen-addr=${listen}`,
    `--endpoints=${endpoints.join(",")}`,
    ...extra,
  ], { endpoint: listen });
}

/** POSTs JSON to the proxy as a client that is not a browser; answers status and JSON. */
async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`http://${PROXY}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: await response.json() };
}

/** The id of the member that answers the proxy's forwarded gateway calls now. */
async function forwardedTo(): Promise<string> {
  const { status, json } = await post("/v3/maintenance/status", {});
  assert.equal(status, 200, JSON.stringify(json));
  return String((json.header as { member_id: string }).member_id);
}

/** Searches a fresh key tree for `prefix` and waits for `name` among the listed keys. */
async function listed(page: Page, prefix: string, name: string): Promise<void> {
  await openKeys(page);
  await page.fill("#prefix-search", prefix);
  await page.click("text=Search");
  try {
    await keyRow(page, prefix, name).waitFor();
  } catch (error) {
    console.error("the page shows:", await page.textContent("main"));
    throw error;
  }
}

/** Opens the keys view afresh (no message left from an earlier action). */
async function openKeys(page: Page): Promise<void> {
  await page.goto(`http://${PROXY}/ui/#/keys`);
  await page.reload();
  await page.waitForSelector('#tab-keys[aria-selected="true"]');
}

/** Creates `key` with `value` in the console's keys view; throws the console's error if any. */
async function create(page: Page, key: string, value: string): Promise<void> {
  await openKeys(page);
  await page.fill("#new-key", key);
  await page.fill("#new-value", value);
  await page.click('button:has-text("Create")');
  const message = await page.locator("div.msg").first().textContent({ timeout: 20_000 });
  assert.match(message ?? "", /^created at revision \d+$/);
}

/** The member id of the leader as the member the proxy forwards to sees it ("0": none). */
async function leaderSeen(): Promise<string> {
  const { json } = await post("/v3/maintenance/status", {});
  return String(json.leader ?? "0");
}

Deno.test({
  name: "console through grpc-proxy: etcdctl's keys, a create, a killed member, auth, namespace",
  ignore: !HAVE_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cluster = await startCluster(MEMBER_PORTS);
    const proxies: ServerProcess[] = [];
    let browser: Browser | undefined;
    try {
      proxies.push(startProxy(PROXY, cluster.endpoints));
      proxies.push(startProxy(NS_PROXY, cluster.endpoints, ["--namespace=ns/"]));
      proxies.push(startProxy(NO_UI_PROXY, cluster.endpoints, ["--enable-ui=false"]));
      const [, launched] = await Promise.all([
        Promise.all(proxies.map((proxy) => proxy.waitFor("started gRPC proxy"))),
        launchBrowser(),
      ]);
      browser = launched;
      await retryCtl(cluster.endpoints[0]!, ["put", "/fleet/web-1", "up"]);
      const { page, errors } = await newPage(browser);

      await t.step("the console lists etcdctl's key and creates one etcdctl reads", async () => {
        await listed(page, "/fleet/", "web-1");
        await create(page, "/fleet/web-2", "made through the proxy");
        const got = await etcdctl(cluster.endpoints[1]!, [
          "get",
          "/fleet/web-2",
          "--print-value-only",
        ]);
        assert.equal(got.stdout, "made through the proxy\n", got.stderr);
        await listed(page, "/fleet/", "web-2");
        await screenshot(page, "proxy");
      });

      await t.step("the cluster view: every member's status, from its own client URL", async () => {
        // The page asks each member at its client URL (the proxy lists them in connect-src).
        await page.goto(`http://${PROXY}/ui/#/cluster`);
        await page.waitForSelector('#tab-cluster[aria-selected="true"]');
        const healthy = page.locator('[data-testid="members"] [data-testid="health"]', {
          hasText: /^healthy/,
        });
        const deadline = Date.now() + 10_000;
        while (await healthy.count() < MEMBER_PORTS.length) {
          assert.ok(Date.now() < deadline, await page.textContent("main") ?? "");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(await page.locator(".badge.leader").count(), 1);
      });

      await t.step("the member the proxy forwards to is killed: the console goes on", async () => {
        const before = await forwardedTo();
        const ids = await Promise.all(cluster.endpoints.map(async (endpoint) => {
          const response = await fetch(`http://${endpoint}/v3/maintenance/status`, {
            method: "POST",
            body: "{}",
          });
          const json = await response.json();
          return String(json.header.member_id);
        }));
        const used = ids.indexOf(before);
        assert.ok(used >= 0, `${before} not in ${ids}`);
        await cluster.members[used]!.kill();
        // If it led, wait for the election (a write in flight meanwhile times out, as on etcd).
        const deadline = Date.now() + 15_000;
        for (;;) {
          const leader = await leaderSeen().catch(() => "0");
          if (leader !== "0" && leader !== before) break;
          assert.ok(Date.now() < deadline, "no new leader");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await create(page, "/fleet/web-3", "after the kill");
        await listed(page, "/fleet/", "web-3");
        const after = await forwardedTo();
        assert.notEqual(after, before);
        const alive = cluster.endpoints.find((_, i) => i !== used)!;
        const got = await retryCtl(alive, ["get", "/fleet/web-3", "--print-value-only"]);
        assert.equal(got.stdout, "after the kill\n");
        // The storage view's endpoint (/ui/api/storage) is forwarded too.
        const storage = await fetch(`http://${PROXY}/ui/api/storage`);
        assert.equal(storage.status, 200);
        const report = await storage.json();
        assert.equal(typeof report.walkMs, "number", JSON.stringify(report));
        assert.ok(report.pages !== undefined, JSON.stringify(report));
        assert.deepEqual(errors, []);
      });

      await t.step("a cross-site write is refused by the proxy itself", async () => {
        const { status, json } = await post("/v3/kv/put", {
          key: b64("/fleet/evil"),
          value: b64("x"),
        }, { origin: "http://evil.example:8080", "content-type": "text/plain" });
        assert.equal(status, 403);
        assert.match(String(json.message), /cross-site request refused/);
        const alive = cluster.endpoints.find((_, i) => cluster.members[i]!.exited === undefined)!;
        const got = await retryCtl(alive, ["get", "/fleet/evil"]);
        assert.equal(got.stdout, "", "the refused put wrote nothing");
      });

      await t.step("--namespace refuses the console, --enable-ui=false removes it", async () => {
        const refused = await fetch(`http://${NS_PROXY}/ui/`);
        assert.equal(refused.status, 501);
        assert.match(await refused.text(), /not served with --namespace "ns\/"/);
        const gateway = await fetch(`http://${NS_PROXY}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: b64("/fleet/web-1") }),
        });
        assert.equal(gateway.status, 404, "no gateway call leaves a namespaced proxy");
        await gateway.body?.cancel();
        const off = await fetch(`http://${NO_UI_PROXY}/ui/`);
        assert.equal(off.status, 404);
        await off.body?.cancel();
        const health = await fetch(`http://${NO_UI_PROXY}/health`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
      });

      await t.step("auth: the token goes through, the member decides", async () => {
        const alive = cluster.endpoints.filter((_, i) => cluster.members[i]!.exited === undefined)
          .join(",");
        await retryCtl(alive, ["user", "add", "root:rootpw"]);
        await retryCtl(alive, ["auth", "enable"]);
        const anonymous = await post("/v3/kv/range", { key: b64("/fleet/web-1") });
        assert.notEqual(anonymous.status, 200, JSON.stringify(anonymous.json));
        const login = await post("/v3/auth/authenticate", { name: "root", password: "rootpw" });
        assert.equal(login.status, 200, JSON.stringify(login.json));
        const token = String(login.json.token);
        const read = await post("/v3/kv/range", { key: b64("/fleet/web-1") }, {
          authorization: token,
        });
        assert.equal(read.status, 200, JSON.stringify(read.json));
        assert.equal((read.json.kvs as { value: string }[])[0]!.value, b64("up"));
      });
      await page.close();
    } finally {
      await browser?.close();
      await Promise.all(proxies.map((p) => p.stop(3000)));
      await Promise.all(proxies.map((p) => p.drained()));
      await cluster.stop();
    }
  },
});
