#!/usr/bin/env bash
# gc_pauses.sh - V8's collections on every member during a 1-client put row, and the puts they
# delay: members run with --trace-gc --trace-gc-nvp (one JSON line per collection), the load
# generator (the shared one built with bench/loadgen_latdump.patch) writes every put's start and
# duration, and bench/gc_pauses.py tabulates the pauses and matches them to the puts.
#
# Usage: bench/gc_pauses.sh ROW RUNS OUT_DIR
#   ROW: cluster-put-1x1-leader (3 members, the client on the leader) | single-put-1x1
# Env: CHECKOUT (the detcd checkout to run, default this one), TOTAL (puts per run, default
#      3000), PORT_BASE (default 39000), IDLE_S (seconds between the cluster being healthy and
#      the load, default 3, as bench/loadgen_ab.sh), V8_EXTRA (more V8 flags, comma-separated).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/gc_pauses.sh cluster-put-1x1-leader 2 /tmp/gcp'
# Each run leaves OUT_DIR/runN/: m<i>.gc (V8's lines, on stdout), m<i>.log (the log), lat.txt
# ("start_unix_ns duration_ns" per put), clock.txt (each member's process start on the wall
# clock, the load's start and end) and leader.txt; then the summary is printed.
set -u
ROW=${1:?usage: gc_pauses.sh ROW RUNS OUT_DIR}
RUNS=${2:?RUNS}
OUT=${3:?OUT_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "${CHECKOUT:-$HERE}" && pwd)
LGDIR=${LOADGEN_DIR:-/work/shared/tools/loadgen}
P=${PORT_BASE:-39000}
case $ROW in
  cluster-put-1x1-leader) N=3 ;;
  single-put-1x1) N=1 ;;
  *) echo "gc_pauses: unknown row $ROW" >&2; exit 2 ;;
esac
# shellcheck source=bench/_cluster_wait.sh
. "$HERE/bench/_cluster_wait.sh"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/gc-pauses.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  PIDS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT

# The load generator with a per-put dump (LATDUMP=file).
mkdir -p "$WORK/go/src/loadgen"
cp "$LGDIR/main.go" "$WORK/go/src/loadgen/"
(cd "$WORK/go/src/loadgen" && patch -s -p1 < "$HERE/bench/loadgen_latdump.patch") || exit 1
(cd "$WORK/go/src/loadgen" && GOPATH="$WORK/go:/usr/share/gocode" GO111MODULE=off GOFLAGS= \
  GOCACHE=${GOCACHE:-/tmp/gocache} go build -o "$WORK/loadgen" .) || exit 1

# wall_start PID: the process's start on the wall clock, in seconds (its start in clock ticks
# since boot, /proc/PID/stat field 22, put on the wall clock through CLOCK_BOOTTIME now).
wall_start() {
  python3 - "$1" <<'EOF'
import os, sys, time
ticks = int(open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")", 1)[1].split()[19])
now_wall, now_boot = time.time(), time.clock_gettime(time.CLOCK_BOOTTIME)
print("%.3f" % (now_wall - now_boot + ticks / os.sysconf("SC_CLK_TCK")))
EOF
}

V8="--trace-gc,--trace-gc-nvp${V8_EXTRA:+,$V8_EXTRA}"
for run in $(seq 1 "$RUNS"); do
  dir=$OUT/run$run
  mkdir -p "$dir"
  data=$WORK/data$run
  ic=""
  for i in $(seq 0 $((N - 1))); do ic="$ic${ic:+,}m$i=http://127.0.0.1:$((P + 20 + i))"; done
  for i in $(seq 0 $((N - 1))); do
    (cd "$SRC" && exec deno run -A --quiet "--v8-flags=$V8" main.ts --name m$i --data-dir "$data/m$i" \
      --listen-client-urls http://127.0.0.1:$((P + 10 + i)) --advertise-client-urls http://127.0.0.1:$((P + 10 + i)) \
      --listen-peer-urls http://127.0.0.1:$((P + 20 + i)) --initial-advertise-peer-urls http://127.0.0.1:$((P + 20 + i)) \
      --initial-cluster "$ic" --initial-cluster-state new --initial-cluster-token gcp) > "$dir/m$i.gc" 2> "$dir/m$i.log" &
    PIDS+=("$!")
  done
  wait_cluster $((P + 10)) "$N"
  : > "$dir/clock.txt"
  for i in $(seq 0 $((N - 1))); do echo "m$i $(wall_start "${PIDS[$i]}")" >> "$dir/clock.txt"; done
  echo "m$(( ${leader##*:} - P - 10 ))" > "$dir/leader.txt"
  sleep "${IDLE_S:-3}"
  echo "load_start $(date +%s.%N)" >> "$dir/clock.txt"
  LATDUMP=$dir/lat.txt "$WORK/loadgen" put --key-size 8 --val-size 256 --key-space-size 100000 \
    --sequential-keys --endpoints "$leader" --conns 1 --clients 1 --total "${TOTAL:-3000}" \
    --json > "$dir/result.json"
  echo "load_end $(date +%s.%N)" >> "$dir/clock.txt"
  echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >> "$dir/clock.txt"
  cleanup
  rm -rf "$data"
  echo "== run $run ($(cut -d' ' -f1-3 /proc/loadavg)): $dir"
  python3 "$HERE/bench/gc_pauses.py" "$dir"
done
