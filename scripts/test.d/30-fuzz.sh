#!/usr/bin/env bash
# Bounded fuzzing of every decoder (FUZZ_SECONDS per target, default 60).
set -euo pipefail
exec "$(dirname "$0")/../fuzz.sh"
