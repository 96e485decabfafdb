#!/usr/bin/env bash
# Installs edge-upf on this host: release binaries, systemd units, and an
# example configuration (never overwriting an existing /etc/edge-upf/upf.toml).
#
#   scripts/deploy/install.sh [--prefix /usr/local] [--destdir DIR] [--no-build] [--bins DIR]
#
# --destdir installs into a staging root (packaging, tests); systemd is then
# not reloaded. --bins takes the binaries from DIR instead of building
# target/release. Run as root for a real install.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=/usr/local
destdir=
build=1
binsrc="$root/target/release"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --bins) binsrc=$2; build=0; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bins=(upf-dataplane pfcp-ctl mec-services upfctl pktgen smfsim)
if [ "$build" = 1 ]; then
  (cd "$root" && cargo build --release --locked --bins)
fi
bindir="$prefix/bin"
install -d "$destdir$bindir" "$destdir/etc/edge-upf" "$destdir/etc/systemd/system" \
  "$destdir/usr/share/doc/edge-upf"
for b in "${bins[@]}"; do
  if [ -x "$binsrc/$b" ]; then
    install -m 0755 "$binsrc/$b" "$destdir$bindir/$b"
  else
    echo "install.sh: $binsrc/$b not built; skipped" >&2
  fi
done
for u in "$root"/scripts/deploy/systemd/*; do
  sed "s|@BINDIR@|$bindir|g" "$u" > "$destdir/etc/systemd/system/$(basename "$u")"
  chmod 0644 "$destdir/etc/systemd/system/$(basename "$u")"
done
if [ ! -e "$destdir/etc/edge-upf/upf.toml" ]; then
  install -m 0640 "$root/scripts/configs/dpdk-host.toml" "$destdir/etc/edge-upf/upf.toml.example"
  echo "install.sh: edit /etc/edge-upf/upf.toml.example into /etc/edge-upf/upf.toml (see docs/CONFIGURATION.md)"
fi
install -m 0644 "$root"/docs/*.md "$destdir/usr/share/doc/edge-upf/"
if [ -z "$destdir" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "install.sh: installed; start with: systemctl enable --now edge-upf.target"
fi
