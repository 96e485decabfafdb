#!/usr/bin/env bash
# Over-the-wire benchmarks of pfcp-ctl (numbers in docs/performance.md):
# release builds of upf-dataplane (in-memory ports) and pfcp-ctl on
# loopback, driven by pfcp-ctl's n4load example acting as one SMF.
#   scripts/bench-pfcp.sh [rate|latency|rules|million|all]
# Not a CI step (it measures; CI machines are too noisy to assert on it).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
SESSIONS=${SESSIONS:-1000000}
cargo build --release --locked -q -p upf-dataplane -p pfcp-ctl --bins
cargo build --release --locked -q -p pfcp-ctl --example n4load
bin=target/release
dir=$(mktemp -d /tmp/pfcp-bench.XXXXXX)
cleanup() {
  [ -n "${ctl:-}" ] && kill "$ctl" 2>/dev/null || true
  [ -n "${dp:-}" ] && kill "$dp" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/upf.toml" <<TOML
[node]
name = "pfcp-bench"
run_dir = "$dir/run"
state_dir = "$dir/state"
[logging]
level = "warn"
[dataplane]
backend = "memory"
workers = ${WORKERS:-1}
buffers = 4096
expected_sessions = $((SESSIONS + 100000))
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "mem0"
mac = "02:00:00:00:03:02"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "mem1"
mac = "02:00:00:00:06:02"
addresses = ["198.18.6.2/24"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]
[pfcp]
listen = ["127.0.0.1:8805"]
node_id = "127.0.0.1"
journal_fsync = "${FSYNC:-interval}"
max_sessions = $((SESSIONS + 1000000))
[[pfcp.peers]]
address = "127.0.0.2"
[[ue_pools]]
network_instance = "internet"
ipv4 = "10.0.0.0/8"
TOML
start() {
  "$bin/upf-dataplane" run -c "$dir/upf.toml" > "$dir/dataplane.log" 2>&1 &
  dp=$!
  for _ in $(seq 100); do [ -S "$dir/run/dataplane.sock" ] && break; sleep 0.05; done
  "$bin/pfcp-ctl" run -c "$dir/upf.toml" > "$dir/pfcp-ctl.log" 2>&1 &
  ctl=$!
  sleep 1.5
}
stop() {
  kill "$ctl" "$dp" 2>/dev/null || true
  wait "$ctl" "$dp" 2>/dev/null || true
  ctl= dp=
  rm -rf "$dir/run" "$dir/state"
}
load="$bin/examples/n4load"
if [ "$what" = rate ] || [ "$what" = all ]; then
  echo "== establishments per second (closed loop, window 1024)"
  start
  cpu0=$(awk '{print $14+$15}' /proc/$ctl/stat); u0=$(awk '{print $14" "$15}' /proc/$ctl/stat); dcpu0=$(awk '{print $14+$15}' /proc/$dp/stat); t0=$(date +%s.%N)
  "$load" establish --sessions 200000 --window 1024 --pid "$ctl" --pid "$dp"
  cpu1=$(awk '{print $14+$15}' /proc/$ctl/stat); dcpu1=$(awk '{print $14+$15}' /proc/$dp/stat); t1=$(date +%s.%N)
  echo "pfcp-ctl user/system ticks before: $u0, after: $(awk '{print $14" "$15}' /proc/$ctl/stat)"
  echo "CPU used during the run: pfcp-ctl $(echo "($cpu1-$cpu0)/100/($t1-$t0)" | bc -l | cut -c1-4) cores, dataplane $(echo "($dcpu1-$dcpu0)/100/($t1-$t0)" | bc -l | cut -c1-4) cores"
  stop
fi
if [ "$what" = latency ] || [ "$what" = all ]; then
  echo "== request-to-response latency at 10000/s"
  start
  "$load" latency --rate 10000 --seconds 10
  stop
fi
if [ "$what" = rules ] || [ "$what" = all ]; then
  echo "== rule change to worker Ack (dataplane alone)"
  start
  "$load" rules --run-dir "$dir/run" --count 20000 --pause-us 100
  "$load" rules --run-dir "$dir/run" --count 2000 --pause-us 5000
  stop
fi
if [ "$what" = million ] || [ "$what" = all ]; then
  echo "== $SESSIONS sessions held"
  start
  echo "RSS before: pfcp-ctl $(grep VmRSS /proc/$ctl/status | awk '{print $2/1024}') MB, dataplane $(grep VmRSS /proc/$dp/status | awk '{print $2/1024}') MB"
  "$load" establish --sessions "$SESSIONS" --window 2048 --pid "$ctl" --pid "$dp"
  sleep 2
  echo "after settling: pfcp-ctl $(grep VmRSS /proc/$ctl/status | awk '{print $2/1024}') MB, dataplane $(grep VmRSS /proc/$dp/status | awk '{print $2/1024}') MB, journal $(du -m "$dir/state/pfcp-ctl.journal" | cut -f1) MB"
  python3 - "$dir/run/pfcp.sock" "$dir/run/dataplane.sock" <<'PY'
import json, socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.sendall(b"status\n")
    d = b""
    while True:
        c = s.recv(65536)
        if not c: break
        d += c
    j = json.loads(d)
    print(path.rsplit("/", 1)[1], {k: j[k] for k in ("sessions", "malformed", "overload_drops", "slowest_loop_us") if k in j})
PY
  stop
fi
