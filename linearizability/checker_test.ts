// Goal: the checker accepts exactly the linearizable histories. Method: hand-made histories
// whose verdict is clear from the definition (Herlihy & Wing 1990), including unknown
// outcomes, compare-and-swap races, partitions and the time limit.
import { ok, strictEqual } from "node:assert/strict";
import { checkOperations } from "./checker.ts";
import { describeResult } from "./describe.ts";
import type { Operation } from "./history.ts";
import { casInput, type KvInput, kvModel, type KvOutput } from "./kv_model.ts";

type Op = Operation<KvInput, KvOutput>;

const put = (clientId: number, key: string, value: string, call: number, ret: number): Op => ({
  clientId,
  input: { op: "put", key, value },
  output: { op: "put" },
  call,
  return: ret,
});
const get = (
  clientId: number,
  key: string,
  value: string | null,
  call: number,
  ret: number,
): Op => ({
  clientId,
  input: { op: "get", key },
  output: { op: "get", value },
  call,
  return: ret,
});
const cas = (
  clientId: number,
  key: string,
  expected: string | null,
  value: string,
  succeeded: boolean,
  call: number,
  ret: number,
): Op => ({
  clientId,
  input: casInput(key, expected, value),
  output: { op: "txn", succeeded, gets: [] },
  call,
  return: ret,
});
const unknownPut = (clientId: number, key: string, value: string, call: number): Op => ({
  ...put(clientId, key, value, call, Infinity),
  output: undefined,
});

const verdict = (history: Op[]) => checkOperations(kvModel, history).verdict;

Deno.test("a sequential history that follows the model is linearizable", () => {
  strictEqual(
    verdict([put(0, "x", "1", 0, 1), get(0, "x", "1", 2, 3), get(1, "x", "1", 4, 5)]),
    "ok",
  );
});

Deno.test("a read concurrent with a write may see either value", () => {
  strictEqual(verdict([put(0, "x", "1", 0, 10), get(1, "x", null, 1, 2)]), "ok");
  strictEqual(verdict([put(0, "x", "1", 0, 10), get(1, "x", "1", 1, 2)]), "ok");
});

Deno.test("a read after a completed write that misses it is not linearizable", () => {
  strictEqual(verdict([put(0, "x", "1", 0, 1), get(1, "x", null, 2, 3)]), "illegal");
});

Deno.test("reads may not go back in time (new value, then the old one)", () => {
  // Both reads overlap the write, but the second starts after the first returned.
  const history = [put(0, "x", "1", 0, 10), get(1, "x", "1", 1, 2), get(2, "x", null, 3, 4)];
  strictEqual(verdict(history), "illegal");
});

Deno.test("an unknown write may take effect late or never, but only once", () => {
  strictEqual(verdict([unknownPut(0, "x", "1", 0), get(1, "x", null, 5, 6)]), "ok");
  strictEqual(verdict([unknownPut(0, "x", "1", 0), get(1, "x", "1", 5, 6)]), "ok");
  strictEqual(
    verdict([unknownPut(0, "x", "1", 0), get(1, "x", null, 5, 6), get(1, "x", "1", 7, 8)]),
    "ok",
  );
  strictEqual(
    verdict([unknownPut(0, "x", "1", 0), get(1, "x", "1", 5, 6), get(1, "x", null, 7, 8)]),
    "illegal",
  );
});

Deno.test("two concurrent compare-and-swaps from the same value cannot both succeed", () => {
  const base = put(0, "x", "a", 0, 1);
  strictEqual(
    verdict([base, cas(1, "x", "a", "b", true, 2, 5), cas(2, "x", "a", "c", false, 2, 5)]),
    "ok",
  );
  strictEqual(
    verdict([base, cas(1, "x", "a", "b", true, 2, 5), cas(2, "x", "a", "c", true, 2, 5)]),
    "illegal",
  );
});

Deno.test("keys are checked apart, and a violation on one key is found among many", () => {
  const history: Op[] = [];
  for (let k = 0; k < 50; k++) {
    history.push(put(k, `k${k}`, "1", 0, 1), get(k, `k${k}`, "1", 2, 3));
  }
  history.push(get(99, "k17", null, 4, 5));
  const result = checkOperations(kvModel, history);
  strictEqual(result.partitions, 50);
  strictEqual(result.verdict, "illegal");
  strictEqual(result.violation!.operations.length, 3);
  const report = describeResult(kvModel, result);
  ok(report.includes(`get("k17") -> nil`), report);
  ok(report.includes("STUCK"), report);
});

Deno.test("a multi-key txn ties its keys into one partition", () => {
  const txn: Op = {
    clientId: 0,
    input: {
      op: "txn",
      compare: [{ key: "a", value: null }],
      success: [{ op: "put", key: "b", value: "1" }],
      failure: [],
    },
    output: { op: "txn", succeeded: true, gets: [] },
    call: 0,
    return: 1,
  };
  const history = [txn, get(1, "b", "1", 2, 3), get(2, "a", null, 2, 3)];
  const result = checkOperations(kvModel, history);
  strictEqual(result.partitions, 1);
  strictEqual(result.verdict, "ok");
  strictEqual(verdict([txn, get(1, "b", null, 2, 3)]), "illegal");
});

Deno.test("the search gives up with 'unknown' at its time limit", () => {
  // Many concurrent writes of distinct values and reads that fit no order: the search must
  // try a factorial number of orders, and the cache cannot save it.
  const history: Op[] = [];
  for (let i = 0; i < 40; i++) history.push(put(i, "x", `v${i}`, 0, 100));
  for (let i = 0; i < 40; i++) history.push(get(100 + i, "x", `v${(i * 7) % 40}`, 0, 100));
  history.push(get(200, "x", "never", 101, 102));
  const result = checkOperations(kvModel, history, { timeoutMs: 50 });
  strictEqual(result.verdict, "unknown");
  ok(result.elapsedMs < 1000, `took ${result.elapsedMs} ms`);
});
