#!/usr/bin/env bash
# The benchmark suite (issue 7): every figure of the generated section of
# docs/performance.md, measured on this machine by the project's own tools.
#
#   perf/suite.sh [--quick] [--out FILE] [--keep DIR]
#
# Builds the release binaries it needs, runs each measurement, keeps every
# tool's JSON output in a results directory, then perf/suite/report.py
# rewrites the region between `<!-- suite:begin -->` and `<!-- suite:end -->`
# of FILE (default docs/performance.md; the rest of the file is left as it
# is) and writes the plots to img/ next to FILE.
#
#   full (default): 5 runs per wall-clock figure (median, min, max), about
#                   15 minutes on a 2-core VM; --quick: 3 runs and smaller
#                   counts, about 3 minutes (CI: scripts/test.d/65-suite.sh).
#   --keep DIR:     keep the raw results in DIR (default: a temporary
#                   directory, removed at the end).
#
# Needs root (DPDK EAL with virtual devices, network namespaces), valgrind
# and DPDK (scripts/install-deps.sh installs both). Runs one measurement at
# a time: on a 2-core machine anything in parallel would measure itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=full out=docs/performance.md keep=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; shift ;;
    --out) out=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "suite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$out" ] || { echo "suite.sh: $out does not exist" >&2; exit 2; }
grep -q '<!-- suite:begin -->' "$out" && grep -q '<!-- suite:end -->' "$out" \
  || { echo "suite.sh: $out has no <!-- suite:begin --> / <!-- suite:end --> markers" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "suite.sh: needs root (DPDK EAL, network namespaces)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "suite.sh: valgrind is missing (scripts/install-deps.sh)" >&2; exit 2; }

t_start=$(date +%s)
if [ "$mode" = full ]; then
  SESSION_COUNTS="1000 100000 1000000"
  RUNS=5
  PKTS=5000000 SECS=3 WARM=2000000       # per measured run of upf-bench (full engine)
  NULL_PKTS=20000000 NULL_SECS=1         # null engine (the reference) runs ~10x faster
  CG_PKTS=20000                          # callgrind: P and 2P packets
  EST_N=20000 EST_WINDOW=1024            # establishment rate: as fast as the window allows
  LAT_N=20000 LAT_RATE=5000              # latency: paced establishments
  HOLD_N=100000                          # memory per session of the daemons
  RULE_N=5000                            # rule changes per run
  CHURN_PKT_S=6 CHURN_RATE=4k            # loss under churn: pktgen seconds and rate per direction
else
  # Installing a million sessions takes 15 s natively and minutes under
  # valgrind: quick mode's largest row is 100k sessions.
  SESSION_COUNTS="1000 10000 100000"
  RUNS=3
  PKTS=1000000 SECS=1 WARM=500000
  NULL_PKTS=4000000 NULL_SECS=0.5
  CG_PKTS=5000
  EST_N=5000 EST_WINDOW=512
  LAT_N=3000 LAT_RATE=3000
  HOLD_N=20000
  RULE_N=1000
  CHURN_PKT_S=2 CHURN_RATE=4k
fi

if [ -n "$keep" ]; then
  res=$keep
  mkdir -p "$res"
  rm -f "$res"/*.json "$res"/*.cmd
else
  res=$(mktemp -d /tmp/upf-suite.XXXXXX)
fi
work=$(mktemp -d /tmp/upf-suite-run.XXXXXX)
pids=()
netns=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  for n in "${netns[@]:-}"; do [ -n "$n" ] && ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
  [ -n "$keep" ] || rm -rf "$res"
}
trap cleanup EXIT
log() { printf '[suite %4ds] %s\n' $(($(date +%s) - t_start)) "$*" >&2; }

# rec NAME LIMIT CMD...: runs CMD (bounded by LIMIT seconds), its stdout is
# the JSON result NAME.json; the command line is kept as NAME.cmd.
rec() {
  local name=$1 limit=$2
  shift 2
  printf '%s\n' "$*" > "$res/$name.cmd"
  if ! timeout --kill-after=10 "$limit" "$@" > "$res/$name.json" 2> "$work/$name.err"; then
    echo "suite.sh: $name failed: $*" >&2
    tail -n 20 "$work/$name.err" >&2
    exit 1
  fi
}

log "mode $mode, $RUNS runs per wall-clock figure; results in $res"
log "build (release)"
cargo build --release --locked -q -p upf-bench -p upf-dataplane -p pfcp-ctl -p upf-smfsim -p upf-pktgen --bins
cargo build --release --locked -q -p pfcp-ctl --example rule_latency
bin=target/release
t_measure=$(date +%s)
printf '{"load_start":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" > "$res/load-start.json"

# 1. Mpps per core: UPF and the reference (null engine: the same I/O, no UPF
# processing), in-memory and DPDK net_ring ports, both directions.
for s in $SESSION_COUNTS; do
  for d in ul dl; do
    for b in mem dpdk; do
      log "upf-bench $b $d $s sessions"
      rec "bench-$b-$d-$s-full" 600 $bin/upf-bench --backend $b --sessions "$s" --direction $d \
        --packets $PKTS --seconds $SECS --warmup $WARM --repeat $RUNS --json
      rec "bench-$b-$d-$s-null" 600 $bin/upf-bench --backend $b --sessions "$s" --direction $d \
        --null-engine --packets $NULL_PKTS --seconds $NULL_SECS --warmup $WARM --repeat $RUNS --json
    done
  done
done

# 2. Instructions per packet (callgrind: deterministic, one run each).
for s in $SESSION_COUNTS; do
  for d in ul dl; do
    log "callgrind $d $s sessions"
    rec "cg-$d-$s-full" 900 perf/callgrind.sh --sessions "$s" --direction $d --packets $CG_PKTS --one-process --json
  done
done
for d in ul dl; do
  log "callgrind $d null engine"
  rec "cg-$d-1000-null" 600 perf/callgrind.sh --sessions 1000 --direction $d --null-engine --packets $CG_PKTS --one-process --json
done

# 3. PFCP over the wire: upf-dataplane (in-memory ports) and pfcp-ctl on
# loopback, smfsim as the SMF; rule changes by rule_latency.
pdir=$work/pfcp
mkdir -p "$pdir"
cat > "$pdir/upf.toml" <<TOML
[node]
name = "suite"
run_dir = "$pdir/run"
state_dir = "$pdir/state"
[logging]
level = "warn"
[dataplane]
backend = "memory"
workers = 1
buffers = 4096
expected_sessions = $((HOLD_N + 10000))
$(cat scripts/configs/memory-interfaces.toml)
[pfcp]
listen = ["127.0.0.1:18805"]
node_id = "127.0.0.1"
journal_fsync = "interval"
max_sessions = $((HOLD_N + 100000))
[[pfcp.peers]]
address = "127.0.0.2"
[[ue_pools]]
network_instance = "internet"
ipv4 = "10.0.0.0/8"
TOML
# wait_attached SOCK: pfcp-ctl answers on its admin socket and has the dataplane.
wait_attached() {
  python3 - "$1" <<'PY'
import json, socket, sys, time
end = time.monotonic() + 30
while time.monotonic() < end:
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1]); s.sendall(b"status\n")
        d = b""
        while True:
            c = s.recv(65536)
            if not c: break
            d += c
        if json.loads(d).get("dataplane_attached"):
            sys.exit(0)
    except (OSError, ValueError):
        pass
    time.sleep(0.1)
sys.exit("pfcp-ctl did not attach to the dataplane within 30 s")
PY
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
log "pfcp: start upf-dataplane and pfcp-ctl"
$bin/upf-dataplane run -c "$pdir/upf.toml" > "$pdir/dataplane.log" 2>&1 &
dp=$!; pids+=("$dp")
for _ in $(seq 200); do [ -S "$pdir/run/dataplane.sock" ] && break; sleep 0.05; done
$bin/pfcp-ctl run -c "$pdir/upf.toml" > "$pdir/pfcp-ctl.log" 2>&1 &
ctl=$!; pids+=("$ctl")
wait_attached "$pdir/run/pfcp.sock"
# Each smfsim run from its own port: pfcp-ctl keeps its responses for
# retransmissions by (peer address and port, sequence number) for ~20 s,
# and a new smfsim process starts its sequence numbers where the last began.
sim="$bin/smfsim --upf 127.0.0.1:18805 --node-id 127.0.0.2 --t1 3s -q --bind 127.0.0.2"
port=9000
for i in $(seq $RUNS); do
  log "smfsim establishment rate, run $i"
  port=$((port + 1))
  rec "est-rate-$i" 300 $sim:$port -n $EST_N --rate 0 --window $EST_WINDOW --timeout 240s --json -
done
for i in $(seq $RUNS); do
  log "smfsim establishment latency at $LAT_RATE/s, run $i"
  port=$((port + 1))
  rec "est-lat-$i" 300 $sim:$port -n $LAT_N --rate $LAT_RATE --window 4096 --timeout 240s --json -
done
for i in $(seq $RUNS); do
  log "rule_latency, run $i"
  rec "rule-$i" 300 $bin/examples/rule_latency --run-dir "$pdir/run" --count $RULE_N --pause-us 100 --json
done
log "hold $HOLD_N sessions: daemon memory per session"
sleep 1
ctl0=$(rss_kb "$ctl") dp0=$(rss_kb "$dp")
port=$((port + 1))
rec "hold" 600 $sim:$port -n $HOLD_N --rate 0 --window 1024 --no-delete --no-release --timeout 500s --json -
sleep 1
ctl1=$(rss_kb "$ctl") dp1=$(rss_kb "$dp")
printf '{"sessions":%s,"pfcp_ctl_rss_kb":[%s,%s],"dataplane_rss_kb":[%s,%s]}\n' \
  "$HOLD_N" "$ctl0" "$ctl1" "$dp0" "$dp1" > "$res/hold-rss.json"
kill "$ctl" "$dp" 2>/dev/null || true
wait "$ctl" "$dp" 2>/dev/null || true
pids=()

# 4. Loss under churn: pktgen's gNB and data network namespaces around
# upf-dataplane (AF_PACKET, 2 workers) and pfcp-ctl; smfsim establishes 64
# sessions and modifies sessions 0-7 (downlink FAR TEID and QER MBR, 40/s)
# while pktgen sends both directions through the UPF.
ns=suite$$
for n in gnb upf dn; do
  ip netns del "$ns-$n" 2>/dev/null || true
  ip netns add "$ns-$n"; netns+=("$ns-$n")
  ip -n "$ns-$n" link set lo up
done
ip link add "s$$a" type veth peer name "s$$b"
ip link set "s$$a" netns "$ns-gnb" name g0; ip link set "s$$b" netns "$ns-upf" name u3
ip link add "s$$c" type veth peer name "s$$d"
ip link set "s$$c" netns "$ns-upf" name u6; ip link set "s$$d" netns "$ns-dn" name d0
for nd in gnb:g0 upf:u3 upf:u6 dn:d0; do
  n=$ns-${nd%%:*} d=${nd#*:}
  ip -n "$n" link set "$d" up
  ip netns exec "$n" ethtool -K "$d" tx off rx off >/dev/null 2>&1 || true
  ip netns exec "$n" sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1" || true
done
cdir=$work/churn
mkdir -p "$cdir"
cat > "$cdir/upf.toml" <<TOML
[node]
name = "suite-churn"
run_dir = "$cdir/run"
state_dir = "$cdir/state"
[logging]
level = "warn"
[dataplane]
backend = "af_packet"
workers = 2
buffers = 8192
[dataplane.af_packet]
block_size = 65536
block_count = 128
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "u3"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "u6"
addresses = ["198.18.6.2/24"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]
[pfcp]
listen = ["127.0.0.1:8805"]
node_id = "127.0.0.1"
journal_fsync = "never"
[[ue_pools]]
network_instance = "internet"
ipv4 = "198.19.0.0/16"
TOML
log "loss under churn: start the UPF in namespace $ns-upf"
ip netns exec "$ns-upf" $bin/upf-dataplane run -c "$cdir/upf.toml" > "$cdir/dataplane.log" 2>&1 &
dp=$!; pids+=("$dp")
for _ in $(seq 200); do [ -S "$cdir/run/dataplane.sock" ] && break; sleep 0.05; done
ip netns exec "$ns-upf" $bin/pfcp-ctl run -c "$cdir/upf.toml" > "$cdir/pfcp-ctl.log" 2>&1 &
ctl=$!; pids+=("$ctl")
wait_attached "$cdir/run/pfcp.sock"
hold=$((CHURN_PKT_S + 5))
churn_s=$((CHURN_PKT_S > 2 ? CHURN_PKT_S - 2 : 1))
for i in $(seq $RUNS); do
  log "loss under churn, run $i"
  rm -f "$cdir/sessions.json"
  smf_cmd="$bin/smfsim --upf 127.0.0.1:8805 -n 64 --rate 2000 --hold ${hold}s --churn 0-7 --churn-rate 40 --churn-start 1s --churn-duration ${churn_s}s -q --timeout 60s"
  printf 'ip netns exec <upf> %s -o sessions.json --json smfsim.json\n' "$smf_cmd" > "$res/churn-smf-$i.cmd"
  # shellcheck disable=SC2086
  timeout 90 ip netns exec "$ns-upf" $smf_cmd -o "$cdir/sessions.json" --json "$res/churn-smf-$i.json" \
    > /dev/null 2> "$cdir/smfsim.err" &
  smf=$!; pids+=("$smf")
  for _ in $(seq 300); do [ -s "$cdir/sessions.json" ] && break; sleep 0.05; done
  [ -s "$cdir/sessions.json" ] || { echo "suite.sh: smfsim wrote no sessions file" >&2; cat "$cdir/smfsim.err" >&2; exit 1; }
  printf '%s\n' "$bin/pktgen run -s sessions.json --n3 g0@<gnb> --n6 d0@<dn> --n6-peer-ip 198.18.6.2 --rate $CHURN_RATE --duration ${CHURN_PKT_S}s -q --json R" \
    > "$res/churn-pktgen-$i.cmd"
  set +e
  timeout 60 $bin/pktgen run -s "$cdir/sessions.json" --n3 "g0@$ns-gnb" --n6 "d0@$ns-dn" --n6-peer-ip 198.18.6.2 \
    --rate $CHURN_RATE --duration "${CHURN_PKT_S}s" -q --json "$res/churn-pktgen-$i.json" > /dev/null 2> "$cdir/pktgen.err"
  rc=$?
  set -e
  # pktgen exits 3 when it saw loss or mismatches: that is a result, not a failure of the suite.
  if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    echo "suite.sh: pktgen failed (rc $rc)" >&2; cat "$cdir/pktgen.err" >&2; exit 1
  fi
  python3 - "$cdir/run/dataplane.sock" > "$res/churn-upf-$i.json" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1]); s.sendall(b"workers\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
w = json.loads(d)
print(json.dumps({"rx_missed": sum(p.get("rx_missed", 0) for x in w for p in x.get("ports", []))}))
PY
  if ! wait "$smf"; then
    echo "suite.sh: smfsim (churn) failed" >&2; cat "$cdir/smfsim.err" >&2; exit 1
  fi
done
kill "$ctl" "$dp" 2>/dev/null || true
wait "$ctl" "$dp" 2>/dev/null || true
pids=()

t_end=$(date +%s)
printf '{"load_end":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" > "$res/load-end.json"
log "measurements done in $((t_end - t_measure)) s (build included: $((t_end - t_start)) s); writing $out"
python3 perf/suite/report.py --results "$res" --out "$out" --mode "$mode" --runs "$RUNS" \
  --sessions "${SESSION_COUNTS// /,}" \
  --elapsed "$((t_end - t_start))" --measure-elapsed "$((t_end - t_measure))"
log "suite done in $(($(date +%s) - t_start)) s"
