#!/usr/bin/env bash
# p99_trace.sh - where the slowest 1-client puts of a single member spend their time.
#
# Usage: bench/p99_trace.sh [CHECKOUT] [RUNS] [OUT_DIR]
#   CHECKOUT  the detcd checkout to trace (default: this one); its HEAD is copied (git archive),
#             bench/p99_trace.patch (temporary stamps, from this checkout) applied to the copy.
#   RUNS      runs (default 2); each starts a fresh member and puts TOTAL keys, 1 client.
#   OUT_DIR   results (default: a new /tmp/p99trace.XXXXXX), one sub-directory per run.
# Env: TOTAL (puts per run, default 5000), PORT_BASE (default 34100), IDLE_S (seconds between the
#      member being healthy and the load, default 4: past malloc_trim's start-up collection).
# Run it in a private network namespace, like bench/loadgen_ab.sh:
#   unshare -n bash -c 'ip link set lo up; bench/p99_trace.sh . 2'
# Each run leaves lat.txt (the load generator's start and duration of every put, built from the
# shared loadgen with bench/loadgen_latdump.patch), trace.txt (the member's spans: socket reads
# and writes, WAL fdatasyncs, backend commits, every timer callback) and server.log (V8's
# --trace-gc lines); bench/p99_trace.py reads them and prints the attribution of the slow puts.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/_cluster_wait.sh
. "$HERE/bench/_cluster_wait.sh"
SRC=$(cd "${1:-$HERE}" && pwd)
RUNS=${2:-2}
OUT=${3:-$(mktemp -d /tmp/p99trace.XXXXXX)}
mkdir -p "$OUT"
P=${PORT_BASE:-34100}
LGDIR=${LOADGEN_DIR:-/work/shared/tools/loadgen}
WORK=$(mktemp -d /tmp/p99trace-work.XXXXXX)
SP=""
cleanup() {
  [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The load generator with a per-put dump (LATDUMP=file: "start_unix_ns duration_ns" lines).
mkdir -p "$WORK/go/src/loadgen"
cp "$LGDIR/main.go" "$WORK/go/src/loadgen/"
(cd "$WORK/go/src/loadgen" && patch -s -p1 < "$HERE/bench/loadgen_latdump.patch") || exit 1
(cd "$WORK/go/src/loadgen" && GOPATH="$WORK/go:/usr/share/gocode" GO111MODULE=off GOFLAGS= \
  GOCACHE=${GOCACHE:-/tmp/gocache} go build -o "$WORK/loadgen" .) || exit 1

# The traced copy of the checkout; its npm packages are the checkout's (no network here).
mkdir -p "$WORK/src"
git -C "$SRC" archive HEAD | tar -x -C "$WORK/src"
(cd "$WORK/src" && git apply "$HERE/bench/p99_trace.patch") || exit 1
[ -d "$SRC/node_modules" ] && ln -s "$SRC/node_modules" "$WORK/src/node_modules"

for run in $(seq 1 "$RUNS"); do
  dir=$OUT/run$run
  mkdir -p "$dir"
  data=$(mktemp -d /tmp/p99trace-data.XXXXXX)
  single_member_args "$P" "$data"
  (cd "$WORK/src" && P99TRACE=$dir/trace.txt exec deno run -A --quiet --v8-flags=--trace-gc,--expose-gc \
    main.ts "${MEMBER_ARGS[@]}") > "$dir/server.log" 2>&1 &
  SP=$!
  wait_cluster "$P" 1
  sleep "${IDLE_S:-4}"
  LATDUMP=$dir/lat.txt "$WORK/loadgen" put --key-size 8 --val-size 256 --key-space-size 100000 \
    --sequential-keys --endpoints 127.0.0.1:$P --conns 1 --clients 1 --total "${TOTAL:-5000}" \
    --json > "$dir/result.json"
  kill -TERM "$SP"
  wait "$SP"
  SP=""
  rm -rf "$data"
  echo "== run $run ($(cut -d' ' -f1-3 /proc/loadavg)): $dir"
  python3 "$HERE/bench/p99_trace.py" "$dir"
done
