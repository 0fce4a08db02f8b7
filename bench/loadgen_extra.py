#!/usr/bin/env python3
"""loadgen_extra.py ETCD_DIR DETCD_DIR [...]: the columns compare.py leaves out.

Per row of bench/loadgen_compare.sh's runs: the watch rows' event counts (missing = expected
minus delivered; unexpected = events of another revision, i.e. out of order or duplicated,
which the load generator counts as errors), the 10,000-watcher rows' ratios, and detcd's
event-loop delay p99 during the row (from the `nodejs_eventloop_delay_seconds` buckets scraped
before and after it; the highest member; the value is the bucket's upper bound).
"""
import json, os, statistics, sys

ROWS = ["put-1x1", "put-100x1000", "range-l-1x1", "range-s-1x1", "range-l-100x1000",
        "range-s-100x1000", "txn-put-1x1", "watch-1000-rate100", "watch-1000-lockstep",
        "watch-10000-rate100", "watch-10000-lockstep", "cluster-put-1x1-leader",
        "cluster-put-1x1-all", "cluster-put-100x1000-all", "cluster-put-100x1000-leader"]


def load(d, r):
    try:
        return json.load(open(os.path.join(d, r + ".json")))
    except Exception:
        return None


def buckets(path):
    """{port: [(le, cumulative count)]} from a scrape file of `port le count` lines."""
    out = {}
    try:
        for line in open(path):
            port, le, count = line.split()
            out.setdefault(port, []).append((float(le), float(count)))
    except FileNotFoundError:
        return {}
    return out


def delay_p99_ms(d, r):
    before, after = buckets(os.path.join(d, r + ".eld.before")), buckets(os.path.join(d, r + ".eld.after"))
    worst = None
    for port, rows in after.items():
        base = dict(before.get(port, []))
        delta = sorted((le, c - base.get(le, 0.0)) for le, c in rows)
        total = delta[-1][1] if delta else 0
        if total <= 0:
            continue
        for le, c in delta:
            if c >= 0.99 * total:
                worst = le if worst is None else max(worst, le)
                break
    return None if worst is None else worst * 1000


def fmt(values, f):
    return "/".join("–" if v is None else f(v) for v in values) or "–"


def main():
    dirs = sys.argv[1:]
    pairs = list(zip(dirs[0::2], dirs[1::2]))
    print("| row | QPS ratio | p99 ratio | missing e/d | unexpected e/d | detcd event-loop delay p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in ROWS:
        qs, ps, miss, unexp, eld = [], [], [], [], []
        for e, t in pairs:
            a, b = load(e, r), load(t, r)
            eld.append(delay_p99_ms(t, r))
            if a and b and a["requests_per_sec"] and a["latency_ms"]["p99"]:
                qs.append(b["requests_per_sec"] / a["requests_per_sec"])
                ps.append(b["latency_ms"]["p99"] / a["latency_ms"]["p99"])
            for res, m, u in ((a, miss, unexp), (b, miss, unexp)):
                if res is None or not r.startswith("watch"):
                    m.append(None); u.append(None)
                    continue
                m.append(int((res.get("extra") or {}).get("expected_events", 0) - res.get("samples", 0)))
                u.append(int(res.get("errors", 0)))
        if not qs and all(v is None for v in eld):
            print(f"| {r} | – | – | – | – | – |")
            continue
        q = f"**{statistics.median(qs):.2f}**" if qs else "–"
        p = f"{statistics.median(ps):.2f}" if ps else "–"
        m = fmt(miss, str) if r.startswith("watch") else ""
        u = fmt(unexp, str) if r.startswith("watch") else ""
        print(f"| {r} | {q} | {p} | {m} | {u} | {fmt(eld, lambda v: f'{v:g}')} |")


main()
