// Goal: the console's Auth view logs in, keeps the token in memory only, and edits users and
// roles through etcd 3.4's documented gateway calls, so that etcdctl sees the changes.
// Method: detcd does not serve the Auth API on this branch, so the console (served by a detcd
// member, ports 36030-36031) has its /v3/ calls answered by the real etcd 3.4.23 (ports
// 36032-36033, auth enabled by etcdctl): the browser's requests are routed there unchanged.
// When detcd serves the Auth API, the same steps run against it by dropping the route.
import assert from "node:assert/strict";
import { ETCD_BIN, etcdctl, startMember } from "./_harness.ts";
import { HAVE_CHROMIUM, launchBrowser, newPage, screenshot } from "./_ui_browser.ts";

const HAVE_ETCD = (() => {
  try {
    return Deno.statSync(ETCD_BIN).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "console: log in and edit users and roles through etcd 3.4's Auth API",
  ignore: !HAVE_CHROMIUM || !HAVE_ETCD,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const detcd = await startMember({ impl: "detcd", clientPort: 36030, peerPort: 36031 });
    const etcd = await startMember({ impl: "etcd", clientPort: 36032, peerPort: 36033 });
    const browser = await launchBrowser();
    const root = ["--user", "root:secret"];
    const ctl = async (...args: string[]) => {
      const result = await etcdctl(etcd.endpoint, args);
      assert.equal(result.code, 0, `etcdctl ${args.join(" ")}: ${result.stderr}`);
      return result.stdout;
    };
    try {
      await ctl("user", "add", "root:secret");
      await ctl("auth", "enable");
      await ctl(...root, "put", "/secret/key", "from etcdctl");
      const { page, errors } = await newPage(browser);
      await page.route(`http://${detcd.endpoint}/v3/**`, async (route) => {
        const url = new URL(route.request().url());
        const response = await route.fetch({ url: `http://${etcd.endpoint}${url.pathname}` });
        await route.fulfill({ response });
      });
      await page.goto(`http://${detcd.endpoint}/ui/#/auth`);

      await t.step("before login the view asks for it; a wrong password is refused", async () => {
        await page.waitForSelector('form[aria-label="log in"]');
        await page.fill("#login-password", "wrong");
        await page.click('button:has-text("Log in")');
        await page.waitForSelector('[role="alert"]:has-text("authentication failed")');
      });

      await t.step("login keeps the token in memory only", async () => {
        await page.fill("#login-password", "secret");
        await page.click('button:has-text("Log in")');
        await page.waitForSelector("text=logged in as root");
        await page.waitForSelector('[data-testid="users"] td:has-text("root")');
        const stored = await page.evaluate(
          "[localStorage.length, sessionStorage.length, document.cookie, location.href]",
        ) as [number, number, string, string];
        assert.deepEqual(stored.slice(0, 3), [0, 0, ""]);
        assert.ok(!stored[3].includes("token"), stored[3]);
        await screenshot(page, "auth-root");
      });

      await t.step("users, roles and permissions edited as root reach etcdctl", async () => {
        await page.fill("#role-name", "reader");
        await page.click('button:has-text("Add role")');
        await page.waitForSelector("text=added role reader");
        await page.fill("#perm-role", "reader");
        await page.fill("#perm-key", "/secret/");
        await page.selectOption('select[aria-label="permission"]', "READ");
        await page.click('button:has-text("Grant permission")');
        await page.waitForSelector("text=granted READ on /secret/ to reader");
        await page.fill("#user-name", "alice");
        await page.fill("#user-password", "alicepw");
        await page.click('button:has-text("Add user")');
        await page.waitForSelector("text=added user alice");
        await page.fill("#grant-user", "alice");
        await page.fill("#grant-role", "reader");
        await page.click('button:has-text("Grant role")');
        await page.waitForSelector("text=granted reader to alice");
        assert.match(await ctl(...root, "user", "get", "alice"), /Roles: reader/);
        assert.match(await ctl(...root, "role", "get", "reader"), /\[\/secret\/, \/secret0\)/);
        const alice = await etcdctl(etcd.endpoint, [
          "--user",
          "alice:alicepw",
          "get",
          "/secret/key",
          "--print-value-only",
        ]);
        assert.equal(alice.stdout, "from etcdctl\n");
      });

      await t.step("the keys view works with the token; logging out drops it", async () => {
        await page.click("#tab-keys");
        await page.fill("#prefix-search", "/secret/");
        await page.click("text=Search");
        await page.locator('ul.keys li:has-text("key")').click();
        assert.equal(await page.textContent('[data-testid="value"]'), "from etcdctl");
        await page.click("#tab-auth");
        await page.click('button:has-text("Log out")');
        await page.waitForSelector('form[aria-label="log in"]');
        await page.click("#tab-keys");
        await page.click("text=Search");
        await page.waitForSelector('[role="alert"]:has-text("user name is empty")');
      });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await etcd.stop();
      await detcd.stop();
    }
  },
});
