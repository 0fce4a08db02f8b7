// Goal: the console's cluster view shows a real 3-member detcd cluster as etcdctl sees it
// (members, the leader, term, raft and applied index, db size, version, health), its actions
// (move leader, add a learner, promote it, remove it) change what etcdctl reads, and a member
// that goes down while the view is open is shown as unreachable while the others stay healthy.
// Method: LocalCluster on ports 36100-36111, one headless chromium; the view asks each
// member's own client URL for its status (cross-origin, no credentials).
import assert from "node:assert/strict";
import { etcdctl } from "./_harness.ts";
import { LocalCluster, retry } from "./cluster_util.ts";
import { HAVE_CHROMIUM, launchBrowser, newPage, screenshot } from "./_ui_browser.ts";

const BASE_PORT = 36100;

async function ctl(endpoints: string, ...args: string[]): Promise<string> {
  const result = await etcdctl(endpoints, args, { timeoutMs: 20_000 });
  assert.equal(result.code, 0, `etcdctl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** Member IDs (hex) from `etcdctl member list -w json`, read as text (they pass 2^53). */
function memberIds(json: string): string[] {
  return [...json.matchAll(/"ID":(\d+)/g)].map((m) => BigInt(m[1]!).toString(16));
}

Deno.test({
  name: "console: the cluster view against a 3-member detcd cluster, checked with etcdctl",
  ignore: !HAVE_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cluster = new LocalCluster({ size: 3, basePort: BASE_PORT });
    const browser = await launchBrowser();
    try {
      await cluster.init();
      await cluster.startAll();
      const leaderId = await cluster.waitLeader([0, 1, 2]);
      const leader = cluster.indexOf(leaderId);
      const all = cluster.endpoints([0, 1, 2]);
      await ctl(all, "put", "from/etcdctl", "1");
      const { page, errors } = await newPage(browser);
      await page.goto(`http://${cluster.endpoint(leader)}/ui/#/cluster`);

      await t.step(
        "every member with role, indexes and health, as etcdctl lists them",
        async () => {
          const ids = memberIds(await ctl(all, "member", "list", "-w", "json"));
          assert.equal(ids.length, 3);
          for (const id of ids) {
            // A member's first /health can fall in the cluster's first seconds; the view
            // refreshes, so a loaded machine may need more than one round.
            await page.waitForSelector(
              `tr[data-member="${id}"] [data-testid="health"]:has-text("healthy")`,
              { timeout: 30_000 },
            );
          }
          const leaderRow = page.locator(`tr[data-member="${leaderId}"]`);
          assert.ok((await leaderRow.textContent())?.includes("leader"));
          assert.equal(await page.locator(".badge.leader").count(), 1);
          // etcdctl's JSON holds 64-bit numbers: read them as text.
          const status = await ctl(cluster.endpoint(leader), "endpoint", "status", "-w", "json");
          const term = /"raftTerm":(\d+)/.exec(status)?.[1];
          const index = /"raftIndex":(\d+)/.exec(status)?.[1];
          const cells = await leaderRow.locator("td.num").allTextContents();
          assert.equal(cells[0], term, `term: ${cells.join(" | ")} / ${status}`);
          assert.ok(Number(cells[1]) >= Number(index), `raft index: ${cells[1]} / ${index}`);
          assert.ok((await leaderRow.textContent())?.includes("3.4.23"));
          await screenshot(page, "cluster");
        },
      );

      await t.step("move leader from the leader's console", async () => {
        const target = [0, 1, 2].find((i) => i !== leader)!;
        const targetId = cluster.members[target]!.id;
        await page.locator(`tr[data-member="${targetId}"] button:has-text("Make leader")`).click();
        await page.waitForSelector(`text=leadership moved to ${targetId}`, { timeout: 20_000 });
        const now = await cluster.waitLeader([0, 1, 2]);
        assert.equal(now, targetId);
        const status = await ctl(all, "endpoint", "status", "-w", "json");
        const leaders = [...status.matchAll(/"leader":(\d+)/g)].map((m) =>
          BigInt(m[1]!).toString(16)
        );
        assert.deepEqual(leaders, [targetId, targetId, targetId], status);
      });

      await t.step("add a learner, start it, promote it, remove it", async () => {
        const slotIndex = cluster.addSlot();
        const slot = cluster.members[slotIndex]!;
        await page.fill("#peer-urls", `http://127.0.0.1:${slot.proxyPort}`);
        await page.click('button:has-text("Add member")');
        await page.waitForSelector("text=member added", { timeout: 20_000 });
        const listed = await ctl(all, "member", "list");
        const line = listed.split("\n").find((l) => l.includes(`127.0.0.1:${slot.proxyPort}`));
        assert.ok(line?.includes("true"), `a learner: ${listed}`);
        slot.id = line!.split(",")[0]!.trim();
        const joined = cluster.spawn(slotIndex, {
          state: "existing",
          cluster: cluster.initialCluster([0, 1, 2, slotIndex]),
        });
        await joined.waitFor("enabled capabilities for version", 30_000).catch(() => {});
        // The page may connect only to the client URLs the cluster had when it loaded (its
        // CSP): a new member's status needs a reload, as docs/ui.md says.
        await retry("the new member publishes its client URL", 20_000, async () => {
          assert.ok((await ctl(all, "member", "list")).includes(`${slot.clientPort}`));
        });
        await page.reload();
        const row = page.locator(`tr[data-member="${slot.id}"]`);
        await row.locator('[data-testid="health"]:has-text("healthy")').waitFor({
          timeout: 30_000,
        });
        assert.ok((await row.textContent())?.includes("learner"));
        await retry("promote the caught-up learner", 20_000, async () => {
          await row.locator('button:has-text("Promote")').click({ timeout: 2000 });
          await page.waitForSelector(`text=promoted ${slot.id}`, { timeout: 3000 });
        });
        const afterPromote = await ctl(all, "member", "list");
        const promoted = afterPromote.split("\n").find((l) => l.startsWith(slot.id));
        assert.ok(promoted?.endsWith("false"), afterPromote);
        // Right after a promotion the leader may refuse the removal for a moment (etcd's
        // strict reconfiguration check counts the members it hears from); the console then
        // shows the error and the operator clicks again.
        await retry("remove the promoted member", 20_000, async () => {
          if (await page.locator(`text=removed ${slot.id}`).isVisible()) return;
          await row.locator('button:has-text("Remove")').click({ timeout: 2000 });
          await page.waitForSelector(`text=removed ${slot.id}`, { timeout: 3000 });
        });
        assert.equal(memberIds(await ctl(all, "member", "list", "-w", "json")).length, 3);
        await cluster.kill(slotIndex);
      });

      await t.step("a member going down is shown unreachable; the rest stay healthy", async () => {
        const current = cluster.indexOf(await cluster.waitLeader([0, 1, 2]));
        await page.goto(`http://${cluster.endpoint(current)}/ui/#/cluster`);
        const victim = [0, 1, 2].find((i) => i !== current)!;
        const victimId = cluster.members[victim]!.id;
        await page.waitForSelector(
          `tr[data-member="${victimId}"] [data-testid="health"]:has-text("healthy")`,
        );
        await cluster.kill(victim);
        await page.waitForSelector(
          `tr[data-member="${victimId}"] [data-testid="health"]:has-text("unreachable")`,
          { timeout: 15_000 },
        );
        for (const i of [0, 1, 2].filter((i) => i !== victim)) {
          const id = cluster.members[i]!.id;
          assert.ok(
            (await page.textContent(`tr[data-member="${id}"] [data-testid="health"]`))?.includes(
              "healthy",
            ),
          );
        }
        await screenshot(page, "cluster-member-down");
      });
      assert.deepEqual(errors, []);
    } catch (error) {
      console.error(cluster.logs());
      throw error;
    } finally {
      await browser.close();
      await cluster.cleanup();
    }
  },
});
