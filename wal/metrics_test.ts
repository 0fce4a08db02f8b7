// Goal: durations in log fields print as Go's time.Duration does (etcd's zap fields and
// capnslog sentences carry them), and the WAL's fsync observer defaults to etcd's histogram.
import { equal } from "node:assert/strict";
import { goDurationString, WARN_SYNC_DURATION_SECONDS } from "./metrics.ts";

Deno.test("goDurationString prints as Go's time.Duration", () => {
  equal(goDurationString(1), "1s");
  equal(goDurationString(1.2345), "1.2345s");
  equal(goDurationString(0.1), "100ms");
  equal(goDurationString(0.0125), "12.5ms");
  equal(goDurationString(0.000001), "1µs");
  equal(goDurationString(0.0000005), "500ns");
  equal(WARN_SYNC_DURATION_SECONDS, 1);
});
