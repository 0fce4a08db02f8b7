#!/usr/bin/env python3
# p99_trace.py - attribution of the slowest 1-client puts from one bench/p99_trace.sh run.
#
#   python3 bench/p99_trace.py RUN_DIR [SLOW_MS]
#
# RUN_DIR holds lat.txt (client: start ns, duration ns per put), trace.txt (member: spans of
# kind, wall ms, duration ms) and server.log (V8 --trace-gc lines; their clock is ms since the
# isolate started, lined up with the wall clock by the forced GC the stamps make at start-up).
# A put is "slow" when it is among the slowest 1.5%, and separately when it took SLOW_MS or
# more (default 1.5). Each slow put's excess over the median is given to the member's span that
# covers the most of its time; under 30% of the excess covered, it is "unattributed" (the client,
# or the member's thread waiting for a core between spans).
import bisect
import collections
import re
import sys

run = sys.argv[1]
slow_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5

puts = []
for line in open(run + "/lat.txt"):
    start_ns, duration_ns = map(int, line.split())
    puts.append((start_ns / 1e6, (start_ns + duration_ns) / 1e6, duration_ns / 1e6))

spans = []
forced_gc_ms = None
for line in open(run + "/trace.txt"):
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 3 or fields[0] == "origin":
        continue
    kind, wall, duration = fields
    wall, duration = float(wall), float(duration)
    if kind == "forced_gc":
        forced_gc_ms = wall
    spans.append((wall, wall + duration, kind))

gc_offset = None
for line in open(run + "/server.log"):
    m = re.search(r"\s(\d+) ms: (\S+).*?MB, (?:pooled: \S+ MB, )?([\d.]+) / [\d.]+ ms \(average[^)]*\) ([^;]*);", line)
    if m is None:
        continue
    at, kind, pause, reason = int(m.group(1)), m.group(2), float(m.group(3)), m.group(4)
    if reason == "testing" and gc_offset is None and forced_gc_ms is not None:
        gc_offset = forced_gc_ms - at
        continue
    if gc_offset is None:
        continue
    label = "gc:" + kind + ("" if reason == "allocation failure" else "/" + reason)
    spans.append((at + gc_offset, at + gc_offset + pause, label))
spans.sort()
starts = [s[0] for s in spans]


def family(kind):
    if kind.startswith(("recv:", "write:")):
        return kind.split(":")[0]
    return kind[:60]


def cause(covered, excess):
    """The member's span family that covers most of a slow put, by the categories below."""
    scores = {
        ("wal fdatasync beside a backend commit" if covered.get("bcommit_durable", 0) > 0
         else "wal fdatasync"): covered.get("wal_bsync", 0) + covered.get("wal_async", 0),
        "gc": sum(v for k, v in covered.items() if k.startswith("gc:")),
        "backend commit on the event loop": covered.get("bcommit_sync", 0),
        "other timer callbacks": sum(v for k, v in covered.items()
                                     if k.startswith(("timeout", "interval"))) - covered.get("bcommit_sync", 0),
        "socket write": covered.get("write", 0),
        "socket read": covered.get("recv", 0),
    }
    best = max(scores, key=scores.get)
    return best if scores[best] >= 0.3 * excess else "unattributed"


durations = sorted(p[2] for p in puts)
n = len(durations)
median = durations[n // 2]
top = durations[int(n * 0.985)]
print("puts %d  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms" % (
    n, median, durations[int(n * 0.9)], durations[int(n * 0.99)], durations[-1]))
tables = {"slowest 1.5%% (>= %.2f ms)" % top: collections.Counter(),
          ">= %.2f ms" % slow_ms: collections.Counter()}
excess = {k: collections.Counter() for k in tables}
seen = collections.Counter()
for start, end, took in puts:
    i = bisect.bisect_left(starts, start - 500)
    covered = collections.Counter()
    while i < len(spans) and spans[i][0] < end:
        a, b, kind = spans[i]
        if b > start:
            covered[family(kind)] += min(b, end) - max(a, start)
        i += 1
    for kind in covered:
        seen[kind] += 1
    for name, limit in zip(tables, (top, slow_ms)):
        if took >= limit:
            c = cause(covered, took - median)
            tables[name][c] += 1
            excess[name][c] += took - median
for name, counts in tables.items():
    print("slow puts %s: %d; the span that covers most of each one's excess over the median:" % (
        name, sum(counts.values())))
    for c, k in counts.most_common():
        print("  %-40s %5d puts %8.1f ms excess" % (c, k, excess[name][c]))


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


commits = [(a, b) for a, b, k in spans if k == "bcommit_durable"]
beside, alone = [], []
for a, b, k in spans:
    if k != "wal_bsync" and k != "wal_async":
        continue
    (beside if any(c0 < b and c1 > a for c0, c1 in commits) else alone).append(b - a)
for name, v in (("WAL fdatasync beside a backend commit", beside), ("WAL fdatasync alone", alone)):
    if v:
        print("%-38s n=%5d  p50 %.3f  p90 %.3f  p99 %.3f  >1 ms %.1f%%" % (
            name, len(v), q(v, .5), q(v, .9), q(v, .99), 100 * sum(x > 1 for x in v) / len(v)))
on_loop = [b - a for a, b, k in spans if k == "bcommit_sync"]
durable = [b - a for a, b in commits]
if on_loop:
    print("backend commits %d: on the event loop p50 %.2f p90 %.2f ms; until durable p50 %.2f p90 %.2f ms" % (
        len(on_loop), q(on_loop, .5), q(on_loop, .9), q(durable, .5), q(durable, .9)))
load_start, load_end = puts[0][0], puts[-1][1]
gcs = [(b - a, k) for a, b, k in spans if k.startswith("gc:") and load_start <= a <= load_end]
if gcs:
    print("GC pauses during the load: %d (%s), p50 %.2f max %.2f ms" % (
        len(gcs), ", ".join("%s %d" % kv for kv in collections.Counter(k for _, k in gcs).most_common()),
        q([d for d, _ in gcs], .5), max(d for d, _ in gcs)))
print("puts overlapped by each span family (all puts):")
for kind, k in seen.most_common():
    if not kind.startswith(("recv", "write", "wal_")):
        print("  %-62s %5d" % (kind, k))
