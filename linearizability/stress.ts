/**
 * Many-seed run of the checker on random KV histories (a script, not a test):
 * `deno task lin:stress [seeds] [operations]`. Every generated history must pass, and every
 * phantom-read and stale-read mutation must fail; a search that hits its time limit counts as
 * "unknown" and is reported, never as a pass.
 *
 * @module
 */

import {
  mutatePhantomRead,
  mutateStaleRead,
  randomKvHistory,
  Rng,
} from "./_random_history_test_util.ts";
import { checkOperations } from "./checker.ts";
import { describeResult } from "./describe.ts";
import { kvModel } from "./kv_model.ts";

const seeds = Number(Deno.args[0] ?? 200);
const operations = Number(Deno.args[1] ?? 1000);
const shape = { clients: 8, operations, keys: 6, unknownRate: 0.03, multiKeyTxnRate: 0.02 };
const counts = { ok: 0, caught: 0, unknown: 0, falseAlarm: 0, missed: 0 };
let worstMs = 0;
const started = performance.now();
for (let seed = 1; seed <= seeds; seed++) {
  const history = randomKvHistory(seed, shape);
  const cases = [
    { history, expect: "ok" },
    { history: mutatePhantomRead(history, new Rng(seed * 7)), expect: "illegal" },
    { history: mutateStaleRead(history, new Rng(seed * 13)), expect: "illegal" },
  ];
  for (const c of cases) {
    if (c.history === undefined) continue;
    const result = checkOperations(kvModel, c.history, { timeoutMs: 10_000 });
    worstMs = Math.max(worstMs, result.elapsedMs);
    if (result.verdict === "unknown") counts.unknown++;
    else if (result.verdict === c.expect) c.expect === "ok" ? counts.ok++ : counts.caught++;
    else if (c.expect === "ok") {
      counts.falseAlarm++;
      console.log(`seed ${seed}: false alarm\n${describeResult(kvModel, result)}`);
    } else {
      counts.missed++;
      console.log(`seed ${seed}: mutation not detected`);
    }
  }
}
console.log(
  `deno task lin:stress ${seeds} ${operations}: ${JSON.stringify(counts)}; ` +
    `worst ${worstMs.toFixed(0)} ms, total ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
if (counts.falseAlarm > 0 || counts.missed > 0) Deno.exit(1);
