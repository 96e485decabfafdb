#!/usr/bin/env bash
# The benchmark suite (perf/suite.sh) in quick mode, writing into a copy of
# docs/performance.md in a temporary directory (the committed figures come
# from a full run and are not touched), then scripts/tests/check_suite.py
# on what it wrote: every row present and numeric, reference faster than
# the UPF, percentiles in order, plots with their points. The checker is
# also run on damaged copies, which it must reject.
# Budget: about 3 minutes on 2 cores (release build of step 60 reused).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/suite-ci.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp docs/performance.md "$tmp/performance.md"
before=$(sha256sum docs/performance.md)
bash perf/suite.sh --quick --out "$tmp/performance.md"
[ "$(sha256sum docs/performance.md)" = "$before" ] || { echo "65-suite: docs/performance.md was modified" >&2; exit 1; }
check() { python3 scripts/tests/check_suite.py "$1" --sessions 1000,10000,100000; }
check "$tmp/performance.md"
# The checker must be able to fail: a cell that is not a number, a missing
# row, a reference slower than the UPF, a plot without points.
mkdir -p "$tmp/bad/img"
cp "$tmp"/img/*.svg "$tmp/bad/img/"
damage() { # NAME SED-EXPR [FILE]
  sed "$2" "$tmp/performance.md" > "$tmp/bad/performance.md"
  cp "$tmp"/img/*.svg "$tmp/bad/img/"
  if check "$tmp/bad/performance.md" 2> "$tmp/bad/err"; then
    echo "65-suite: the checker accepted a damaged report ($1)" >&2; exit 1
  fi
  echo "65-suite: damaged report ($1) rejected: $(head -n 1 "$tmp/bad/err")"
}
damage "not a number" '0,/^| 1 000 | uplink | in-memory |/s/^\(| 1 000 | uplink | in-memory | \)[0-9.]*/\1n\/a/'
damage "missing row" '/^| 100 000 | downlink | DPDK net_ring |/d'
damage "ratio below one" '0,/^| 1 000 | uplink | in-memory |/s/^\(|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*| \)[0-9.]* |/\10.5 |/'
cp "$tmp/performance.md" "$tmp/bad/performance.md"
grep -v 'class="point"' "$tmp/img/mpps-vs-sessions.svg" > "$tmp/bad/img/mpps-vs-sessions.svg"
if check "$tmp/bad/performance.md" 2> "$tmp/bad/err"; then
  echo "65-suite: the checker accepted a plot without points" >&2; exit 1
fi
echo "65-suite: plot without points rejected: $(head -n 1 "$tmp/bad/err")"
