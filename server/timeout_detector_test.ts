import { strictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { TimeoutDetector } from "./timeout_detector.ts";

Deno.test("TimeoutDetector reports only gaps over its bound, per ID, with the excess", () => {
  // Goal: the heartbeat check fires exactly when a gap passes 2 x heartbeat. Method: a fake clock.
  let now = 0;
  const td = new TimeoutDetector(200, () => now);
  assertEquals(td.observe(1n), 0); // first sighting: nothing to compare
  now = 150;
  assertEquals(td.observe(1n), 0);
  assertEquals(td.observe(2n), 0);
  now = 400;
  assertEquals(td.observe(1n), 50); // 250 ms gap, 50 over
  assertEquals(td.observe(2n), 50);
  td.reset();
  now = 2000;
  assertEquals(td.observe(1n), 0);
  assertThrows(() => new TimeoutDetector(0));
});
