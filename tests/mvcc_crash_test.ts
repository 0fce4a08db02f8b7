/**
 * Crash safety of the store over the bolt backend: a child process writes (puts, deletes,
 * compactions that run in batches) and is SIGKILLed at a random moment, many times over the
 * same db file. After every kill the store is reopened here and must hold every revision the
 * child reported committed, with its value, never move its revision backwards, agree with its
 * own index on every key, and finish a compaction the kill interrupted.
 *
 * Iterations: MVCC_CRASH_ITERATIONS (default 12 here; `deno task test:mvcc-crash` runs more).
 */
import assert from "node:assert/strict";
import { openBackend } from "../backend/mod.ts";
import { Lessor } from "../lease/mod.ts";
import { KvStore } from "../mvcc/mod.ts";

const CHILD = new URL("./mvcc_crash_child.ts", import.meta.url).pathname;
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const enc = (s: string) => new TextEncoder().encode(s);

async function runChild(path: string, seed: number, killAfterMs: number): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", CHILD, path, String(seed)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let buffered = "";
  let opened = false;
  const reader = child.stdout.getReader();
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += dec(value);
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
    if (!opened && lines.some((l) => l.startsWith("opened"))) {
      opened = true;
      killTimer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    }
  }
  clearTimeout(killTimer);
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  assert.equal(status.signal, "SIGKILL", `child died on its own: ${stderr}`);
  return lines;
}

function checkReopened(path: string, committedRev: number, lastRev: number): number {
  const backend = openBackend({ path, strictMode: true });
  const lessor = new Lessor({ backend, now: () => 0, minLeaseTtlSeconds: 1 });
  const store = new KvStore(backend, { lessor });
  try {
    assert.ok(store.rev >= committedRev, `revision ${store.rev} < committed ${committedRev}`);
    assert.ok(store.rev >= lastRev, `revision went backwards: ${store.rev} < ${lastRev}`);
    // Every live key holds the value written at its mod revision (`v<rev>`), and the lease
    // bookkeeping matches what the key records.
    const all = store.range(enc("k"), enc("l"));
    for (const kv of all.kvs) {
      assert.equal(dec(kv.value), `v${kv.modRevision}`);
      assert.equal(`k${kv.modRevision % 50}`, dec(kv.key));
      assert.equal(lessor.getLease(dec(kv.key)), kv.lease);
    }
    // Reads at every revision from the compaction on work (the index and the file agree).
    for (let rev = Math.max(2, store.compactRev); rev <= store.rev; rev += 7) {
      store.range(enc("k"), enc("l"), { rev });
    }
    store.hashByRev(0);
    return store.rev;
  } finally {
    store.close();
    backend.close();
  }
}

Deno.test("the store survives SIGKILL at random moments with every committed revision", async () => {
  const iterations = Number(Deno.env.get("MVCC_CRASH_ITERATIONS") ?? "12");
  const dir = Deno.makeTempDirSync({ prefix: "mvcc_crash_" });
  const path = `${dir}/db`;
  let lastRev = 1;
  try {
    for (let i = 0; i < iterations; i++) {
      const killAfterMs = 5 + ((i * 37) % 120);
      const lines = await runChild(path, i + 1, killAfterMs);
      const committed = lines.filter((l) => l.startsWith("committed ")).map((l) =>
        Number(l.split(" ")[1])
      );
      const committedRev = committed.length > 0 ? committed[committed.length - 1]! : 1;
      lastRev = checkReopened(path, committedRev, lastRev);
    }
    assert.ok(lastRev > 100, `the children made progress (revision ${lastRev})`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
