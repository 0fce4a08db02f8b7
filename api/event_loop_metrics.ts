/**
 * Event-loop delay, as a histogram: `nodejs_eventloop_delay_seconds`.
 *
 * detcd runs every request, the raft loop and the apply loop on one JavaScript thread, so the
 * time a ready callback waits for the thread is the latency floor of everything it serves. A
 * timer due every {@link SAMPLE_INTERVAL_MS} ms records how late it fired; the histogram is
 * cumulative, so a load tool that scrapes `/metrics` before and after a run gets that run's
 * distribution from the difference of the bucket counts (`bench/loadgen_compare.sh` does).
 *
 * Each sample is the wait of a callback due at an instant that has nothing to do with the load,
 * so the distribution does not depend on how often it is taken; the interval sets how many
 * samples a run gets (20 a second) and which stalls are sure to be seen: one of the interval
 * plus X ms always leaves a sample above X ms, a shorter one only sometimes. It was 10 ms:
 * 100 timer wake-ups a second of every member, ~8-13 ms of CPU a second each, a third of an
 * idle member's work (issue #14, docs/performance.md).
 *
 * (`node:perf_hooks`' `monitorEventLoopDelay` exists under Deno but reported a 50 ms block as
 * 17 ms when checked here, so the sampler is our own.) Deno-specific and not an etcd series:
 * hence the `nodejs_` prefix, beside `nodejs_heap_size_*`.
 *
 * @module
 */

import { Histogram } from "../metrics/mod.ts";

/** How often the sampler's timer is due (ms). */
export const SAMPLE_INTERVAL_MS = 50;

/** Upper bounds (s): fine below 10 ms, where a healthy loop lives, coarse above. */
const _BUCKETS = [
  0.0005,
  0.001,
  0.002,
  0.003,
  0.005,
  0.0075,
  0.01,
  0.015,
  0.02,
  0.03,
  0.05,
  0.075,
  0.1,
  0.2,
  0.5,
  1,
  2,
  5,
];

/** `nodejs_eventloop_delay_seconds`. */
export const eventLoopDelaySeconds = new Histogram({
  name: "nodejs_eventloop_delay_seconds",
  help: "How late a timer due every 50 ms ran: the wait of a ready callback for the event loop.",
  buckets: _BUCKETS,
});

let _users = 0;
let _timer: ReturnType<typeof setTimeout> | undefined;

function _arm(): void {
  const due = performance.now() + SAMPLE_INTERVAL_MS;
  _timer = setTimeout(() => {
    const late = Math.max(0, performance.now() - due);
    eventLoopDelaySeconds.observe(late / 1000);
    _arm();
  }, SAMPLE_INTERVAL_MS);
  // The sampler alone must not keep a process alive.
  Deno.unrefTimer(_timer as unknown as number);
}

/**
 * Starts sampling (shared by every member in the process); the returned function stops this
 * user's share, and the timer stops with the last one.
 */
export function startEventLoopMonitor(): () => void {
  _users++;
  if (_users === 1) _arm();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    _users--;
    if (_users === 0 && _timer !== undefined) {
      clearTimeout(_timer);
      _timer = undefined;
    }
  };
}
