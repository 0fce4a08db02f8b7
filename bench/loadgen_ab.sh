#!/usr/bin/env bash
# loadgen_ab.sh - one load generator row against two detcd checkouts, interleaved (A/B).
#
# Usage: bench/loadgen_ab.sh BEFORE_DIR AFTER_DIR ROW [RUNS]
#   ROW: cluster-put-1x1-leader | cluster-put-1x1-all | cluster-put-1000-leader |
#        cluster-put-1000-all | single-put-1x1 | single-put-1000 | single-watch-1000 |
#        single-watch-1000-lockstep | single-watch-10k | single-watch-10k-lockstep
#        (the watch rows: 1000 or 10,000 watchers of one key on 10 streams over 10 connections;
#        "lockstep" is --put-rate 0: the writer puts again only once every watcher has the event,
#        as baseline.sh's watch-1000-lockstep and loadgen_compare.sh's watch-10000-lockstep)
#   RUNS: pairs (default 3); each run starts fresh members from that checkout.
# Env: TOTAL (requests, default the row's), PORT_BASE (default 27400), SERVER_FLAGS (more flags
#      for every member), IDLE_S (seconds of idle CPU measured before the load, default 3),
#      DETCD_V8_FLAGS (given to deno as --v8-flags=..., as in bench/memory.ts; both sides),
#      after the V8 flags the side's checkout ships with (its embed/v8_flags.ts, printed by
#      `deno run embed/v8_flags.ts`; none for a checkout without that file), so that each side
#      runs as `deno task start` and the compiled binary of that checkout do and a flag given
#      here overrides the shipped one (e.g. --no-efficiency-mode turns the shipped flag off),
#      BEFORE_V8_FLAGS / AFTER_V8_FLAGS (the same for one side only, default DETCD_V8_FLAGS: with
#      the same checkout on both sides, an A/B of one V8 flag, e.g.
#      AFTER_V8_FLAGS=--heap-growing-percent=50 bench/loadgen_ab.sh . . single-put-1000 3).
#      A checkout named "etcd" runs the real etcd instead (ETCD_BIN).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/loadgen_ab.sh /tmp/base . cluster-put-1000-leader 3'
# Prints one line per run (checkout, run, req/s, p50, p99 ms, CPU ms of all members per request,
# from /proc/PID/stat around the load: less sensitive to other work on the machine than the
# rates), the same less the members' idle CPU (their rate over IDLE_S seconds before the load,
# times the load's duration: at a low request rate the idle timers are a large share of the
# first column, so it moves with the rate), the load generator's own CPU per request (user +
# system, set-up included: on the watch rows the client's work per event is most of a round) and
# the medians. Only ratios from
# one run of this script mean anything on a shared machine.
set -u
# A side named "etcd" runs the real etcd (ETCD_BIN, default /usr/bin/etcd) with the same flags.
side_dir() { if [ "$1" = etcd ]; then echo etcd; else (cd "$1" && pwd); fi; }
BEFORE=$(side_dir "${1:?BEFORE_DIR}")
AFTER=$(side_dir "${2:?AFTER_DIR}")
ROW=${3:?ROW}
RUNS=${4:-3}
LGDIR=${LOADGEN_DIR:-/work/shared/tools/loadgen}
LG=$("$LGDIR/build.sh") || exit 1
# shellcheck source=bench/_cluster_wait.sh
. "$(dirname "$0")/_cluster_wait.sh"
P=${PORT_BASE:-27400}
case $ROW in
  cluster-*) N=3 ;;
  single-*) N=1 ;;
  *) echo "loadgen_ab: unknown row $ROW" >&2; exit 2 ;;
esac
PIDS=()
DATA=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "$DATA" ] && rm -rf "$DATA"
  PIDS=()
}
trap cleanup EXIT

# The shipped V8 flags of a checkout (its embed/v8_flags.ts), as one deno argument or nothing.
shipped_v8() { # dir
  if [ "$1" != etcd ] && [ -f "$1/embed/v8_flags.ts" ]; then
    (cd "$1" && deno run --quiet embed/v8_flags.ts) || echo "loadgen_ab: $1/embed/v8_flags.ts failed" >&2
  fi
}
SHIPPED_BEFORE=$(shipped_v8 "$BEFORE")
SHIPPED_AFTER=$(shipped_v8 "$AFTER")

one() { # dir v8flags shipped -> prints "req/s p50 p99"
  local dir=$1 v8=$2 shipped=$3 ic="" eps="" i ep leader args
  DATA=$(mktemp -d /tmp/loadgen-ab.XXXXXX)
  for i in $(seq 0 $((N - 1))); do ic="$ic${ic:+,}m$i=http://127.0.0.1:$((P + 20 + i))"; done
  for i in $(seq 0 $((N - 1))); do
    local cmd=(deno run -A --quiet ${shipped:+"$shipped"} ${v8:+"--v8-flags=$v8"} main.ts)
    [ "$dir" = etcd ] && cmd=("${ETCD_BIN:-/usr/bin/etcd}")
    (cd "${dir/#etcd//tmp}" && exec "${cmd[@]}" ${SERVER_FLAGS:-} --name m$i --data-dir "$DATA/m$i" \
      --listen-client-urls http://127.0.0.1:$((P + 10 + i)) --advertise-client-urls http://127.0.0.1:$((P + 10 + i)) \
      --listen-peer-urls http://127.0.0.1:$((P + 20 + i)) --initial-advertise-peer-urls http://127.0.0.1:$((P + 20 + i)) \
      --initial-cluster "$ic" --initial-cluster-state new --initial-cluster-token ab) > "$DATA/m$i.log" 2>&1 &
    PIDS+=("$!")
  done
  wait_cluster $((P + 10)) "$N"
  local put="put --key-size 8 --val-size 256 --key-space-size 100000 --sequential-keys"
  case $ROW in
    cluster-put-1x1-leader) args="$put --endpoints $leader --conns 1 --clients 1 --total ${TOTAL:-3000}" ;;
    cluster-put-1x1-all) args="$put --endpoints $eps --conns 1 --clients 1 --total ${TOTAL:-3000}" ;;
    cluster-put-1000-leader) args="$put --endpoints $leader --conns 100 --clients 1000 --total ${TOTAL:-30000}" ;;
    cluster-put-1000-all) args="$put --endpoints $eps --conns 100 --clients 1000 --total ${TOTAL:-30000}" ;;
    single-put-1x1) args="$put --endpoints $eps --conns 1 --clients 1 --total ${TOTAL:-3000}" ;;
    single-put-1000) args="$put --endpoints $eps --conns 100 --clients 1000 --total ${TOTAL:-30000}" ;;
    single-watch-1000) args="watch-latency --endpoints $eps --conns 10 --streams 10 --watchers 1000 --total ${TOTAL:-300} --put-rate 100 --val-size 256" ;;
    single-watch-1000-lockstep) args="watch-latency --endpoints $eps --conns 10 --streams 10 --watchers 1000 --total ${TOTAL:-1000} --put-rate 0 --val-size 256" ;;
    single-watch-10k) args="watch-latency --endpoints $eps --conns 10 --streams 10 --watchers 10000 --total ${TOTAL:-200} --put-rate 100 --val-size 256" ;;
    single-watch-10k-lockstep) args="watch-latency --endpoints $eps --conns 10 --streams 10 --watchers 10000 --total ${TOTAL:-200} --put-rate 0 --val-size 256" ;;
  esac
  local cpu0 cpu1 idle0 idle1 t0 t1
  idle0=$(cpu_ticks)
  sleep "${IDLE_S:-3}"
  idle1=$(cpu_ticks)
  cpu0=$(cpu_ticks)
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # the flags are meant to split
  /usr/bin/time -f "%U %S" -o "$DATA/lg_time" "$LG" $args --json > "$DATA/result.json"
  t1=$(date +%s.%N)
  cpu1=$(cpu_ticks)
  python3 - "$DATA/result.json" "$((cpu1 - cpu0))" "$((idle1 - idle0))" "${IDLE_S:-3}" "$t0" "$t1" "$DATA/lg_time" <<'EOF2'
import json,sys
r=json.load(open(sys.argv[1])); l=r["latency_ms"]
n=max(1, r.get("samples") or r["total"])
busy_ms = int(sys.argv[2]) * 10.0
idle_ms = int(sys.argv[3]) * 10.0 / float(sys.argv[4]) * (float(sys.argv[6]) - float(sys.argv[5]))
lg_s = sum(float(x) for x in open(sys.argv[7]).read().split()[-2:])
print("%.0f %.2f %.2f %d %.4f %.4f %.4f" % (r["requests_per_sec"], l["p50"], l["p99"], r["errors"],
  busy_ms / n, (busy_ms - idle_ms) / n, lg_s * 1000.0 / n))
EOF2
  cleanup
}

cpu_ticks() { # utime + stime of every member, in clock ticks (1/100 s)
  local total=0 p f
  for p in "${PIDS[@]}"; do
    read -r -a f < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

echo "before: $BEFORE $SHIPPED_BEFORE ${BEFORE_V8_FLAGS-${DETCD_V8_FLAGS:-}}"
echo "after: $AFTER $SHIPPED_AFTER ${AFTER_V8_FLAGS-${DETCD_V8_FLAGS:-}}"
printf '%-7s %-4s %9s %9s %9s %6s %12s %12s %12s\n' checkout run req/s p50_ms p99_ms errors cpu_ms/req above_idle lg_cpu_ms/req
declare -A Q
for run in $(seq 1 "$RUNS"); do
  for side in before after; do
    dir=$BEFORE v8=${BEFORE_V8_FLAGS-${DETCD_V8_FLAGS:-}} shipped=$SHIPPED_BEFORE
    [ "$side" = after ] && dir=$AFTER v8=${AFTER_V8_FLAGS-${DETCD_V8_FLAGS:-}} shipped=$SHIPPED_AFTER
    read -r q p50 p99 errs cpu busy lg <<<"$(one "$dir" "$v8" "$shipped")"
    printf '%-7s %-4s %9s %9s %9s %6s %12s %12s %12s\n' "$side" "$run" "$q" "$p50" "$p99" "$errs" "$cpu" "$busy" "$lg"
    Q[$side]="${Q[$side]:-} $q/$p99/$cpu/$busy/$lg"
  done
done
python3 - "${Q[before]}" "${Q[after]}" <<'EOF'
import statistics, sys
def med(s, i): return statistics.median(float(x.split("/")[i]) for x in s.split())
b, a = sys.argv[1], sys.argv[2]
print("median req/s before %.0f after %.0f (x%.2f); p99 before %.1f after %.1f ms (x%.2f)" % (
  med(b, 0), med(a, 0), med(a, 0) / med(b, 0), med(b, 1), med(a, 1), med(a, 1) / med(b, 1)))
print("median CPU of all members per request: before %.4f after %.4f ms (x%.2f)" % (
  med(b, 2), med(a, 2), med(a, 2) / med(b, 2)))
print("  the same above the idle CPU: before %.4f after %.4f ms (x%.2f)" % (
  med(b, 3), med(a, 3), med(a, 3) / med(b, 3)))
print("median CPU of the load generator per request: before %.4f after %.4f ms (x%.2f)" % (
  med(b, 4), med(a, 4), med(a, 4) / med(b, 4)))
EOF
