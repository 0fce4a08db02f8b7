#!/usr/bin/env bash
# loadgen_compare.sh - the shared Go load generator's whole set, real etcd vs detcd, interleaved.
#
# Usage (from anywhere; runs detcd from this checkout):
#   bench/loadgen_compare.sh [PAIRS] [OUT_DIR]
#     PAIRS    interleaved pairs (default 2): etcd, detcd, etcd, detcd, ...
#     OUT_DIR  results (default: a new /tmp/loadgen-compare.XXXXXX); one sub-directory per run.
# Env:
#   WATCH10K=0      skip the 10,000-watcher rows (default: run them, single member, --total 200)
#   SKIP_CLUSTER=1  skip the 3-member rows (passed to baseline.sh)
#   PORT_BASE       first port (default 32379; baseline.sh uses +0..+22, the 10k rows +40/+41)
#   ETCD_REAL       the real etcd binary (default /usr/bin/etcd)
#
# Prints compare.py's table (median ratios over the pairs), then a table of the extra columns:
# the 10,000-watcher rows, the watch rows' missing and unexpected (out-of-order or duplicate)
# events, and detcd's event-loop delay p99 per row. The delay comes from detcd's
# `nodejs_eventloop_delay_seconds` histogram, scraped from every member before and after each
# row (the load generator is wrapped for that; see below), so it covers exactly that row.
#
# The machine's two cores are shared by client and servers: run nothing else meanwhile. One pair
# took 41.5 minutes here at a load average of 20-30 from other work (etcd 15, detcd 26.5); plan
# on 30-40 minutes for the default 2 pairs on a quiet machine (an estimate). Servers started here
# are stopped by PID; nothing else is touched.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LGDIR=${LOADGEN_DIR:-$ROOT/../shared/tools/loadgen}
[ -d "$LGDIR" ] || LGDIR=/work/shared/tools/loadgen
[ -x "$LGDIR/baseline.sh" ] || { echo "loadgen_compare: no load generator at $LGDIR" >&2; exit 2; }
PAIRS=${1:-2}
case $PAIRS in '' | *[!0-9]* | 0) echo "loadgen_compare: PAIRS must be a positive number" >&2; exit 2 ;; esac
OUT=${2:-$(mktemp -d /tmp/loadgen-compare.XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
P=${PORT_BASE:-32379}
ETCD_REAL=${ETCD_REAL:-/usr/bin/etcd}
REAL_LG=$("$LGDIR/build.sh") || exit 1
export DETCD_DIR=$ROOT

# The wrapper baseline.sh runs instead of the load generator (build.sh returns LOADGEN_BIN when
# it is newer than main.go). baseline.sh sends each row's JSON to OUT/<row>.json on stdout, so
# the wrapper learns the row's name from its own stdout and scrapes every member's /metrics
# around the run into <row>.eld.{before,after}.
WRAP=$OUT/.bin/loadgen
mkdir -p "$OUT/.bin"
cat > "$WRAP" <<EOF
#!/usr/bin/env bash
json=\$(readlink /proc/\$\$/fd/1)
base=\${json%.json}
scrape() {
  : > "\$base.eld.\$1"
  for port in $P $((P + 10)) $((P + 11)) $((P + 12)) $((P + 40)); do
    curl -s -m 2 "http://127.0.0.1:\$port/metrics" 2>/dev/null |
      sed -n "s/^nodejs_eventloop_delay_seconds_bucket{le=\"\\([^\"]*\\)\"} /\$port \\1 /p" >> "\$base.eld.\$1"
  done
}
case "\$json" in *.json) scrape before ;; esac
"$REAL_LG" "\$@"
rc=\$?
case "\$json" in *.json) scrape after ;; esac
exit \$rc
EOF
chmod +x "$WRAP"
touch "$WRAP"

# detcd as baseline.sh starts it, with the V8 flags this checkout ships with (embed/v8_flags.ts,
# as `deno task start` and the compiled binary run them); the shared tools' detcd-etcd wrapper
# would start it without them.
SHIPPED_V8=$(cd "$ROOT" && deno run --quiet embed/v8_flags.ts) || exit 1
DETCD_WRAP=$OUT/.bin/detcd-etcd
cat > "$DETCD_WRAP" <<EOF
#!/usr/bin/env bash
cd "$ROOT" || exit 2
exec deno run -A --quiet $SHIPPED_V8 main.ts "\$@"
EOF
chmod +x "$DETCD_WRAP"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

wait_up() { # endpoint
  for _ in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "$1" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server at $1 did not come up" >&2
  return 1
}

# The 10,000-watcher rows on a fresh single member (baseline.sh stops at 1,000).
watch10k() { # bin, dir
  local bin=$1 dir=$2 port=$((P + 40)) data
  data=$(mktemp -d /tmp/lgc-watch10k.XXXXXX)
  "$bin" --name w1 --data-dir "$data" \
    --listen-client-urls http://127.0.0.1:$port --advertise-client-urls http://127.0.0.1:$port \
    --listen-peer-urls http://127.0.0.1:$((port + 1)) --initial-advertise-peer-urls http://127.0.0.1:$((port + 1)) \
    --initial-cluster w1=http://127.0.0.1:$((port + 1)) > "$dir/watch10k-node.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  if wait_up 127.0.0.1:$port; then
    local name args
    for row in "watch-10000-rate100|--put-rate 100" "watch-10000-lockstep|"; do
      name=${row%%|*}
      args=${row#*|}
      echo "\$ loadgen watch-latency --watchers 10000 --streams 10 --conns 10 --total 200 $args" | tee -a "$dir/summary.txt"
      # shellcheck disable=SC2086 # the flags are meant to split
      LOADGEN_BIN=$WRAP "$WRAP" watch-latency --endpoints 127.0.0.1:$port --conns 10 --streams 10 \
        --watchers 10000 --total 200 $args --val-size 256 --json > "$dir/$name.json" ||
        echo "  $name failed (exit $?)" | tee -a "$dir/summary.txt"
      python3 - "$dir/$name.json" <<'PY' | tee -a "$dir/summary.txt"
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
x = r.get("extra") or {}
print("total %.3fs  %.0f events/s  p50 %.3f p99 %.3f ms  puts/s %.1f  missing %d  errors %d" % (
    r["total_sec"], r["requests_per_sec"], r["latency_ms"]["p50"], r["latency_ms"]["p99"],
    x.get("puts_per_sec", 0), x.get("expected_events", 0) - r.get("samples", 0), r["errors"]))
PY
    done
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$data"
}

START=$(date +%s)
DIRS=()
for i in $(seq 1 "$PAIRS"); do
  for kind in etcd detcd; do
    dir=$OUT/$kind-$i
    DIRS+=("$dir")
    mkdir -p "$dir"
    bin=$ETCD_REAL
    [ "$kind" = detcd ] && bin=$DETCD_WRAP
    echo "== [$(date -u +%H:%M:%S), $(($(date +%s) - START)) s] pair $i/$PAIRS: $kind -> $dir"
    (cd "$ROOT" && ETCD_BIN=$bin LOADGEN_BIN=$WRAP "$LGDIR/baseline.sh" "$dir") ||
      echo "   baseline.sh exited $? for $kind (rows missing from the table)"
    if [ "${WATCH10K:-1}" != 0 ]; then
      watch10k "$bin" "$dir"
    fi
  done
done
echo "== done in $(($(date +%s) - START)) s; results in $OUT"
echo
echo "detcd/etcd, median over $PAIRS pair(s); QPS ratio above 1 and p99 ratio below 1 favour detcd"
echo "($(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
python3 "$LGDIR/compare.py" "${DIRS[@]}"
echo
python3 "$ROOT/bench/loadgen_extra.py" "${DIRS[@]}"
