#!/usr/bin/env bash
# disk_metrics_1x1.sh - each server's own disk histograms around 1-client puts, sides interleaved.
#
# Usage: bench/disk_metrics_1x1.sh RUNS SIDE...
#   SIDE: a detcd checkout, or "etcd" for the real etcd (ETCD_BIN, default /usr/bin/etcd).
#   Each run starts a fresh single member of each side in turn, waits IDLE_S (default 4) seconds,
#   scrapes /metrics, puts TOTAL (default 5000) keys from one client (the shared Go load
#   generator), scrapes again and prints req/s, p50/p99 and, from the difference of the two
#   scrapes, etcd_disk_wal_fsync_duration_seconds and etcd_disk_backend_commit_duration_seconds:
#   count, mean, and the share at or below 1, 2, 4, 8, 16 ms.
# Env: TOTAL, IDLE_S, PORT_BASE (default 34200), SERVER_ENV (assignments given to every detcd
#      member, e.g. for a temporary toggle).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/disk_metrics_1x1.sh 2 etcd .'
set -u
RUNS=${1:?RUNS}
shift
[ $# -ge 1 ] || { echo "disk_metrics_1x1: no SIDE" >&2; exit 2; }
LG=$("${LOADGEN_DIR:-/work/shared/tools/loadgen}/build.sh") || exit 1
# shellcheck source=bench/_cluster_wait.sh
. "$(dirname "$0")/_cluster_wait.sh"
P=${PORT_BASE:-34200}
SP=""
DATA=""
cleanup() {
  [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
  [ -n "$DATA" ] && rm -rf "$DATA"
  SP="" DATA=""
}
trap cleanup EXIT

one() { # side
  local side=$1 cmd
  DATA=$(mktemp -d /tmp/disk-metrics.XXXXXX)
  cmd=(env ${SERVER_ENV:-} deno run -A --quiet main.ts)
  [ "$side" = etcd ] && cmd=("${ETCD_BIN:-/usr/bin/etcd}")
  single_member_args "$P" "$DATA"
  (cd "${side/#etcd//tmp}" && exec "${cmd[@]}" "${MEMBER_ARGS[@]}") > "$DATA/log" 2>&1 &
  SP=$!
  wait_cluster "$P" 1
  sleep "${IDLE_S:-4}"
  curl -s "127.0.0.1:$P/metrics" > "$DATA/before"
  "$LG" put --key-size 8 --val-size 256 --key-space-size 100000 --sequential-keys \
    --endpoints 127.0.0.1:$P --conns 1 --clients 1 --total "${TOTAL:-5000}" --json > "$DATA/result.json"
  curl -s "127.0.0.1:$P/metrics" > "$DATA/after"
  python3 - "$DATA" "$side" <<'PY'
import json, re, sys
d, side = sys.argv[1], sys.argv[2]
def load(path):
    out = {}
    for line in open(path):
        m = re.match(r'(etcd_disk_(?:wal_fsync|backend_commit)_duration_seconds)_(?:bucket\{le="([^"]+)"\}|(sum|count)) (\S+)', line)
        if m:
            out[(m.group(1), m.group(2) or m.group(3))] = float(m.group(4))
    return out
a, b = load(d + "/before"), load(d + "/after")
r = json.load(open(d + "/result.json"))
print("%s: %.0f req/s, p50 %.2f p99 %.2f ms" % (side, r["requests_per_sec"], r["latency_ms"]["p50"], r["latency_ms"]["p99"]))
for name in ("etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"):
    count = b.get((name, "count"), 0) - a.get((name, "count"), 0)
    total = b.get((name, "sum"), 0) - a.get((name, "sum"), 0)
    shares = []
    for le in ("0.001", "0.002", "0.004", "0.008", "0.016"):
        n = b.get((name, le), 0) - a.get((name, le), 0)
        shares.append("<=%g ms %.0f%%" % (float(le) * 1000, 100 * n / count if count else 0))
    print("  %-16s n=%d mean %.2f ms  %s" % (name.split("_")[2] + " " + name.split("_")[3], count,
                                              1000 * total / count if count else 0, "  ".join(shares)))
PY
  cleanup
}

for run in $(seq 1 "$RUNS"); do
  for side in "$@"; do
    [ "$side" = etcd ] || side=$(cd "$side" && pwd)
    echo "== run $run ($(cut -d' ' -f1-3 /proc/loadavg))"
    one "$side"
  done
done
