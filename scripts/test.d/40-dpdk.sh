#!/usr/bin/env bash
# DPDK: the DPDK tests themselves run in 10-cargo-test.sh (vendor-dpdk vdev
# tests, the dispatch test over net_ring, the net_pcap/tshark test and the
# namespace test over net_af_packet; see docs/DPDK.md). This step makes sure
# that build really had DPDK (otherwise those tests compile to nothing), and
# that a build on a machine without libdpdk still builds and runs the
# dataplane with the other backends and says how to get DPDK.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "--- this build has DPDK and the EAL starts with a vdev"
cargo run --locked -q -p vendor-dpdk --example dpdk_info
for t in vdev dpdk_dispatch dpdk_pcap dpdk_netns; do
  n=$(cargo test --locked -q --workspace --test "$t" -- --list 2>/dev/null | grep -c ': test$' || true)
  if [ "$n" -lt 1 ]; then
    echo "DPDK test binary $t has no tests: was DPDK detected?" >&2
    exit 1
  fi
  echo "test binary $t: $n DPDK test(s)"
done

echo "--- a build without libdpdk (pkg-config finds nothing)"
export CARGO_TARGET_DIR=target/nodpdk
log=$(mktemp)
PKG_CONFIG_LIBDIR=/nonexistent cargo build --locked -p upf-dataplane 2>&1 | tee "$log" | grep -v '^ *Compiling' || true
grep -q 'DPDK support is OFF in this build.*apt-get install libdpdk-dev' "$log"
if nm -D target/nodpdk/debug/upf-dataplane 2>/dev/null | grep -q rte_eal_init; then
  echo "the no-DPDK build links DPDK" >&2
  exit 1
fi
dir=$(mktemp -d)
sed -e "s|/run/edge-upf|$dir/run|; s|/var/lib/edge-upf|$dir/state|" scripts/configs/dpdk-host.toml > "$dir/dpdk.toml"
set +e
out=$(target/nodpdk/debug/upf-dataplane run -c "$dir/dpdk.toml" 2>&1)
rc=$?
set -e
rm -rf "$dir" "$log"
echo "$out" | tail -n 1
if [ "$rc" -ne 1 ] || ! echo "$out" | grep -q 'dataplane.backend: "dpdk": this build has no DPDK support.*apt-get install libdpdk-dev'; then
  echo "expected a clear error from backend = \"dpdk\" without DPDK (rc $rc)" >&2
  exit 1
fi
# The AF_PACKET backend end to end in that build.
PKG_CONFIG_LIBDIR=/nonexistent cargo test --locked -q -p upf-dataplane --test netns_forwarding 2>&1 | grep -v '^ *Compiling'
