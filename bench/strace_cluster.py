"""strace_cluster.py - per-put summary of one member's `strace -f -yy` log, for strace_cluster.sh.

Usage: strace_cluster.py LOG TOTAL TITLE TOP PORT_BASE "COUNTERS"
COUNTERS: four lines of "seconds user_ticks system_ticks voluntary involuntary threads": before
and after the idle interval, before and after the untraced load.
A descriptor is a peer connection when either end is a peer port (PORT_BASE+20..22), a client
connection when either end is a client port (PORT_BASE+10..12); files are "wal" (under
member/wal), "db" (member/snap/db) or "file".
"""
import re
import sys
from collections import Counter, defaultdict

WRITES = {"write", "writev", "sendto", "sendmsg", "sendmmsg", "pwrite64", "pwritev", "pwritev2"}
READS = {"read", "readv", "recvfrom", "recvmsg", "recvmmsg", "pread64", "preadv", "preadv2"}
SYNCS = {"fdatasync", "fsync", "sync_file_range"}
START = re.compile(r"^(\d+)\s+(\w+)\((.*)$")
RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+|\?)")
FD = re.compile(r"^(\d+)<((?:TCP|UDP)[^\]]*\]|[^>]*)>")


def kind_of(desc, port_base):
    tcp = re.match(r"TCP(?:v6)?:\[(?:[\d.:]+?):(\d+)->(?:[\d.:]+?):(\d+)\]", desc)
    if tcp:
        ports = {int(tcp.group(1)), int(tcp.group(2))}
        if ports & {port_base + 20 + i for i in range(3)}:
            return "peer"
        if ports & {port_base + 10 + i for i in range(3)}:
            return "client"
        return "tcp-other"
    if desc.startswith("/"):
        if "/member/wal/" in desc:
            return "wal"
        if desc.endswith("/member/snap/db"):
            return "db"
        return "file"
    return desc.split(":")[0] or "other"


def main():
    path, total, title, top, port_base = sys.argv[1:6]
    total, top, port_base = int(total), int(top), int(port_base)
    snaps = [[float(x) for x in line.split()] for line in sys.argv[6].splitlines()]
    calls = Counter()
    traffic = defaultdict(lambda: [0, 0])  # (direction, kind) -> [calls, bytes]
    pending = {}  # pid -> (name, kind) of an unfinished call
    for line in open(path, errors="replace"):
        m = START.match(line)
        if m:
            pid, name, rest = m.groups()
            calls[name] += 1
            fd = FD.match(rest)
            kind = kind_of(fd.group(2), port_base) if fd else None
            if rest.rstrip().endswith("<unfinished ...>"):
                pending[pid] = (name, kind)
                continue
        else:
            m = RESUMED.match(line)
            if not m:
                continue
            pid, name, rest = m.groups()
            name, kind = pending.pop(pid, (name, None))
        if kind is None or (name not in WRITES and name not in READS and name not in SYNCS):
            continue
        r = RESULT.search(rest)
        direction = "write" if name in WRITES else "read" if name in READS else "sync"
        entry = traffic[(direction, kind)]
        entry[0] += 1
        if direction != "sync" and r and r.group(1) != "?" and int(r.group(1)) > 0:
            entry[1] += int(r.group(1))
    idle = [snaps[1][i] - snaps[0][i] for i in range(5)]
    load = [snaps[3][i] - snaps[2][i] for i in range(5)]
    # Per put, and per put less the idle rate over the load's duration: user ms, system ms,
    # voluntary and involuntary switches.
    per = [load[i] * (10.0 if i < 3 else 1.0) / total for i in range(1, 5)]
    above = [(load[i] - idle[i] / idle[0] * load[0]) * (10.0 if i < 3 else 1.0) / total
             for i in range(1, 5)]
    print("%s: %.1f syscalls per put; untraced, per put (above idle): CPU user %.3f (%.3f) +"
          " system %.3f (%.3f) ms, context switches voluntary %.2f (%.2f), involuntary %.2f"
          " (%.2f); %d threads" % (
              title, sum(calls.values()) / total, per[0], above[0], per[1], above[1], per[2],
              above[2], per[3], above[3], snaps[3][5]))
    print("  " + ", ".join("%s %.2f" % (n, c / total) for n, c in calls.most_common(top)))
    for (direction, kind), (n, nbytes) in sorted(traffic.items()):
        if n / total < 0.01:
            continue
        size = "" if direction == "sync" else ", %.0f bytes (%.0f per call)" % (
            nbytes / total, nbytes / n)
        print("  %-5s %-10s %6.2f calls per put%s" % (direction, kind, n / total, size))


main()
