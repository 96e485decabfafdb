#!/usr/bin/env bash
# The lab's network namespaces and links (sourced by scripts/lab.sh; also
# usable alone: `scripts/lab/netns.sh up|down|status`).
#
#   gNB (LAB-gnb)  n3 198.18.3.1/24 2001:db8:3::1/64 ──── veth-upf-n3 ┐
#   SMF (LAB-smf)  n4 198.18.4.1/24 ─────────────── n4 198.18.4.2/24  │ UPF (LAB-upf):
#   DN  (LAB-dn)   n6 198.18.6.1/24 2001:db8:6::1/64 ──── veth-upf-n6 │ the dataplane owns the
#   MEC (LAB-mec)  mec0 198.18.9.1/24 ──────────────────── veth-upf-mec│ veth-upf-* ports (no
#                  mp1 198.18.8.1/24 ────────────── mp1 198.18.8.2/24 ┘ kernel addresses on them)
#
# UE pools (scripts/configs/lab.toml): 198.19.0.0/17 and 2001:db8:1900::/48
# for "internet", 198.19.128.0/17 for "mec". Every address is from the
# benchmarking/documentation ranges and exists only inside these namespaces.
set -euo pipefail

LAB=${LAB:-eulab}
LAB_NS=(gnb smf upf dn mec)

lab_ns() { echo "$LAB-$1"; }
lab_exec() { local n=$1; shift; ip netns exec "$(lab_ns "$n")" "$@"; }

# lab_link A DEV_A B DEV_B: a veth pair between two lab namespaces, up, with
# checksum offload off so captures carry real checksums.
lab_link() {
  local a b tmp_a tmp_b
  a=$(lab_ns "$1"); b=$(lab_ns "$3")
  tmp_a="lab$$a"; tmp_b="lab$$b"
  ip link add "$tmp_a" type veth peer name "$tmp_b"
  ip link set "$tmp_a" netns "$a" name "$2"
  ip link set "$tmp_b" netns "$b" name "$4"
  for nd in "$a $2" "$b $4"; do
    set -- $nd
    ip -n "$1" link set "$2" up
    ip netns exec "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true
  done
}

lab_down() {
  for n in "${LAB_NS[@]}"; do
    ip netns del "$(lab_ns "$n")" 2>/dev/null || true
  done
}

lab_up() {
  lab_down
  for n in "${LAB_NS[@]}"; do
    ip netns add "$(lab_ns "$n")"
    ip -n "$(lab_ns "$n")" link set lo up
  done
  lab_link gnb n3 upf veth-upf-n3
  lab_link smf n4 upf n4
  lab_link dn n6 upf veth-upf-n6
  lab_link mec mec0 upf veth-upf-mec
  lab_link mec mp1 upf mp1
  # The UPF answers ARP/NDP for its own addresses: the kernel of the UPF
  # namespace must not, so its dataplane ports carry no addresses and no IPv6.
  for d in veth-upf-n3 veth-upf-n6 veth-upf-mec; do
    lab_exec upf sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"
  done
  ip -n "$(lab_ns gnb)" addr add 198.18.3.1/24 dev n3
  ip -n "$(lab_ns gnb)" -6 addr add 2001:db8:3::1/64 dev n3 nodad
  ip -n "$(lab_ns smf)" addr add 198.18.4.1/24 dev n4
  ip -n "$(lab_ns upf)" addr add 198.18.4.2/24 dev n4
  ip -n "$(lab_ns dn)" addr add 198.18.6.1/24 dev n6
  ip -n "$(lab_ns dn)" -6 addr add 2001:db8:6::1/64 dev n6 nodad
  ip -n "$(lab_ns dn)" route add 198.19.0.0/16 via 198.18.6.2
  ip -n "$(lab_ns dn)" -6 route add 2001:db8:1900::/48 via 2001:db8:6::2
  ip -n "$(lab_ns mec)" addr add 198.18.9.1/24 dev mec0
  ip -n "$(lab_ns mec)" route add 198.19.0.0/16 via 198.18.9.2
  ip -n "$(lab_ns mec)" addr add 198.18.8.1/24 dev mp1
  ip -n "$(lab_ns upf)" addr add 198.18.8.2/24 dev mp1
}

lab_status() {
  for n in "${LAB_NS[@]}"; do
    echo "== $(lab_ns "$n")"
    ip -n "$(lab_ns "$n")" -br addr 2>/dev/null || echo "(absent)"
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    up) lab_up ;;
    down) lab_down ;;
    status) lab_status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
  esac
fi
