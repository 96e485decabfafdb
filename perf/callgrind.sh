#!/usr/bin/env bash
# Instructions per packet of the dataplane engine, from callgrind (stable on
# a noisy machine, unlike wall time).
#
#   perf/callgrind.sh [--sessions N] [--direction ul|dl] [--dist D] [--null-engine]
#                     [--packets P] [--backend mem|dpdk] [--annotate]
#
# Runs `upf-bench` under `valgrind --tool=callgrind`, collecting only inside
# `measured_loop` (the worker loop: refill/receive, engine, transmit), twice:
# with P and with 2P packets. The difference of the two instruction counts
# divided by P is the cost of one packet, without set-up (installing the
# sessions is outside the collected function anyway) and without the
# loop's fixed costs. Prints one line per run and the result; --json prints
# the result as JSON. --annotate keeps the 2P profile and prints the top
# functions (callgrind_annotate).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sessions=1000 dir=ul dist=uniform packets=200000 annotate=0 json=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) sessions=$2; shift 2 ;;
    --direction) dir=$2; shift 2 ;;
    --dist) dist=$2; shift 2 ;;
    --packets) packets=$2; shift 2 ;;
    --null-engine) extra+=(--null-engine); shift ;;
    --backend) extra+=(--backend "$2"); shift 2 ;;
    --annotate) annotate=1; shift ;;
    --json) json=1; shift ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
cargo build --release -q -p upf-bench --manifest-path "$root/Cargo.toml"
bin="$root/target/release/upf-bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir_of() { # packets -> Ir inside measured_loop
  local n=$1 out="$tmp/cg.$1"
  valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect='*measured_loop*' \
    "$bin" --sessions "$sessions" --direction "$dir" --dist "$dist" \
    --packets "$n" --warmup 0 --seconds 100000 --no-hugepages "${extra[@]}" >"$tmp/log.$n" 2>"$tmp/err.$n" \
    || { cat "$tmp/err.$n" >&2; exit 1; }
  awk '/^summary:/ {print $2}' "$out"
}
ir1=$(ir_of "$packets")
ir2=$(ir_of $((2 * packets)))
per=$(awk -v a="$ir1" -v b="$ir2" -v p="$packets" 'BEGIN {printf "%.1f", (b - a) / p}')
if [ "$json" = 1 ]; then
  printf '{"sessions":%s,"direction":"%s","dist":"%s","packets":%s,"ir_p":%s,"ir_2p":%s,"instructions_per_packet":%s,"engine":"%s"}\n' \
    "$sessions" "$dir" "$dist" "$packets" "$ir1" "$ir2" "$per" "${extra[*]:-full}"
else
  echo "callgrind: $sessions sessions, $dir, $dist, ${extra[*]:-full engine}"
  echo "  $packets packets: $ir1 Ir; $((2 * packets)) packets: $ir2 Ir"
  echo "  instructions per packet: $per"
fi
if [ "$annotate" = 1 ]; then
  callgrind_annotate "$tmp/cg.$((2 * packets))" 2>/dev/null | sed -n "20,60p"
fi
