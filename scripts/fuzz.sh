#!/usr/bin/env bash
# Runs every cargo-fuzz target of the project for a bounded time.
#   FUZZ_SECONDS   seconds per target (default 60)
# New corpus entries go to a temporary directory; the committed seed corpus
# is read only. A crash fails the run and leaves its input in
# <crate>/fuzz/artifacts/<target>/ (turn it into a regression test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-60}

if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
  boot=""
else
  echo "fuzz: nightly toolchain absent; using the pinned toolchain with RUSTC_BOOTSTRAP=1"
  toolchain=()
  boot=1
fi

run() {
  local dir=$1 target=$2
  local tmp
  tmp=$(mktemp -d)
  echo "--- fuzz $dir $target (${secs}s)"
  (cd "$root/$dir" &&
    RUSTC_BOOTSTRAP=$boot cargo "${toolchain[@]}" fuzz run "$target" "$tmp" "fuzz/corpus/$target" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E "^(#[0-9]+ +DONE|Done|==[0-9]+==|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|.*panicked|thread)" || true
    test "${PIPESTATUS[0]}" -eq 0)
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

status=0
run dataplane/wire gtpu_frame || status=1
run dataplane/wire inner_dns || status=1
run pfcp-ctl/codec decode || status=1
run pfcp-ctl/codec roundtrip || status=1
exit $status
