// Goal: the console shows a defragmentation's progress as it advances, and the member keeps
// answering other requests while it copies (detcd copies in steps with the event loop free
// between them; etcd 3.4 holds its backend until the end).
// Method: one detcd member (ports 28010-28011) holding 60,000 keys and their churn; the
// storage view's Defragment button is clicked; meanwhile the test reads what the page shows and
// asks the member for `/ui/api/defrag` (each answer is a request served mid-defragmentation)
// and for a key through the gateway; afterwards every key is still there.
import assert from "node:assert/strict";
import { startMember } from "./_harness.ts";
import {
  b64,
  gateway,
  HAVE_CHROMIUM,
  launchBrowser,
  newPage,
  putMany,
  screenshot,
} from "./_ui_browser.ts";

const KEYS = 40_000;
const WATCH_LIMIT_MS = 120_000;

Deno.test({
  name: "console: defragmentation progress advances while the member serves requests",
  ignore: !HAVE_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const member = await startMember({ impl: "detcd", clientPort: 28010, peerPort: 28011 });
    let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
    try {
      // The keys twice (the second write leaves the first revisions behind), then compaction,
      // so that the file has both live pages to copy and free pages to give back.
      await putMany(member.endpoint, "/many/", KEYS);
      await putMany(member.endpoint, "/many/", KEYS);
      const status = await gateway(member.endpoint, "/v3/maintenance/status", {});
      const revision = (status.json.header as { revision: string }).revision;
      await gateway(member.endpoint, "/v3/kv/compaction", { revision, physical: true });
      const sizeBefore = Number(
        (await gateway(member.endpoint, "/v3/maintenance/status", {})).json.dbSize,
      );

      browser = await launchBrowser();
      const { page, errors } = await newPage(browser);
      await page.goto(`http://${member.endpoint}/ui/#/storage`);
      await page.waitForSelector('[data-testid="page-counts"]');
      const began = performance.now();
      await page.click('button:has-text("Defragment")');
      const shown = new Set<string>();
      const copiedWhileRunning = new Set<number>();
      let servedMidway = 0;
      let screenshotTaken = false;
      // The member is asked directly, in a loop of its own, while the page is watched: on a
      // quiet machine the copy of 40,000 keys takes well under a second, less than the page's
      // own polling and a screenshot leave room for.
      let finished = false;
      const asking = (async () => {
        while (!finished && performance.now() - began < WATCH_LIMIT_MS) {
          const progress = await (await fetch(`http://${member.endpoint}/ui/api/defrag`)).json();
          if (!progress.running) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            continue;
          }
          copiedWhileRunning.add(progress.copied);
          const read = await gateway(member.endpoint, "/v3/kv/range", {
            key: b64("/many/000042"),
          });
          const stillRunning = (await (await fetch(`http://${member.endpoint}/ui/api/defrag`))
            .json()).running;
          if (read.status === 200 && stillRunning) servedMidway++;
        }
      })();
      while (performance.now() - began < WATCH_LIMIT_MS) {
        const done = await page.locator('[data-testid="defrag-phase"]:has-text("defragmented")')
          .count();
        if (done > 0) break;
        const text = await page.locator('[data-testid="defrag-copied"]').textContent({
          timeout: 100,
        }).catch(() => null);
        if (text !== null) {
          shown.add(text);
          if (!screenshotTaken) {
            await screenshot(page, "storage-defrag");
            screenshotTaken = true;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      finished = true;
      await asking;
      const tookMs = Math.round(performance.now() - began);
      console.log(
        `defragmentation of ${KEYS.toLocaleString("en")} keys watched for ${tookMs} ms: ` +
          `${shown.size} progress texts shown (${[...shown].slice(0, 3).join(" | ")} ...), ` +
          `${copiedWhileRunning.size} distinct progress answers, ${servedMidway} reads served ` +
          `mid-way`,
      );
      await page.waitForSelector('[data-testid="defrag-phase"]:has-text("defragmented")');
      assert.ok(shown.size >= 1, "the page showed how many keys were copied");
      assert.ok(copiedWhileRunning.size >= 2, `progress advanced: ${[...copiedWhileRunning]}`);
      assert.ok(servedMidway >= 1, "a read was answered while the copy ran");
      const sizeAfter = Number(
        (await gateway(member.endpoint, "/v3/maintenance/status", {})).json.dbSize,
      );
      assert.ok(sizeAfter < sizeBefore, `${sizeBefore} -> ${sizeAfter}`);
      const count = await gateway(member.endpoint, "/v3/kv/range", {
        key: b64("/many/"),
        range_end: b64("/many0"),
        count_only: true,
      });
      assert.equal(Number(count.json.count), KEYS, "every key is still there");
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
      await member.stop();
    }
  },
});
