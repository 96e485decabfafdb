#!/usr/bin/env bash
# Over-the-wire benchmarks of pfcp-ctl (numbers in docs/performance.md):
# release builds of upf-dataplane (in-memory ports) and pfcp-ctl on
# loopback, driven by perf/smfsim acting as one SMF; the rule-change
# latency by pfcp-ctl's rule_latency example on the control channel.
#   scripts/bench-pfcp.sh [rate|latency|rules|million|all]
# Not a CI step (it measures; CI machines are too noisy to assert on it).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
SESSIONS=${SESSIONS:-1000000}
# RATE_N: establishments in the rate run.
RATE_N=${RATE_N:-200000}
# BUSY=1 runs the dataplane as on dedicated cores (busy_poll, worker
# pinned to CPU 1, control thread to CPU 0).
# CONTROL_SPIN=100ms (with BUSY=1): the control thread polls that long
# after its last command before it sleeps (dataplane.control_idle_spin).
# PRIO=-10 runs the measured processes at that nice level: on a shared
# machine it separates pfcp-ctl's own latency from other work's.
NICE=${PRIO:+nice -n $PRIO}
# PIN=1 gives pfcp-ctl CPU 1 to itself and puts the dataplane and smfsim on
# CPU 0, so that pfcp-ctl's rate is that of one core it does not share.
CTL_CPU=${PIN:+taskset -c 1}
OTHER_CPU=${PIN:+taskset -c 0}
# PFCP_PORT: the N4 port on 127.0.0.1 (and smfsim's on 127.0.0.2), so two
# runs can share a machine.
PORT=${PFCP_PORT:-8805}
# CTL=path runs that pfcp-ctl binary instead of the one built here (A/B
# comparisons of two builds on the same noisy machine); DP=path the same
# for upf-dataplane and SIM=path for smfsim.
if ss -Hlun "sport = :$PORT" | grep -q .; then
  echo "bench-pfcp: UDP port $PORT is in use (another run?); set PFCP_PORT" >&2
  exit 1
fi
cargo build --release --locked -q -p upf-dataplane -p pfcp-ctl --bins
cargo build --release --locked -q -p pfcp-ctl --example rule_latency
cargo build --release --locked -q -p upf-smfsim --bin smfsim
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
$( [ -n "${BUSY:-}" ] && printf 'busy_poll = true\ncores = [1]\ncontrol_core = 0\n' )
$( [ -n "${CONTROL_SPIN:-}" ] && printf 'control_idle_spin = "%s"\n' "$CONTROL_SPIN" )
buffers = 4096
expected_sessions = $((SESSIONS + 100000))
$(cat scripts/configs/memory-interfaces.toml)
[pfcp]
listen = ["127.0.0.1:$PORT"]
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
  $OTHER_CPU $NICE "${DP:-$bin/upf-dataplane}" run -c "$dir/upf.toml" > "$dir/dataplane.log" 2>&1 &
  dp=$!
  for _ in $(seq 100); do [ -S "$dir/run/dataplane.sock" ] && break; sleep 0.05; done
  $CTL_CPU $NICE "${CTL:-$bin/pfcp-ctl}" run -c "$dir/upf.toml" > "$dir/pfcp-ctl.log" 2>&1 &
  ctl=$!
  sleep 1.5
}
stop() {
  kill "$ctl" "$dp" 2>/dev/null || true
  wait "$ctl" "$dp" 2>/dev/null || true
  ctl= dp=
  rm -rf "$dir/run" "$dir/state"
}
sim() { $OTHER_CPU $NICE "${SIM:-$bin/smfsim}" --upf 127.0.0.1:$PORT --bind 127.0.0.2:$PORT --node-id 127.0.0.2 --t1 3s "$@"; }
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$1/status; }
# Context switches of every thread of a process (each is a sleep and a wake-up, or a preemption).
csw() { cat /proc/$1/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
# CPU seconds of this shell's finished children (user + system), from
# `times` (run in this shell, not in a command substitution's subshell).
child_cpu() { times > "$dir/times"; awk 'NR == 2 {
  split($1, u, "m"); split($2, s, "m"); printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$dir/times"; }
if [ "$what" = rate ] || [ "$what" = all ]; then
  echo "== establishments per second (as fast as a window of 1024 allows)"
  start
  u0=$(awk '{print $14+$15}' /proc/$ctl/stat); d0=$(awk '{print $14+$15}' /proc/$dp/stat); c0=$(csw $ctl); child_cpu > "$dir/s0"; t0=$(date +%s.%N)
  sim -n "$RATE_N" --rate 0 --window 1024 --no-delete --no-release
  u1=$(awk '{print $14+$15}' /proc/$ctl/stat); d1=$(awk '{print $14+$15}' /proc/$dp/stat); c1=$(csw $ctl); child_cpu > "$dir/s1"; s0=$(cat "$dir/s0"); s1=$(cat "$dir/s1"); t1=$(date +%s.%N)
  echo "CPU during the run: pfcp-ctl $(echo "($u1-$u0)/100/($t1-$t0)" | bc -l | cut -c1-4) cores ($(echo "($u1-$u0)*10000/$RATE_N" | bc -l | cut -c1-5) µs per establishment), dataplane $(echo "($d1-$d0)/100/($t1-$t0)" | bc -l | cut -c1-4) cores, smfsim $(echo "($s1-$s0)/($t1-$t0)" | bc -l | cut -c1-4) cores; pfcp-ctl context switches $(echo "($c1-$c0)/$RATE_N" | bc -l | cut -c1-5) per establishment (load average $(cut -d' ' -f1 /proc/loadavg))"
  stop
fi
if [ "$what" = latency ] || [ "$what" = all ]; then
  echo "== request-to-response latency at 10000 establishments/s"
  start
  sim -n 100000 --rate 10000 --window 4096 --no-delete --no-release
  stop
fi
if [ "$what" = rules ] || [ "$what" = all ]; then
  echo "== rule change to worker Ack"
  start
  $NICE "$bin/examples/rule_latency" --run-dir "$dir/run" --count 20000 --pause-us 100
  $NICE "$bin/examples/rule_latency" --run-dir "$dir/run" --count 2000 --pause-us 5000
  stop
fi
if [ "$what" = million ] || [ "$what" = all ]; then
  echo "== $SESSIONS sessions held"
  start
  echo "RSS at start: pfcp-ctl $(rss $ctl), dataplane $(rss $dp)"
  sim -n "$SESSIONS" --rate 0 --window 2048 --no-delete --no-release --timeout 600s
  sleep 25 # the retransmission cache expires (T1 x (N1 + 2) + 5 s)
  echo "holding $SESSIONS: pfcp-ctl $(rss $ctl), dataplane $(rss $dp), journal $(du -m "$dir/state/pfcp-ctl.journal" | cut -f1) MB"
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
  echo "kill -9 pfcp-ctl and start it again with $SESSIONS sessions in the journal:"
  kill -9 "$ctl"; wait "$ctl" 2>/dev/null || true
  t0=$(date +%s.%N)
  "${CTL:-$bin/pfcp-ctl}" run -c "$dir/upf.toml" >> "$dir/pfcp-ctl.log" 2>&1 &
  ctl=$!
  python3 - "$dir/run/pfcp.sock" "$SESSIONS" <<'PY'
import json, socket, sys, time
t0 = time.monotonic()
while time.monotonic() - t0 < 600:
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1]); s.sendall(b"status\n")
        d = b""
        while True:
            c = s.recv(65536)
            if not c: break
            d += c
        j = json.loads(d)
        if j["sessions"] == int(sys.argv[2]) and j["dataplane_attached"] and j["dataplane_backlog"] == 0 and not j["resyncing"]:
            break
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.2)
print(f"pfcp-ctl serving again with every session pushed to the dataplane after {time.monotonic() - t0:.1f}s")
PY
  echo "after the restart: pfcp-ctl $(rss $ctl), dataplane $(rss $dp)"
  stop
fi
