#!/usr/bin/env bash
# cluster_rows.sh - the 3-member put rows against etcd and detcd checkouts, interleaved, with
# what the disk did: each run starts a fresh 3-member cluster, runs the rows, and prints req/s,
# p50/p90/p99, CPU of all members per request (/proc/PID/stat), disk bytes written and write(2)
# bytes per request (/proc/PID/io write_bytes, wchar), and the members' average WAL fdatasync
# and backend commit durations (etcd_disk_wal_fsync_duration_seconds,
# etcd_disk_backend_commit_duration_seconds from /metrics), with the load average.
#
# Usage: bench/cluster_rows.sh RUNS ROWS KIND...
#   ROWS: comma-separated of 1L (1 client to the leader), 1A (1 client over all members),
#         KA (1000 clients/100 conns over all), KL (1000 clients/100 conns to the leader)
#   KIND: `etcd` (/usr/bin/etcd) or a detcd checkout directory
# Env: T1 (requests of the 1-client rows, default 3000), TK (1000-client rows, default 30000),
#      PORT_BASE (default 27600), EXTRA (more member flags, for every kind).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/cluster_rows.sh 2 1L,1A etcd /tmp/base .'
set -u
RUNS=${1:?RUNS}
ROWS=${2:?ROWS}
shift 2
[ $# -gt 0 ] || { echo "cluster_rows: no KIND given" >&2; exit 2; }
LG=$("${LOADGEN_DIR:-/work/shared/tools/loadgen}/build.sh") || exit 1
# shellcheck source=bench/_cluster_wait.sh
. "$(dirname "$0")/_cluster_wait.sh"
P=${PORT_BASE:-27600}
PIDS=()
DATA=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "$DATA" ] && rm -rf "$DATA"
  PIDS=()
}
trap cleanup EXIT

cpu_ticks() { # utime + stime of every member
  local total=0 p f
  for p in "${PIDS[@]}"; do
    read -r -a f < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
io_bytes() { # disk write_bytes and wchar of every member
  local disk=0 chars=0 p
  for p in "${PIDS[@]}"; do
    disk=$((disk + $(awk '/^write_bytes/{print $2}' "/proc/$p/io")))
    chars=$((chars + $(awk '/^wchar/{print $2}' "/proc/$p/io")))
  done
  echo "$disk $chars"
}

one() { # kind
  local kind=$1 ic="" i args eps leader row a c0 c1 io0 io1
  DATA=$(mktemp -d /tmp/cluster-rows.XXXXXX)
  for i in 0 1 2; do ic="$ic${ic:+,}m$i=http://127.0.0.1:$((P + 20 + i))"; done
  for i in 0 1 2; do
    args="--name m$i --data-dir $DATA/m$i --listen-client-urls http://127.0.0.1:$((P + 10 + i))
      --advertise-client-urls http://127.0.0.1:$((P + 10 + i)) --listen-peer-urls http://127.0.0.1:$((P + 20 + i))
      --initial-advertise-peer-urls http://127.0.0.1:$((P + 20 + i)) --initial-cluster $ic
      --initial-cluster-state new --initial-cluster-token rows ${EXTRA:-}"
    if [ "$kind" = etcd ]; then
      # shellcheck disable=SC2086 # the flags are meant to split
      /usr/bin/etcd $args > "$DATA/m$i.log" 2>&1 &
    else
      # shellcheck disable=SC2086
      (cd "$kind" && exec deno run -A --quiet main.ts $args) > "$DATA/m$i.log" 2>&1 &
    fi
    PIDS+=("$!")
  done
  wait_cluster $((P + 10)) 3
  local put="put --key-size 8 --val-size 256 --key-space-size 100000 --sequential-keys"
  for row in ${ROWS//,/ }; do
    case $row in
      1L) a="$put --endpoints $leader --conns 1 --clients 1 --total ${T1:-3000}" ;;
      1A) a="$put --endpoints $eps --conns 1 --clients 1 --total ${T1:-3000}" ;;
      KA) a="$put --endpoints $eps --conns 100 --clients 1000 --total ${TK:-30000}" ;;
      KL) a="$put --endpoints $leader --conns 100 --clients 1000 --total ${TK:-30000}" ;;
      *) echo "cluster_rows: unknown row $row" >&2; exit 2 ;;
    esac
    for i in 0 1 2; do curl -s "http://127.0.0.1:$((P + 10 + i))/metrics"; done > "$DATA/before.metrics"
    c0=$(cpu_ticks)
    io0=$(io_bytes)
    # shellcheck disable=SC2086
    "$LG" $a --json > "$DATA/result.json"
    c1=$(cpu_ticks)
    io1=$(io_bytes)
    for i in 0 1 2; do curl -s "http://127.0.0.1:$((P + 10 + i))/metrics"; done > "$DATA/after.metrics"
    python3 - "$DATA" "$kind" "$row" "$((c1 - c0))" "$io0" "$io1" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF2'
import json, re, sys
d, kind, row, ticks, io0, io1, load = sys.argv[1:8]
r = json.load(open(d + "/result.json")); l = r["latency_ms"]; n = max(1, r["total"])
def sums(name):
  s = {}
  for line in open(name):
    m = re.match(r"^etcd_disk_(wal_fsync|backend_commit)_duration_seconds_(sum|count) (\S+)", line)
    if m: s[m.group(1), m.group(2)] = s.get((m.group(1), m.group(2)), 0) + float(m.group(3))
  return s
b, a = sums(d + "/before.metrics"), sums(d + "/after.metrics")
def avg(k):
  c = a.get((k, "count"), 0) - b.get((k, "count"), 0)
  return (a.get((k, "sum"), 0) - b.get((k, "sum"), 0)) / c * 1000 if c else float("nan")
i0, i1 = [int(x) for x in io0.split()], [int(x) for x in io1.split()]
print("%-22s %-3s %7.0f %7.2f %7.2f %8.2f %5d %8.3f %8.2f %8.2f %8.2f %8.2f %5s" % (
  kind[-22:], row, r["requests_per_sec"], l["p50"], l["p90"], l["p99"], r["errors"],
  int(ticks) * 10.0 / n, (i1[0] - i0[0]) / 1024 / n, (i1[1] - i0[1]) / 1024 / n,
  avg("wal_fsync"), avg("backend_commit"), load))
EOF2
  done
  cleanup
}

printf '%-22s %-3s %7s %7s %7s %8s %5s %8s %8s %8s %8s %8s %5s\n' kind row req/s p50 p90 p99 errs \
  cpu_ms/r diskKB/r wcharKB/r fsync_ms commit_ms load
for _ in $(seq 1 "$RUNS"); do
  for kind in "$@"; do one "$kind"; done
done
