import { equal, ok } from "node:assert/strict";
import {
  COLLECT_GROWTH_BYTES,
  IDLE_CPU_FRACTION,
  IDLE_RUN_DELAY_FRACTION,
  IdleTrimPolicy,
  startIdleMallocTrim,
} from "./malloc_trim.ts";

const MIB = 1024 * 1024;
/** CPU µs of an interval of `elapsedMs` at `fraction` of one core. */
const cpu = (elapsedMs: number, fraction: number) => elapsedMs * 1000 * fraction;

Deno.test("idle trim policy: trims once per idle period, again when the heap changed", () => {
  const policy = new IdleTrimPolicy(0);
  const busy = {
    cpuMicros: cpu(10_000, 0.5),
    runDelayMicros: 0,
    elapsedMs: 10_000,
    heapBytes: 300 * MIB,
    heapTotalBytes: 0,
  };
  const idle = (heapBytes: number) => ({
    cpuMicros: cpu(10_000, IDLE_CPU_FRACTION / 2),
    runDelayMicros: 0,
    elapsedMs: 10_000,
    heapBytes,
    heapTotalBytes: 0,
  });
  equal(policy.check(busy), "none", "never while busy");
  equal(policy.check(idle(300 * MIB)), "trim", "the first idle check after load trims");
  equal(policy.check(idle(300 * MIB)), "none", "nothing changed: no second trim");
  equal(policy.check(idle(300 * MIB + MIB / 2)), "none", "less than a MiB of change");
  equal(policy.check(idle(120 * MIB)), "trim", "the memory reducer shrank the heap: trim again");
  equal(policy.check(idle(120 * MIB)), "none");
  equal(policy.check(busy), "none");
  equal(policy.check(idle(120 * MIB)), "trim", "load came and went: trim again");
});

Deno.test("idle trim policy: collects first when the heap grew, once per idle period", () => {
  // Goal: a full collection only at the first idle check after load, and only when V8's
  // committed heap grew since the last one; its own effect on the heap calls for no more.
  const policy = new IdleTrimPolicy(30 * MIB);
  const sample = (fraction: number, heapBytes: number, heapTotalBytes: number) => ({
    cpuMicros: cpu(10_000, fraction),
    runDelayMicros: 0,
    elapsedMs: 10_000,
    heapBytes,
    heapTotalBytes,
  });
  const busyFraction = 0.5;
  const idleFraction = IDLE_CPU_FRACTION / 2;
  equal(policy.check(sample(busyFraction, 40 * MIB, 30 * MIB)), "none", "never while busy");
  equal(policy.check(sample(busyFraction, 300 * MIB, 250 * MIB)), "none");
  equal(
    policy.check(sample(idleFraction, 300 * MIB, 30 * MIB + COLLECT_GROWTH_BYTES)),
    "collect",
    "grown by the threshold since the start",
  );
  policy.done(90 * MIB, 60 * MIB);
  equal(
    policy.check(sample(idleFraction, 90 * MIB, 60 * MIB)),
    "none",
    "the heap after the collection is the reference",
  );
  equal(
    policy.check(sample(idleFraction, 70 * MIB, 50 * MIB)),
    "trim",
    "a later change in the same idle period trims without collecting",
  );
  equal(policy.check(sample(busyFraction, 200 * MIB, 100 * MIB)), "none");
  equal(
    policy.check(sample(idleFraction, 100 * MIB, 60 * MIB + COLLECT_GROWTH_BYTES - 1)),
    "trim",
    "grown by less than the threshold since the last collection",
  );
});

Deno.test("idle trim policy: the start-up collection comes at the first idle check, once", () => {
  // Goal: a member collects the garbage of its start-up at its first idle check, even though its
  // heap did not grow by the threshold; after that, only growth calls for a collection. Method:
  // a policy with the start-up collection, a busy check, then idle checks with a flat heap.
  const policy = new IdleTrimPolicy(30 * MIB, { startUpCollection: true });
  const sample = (fraction: number, heapTotalBytes: number) => ({
    cpuMicros: cpu(10_000, fraction),
    runDelayMicros: 0,
    elapsedMs: 10_000,
    heapBytes: heapTotalBytes,
    heapTotalBytes,
  });
  const idleFraction = IDLE_CPU_FRACTION / 2;
  equal(policy.check(sample(0.5, 30 * MIB)), "none", "never while busy, start-up or not");
  equal(policy.check(sample(idleFraction, 30 * MIB)), "collect", "the first idle check collects");
  policy.done(22 * MIB, 22 * MIB);
  equal(policy.check(sample(idleFraction, 22 * MIB)), "none");
  equal(policy.check(sample(0.5, 26 * MIB)), "none");
  equal(policy.check(sample(idleFraction, 26 * MIB)), "trim", "done once: growth decides again");
  // A collection the runtime refused (no `done` with a heap total) leaves it pending.
  const refused = new IdleTrimPolicy(30 * MIB, { startUpCollection: true });
  equal(refused.check(sample(idleFraction, 30 * MIB)), "collect");
  refused.done(30 * MIB);
  equal(refused.check(sample(0.5, 30 * MIB)), "none");
  equal(refused.check(sample(idleFraction, 30 * MIB)), "collect", "still pending");
});

Deno.test("idle trim policy: the threshold is a share of one core over the elapsed time", () => {
  const policy = new IdleTrimPolicy(0);
  const at = (cpuMicros: number, elapsedMs: number, runDelayMicros = 0) => ({
    cpuMicros,
    runDelayMicros,
    elapsedMs,
    heapBytes: 0,
    heapTotalBytes: 0,
  });
  equal(policy.check(at(cpu(1_000, IDLE_CPU_FRACTION), 1_000)), "none");
  equal(policy.check(at(cpu(1_000, IDLE_CPU_FRACTION * 0.9), 1_000)), "trim");
  // A long interval (a stalled timer) with the same CPU time is idle.
  const policy2 = new IdleTrimPolicy(0);
  equal(policy2.check(at(cpu(1_000, IDLE_CPU_FRACTION * 2), 3_000)), "trim");
  // Starved rather than idle: little CPU, but the thread waited for a core most of the time.
  const policy3 = new IdleTrimPolicy(0);
  equal(policy3.check(at(cpu(10_000, 0.05), 10_000, cpu(10_000, 0.9))), "none");
  equal(
    policy3.check(at(cpu(10_000, 0.05), 10_000, cpu(10_000, IDLE_RUN_DELAY_FRACTION))),
    "none",
  );
  // Waiting a little at each wake-up, as an idle member on a loaded machine does, is idle.
  equal(policy3.check(at(cpu(10_000, 0.05), 10_000, cpu(10_000, 0.2))), "trim");
});

Deno.test({
  name: "idle malloc trim: an idle process calls glibc's malloc_trim",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Leave free memory to malloc: many buffers of a size below its mmap threshold, then dropped.
    let buffers: Uint8Array[] | undefined = Array.from(
      { length: 2_000 },
      () => new Uint8Array(16_384),
    );
    equal(buffers.length, 2_000);
    buffers = undefined;
    const trimmer = startIdleMallocTrim(100);
    ok(trimmer !== undefined, "glibc's malloc_trim should open on linux with FFI allowed");
    try {
      // Generous for a loaded machine: the process is idle, so the first or second check trims.
      const deadline = Date.now() + 60_000;
      while (trimmer.trims === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      ok(trimmer.trims >= 1, `no trim within 60 s (trims: ${trimmer.trims})`);
    } finally {
      trimmer.stop();
    }
  },
});

Deno.test({
  name: "idle malloc trim: an idle process whose V8 heap grew collects and shrinks it",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Goal: the first idle check runs a full collection that gives V8's committed heap back.
    // Method: start the trimmer (the heap of a fresh test process is its reference), grow the
    // heap with objects that are then dropped, and compare V8's heap total before and after.
    const trimmer = startIdleMallocTrim(100);
    ok(trimmer !== undefined);
    // Synchronous: the trimmer's first check comes after, and finds the process busy.
    let garbage: number[][] | undefined = [];
    for (let i = 0; i < 600_000; i++) garbage.push([i, i + 1, i + 2, i + 3]);
    equal(garbage.length, 600_000);
    garbage = undefined;
    const before = Deno.memoryUsage();
    ok(
      before.heapTotal >= 2 * COLLECT_GROWTH_BYTES,
      `the test needs a grown heap: heap total ${before.heapTotal}`,
    );
    try {
      const deadline = Date.now() + 60_000;
      while (trimmer.collections === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      equal(trimmer.collections, 1, "one collection for the idle period");
      const after = Deno.memoryUsage();
      ok(
        after.heapTotal <= before.heapTotal - COLLECT_GROWTH_BYTES,
        `heap total ${before.heapTotal} -> ${after.heapTotal}: not given back`,
      );
    } finally {
      trimmer.stop();
    }
  },
});
