// Goal: deadlines on the shared timer fire like a timer per call would: each due callback runs
// once, in deadline order across timeouts, a cancelled one never runs, and an idle queue holds
// no timer.
// Method: real timers with timeouts of a few ms; the order of callbacks is recorded, waiting
// for them as long as a loaded machine needs.
import assert from "node:assert/strict";
import { DeadlineQueue, GROUPS_MAX } from "./deadlines.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `done()` holds, checking every 5 ms, for at most 5 s (a loaded machine). */
async function until(done: () => boolean): Promise<void> {
  for (let waitedMs = 0; !done() && waitedMs < 5000; waitedMs += 5) await sleep(5);
}

Deno.test("DeadlineQueue runs due callbacks once, in deadline order, and skips cancelled ones", async () => {
  const queue = new DeadlineQueue();
  const fired: string[] = [];
  queue.add(40, () => fired.push("a40"));
  const cancelled = queue.add(40, () => fired.push("b40"));
  queue.add(5, () => fired.push("c5")); // later added, earlier due: re-arms the timer
  queue.add(20, () => fired.push("d20"));
  assert.equal(queue.size, 4);
  cancelled.cancel();
  cancelled.cancel();
  assert.equal(queue.size, 3);
  await until(() => fired.length >= 3);
  await sleep(20); // the cancelled one, due at the same time as a40, must stay silent
  assert.deepEqual(fired, ["c5", "d20", "a40"]);
  assert.equal(queue.size, 0);
  assert.equal(queue.armed, false);
});

Deno.test("DeadlineQueue clears its timer when the last deadline is cancelled", async () => {
  const queue = new DeadlineQueue();
  let fired = 0;
  const handles = Array.from({ length: 100 }, () => queue.add(30_000, () => fired++));
  assert.equal(queue.armed, true);
  for (const handle of handles) handle.cancel();
  assert.equal(queue.size, 0);
  assert.equal(queue.armed, false);
  await sleep(1);
  assert.equal(fired, 0);
});

Deno.test("DeadlineQueue gives a timer of their own to timeouts past GROUPS_MAX", async () => {
  const queue = new DeadlineQueue();
  const fired: number[] = [];
  for (let i = 0; i < GROUPS_MAX + 8; i++) queue.add(10 + i, () => fired.push(i));
  const extra = queue.add(1000 + GROUPS_MAX, () => fired.push(-1));
  extra.cancel();
  await until(() => fired.length >= GROUPS_MAX + 8);
  await sleep(20);
  assert.equal(fired.length, GROUPS_MAX + 8);
  assert.deepEqual([...fired].sort((a, b) => a - b), fired.map((_, i) => i));
  assert.equal(queue.size, 0);
});

Deno.test("DeadlineQueue expires deadlines due together earliest first", () => {
  let nowMs = 0;
  const queue = new DeadlineQueue(() => nowMs);
  const fired: number[] = [];
  // Groups are created in the order 40, 5, 20; the shared timer is armed for 5 ms.
  queue.add(40, () => fired.push(40));
  const cancelled = queue.add(40, () => fired.push(-40));
  queue.add(5, () => fired.push(5));
  queue.add(20, () => fired.push(20));
  cancelled.cancel();
  return new Promise<void>((resolve) => {
    // The clock jumps past every deadline before the timer fires.
    nowMs = 100;
    const check = () => {
      if (fired.length < 3) return void setTimeout(check, 5);
      assert.deepEqual(fired, [5, 20, 40]);
      assert.equal(queue.armed, false);
      resolve();
    };
    check();
  });
});

Deno.test("DeadlineQueue accepts a deadline added while it expires others", async () => {
  const queue = new DeadlineQueue();
  const fired: string[] = [];
  queue.add(5, () => {
    fired.push("first");
    queue.add(5, () => fired.push("second"));
  });
  await until(() => fired.length >= 2);
  assert.deepEqual(fired, ["first", "second"]);
  assert.throws(() => queue.add(-1, () => {}), RangeError);
});

Deno.test("DeadlineQueue unlinks a cancelled deadline from anywhere in its group", async () => {
  // Goal: the linked list of a group keeps its order when an entry is cancelled at its head,
  // middle or tail, and a deadline cancelled after it expired changes nothing. Method: five
  // deadlines of one timeout, three cancelled; the two left fire in order; the count stays
  // right through a late cancel.
  const queue = new DeadlineQueue();
  const fired: number[] = [];
  const handles = [0, 1, 2, 3, 4].map((i) => queue.add(5, () => fired.push(i)));
  handles[0]!.cancel();
  handles[2]!.cancel();
  handles[4]!.cancel();
  assert.equal(queue.size, 2);
  await until(() => fired.length >= 2);
  assert.deepEqual(fired, [1, 3]);
  handles[1]!.cancel();
  assert.equal(queue.size, 0);
  assert.equal(queue.armed, false);
  const later = queue.add(30_000, () => fired.push(9));
  assert.equal(queue.size, 1);
  later.cancel();
  assert.equal(queue.armed, false);
});

Deno.test("DeadlineQueue drops groups left empty to make room for new timeouts", () => {
  // Goal: groups stay while empty (no hash tables made and dropped per call of a lone
  // client), yet never keep a new timeout off the shared timer. Method: GROUPS_MAX timeouts
  // added and cancelled, then a new one: it is on the shared timer (armed), not a timer of
  // its own.
  const queue = new DeadlineQueue();
  for (let i = 0; i < GROUPS_MAX; i++) queue.add(30_000 + i, () => {}).cancel();
  assert.equal(queue.armed, false);
  const fresh = queue.add(60_000, () => {});
  assert.equal(queue.armed, true);
  assert.equal(queue.size, 1);
  fresh.cancel();
  assert.equal(queue.armed, false);
});
