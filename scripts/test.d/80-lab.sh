#!/usr/bin/env bash
# README's main job, smaller: the lab with 200 sessions and 5 s of traffic
# each way (release build, namespaces, N4 over smfsim, pktgen, MEC breakout
# and edge DNS over Mp1, exact URR accounting). It fails if any of its
# summary checks fails, and must leave no namespace or process behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LAB=euci LAB_SESSIONS=200 LAB_RATE=10k LAB_SECONDS=5 LAB_OUT="$out" timeout --kill-after=10 600 scripts/lab.sh
left=$(ip netns list | grep -c '^euci-' || true)
if [ "$left" != 0 ]; then
  echo "lab: $left namespaces left behind" >&2
  exit 1
fi
