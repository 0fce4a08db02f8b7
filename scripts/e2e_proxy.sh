#!/usr/bin/env bash
# e2e_proxy.sh - run etcd 3.4's e2e ctl tests *through the proxies* (the suite's `cluster_proxy`
# build tag: each member gets a v2 proxy and a v3 grpc-proxy in front of it, and etcdctl talks
# to the grpc-proxy), with detcd as the members and the grpc-proxy.
#
# Usage: scripts/e2e_proxy.sh [--real] REGEX
#   --real  use the real /usr/bin/etcd for everything (the baseline)
# detcd has no v2 proxy (`--proxy on` is refused), so without --real the `etcd` of the bin dir
# execs the real etcd for `--proxy` and detcd for everything else.
# Env: OUT (TSV path, default /tmp/detcd-e2e-proxy/results.tsv), E2E_TIMEOUT, E2E_RETRIES.
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bash scripts/e2e_proxy.sh "^TestCtlV3Put$"'
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNNER=${RUN_E2E:-$REPO/../shared/tools/run-e2e.sh}
[ -x "$RUNNER" ] || RUNNER=/work/shared/tools/run-e2e.sh
REAL=0
if [ "${1:-}" = "--real" ]; then REAL=1; shift; fi
REGEX=${1:?usage: e2e_proxy.sh [--real] REGEX}
OUT=${OUT:-/tmp/detcd-e2e-proxy/results.tsv}
mkdir -p "$(dirname "$OUT")"

SUITE=${XDG_CACHE_HOME:-$HOME/.cache}/etcd-e2e/e2e-cluster-proxy.test
if [ ! -x "$SUITE" ]; then
  echo "building $SUITE (go test -tags cluster_proxy) ..." >&2
  mkdir -p "$(dirname "$SUITE")"
  ( cd /usr/share/gocode/src/go.etcd.io/etcd/tests/e2e && GOPATH=/usr/share/gocode GO111MODULE=off \
      GOCACHE=${GOCACHE:-/tmp/gocache} go test -tags cluster_proxy -c -o "$SUITE" . ) ||
    { echo "build failed" >&2; exit 2; }
fi

BIN_DIR=$(mktemp -d /tmp/detcd-e2e-proxy-bin.XXXXXX)
trap 'rm -rf "$BIN_DIR"' EXIT
if [ $REAL -eq 1 ]; then
  ln -s /usr/bin/etcd "$BIN_DIR/etcd"
else
  DENO=$(command -v deno) || { echo "deno not found" >&2; exit 2; }
  cat > "$BIN_DIR/etcd" <<WRAPPER
#!/usr/bin/env bash
for a in "\$@"; do [ "\$a" = "--proxy" ] && exec /usr/bin/etcd "\$@"; done
exec "$DENO" run --allow-all "$REPO/main.ts" "\$@"
WRAPPER
  chmod +x "$BIN_DIR/etcd"
fi
ln -s /usr/bin/etcdctl "$BIN_DIR/etcdctl"
echo "e2e through the proxies: $([ $REAL -eq 1 ] && echo "real etcd" || echo detcd); results in $OUT" >&2
E2E_TEST=$SUITE "$RUNNER" "$BIN_DIR" "$OUT" "$REGEX"
