#!/usr/bin/env bash
# Instructions per packet of the dataplane engine, from callgrind (stable on
# a noisy machine, unlike wall time).
#
#   perf/callgrind.sh [--sessions N] [--direction ul|dl] [--dist D] [--null-engine]
#                     [--packets P] [--backend mem|dpdk] [--annotate] [--one-process]
#                     [--cache-sim]
#
# Runs `upf-bench` under `valgrind --tool=callgrind`, collecting only inside
# `measured_loop` (the worker loop: refill/receive, engine, transmit), twice:
# with P and with 2P packets. The difference of the two instruction counts
# divided by P is the cost of one packet, without set-up (installing the
# sessions is outside the collected function anyway) and without the
# loop's fixed costs. Prints one line per run and the result; --json prints
# the result as JSON. --annotate keeps the 2P profile and prints the top
# functions (callgrind_annotate).
#
# --one-process: one valgrind run instead of two (installing a million
# sessions under valgrind takes minutes): a warm-up loop of P packets, then
# one loop of 2P packets, profiles dumped after each; the result is the
# second loop's count divided by 2P. It includes one call's fixed cost
# (spread over 2P packets) and leaves the sessions' first packets mostly
# in the warm-up: within 0.3% of the two-run figure at 1k and 100k
# sessions.
#
# --cache-sim: also simulate the caches (valgrind --cache-sim=yes, with a
# fixed hierarchy: 32 KiB 8-way L1d, 32 MiB 16-way last level, as this
# machine's L3) and print the last-level data misses per packet: the cache
# lines a packet brings from memory, which is what bounds the packet rate
# at 100k-1M sessions. Valgrind ignores prefetch instructions, so this
# counts every line a packet reads that was not already cached: the
# footprint the pipeline has to prefetch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sessions=1000 dir=ul dist=uniform packets=200000 annotate=0 json=0 one=0 extra=() cg=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) sessions=$2; shift 2 ;;
    --direction) dir=$2; shift 2 ;;
    --dist) dist=$2; shift 2 ;;
    --packets) packets=$2; shift 2 ;;
    --null-engine) extra+=(--null-engine); shift ;;
    --backend) extra+=(--backend "$2"); shift 2 ;;
    --annotate) annotate=1; shift ;;
    --one-process) one=1; shift ;;
    --cache-sim) cg=(--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=33554432,16,64); shift ;;
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
  valgrind --tool=callgrind "${cg[@]}" --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect='*measured_loop*' \
    "$bin" --sessions "$sessions" --direction "$dir" --dist "$dist" \
    --packets "$n" --warmup 0 --seconds 100000 --no-hugepages "${extra[@]}" >"$tmp/log.$n" 2>"$tmp/err.$n" \
    || { cat "$tmp/err.$n" >&2; exit 1; }
  awk '/^summary:/ {print $2}' "$out"
}
ev() { # file event -> that event's total (0 if absent)
  awk -v e="$2" '/^events:/ {for (i = 2; i <= NF; i++) if ($i == e) k = i}
    /^summary:/ {print (k ? $k : 0)}' "$1"
}
llm() { # file -> last-level data misses (reads and writes)
  echo $(( $(ev "$1" DLmr) + $(ev "$1" DLmw) ))
}
if [ "$one" = 1 ]; then
  out="$tmp/cg.one"
  valgrind --tool=callgrind "${cg[@]}" --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect='*measured_loop*' --dump-after='upf_bench::run::measured_loop*' \
    "$bin" --sessions "$sessions" --direction "$dir" --dist "$dist" \
    --packets $((2 * packets)) --warmup "$packets" --repeat 1 --seconds 100000 --no-hugepages "${extra[@]}" \
    >"$tmp/log.one" 2>"$tmp/err.one" || { cat "$tmp/err.one" >&2; exit 1; }
  [ -f "$out.1" ] && [ -f "$out.2" ] || { echo "callgrind.sh: no per-loop dumps (valgrind --dump-after)" >&2; exit 1; }
  ir1=$(awk '/^summary:/ {print $2}' "$out.1")
  ir2=$(awk '/^summary:/ {print $2}' "$out.2")
  per=$(awk -v b="$ir2" -v p="$packets" 'BEGIN {printf "%.1f", b / (2 * p)}')
  llp=$(awk -v b="$(llm "$out.2")" -v p="$packets" 'BEGIN {printf "%.2f", b / (2 * p)}')
  cp "$out.2" "$tmp/cg.$((2 * packets))"
  method=one-process
else
  ir1=$(ir_of "$packets")
  ir2=$(ir_of $((2 * packets)))
  per=$(awk -v a="$ir1" -v b="$ir2" -v p="$packets" 'BEGIN {printf "%.1f", (b - a) / p}')
  llp=$(awk -v a="$(llm "$tmp/cg.$packets")" -v b="$(llm "$tmp/cg.$((2 * packets))")" -v p="$packets" \
    'BEGIN {printf "%.2f", (b - a) / p}')
  method=difference
fi
if [ "$json" = 1 ]; then
  ll_json=
  [ ${#cg[@]} -gt 0 ] && ll_json=",\"ll_misses_per_packet\":$llp"
  printf '{"sessions":%s,"direction":"%s","dist":"%s","packets":%s,"ir_p":%s,"ir_2p":%s,"instructions_per_packet":%s,"engine":"%s","method":"%s"%s}\n' \
    "$sessions" "$dir" "$dist" "$packets" "$ir1" "$ir2" "$per" "${extra[*]:-full}" "$method" "$ll_json"
else
  echo "callgrind: $sessions sessions, $dir, $dist, ${extra[*]:-full engine}"
  if [ "$one" = 1 ]; then
    echo "  one process: warm-up loop of $packets packets: $ir1 Ir; loop of $((2 * packets)) packets: $ir2 Ir"
  else
    echo "  $packets packets: $ir1 Ir; $((2 * packets)) packets: $ir2 Ir"
  fi
  echo "  instructions per packet: $per"
  [ ${#cg[@]} -gt 0 ] && echo "  last-level data misses per packet (simulated): $llp"
fi
if [ "$annotate" = 1 ]; then
  callgrind_annotate "$tmp/cg.$((2 * packets))" 2>/dev/null | sed -n "20,60p"
fi
