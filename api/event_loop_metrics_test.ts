// Goal: the event-loop sampler records how long the loop was held. Method: the loop is held
// for the sampling interval plus 60 ms while the monitor runs, so that the timer due during the
// hold runs more than 50 ms late whenever it was due: a sample lands above 50 ms (more than one
// only if the machine itself stalled the process), and none after stop.
import { equal as assertEquals, ok as assert } from "node:assert/strict";
import {
  eventLoopDelaySeconds,
  SAMPLE_INTERVAL_MS,
  startEventLoopMonitor,
} from "./event_loop_metrics.ts";

async function counts(): Promise<{ count: number; over50ms: number }> {
  const { values } = await eventLoopDelaySeconds.get();
  const count = values.find((v) => v.metricName === "nodejs_eventloop_delay_seconds_count")!.value;
  const upTo50 =
    values.find((v) =>
      v.metricName === "nodejs_eventloop_delay_seconds_bucket" && v.labels.le === 0.05
    )!.value;
  return { count, over50ms: count - upTo50 };
}

Deno.test("event-loop delay: a block of the interval + 60 ms shows up above the 50 ms bucket", async () => {
  const before = await counts();
  const stop = startEventLoopMonitor();
  try {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS * 1.5));
    const start = performance.now();
    while (performance.now() - start < SAMPLE_INTERVAL_MS + 60) { /* hold the loop */ }
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS * 2.5));
  } finally {
    stop();
  }
  const after = await counts();
  assert(after.count - before.count >= 3, `samples: ${after.count - before.count}`);
  const over = after.over50ms - before.over50ms;
  assert(over >= 1 && over <= after.count - before.count, `samples above 50 ms: ${over}`);
});

Deno.test("event-loop delay: stopped monitor takes no samples", async () => {
  const stop = startEventLoopMonitor();
  stop();
  stop(); // a second call is harmless
  const before = await counts();
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS * 3));
  assertEquals((await counts()).count, before.count);
});
