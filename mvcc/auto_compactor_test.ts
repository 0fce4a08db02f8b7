/**
 * Auto-compaction decisions with a fake clock, following etcd's v3compactor tests: revision
 * mode every 5 minutes at current - retention; periodic mode sampling every period/10 and
 * compacting at the revision one period old.
 */
import assert from "node:assert/strict";
import {
  parseCompactionRetention,
  PeriodicCompactor,
  RevisionCompactor,
} from "./auto_compactor.ts";

const MIN = 60_000;

Deno.test("revision mode compacts current - retention every 5 minutes, once per revision", () => {
  const c = new RevisionCompactor(10, 0);
  assert.equal(c.poll(4 * MIN, 100), undefined, "not before 5 minutes");
  assert.equal(c.poll(5 * MIN, 100), 90);
  c.finished(5 * MIN, 90, true);
  assert.equal(c.poll(10 * MIN, 100), undefined, "same revision again: skipped");
  assert.equal(c.poll(15 * MIN, 105), 95);
  c.finished(15 * MIN, 95, false);
  assert.equal(c.poll(20 * MIN, 105), 95, "a failure is retried");
  assert.equal(c.poll(25 * MIN, 5), undefined, "nothing to compact below revision 1");
});

Deno.test("periodic mode compacts at the revision one period ago", () => {
  // Period 10 minutes: samples every minute, keeps 11 samples.
  const c = new PeriodicCompactor(10 * MIN, 0, 1);
  let rev = 1;
  const asked: [number, number][] = [];
  for (let minute = 1; minute <= 25; minute++) {
    rev += 10; // ten writes a minute
    const got = c.poll(minute * MIN, rev);
    if (got !== undefined) {
      asked.push([minute, got]);
      c.finished(minute * MIN, got, true);
    }
  }
  // First at minute 10 with the revision sampled at minute 0; then every 10 minutes with the
  // oldest of the 11 samples kept (etcd keeps period/retry + 1), here the one of minute 9.
  assert.deepEqual(asked, [[10, 1], [20, 91]]);
});

Deno.test("retention values parse as etcd parses them", () => {
  assert.equal(parseCompactionRetention("periodic", "1"), 60 * MIN);
  assert.equal(parseCompactionRetention("periodic", "30m"), 30 * MIN);
  assert.equal(parseCompactionRetention("periodic", "1h30m"), 90 * MIN);
  assert.equal(parseCompactionRetention("periodic", "1.5s"), 1500);
  assert.equal(parseCompactionRetention("revision", "1000"), 1000);
  assert.equal(parseCompactionRetention("periodic", "0"), 0);
  assert.throws(() => parseCompactionRetention("periodic", "abc"), /invalid duration/);
  assert.throws(() => parseCompactionRetention("revision", "1h"), RangeError);
});
