#!/usr/bin/env bash
# client_tls_ab.sh - client-listener TLS cost: node:tls (Deno's rustls) against OpenSSL (tls/,
# chosen when --cipher-suites is set), one member, puts over gRPC + TLS with a client
# certificate (etcd 3.4's clientv3: bench/client_tls_put), the variants interleaved.
#
# Usage (in a private network namespace):
#   unshare -n bash -c 'ip link set lo up; bench/client_tls_ab.sh [RUNS] [CONNS] [CLIENTS] [TOTAL]'
# Prints per run: variant, puts/s, CPU ms of the member per put (utime+stime from /proc), and
# of its main thread alone (JavaScript, and OpenSSL's work through FFI).
set -u
RUNS=${1:-2}
CONNS=${2:-1}
CLIENTS=${3:-1}
TOTAL=${4:-1000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
F=/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures
P=${PORT_BASE:-22100}
BIN=${CLIENT_TLS_PUT:-/tmp/client_tls_put}
if [ ! -x "$BIN" ]; then
  W=$(mktemp -d); mkdir -p "$W/src/ctp"; cp "$HERE/bench/client_tls_put/main.go" "$W/src/ctp/"
  (cd "$W/src/ctp" && GOPATH="$W:/usr/share/gocode" GO111MODULE=off GOFLAGS= \
    GOCACHE=${GOCACHE:-/tmp/gocache} go build -o "$BIN" .) || exit 1
  rm -rf "$W"
fi
PID=""
DATA=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$DATA" ] && rm -rf "$DATA"
  PID=""; DATA=""
}
trap cleanup EXIT
ticks() { # utime+stime of the member, and of its main (JavaScript) thread alone
  local f m
  read -r -a f < <(sed 's/^.*) //' "/proc/$PID/stat")
  read -r -a m < <(sed 's/^.*) //' "/proc/$PID/task/$PID/stat")
  echo "$((f[11] + f[12])) $((m[11] + m[12]))"
}
one() { # variant -> "puts/s cpu_ms_per_put errors"
  local extra=()
  [ "$1" = openssl ] && extra=(--cipher-suites TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
  DATA=$(mktemp -d /tmp/client-tls-ab.XXXXXX)
  (cd "$HERE" && exec deno run -A --quiet main.ts --name m --data-dir "$DATA/m" \
    --listen-client-urls https://127.0.0.1:$P --advertise-client-urls https://127.0.0.1:$P \
    --listen-peer-urls http://127.0.0.1:$((P + 1)) --initial-advertise-peer-urls http://127.0.0.1:$((P + 1)) \
    --initial-cluster m=http://127.0.0.1:$((P + 1)) \
    --cert-file $F/server.crt --key-file $F/server.key.insecure --trusted-ca-file $F/ca.crt \
    --client-cert-auth "${extra[@]}") > "$DATA/log" 2>&1 &
  PID=$!
  for _ in $(seq 1 150); do grep -qs "ready to serve client requests" "$DATA/log" && break; sleep 0.2; done
  local t0 t1 m0 m1 out
  read -r t0 m0 <<<"$(ticks)"
  out=$("$BIN" -endpoint 127.0.0.1:$P -cacert $F/ca.crt -cert $F/server.crt -key $F/server.key.insecure \
    -conns "$CONNS" -clients "$CLIENTS" -total "$TOTAL")
  read -r t1 m1 <<<"$(ticks)"
  read -r n secs errs <<<"$out"
  python3 -c "print('%.0f %.3f %.3f %s' % ($n / $secs, ($t1 - $t0) * 10.0 / $n, ($m1 - $m0) * 10.0 / $n, '$errs'))"
  cleanup
}
echo "conns=$CONNS clients=$CLIENTS total=$TOTAL load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-4s %8s %12s %14s %6s\n' variant run puts/s cpu_ms/put main_ms/put errors
for run in $(seq 1 "$RUNS"); do
  for v in nodetls openssl; do
    read -r q c m e <<<"$(one $v)"
    printf '%-8s %-4s %8s %12s %14s %6s\n' "$v" "$run" "$q" "$c" "$m" "$e"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
