/**
 * Child process of `mvcc_crash_test.ts` (not a test): opens the store over the bolt backend at
 * the path in argv[0], then writes forever: put `k<rev % 50>` = `v<rev>` (some with a lease),
 * now and then a range delete or a compaction, and after every forced commit prints
 * `committed <rev> <compactRev>` — a promise that everything up to that revision is on disk.
 * The parent SIGKILLs it at a random moment.
 */
import { openBackend } from "../backend/mod.ts";
import { Lessor } from "../lease/mod.ts";
import { WatchableStore } from "../mvcc/mod.ts";

const path = Deno.args[0]!;
const seed = Number(Deno.args[1] ?? "1");
const backend = openBackend({ path, batchIntervalMs: 3, batchLimit: 20 });
const lessor = new Lessor({ backend, now: () => 0, minLeaseTtlSeconds: 1 });
const store = new WatchableStore(backend, {
  lessor,
  compactionBatchLimit: 5,
  compactionSleepMs: 0,
});
lessor.setRangeDeleter(() => store.write());
if (lessor.lookup(77n) === undefined) lessor.grant(77n, 1000);
backend.forceCommit();
const enc = (s: string) => new TextEncoder().encode(s);
const out = Deno.stdout;
let state = seed;
const rand = () => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
};
const say = (line: string) => out.writeSync(enc(line + "\n"));
say(`opened ${store.rev} ${store.compactRev}`);
for (let i = 0;; i++) {
  const rev = store.rev + 1;
  const r = rand();
  if (r < 0.03 && store.rev - 40 > Math.max(1, store.compactRev)) {
    void store.compact(store.rev - 40);
  } else if (r < 0.06) {
    store.deleteRange(enc(`k${Math.floor(rand() * 50)}`), undefined);
  } else {
    store.put(enc(`k${rev % 50}`), enc(`v${rev}`), rand() < 0.2 ? 77n : 0n);
  }
  if (i % 7 === 0) {
    backend.forceCommit();
    say(`committed ${store.rev} ${store.compactRev}`);
  }
  if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
}
