// Goal: with auth on, the console served by a detcd member logs in, keeps the token in memory
// only, lets root edit users, roles and permissions through the member's own Auth API (etcdctl
// sees the changes), shows a user without the root role only what that user may see, and
// `/ui/api/storage` answers only root, through the same check as Defragment.
// Method: one detcd member (ports 28000-28001) with auth enabled by etcdctl; chromium drives the
// console; etcdctl and plain fetch (as curl would call) check what the member holds and answers.
import assert from "node:assert/strict";
import { etcdctl, startMember } from "./_harness.ts";
import { HAVE_CHROMIUM, keyRow, launchBrowser, newPage, screenshot } from "./_ui_browser.ts";

Deno.test({
  name: "console: log in and edit users and roles through detcd's Auth API",
  ignore: !HAVE_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const detcd = await startMember({ impl: "detcd", clientPort: 28000, peerPort: 28001 });
    const root = ["--user", "root:secret"];
    const ctl = async (...args: string[]) => {
      const result = await etcdctl(detcd.endpoint, args);
      assert.equal(result.code, 0, `etcdctl ${args.join(" ")}: ${result.stderr}`);
      return result.stdout;
    };
    let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
    try {
      await ctl("user", "add", "root:secret");
      await ctl("auth", "enable");
      await ctl(...root, "put", "/secret/key", "from etcdctl");
      await ctl(...root, "put", "/other/key", "not for alice");
      browser = await launchBrowser();
      const { page, errors } = await newPage(browser);
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
        await page.waitForSelector('[data-testid="roles"] td:has-text("READ /secret/")');
        await screenshot(page, "auth-root");
        assert.match(await ctl(...root, "user", "get", "alice"), /Roles: reader/);
        assert.match(await ctl(...root, "role", "get", "reader"), /\[\/secret\/, \/secret0\)/);
        const alice = await etcdctl(detcd.endpoint, [
          "--user",
          "alice:alicepw",
          "get",
          "/secret/key",
          "--print-value-only",
        ]);
        assert.equal(alice.stdout, "from etcdctl\n");
      });

      await t.step("/ui/api/storage answers root only, as Defragment does", async () => {
        const token = async (name: string, password: string) => {
          const response = await fetch(`http://${detcd.endpoint}/v3/auth/authenticate`, {
            method: "POST",
            body: JSON.stringify({ name, password }),
          });
          return (await response.json()).token as string;
        };
        const asked = async (path: string, headers: Record<string, string>) => {
          const response = await fetch(`http://${detcd.endpoint}${path}`, {
            method: path.startsWith("/v3/") ? "POST" : "GET",
            headers,
            ...(path.startsWith("/v3/") ? { body: "{}" } : {}),
          });
          return { status: response.status, json: await response.json() };
        };
        const aliceToken = await token("alice", "alicepw");
        const rootToken = await token("root", "secret");
        for (const headers of [{}, { authorization: aliceToken }, { authorization: "forged" }]) {
          const storage = await asked("/ui/api/storage", headers);
          const defrag = await asked("/v3/maintenance/defragment", headers);
          assert.notEqual(storage.status, 200, JSON.stringify(storage));
          assert.deepEqual(storage, defrag, JSON.stringify(headers));
        }
        const allowed = await asked("/ui/api/storage", { authorization: rootToken });
        assert.equal(allowed.status, 200);
        assert.ok(allowed.json.pages.buckets.some((b: { name: string }) => b.name === "authUsers"));
      });

      await t.step("the keys view works with root's token; logging out drops it", async () => {
        await page.click("#tab-keys");
        await page.fill("#prefix-search", "/secret/");
        await page.click("text=Search");
        await keyRow(page, "/secret/", "key").click();
        assert.equal(await page.textContent('[data-testid="value"]'), "from etcdctl");
        await page.click("#tab-auth");
        await page.click('button:has-text("Log out")');
        await page.waitForSelector('form[aria-label="log in"]');
        await page.click("#tab-keys");
        await page.click("text=Search");
        await page.waitForSelector('[role="alert"]:has-text("user name is empty")');
      });

      await t.step("a user without root sees only what its roles allow", async () => {
        await page.click("#tab-auth");
        await page.fill("#login-name", "alice");
        await page.fill("#login-password", "alicepw");
        await page.click('button:has-text("Log in")');
        await page.waitForSelector("text=logged in as alice");
        // Its own roles and permissions, and no user or role editing.
        await page.waitForSelector('[data-testid="own-roles"] td:has-text("READ /secret/*")');
        assert.equal(await page.locator('button:has-text("Add user")').count(), 0);
        assert.equal(await page.locator('[data-testid="users"]').count(), 0);
        await screenshot(page, "auth-user");
        // Keys: the top is refused by the member; the console offers what alice may read.
        await page.click("#tab-keys");
        await page.fill("#prefix-search", "");
        await page.click("text=Search");
        await page.waitForSelector('[role="alert"]:has-text("permission denied")');
        await page.click('[data-testid="readable"] button:has-text("/secret/*")');
        await keyRow(page, "/secret/", "key").click();
        assert.equal(await page.textContent('[data-testid="value"]'), "from etcdctl");
        assert.equal(await page.locator("text=not for alice").count(), 0);
        // Storage: root only, said instead of failing requests.
        await page.click("#tab-storage");
        await page.waitForSelector('[data-testid="storage-root-only"]');
        assert.equal(await page.locator('button:has-text("Defragment")').count(), 0);
      });
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
      await detcd.stop();
    }
  },
});
