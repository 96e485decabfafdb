#!/usr/bin/env bash
# pktgen and smfsim: pktgen's frames against scapy and tshark, then the
# one-core rate test of pktgen over veth (release build, >= 1 Mpps sent and
# accounted). smfsim against pfcp-ctl and the namespace runs through the
# UPF are cargo integration tests of step 10 (cargo test --workspace).
# Budget: 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q -p upf-pktgen
python3 scripts/tests/pktgen_interop.py target/debug/pktgen
cargo build --locked -q --release -p upf-pktgen
cargo test --locked -q -p upf-pktgen --test rate -- --ignored --nocapture
