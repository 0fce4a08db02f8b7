import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert/strict";
import { Wait, WaitIndex } from "./wait.ts";

Deno.test("Wait: trigger() resolves the registered waiter once, and only its own", async () => {
  const wait = new Wait();
  const a = wait.register<string>(1n);
  const b = wait.register<string>(2n);
  strictEqual(wait.trigger(2n, "two"), true);
  strictEqual(wait.trigger(2n, "again"), false, "a waiter is triggered at most once");
  strictEqual(await b, "two");
  strictEqual(wait.isRegistered(1n), true);
  wait.trigger(1n, "one");
  strictEqual(await a, "one");
  strictEqual(wait.size, 0);
});

Deno.test("Wait: duplicate IDs and the bound are refused; cancelAll rejects everyone", async () => {
  const wait = new Wait(2);
  const a = wait.register(1n);
  throws(() => wait.register(1n), /duplicate request ID/);
  const b = wait.register(2n);
  throws(() => wait.register(3n), /too many pending/);
  wait.cancelAll(new Error("stopped"));
  await rejects(a, /stopped/);
  await rejects(b, /stopped/);
});

Deno.test("WaitIndex: waiters wake in index order as the applied index passes them", async () => {
  const applied = new WaitIndex();
  const order: number[] = [];
  const waits = [5, 2, 9, 2].map((i) => applied.wait(i).then(() => order.push(i)));
  applied.trigger(4);
  await Promise.resolve();
  await Promise.resolve();
  deepStrictEqual(order, [2, 2]);
  applied.trigger(3); // going backwards changes nothing
  applied.trigger(9);
  await Promise.all(waits);
  deepStrictEqual(order, [2, 2, 5, 9]);
  await applied.wait(1); // already reached: resolves at once
  strictEqual(applied.reached, 9);
});

Deno.test("Wait: sweep() rejects the waiters past their deadline, oldest first", async () => {
  const wait = new Wait();
  const early = wait.register(1n, 100);
  const late = wait.register(2n, 200);
  const never = wait.register(3n);
  strictEqual(wait.sweep(150, new Error("timed out")), 1);
  await rejects(early, /timed out/);
  strictEqual(wait.isRegistered(2n), true);
  strictEqual(wait.sweep(250, new Error("timed out")), 1);
  await rejects(late, /timed out/);
  strictEqual(wait.sweep(1e12, new Error("timed out")), 0, "no deadline: never swept");
  wait.trigger(3n, "done");
  strictEqual(await never, "done");
});

Deno.test("Wait: the entry that keeps the map from emptying is invisible to every caller", async () => {
  // Goal: the registry's permanent entry (ID -1) changes no answer: not counted, not
  // triggerable, not swept, not cancelled, and it survives cancelAll. Method: every method
  // called on an empty registry, around one real waiter, and with the keeper's ID.
  const wait = new Wait(1);
  strictEqual(wait.size, 0);
  strictEqual(wait.isRegistered(-1n), false);
  strictEqual(wait.trigger(-1n, "x"), false);
  strictEqual(wait.fail(-1n, new Error("x")), false);
  throws(() => wait.register(-1n), RangeError);
  strictEqual(wait.sweep(Infinity, new Error("late")), 0);
  const a = wait.register<string>(5n, 10);
  throws(() => wait.register(6n), /too many pending/);
  strictEqual(wait.sweep(Infinity, new Error("late")), 1);
  await rejects(a, /late/);
  const b = wait.register<string>(7n);
  wait.cancelAll(new Error("stopped"));
  await rejects(b, /stopped/);
  strictEqual(wait.size, 0);
  const c = wait.register<string>(8n);
  strictEqual(wait.trigger(8n, "eight"), true);
  strictEqual(await c, "eight");
  strictEqual(wait.size, 0);
});
