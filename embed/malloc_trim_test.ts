import { equal, ok } from "node:assert/strict";
import { IDLE_CPU_FRACTION, IdleTrimPolicy, startIdleMallocTrim } from "./malloc_trim.ts";

const MIB = 1024 * 1024;
/** CPU µs of an interval of `elapsedMs` at `fraction` of one core. */
const cpu = (elapsedMs: number, fraction: number) => elapsedMs * 1000 * fraction;

Deno.test("idle trim policy: trims once per idle period, again when the heap changed", () => {
  const policy = new IdleTrimPolicy();
  const busy = { cpuMicros: cpu(10_000, 0.5), elapsedMs: 10_000, heapBytes: 300 * MIB };
  const idle = (heapBytes: number) => ({
    cpuMicros: cpu(10_000, IDLE_CPU_FRACTION / 2),
    elapsedMs: 10_000,
    heapBytes,
  });
  equal(policy.check(busy), false, "never while busy");
  equal(policy.check(idle(300 * MIB)), true, "the first idle check after load trims");
  equal(policy.check(idle(300 * MIB)), false, "nothing changed: no second trim");
  equal(policy.check(idle(300 * MIB + MIB / 2)), false, "less than a MiB of change");
  equal(policy.check(idle(120 * MIB)), true, "the memory reducer shrank the heap: trim again");
  equal(policy.check(idle(120 * MIB)), false);
  equal(policy.check(busy), false);
  equal(policy.check(idle(120 * MIB)), true, "load came and went: trim again");
});

Deno.test("idle trim policy: the threshold is a share of one core over the elapsed time", () => {
  const policy = new IdleTrimPolicy();
  equal(
    policy.check({ cpuMicros: cpu(1_000, IDLE_CPU_FRACTION), elapsedMs: 1_000, heapBytes: 0 }),
    false,
  );
  equal(
    policy.check({
      cpuMicros: cpu(1_000, IDLE_CPU_FRACTION * 0.9),
      elapsedMs: 1_000,
      heapBytes: 0,
    }),
    true,
  );
  // A long interval (a stalled timer) with the same CPU time is idle.
  const policy2 = new IdleTrimPolicy();
  equal(
    policy2.check({ cpuMicros: cpu(1_000, IDLE_CPU_FRACTION * 2), elapsedMs: 3_000, heapBytes: 0 }),
    true,
  );
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
