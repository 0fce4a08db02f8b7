#!/usr/bin/env bash
# profile_cluster.sh - CPU profiles of every detcd member while the shared load generator runs
# one row, then where the time went (bench/cpuprof_summary.ts).
#
# Usage: bench/profile_cluster.sh ROW OUT_DIR
#   ROW: put-1x1-leader | put-1x1-all | put-1000-all | put-1000-leader | single-put-1x1 |
#        single-put-1000 | single-watch-1000 | single-watch-1000-lockstep (--put-rate 0: each put
#        waits for every watcher's event of the one before) | single-watch-10k-lockstep
# Env: MEMBERS (3, or 1 for the single-* rows; set by the row), PORT_BASE (default 27300),
#      TOTAL (requests; default the row's), TOP (rows per summary table, default 20),
#      V8_FLAGS (comma-separated V8 flags for every member, e.g. --prof,--log-deopt or --log-ic;
#      each member's isolate log goes to OUT_DIR/m<i>/isolate-*-v8.log, its stdout and stderr,
#      where --trace-opt/--trace-deopt print, to OUT_DIR/m<i>.log), CPU_PROF (1, the default:
#      --cpu-prof; 0: none, for runs that only want the V8 logs), WARMUP (requests run first with
#      the same arguments; then OUT_DIR/m<i>/mark.txt records the byte sizes of the member's
#      stdout log and isolate log, so that bench/v8log_summary.ts counts only the TOTAL requests
#      after it: the steady state).
# Run it inside a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/profile_cluster.sh put-1x1-leader /tmp/prof'
# Each member writes OUT_DIR/m<i>/*.cpuprofile on its graceful stop (SIGTERM); the summary
# names the leader. Only the processes started here are stopped.
set -u
ROW=${1:?usage: profile_cluster.sh ROW OUT_DIR}
OUT=${2:?usage: profile_cluster.sh ROW OUT_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LGDIR=${LOADGEN_DIR:-/work/shared/tools/loadgen}
LG=$("$LGDIR/build.sh") || exit 1
P=${PORT_BASE:-27300}
TOP=${TOP:-20}
case $ROW in
  single-*) N=1 ;;
  put-*) N=3 ;;
  *) echo "profile_cluster: unknown row $ROW" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA=$(mktemp -d /tmp/profile-cluster.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

IC=""
for i in $(seq 0 $((N - 1))); do IC="$IC${IC:+,}m$i=http://127.0.0.1:$((P + 20 + i))"; done
for i in $(seq 0 $((N - 1))); do
  mkdir -p "$OUT/m$i"
  PROF=(--cpu-prof --cpu-prof-dir="$OUT/m$i")
  [ "${CPU_PROF:-1}" = 0 ] && PROF=()
  V8=()
  [ -n "${V8_FLAGS:-}" ] && V8=("--v8-flags=$V8_FLAGS,--logfile=$OUT/m$i/v8.log")
  (cd "$ROOT" && exec deno run -A --quiet "${PROF[@]}" "${V8[@]}" main.ts \
    --name m$i --data-dir "$DATA/m$i" \
    --listen-client-urls http://127.0.0.1:$((P + 10 + i)) --advertise-client-urls http://127.0.0.1:$((P + 10 + i)) \
    --listen-peer-urls http://127.0.0.1:$((P + 20 + i)) --initial-advertise-peer-urls http://127.0.0.1:$((P + 20 + i)) \
    --initial-cluster "$IC" --initial-cluster-state new --initial-cluster-token prof) > "$OUT/m$i.log" 2>&1 &
  PIDS+=("$!")
done
EPS=""
for i in $(seq 0 $((N - 1))); do
  ep=127.0.0.1:$((P + 10 + i))
  EPS="$EPS${EPS:+,}$ep"
  for _ in $(seq 1 150); do
    ETCDCTL_API=3 etcdctl --endpoints "$ep" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
done
LEADER=$(ETCDCTL_API=3 etcdctl --endpoints "$EPS" endpoint status -w json | python3 -c '
import json,sys
for s in json.load(sys.stdin):
  if s["Status"]["leader"]==s["Status"]["header"]["member_id"]: print(s["Endpoint"])')
echo "leader: $LEADER (member m$((${LEADER##*:} - P - 10)))" | tee "$OUT/leader.txt"
PUT="put --key-size 8 --val-size 256 --key-space-size 100000 --sequential-keys"
case $ROW in
  put-1x1-leader) ARGS="$PUT --endpoints $LEADER --conns 1 --clients 1 --total ${TOTAL:-5000}" ;;
  put-1x1-all) ARGS="$PUT --endpoints $EPS --conns 1 --clients 1 --total ${TOTAL:-5000}" ;;
  put-1000-all) ARGS="$PUT --endpoints $EPS --conns 100 --clients 1000 --total ${TOTAL:-50000}" ;;
  put-1000-leader) ARGS="$PUT --endpoints $LEADER --conns 100 --clients 1000 --total ${TOTAL:-50000}" ;;
  single-put-1x1) ARGS="$PUT --endpoints $EPS --conns 1 --clients 1 --total ${TOTAL:-5000}" ;;
  single-put-1000) ARGS="$PUT --endpoints $EPS --conns 100 --clients 1000 --total ${TOTAL:-50000}" ;;
  single-watch-1000) ARGS="watch-latency --endpoints $EPS --conns 10 --streams 10 --watchers 1000 --total ${TOTAL:-500} --put-rate 100 --val-size 256" ;;
  single-watch-10k-lockstep) ARGS="watch-latency --endpoints $EPS --conns 10 --streams 10 --watchers 10000 --total ${TOTAL:-100} --put-rate 0 --val-size 256" ;;
  single-watch-1000-lockstep) ARGS="watch-latency --endpoints $EPS --conns 10 --streams 10 --watchers 1000 --total ${TOTAL:-1000} --put-rate 0 --val-size 256" ;;
esac
# The summaries give milliseconds per request (or per event-producing put of the watch row).
COUNT=$(sed -n 's/.*--total \([0-9]*\).*/\1/p' <<<"$ARGS")
if [ "${WARMUP:-0}" -gt 0 ]; then
  echo "\$ loadgen (warm-up) ${ARGS/--total $COUNT/--total $WARMUP}" | tee "$OUT/warmup.txt"
  # shellcheck disable=SC2086 # the flags are meant to split
  "$LG" ${ARGS/--total $COUNT/--total $WARMUP} >>"$OUT/warmup.txt"
  sleep 1
  for i in $(seq 0 $((N - 1))); do
    # The isolate log is written line by line (a flush per line), so its size marks the boundary.
    { echo "log $(stat -c %s "$OUT/m$i.log")"
      for f in "$OUT"/m$i/isolate-*-v8.log; do [ -f "$f" ] && echo "isolate $(stat -c %s "$f") $f"; done
      echo "requests $COUNT"; } >"$OUT/m$i/mark.txt"
  done
fi
echo "\$ loadgen $ARGS" | tee "$OUT/row.txt"
# shellcheck disable=SC2086 # the flags are meant to split
"$LG" $ARGS | tee -a "$OUT/row.txt"
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()
[ "${CPU_PROF:-1}" = 0 ] && exit 0
for i in $(seq 0 $((N - 1))); do
  role=follower
  [ "127.0.0.1:$((P + 10 + i))" = "$LEADER" ] && role=leader
  echo "### m$i ($role)"
  deno run -A "$ROOT/bench/cpuprof_summary.ts" --top "$TOP" --per "$COUNT" "$OUT"/m$i/*.cpuprofile
done | tee "$OUT/summary.txt"
