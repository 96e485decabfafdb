#!/usr/bin/env bash
# Runs every test of edge-upf: installs what is missing, then runs each step in
# scripts/test.d/ in name order. Needs root (namespaces, apt-get).
# Set TEST_ONLY=<glob> to run only matching steps, e.g. TEST_ONLY='2*'.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"

export CARGO_TERM_COLOR=never
failed=()
passed=0
for step in "$root"/scripts/test.d/*.sh; do
  name=$(basename "$step")
  if [ -n "${TEST_ONLY:-}" ]; then
    case "$name" in $TEST_ONLY) ;; *) continue ;; esac
  fi
  echo "=== test step $name"
  start=$(date +%s)
  if bash "$step"; then
    passed=$((passed + 1))
    echo "=== ok   $name ($(( $(date +%s) - start ))s)"
  else
    failed+=("$name")
    echo "=== FAIL $name ($(( $(date +%s) - start ))s)"
  fi
done
echo
echo "test steps: ${passed} passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  printf '  failed: %s\n' "${failed[@]}"
  exit 1
fi
