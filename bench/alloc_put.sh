#!/usr/bin/env bash
# alloc_put.sh - the JS heap allocated per put on one member, per function.
#
# Usage: bench/alloc_put.sh [DIR] [OUT_PREFIX]
#   DIR: the detcd checkout to run (default .); OUT_PREFIX: where the profile and the summary go
#   (default /tmp/alloc-put; writes PREFIX.heapprofile and PREFIX.txt).
# Env: PORT_BASE (default 27600), WARM (puts before sampling, 20000), PUTS (sampled puts, 50000),
#      CLIENTS (100), TOP (functions listed, 40).
# Starts one member with bench/_alloc_sampler.ts preloaded, puts WARM 256-byte values with the
# shared load generator, starts V8's sampling heap profiler (SIGUSR1), puts PUTS more, stops it
# (SIGUSR2) and prints bench/alloc_summary.ts's table, divided by PUTS. Run it in a private
# network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/alloc_put.sh . /tmp/a'
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
DIR=$(cd "${1:-.}" && pwd)
OUT=${2:-/tmp/alloc-put}
P=${PORT_BASE:-27600}
WARM=${WARM:-20000}
PUTS=${PUTS:-50000}
CLIENTS=${CLIENTS:-100}
LG=$("${LOADGEN_DIR:-/work/shared/tools/loadgen}/build.sh") || exit 1
# shellcheck source=bench/_cluster_wait.sh
. "$BENCH/_cluster_wait.sh"
DATA=$(mktemp -d /tmp/alloc-put.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT
rm -f "$OUT.heapprofile"
(cd "$DIR" && ALLOC_PROFILE_FILE="$OUT.heapprofile" exec deno run -A --quiet \
  --preload "$BENCH/_alloc_sampler.ts" main.ts --name m0 --data-dir "$DATA/m0" \
  --listen-client-urls "http://127.0.0.1:$((P + 10))" \
  --advertise-client-urls "http://127.0.0.1:$((P + 10))" \
  --listen-peer-urls "http://127.0.0.1:$((P + 20))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((P + 20))" \
  --initial-cluster "m0=http://127.0.0.1:$((P + 20))") >"$DATA/m0.log" 2>&1 &
PID=$!
wait_cluster $((P + 10)) 1
put() {
  "$LG" put --endpoints "127.0.0.1:$((P + 10))" --conns $((CLIENTS < 10 ? CLIENTS : 10)) \
    --clients "$CLIENTS" --total "$1" --key-size 8 --val-size 256 --key-space-size 100000 \
    --sequential-keys --json >"$DATA/put.json" || exit 1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0, r; print("%.0f req/s" % r["requests_per_sec"])' "$DATA/put.json"
}
put "$WARM" >/dev/null
kill -USR1 "$PID"
sleep 1
put "$PUTS"
kill -USR2 "$PID"
for _ in $(seq 1 100); do [ -s "$OUT.heapprofile" ] && break; sleep 0.2; done
sleep 1
deno run -A "$BENCH/alloc_summary.ts" "$OUT.heapprofile" "$PUTS" "${TOP:-40}" | tee "$OUT.txt"
