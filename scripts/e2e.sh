#!/usr/bin/env bash
# e2e.sh - run etcd 3.4's own e2e tests (tests/e2e of the Debian source) with detcd as `etcd`.
#
# Usage: scripts/e2e.sh [--real] [REGEX]
#   --real  use the real /usr/bin/etcd as `etcd` (the baseline) instead of detcd
#   REGEX   Go regexp of tests to run; default: the single-member TestCtlV3* families detcd
#           covers (Put, Get, Del, Txn, Watch, Lease, Compact, Defrag, Endpoint, Snapshot,
#           Alarm, Version) in their default, NoTLS and PeerTLS variants.
# Env: E2E_TIMEOUT (seconds per test, default 120), E2E_RETRIES, E2E_EXCLUDE (an extended
#      regexp of tests to leave out; default: none), OUT (TSV path, default
#      /tmp/detcd-e2e/results.tsv; per-test logs beside it in OUT.logs/).
# Prints the per-test table on stderr and ends with "N passed, M failed" (exit 0 iff M == 0).
# Needs: golang-go and golang-etcd-server-dev (the e2e source) to build the suite once, which
# /work/shared/tools/run-e2e.sh does and caches.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNNER=${RUN_E2E:-$REPO/../shared/tools/run-e2e.sh}
[ -x "$RUNNER" ] || RUNNER=/work/shared/tools/run-e2e.sh

REAL=0
if [ "${1:-}" = "--real" ]; then REAL=1; shift; fi

FAMILIES='Put|Get|Del|Txn|Watch|Lease|Compact|Defrag|Endpoint|Snapshot|Alarm|Version'
# Each family's tests, e.g. TestCtlV3Put, TestCtlV3PutNoTLS, TestCtlV3PutPeerTLS,
# TestCtlV3GetFormat, TestCtlV3LeaseKeepAlive..., client TLS (ClientTLS, ClientAutoTLS,
# TLSFlagByEnv) and the client CRL check (TestCtlV3GetRevokedCRL) included.
DEFAULT_REGEX="^TestCtlV3(${FAMILIES})[A-Za-z]*\$"
EXCLUDE=${E2E_EXCLUDE:-'^$'}
REGEX=${1:-$DEFAULT_REGEX}

BIN_DIR=$(mktemp -d /tmp/detcd-e2e-bin.XXXXXX)
trap 'rm -rf "$BIN_DIR"' EXIT
if [ $REAL -eq 1 ]; then
  ln -s /usr/bin/etcd "$BIN_DIR/etcd"
else
  # Resolve deno now: the suite runs etcd with a reduced environment.
  DENO=$(command -v deno) || { echo "deno not found" >&2; exit 2; }
  cat > "$BIN_DIR/etcd" <<WRAPPER
#!/usr/bin/env bash
exec "$DENO" run --allow-all "$REPO/main.ts" "\$@"
WRAPPER
  chmod +x "$BIN_DIR/etcd"
fi
ln -s /usr/bin/etcdctl "$BIN_DIR/etcdctl"

OUT=${OUT:-/tmp/detcd-e2e/results.tsv}
mkdir -p "$(dirname "$OUT")"

# Build the list here so that the exclusions apply, then hand run-e2e.sh an exact regexp.
E2E_TEST_BIN=${E2E_TEST:-}
if [ -z "$E2E_TEST_BIN" ]; then
  if [ -x /tmp/e2e.test ]; then E2E_TEST_BIN=/tmp/e2e.test; else E2E_TEST_BIN=${XDG_CACHE_HOME:-$HOME/.cache}/etcd-e2e/e2e.test; fi
fi
if [ -x "$E2E_TEST_BIN" ]; then
  mapfile -t TESTS < <("$E2E_TEST_BIN" -test.list "$REGEX" | grep '^Test' | grep -Ev "$EXCLUDE")
  if [ ${#TESTS[@]} -eq 0 ]; then echo "no test matches $REGEX" >&2; exit 2; fi
  EXACT="^($(IFS='|'; echo "${TESTS[*]}"))\$"
else
  EXACT=$REGEX # run-e2e.sh builds the suite; the exclusions then do not apply
fi
echo "e2e: $([ $REAL -eq 1 ] && echo "real etcd" || echo detcd) as etcd; results in $OUT" >&2
E2E_TEST=$E2E_TEST_BIN "$RUNNER" "$BIN_DIR" "$OUT" "$EXACT"
