#!/usr/bin/env python3
"""gc_pauses.py RUN_DIR [RUN_DIR...] - V8's collections during a 1-client put row (bench/gc_pauses.sh).

Per member: the collections that ended while the load ran, by kind (s = scavenge, ms = minor
mark-sweep, mc = mark-compact), their pauses, how many per 1000 puts, the young generation's size
and what each scavenge kept (survived in the young generation, promoted to the old one), and the
old generation's growth per put. Then the puts: each member's clock is put on the client's by its
process start (10 ms resolution, plus the isolate's start-up), refined by the offset within
+-OFFSET_WINDOW_MS that best lines the member's pauses up with slow puts; as a control, the same
fit at offsets a second away (where no pause can line up but by chance). For the slowest 1% of
puts: how many overlap a pause of some member, and how much of their time over the median the
pauses cover.
"""
import bisect
import json
import os
import re
import statistics
import sys

GC_LINE = re.compile(r"^\[\d+:0x[0-9a-f]+:\d+\]\s+(\d+) ms: GC: (\{.*\})\s*$")
OFFSET_WINDOW_MS = 60.0
OFFSET_STEP_MS = 0.5
CONTROL_SHIFT_MS = 1000.0


def read_clock(run):
    clock = {}
    for line in open(os.path.join(run, "clock.txt")):
        name, value = line.split(None, 1)
        clock[name] = value.strip()
    return clock


def read_gcs(path, start_wall_s, load_start_s, load_end_s):
    """Collections whose end falls in the load, as dicts with wall end time end_s."""
    gcs = []
    for line in open(path, errors="replace"):
        m = GC_LINE.match(line)
        if not m:
            continue
        try:
            g = json.loads(m.group(2))
        except json.JSONDecodeError:
            continue
        g["end_s"] = start_wall_s + int(m.group(1)) / 1000.0
        if load_start_s <= g["end_s"] <= load_end_s:
            gcs.append(g)
    return gcs


def quantile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def describe_member(name, gcs, puts):
    print("  %s: %d collections in the load" % (name, len(gcs)))
    for kind in sorted({g["gc"] for g in gcs}):
        ks = [g for g in gcs if g["gc"] == kind]
        pauses = [g["pause"] for g in ks]
        print("    %-2s n=%3d (%.1f per 1000 puts)  pause ms p50 %.2f p90 %.2f max %.2f sum %.1f;"
              " >1 ms %d, >2 ms %d, >5 ms %d" % (
                  kind, len(ks), len(ks) * 1000.0 / puts, quantile(pauses, 0.5),
                  quantile(pauses, 0.9), max(pauses), sum(pauses),
                  sum(p > 1 for p in pauses), sum(p > 2 for p in pauses),
                  sum(p > 5 for p in pauses)))
        survived = [g.get("new_space_survived", 0) / 1024 for g in ks]
        promoted = [g.get("promoted", 0) / 1024 for g in ks]
        capacity = [g.get("new_space_capacity", 0) / 1048576 for g in ks]
        safepoint = [g.get("time_to_safepoint", 0) for g in ks]
        print("       survived KiB p50 %.0f max %.0f; promoted KiB p50 %.0f max %.0f;"
              " young capacity MiB %.1f-%.1f; time to safepoint max %.2f ms" % (
                  quantile(survived, 0.5), max(survived), quantile(promoted, 0.5),
                  max(promoted), min(capacity), max(capacity), max(safepoint)))
        if kind == "s":
            pairs = sorted(zip(survived, pauses))
            low = [p for s, p in pairs[:len(pairs) // 2]]
            high = [p for s, p in pairs[len(pairs) // 2:]]
            if low and high:
                print("       pause p50 of the half that kept less %.2f ms, of the half that kept"
                      " more %.2f ms" % (quantile(low, 0.5), quantile(high, 0.5)))
    if gcs:
        first, last = gcs[0], gcs[-1]
        grow = last["end_object_size"] - first["start_object_size"]
        print("    heap objects %.1f -> %.1f MiB (%.0f B per put); committed %.1f -> %.1f MiB" % (
            first["start_object_size"] / 1048576, last["end_object_size"] / 1048576, grow / puts,
            first["start_memory_size"] / 1048576, last["end_memory_size"] / 1048576))


def overlap_score(pauses, puts, offset_s, median_s):
    """Time of the pauses that falls inside puts slower than the median, capped by the excess."""
    score = 0.0
    starts = [s for s, _ in puts]
    for start, end in pauses:
        start += offset_s
        end += offset_s
        # Puts are sequential (one client): only those from the one before the pause's start on.
        for put_start, put_end in puts[max(0, bisect.bisect_left(starts, start) - 1):]:
            if put_start > end:
                break
            if put_end - put_start <= median_s or put_end < start:
                continue
            score += min(end, put_end) - max(start, put_start)
    return score


def best_offset(pauses, puts, median_s, center_s):
    steps = int(OFFSET_WINDOW_MS / OFFSET_STEP_MS)
    best = (-1.0, 0.0)
    for k in range(-steps, steps + 1):
        off = center_s + k * OFFSET_STEP_MS / 1000.0
        best = max(best, (overlap_score(pauses, puts, off, median_s), off))
    return best[1]


def attribute(puts, member_pauses, median_s, slow):
    """Of the slow puts: how many overlap a pause, and the share of their excess it covers."""
    hit = 0
    covered = 0.0
    excess = 0.0
    for put_start, put_end in slow:
        excess += (put_end - put_start) - median_s
        cover = 0.0
        for pauses in member_pauses:
            for start, end in pauses:
                if end >= put_start and start <= put_end:
                    cover += min(end, put_end) - max(start, put_start)
        hit += cover > 0
        covered += min(cover, (put_end - put_start) - median_s)
    return hit, covered / excess if excess > 0 else 0.0


def main(run):
    clock = read_clock(run)
    load_start, load_end = float(clock["load_start"]), float(clock["load_end"])
    leader = open(os.path.join(run, "leader.txt")).read().strip()
    puts = []
    for line in open(os.path.join(run, "lat.txt")):
        start_ns, dur_ns = line.split()
        puts.append((int(start_ns) / 1e9, (int(start_ns) + int(dur_ns)) / 1e9))
    lats = [e - s for s, e in puts]
    median = statistics.median(lats)
    p99 = quantile(lats, 0.99)
    print("%s: %d puts, p50 %.2f ms, p99 %.2f ms, max %.1f ms; leader %s; %s" % (
        run, len(puts), median * 1000, p99 * 1000, max(lats) * 1000, leader,
        clock.get("loadavg", "")))
    members = sorted(k for k in clock if re.match(r"^m\d+$", k))
    fitted, control, alone = [], [], []
    for m in members:
        gcs = read_gcs(os.path.join(run, m + ".gc"), float(clock[m]), load_start - 0.5,
                       load_end + 0.5)
        describe_member(m + (" (leader)" if m == leader else ""), gcs, len(puts))
        pauses = [(g["end_s"] - g["pause"] / 1000.0, g["end_s"]) for g in gcs]
        # A pause this long makes a put of median time a top-1% put on its own.
        alone += ["%s %s %.1f" % (m, g["gc"], g["pause"]) for g in gcs
                  if g["pause"] >= (p99 - median) * 1000]
        print("    GC pause per put %.3f ms" % (sum(g["pause"] for g in gcs) / len(puts)))
        off = best_offset(pauses, puts, median, 0.0)
        print("    fitted clock offset %+.1f ms" % (off * 1000))
        fitted.append([(s + off, e + off) for s, e in pauses])
        off_c = best_offset(pauses, puts, median, CONTROL_SHIFT_MS / 1000.0)
        control.append([(s + off_c, e + off_c) for s, e in pauses])
    slow = sorted(puts, key=lambda p: p[0] - p[1])[:max(1, len(puts) // 100)]
    for label, mp in (("fitted", fitted), ("control (+1 s)", control)):
        hit, share = attribute(puts, mp, median, slow)
        print("  slowest 1%% (%d puts, >= %.2f ms), %s: %d overlap a pause; pauses cover %.0f%% of"
              " their time over the median" % (len(slow), (slow[-1][1] - slow[-1][0]) * 1000,
                                               label, hit, share * 100))
    print("  pauses of at least p99 - p50 (%.2f ms): %d %s" % (
        (p99 - median) * 1000, len(alone), ", ".join(alone)))
    all_pauses = sorted(p for mp in fitted for p in mp)
    delayed = sum(1 for s, e in puts if any(pe >= s and ps <= e for ps, pe in all_pauses))
    print("  puts overlapping any member's pause (fitted): %d of %d (%.1f%%)" % (
        delayed, len(puts), delayed * 100.0 / len(puts)))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(arg)
