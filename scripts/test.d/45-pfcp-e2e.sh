#!/usr/bin/env bash
# pfcp-ctl end to end: the real upf-dataplane and pfcp-ctl in network
# namespaces, driven by scapy's PFCP implementation as the SMF with GTP-U
# traffic built by scapy. Lifecycle, exact usage, buffering, causes,
# retransmissions, quirks, reports (pfcp_e2e.py); kill -9 under traffic
# (pfcp_restart.py); a flood at several times capacity (pfcp_flood.py); the
# graceful release on SIGTERM (pfcp_release.py); a
# bounded fuzz run against the live N4 port (pfcp_fuzz_live.py).
# Every script builds its own namespaces (names carry its pid) and removes
# them, and is bounded by `timeout`. Budget: about 3 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q -p upf-dataplane -p pfcp-ctl --bins || exit 1
failed=()
run() {
  local limit=$1
  shift
  echo "--- $*"
  if ! timeout --signal=TERM --kill-after=10 "$limit" python3 "$@"; then
    failed+=("$1")
  fi
}
run 240 scripts/tests/pfcp_e2e.py
run 120 scripts/tests/pfcp_restart.py
run 120 scripts/tests/pfcp_flood.py
run 60 scripts/tests/pfcp_release.py
FUZZ_COUNT=${FUZZ_COUNT:-50000} FUZZ_SECONDS=${FUZZ_SECONDS:-60} run 150 scripts/tests/pfcp_fuzz_live.py
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
  exit 1
fi
