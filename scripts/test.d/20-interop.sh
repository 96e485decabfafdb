#!/usr/bin/env bash
# Our GTP-U and PFCP codecs against independent implementations: scapy
# builds messages we must decode; scapy and tshark dissect what we encode.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q -p upf-wire --example wire_probe
cargo build --locked -q -p pfcp-codec --example pfcp_probe
python3 scripts/tests/gtpu_interop.py target/debug/examples/wire_probe
python3 scripts/tests/pfcp_interop.py target/debug/examples/pfcp_probe
