#!/usr/bin/env bash
# Unit, property and integration tests of every crate.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test --workspace --locked 2>&1
