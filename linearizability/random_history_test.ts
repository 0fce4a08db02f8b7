// Goal: the checker accepts every history produced by a sequential model with concurrent
// clients (no false alarms) and rejects the same histories once a read is broken (no misses).
// Method: seeded random histories (linearizable by construction, with unknown outcomes and
// multi-key txns), then a phantom read and a stale read injected. `deno task lin:stress` runs
// many more seeds and larger histories.
import { ok, strictEqual } from "node:assert/strict";
import {
  mutatePhantomRead,
  mutateStaleRead,
  randomKvHistory,
  Rng,
} from "./_random_history_test_util.ts";
import { checkOperations } from "./checker.ts";
import { describeResult } from "./describe.ts";
import { kvModel } from "./kv_model.ts";

const SHAPE = { clients: 5, operations: 300, keys: 4, unknownRate: 0.03, multiKeyTxnRate: 0.02 };

Deno.test("random linearizable histories pass", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const history = randomKvHistory(seed, SHAPE);
    const result = checkOperations(kvModel, history, { timeoutMs: 5000 });
    strictEqual(result.verdict, "ok", `seed ${seed}\n${describeResult(kvModel, result)}`);
  }
});

Deno.test("a phantom read breaks every random history", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const mutated = mutatePhantomRead(randomKvHistory(seed, SHAPE), new Rng(seed * 7))!;
    const result = checkOperations(kvModel, mutated, { timeoutMs: 5000 });
    strictEqual(result.verdict, "illegal", `seed ${seed}`);
    ok(describeResult(kvModel, result).includes(`-> "phantom"`));
  }
});

Deno.test("a stale read breaks every random history that allows one", () => {
  let mutatedCount = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const mutated = mutateStaleRead(randomKvHistory(seed, SHAPE), new Rng(seed * 13));
    if (mutated === undefined) continue;
    mutatedCount++;
    const result = checkOperations(kvModel, mutated, { timeoutMs: 5000 });
    strictEqual(result.verdict, "illegal", `seed ${seed}`);
  }
  ok(mutatedCount >= 15, `only ${mutatedCount} histories had a stale-read triple`);
});

Deno.test("dropping unobserved unknown writes never changes a verdict", () => {
  // The same histories checked with the model's pruning and without it.
  const { dropDeferrable: _dropped, ...plainModel } = kvModel;
  const shape = { ...SHAPE, operations: 150, unknownRate: 0.1 };
  for (let seed = 1; seed <= 20; seed++) {
    const history = randomKvHistory(seed, shape);
    const mutants = [
      mutatePhantomRead(history, new Rng(seed)),
      mutateStaleRead(history, new Rng(seed)),
    ];
    for (const h of [history, ...mutants]) {
      if (h === undefined) continue;
      const pruned = checkOperations(kvModel, h, { timeoutMs: 5000 }).verdict;
      const full = checkOperations(plainModel, h, { timeoutMs: 5000 }).verdict;
      strictEqual(pruned, full, `seed ${seed}`);
    }
  }
});
