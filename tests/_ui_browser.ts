/**
 * Shared pieces of the console's browser tests: Debian's chromium through `playwright-core`
 * (headless, one browser per test file), a gateway client for data the real etcdctl cannot
 * write (non-UTF-8 keys, 100,000 keys quickly), and screenshots into `docs/ui/`.
 *
 * @module
 */

import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { REPO_ROOT } from "./_harness.ts";

/** Debian's chromium, which `.ci/run` installs. */
export const CHROMIUM_BIN = Deno.env.get("CHROMIUM_BIN") ?? "/usr/bin/chromium";

/** Whether a browser is there to drive; the browser tests are ignored without one. */
export const HAVE_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM_BIN).isFile;
  } catch {
    return false;
  }
})();

/** Short timeouts keep a broken page from holding the test run. */
const ACTION_TIMEOUT_MS = 10_000;

/** Starts headless chromium (no sandbox: tests run as root in a container). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 30_000,
  });
}

/** A new page with short timeouts, whose page errors fail the test that reads `errors`. */
export async function newPage(
  browser: Browser,
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return { page, errors };
}

/**
 * The row of the key named exactly `name` (as listed, under `prefix`; a folder's row also reads
 * its count) in the keys view's list, once the list shows the tree under `prefix`. Until a
 * search's answer arrives the list still shows the previous prefix's page, and a looser selector
 * can match a row of it: the top of the tree lists a folder row "/" reading "2+ keys", and an
 * empty page reads "no keys", both of which `li:has-text("key")` matches.
 */
export function keyRow(page: Page, prefix: string, name: string): Locator {
  return page.locator(`ul.keys[data-prefix=${JSON.stringify(prefix)}]`)
    .getByRole("option", { name, exact: true });
}

/** Writes a screenshot of `page` to `docs/ui/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(`${REPO_ROOT}/docs/ui`, { recursive: true });
  await page.screenshot({ path: `${REPO_ROOT}/docs/ui/${name}.png`, fullPage: false });
}

/** Base64 of bytes or of a string's UTF-8 bytes. */
export function b64(value: string | Uint8Array): string {
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** POSTs JSON to a gateway path, as curl would (no browser headers); answers status and JSON. */
export async function gateway(
  endpoint: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`http://${endpoint}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, json: await response.json() };
}

/** Writes `count` keys `${prefix}${index, zero-padded}` in txns of 128 puts, 4 at a time. */
export async function putMany(endpoint: string, prefix: string, count: number): Promise<void> {
  const perTxn = 128;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const first = next;
      next = Math.min(count, next + perTxn);
      const success = [];
      for (let i = first; i < next; i++) {
        const key = `${prefix}${String(i).padStart(6, "0")}`;
        success.push({ request_put: { key: b64(key), value: b64(`value ${i}`) } });
      }
      const { status, json } = await gateway(endpoint, "/v3/kv/txn", { success });
      if (status !== 200) throw new Error(`txn: ${status} ${JSON.stringify(json)}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}
