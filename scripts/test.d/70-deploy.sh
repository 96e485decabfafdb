#!/usr/bin/env bash
# Deployment files: the systemd units pass `systemd-analyze verify` against
# the binaries install.sh stages; the Kubernetes manifests pass strict schema
# validation; the configurations they carry pass every process's `check`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q --bins
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
scripts/deploy/install.sh --destdir "$stage/root" --bins target/debug >/dev/null
# Point the staged units at the staged binaries, then verify them.
mkdir -p "$stage/units"
for u in "$stage"/root/etc/systemd/system/*; do
  sed "s|/usr/local/bin/|$stage/root/usr/local/bin/|g; s|/etc/edge-upf/upf.toml|$PWD/scripts/configs/dpdk-host.toml|g" \
    "$u" > "$stage/units/$(basename "$u")"
done
systemd-analyze verify --man=no --recursive-errors=no "$stage"/units/*
echo "deploy: systemd units verified"
# The example configuration each unit checks before it starts.
for b in upf-dataplane pfcp-ctl mec-services; do
  "$stage/root/usr/local/bin/$b" check --config scripts/configs/dpdk-host.toml
done
# ...and refuse a broken one, naming the key (so ExecStartPre stops a bad start).
sed 's/^workers = 4/workrs = 4/' scripts/configs/dpdk-host.toml > "$stage/bad.toml"
for b in upf-dataplane pfcp-ctl mec-services; do
  if out=$("$stage/root/usr/local/bin/$b" check --config "$stage/bad.toml" 2>&1); then
    echo "deploy: $b accepted a broken configuration" >&2; exit 1
  fi
  grep -q "dataplane.workrs" <<<"$out" || { echo "deploy: $b did not name the bad key: $out" >&2; exit 1; }
done
echo "deploy: broken configuration refused by every process"
