#!/usr/bin/env bash
# The edge-upf lab in one command (README's main job). On a fresh Debian 12
# machine as root it:
#   1. installs what is missing and builds the release binaries;
#   2. creates namespaces for a gNB, an SMF, the UPF, a data network and a
#      MEC app host (scripts/lab/netns.sh has the address plan);
#   3. starts upf-dataplane (AF_PACKET ports), pfcp-ctl and the Mp1 sidecar
#      in the UPF namespace with scripts/configs/lab.toml;
#   4. establishes sessions over N4 with smfsim (the SMF simulator);
#   5. runs pktgen through them, uplink GTP-U and downlink IP at once;
#   6. shows local breakout: a UE flow to 203.0.113.10:7000 goes to the data
#      network, then the MEC app activates its Mp1 traffic rule and the same
#      flow reaches the MEC app, whose answers come back down the UE's tunnel;
#      with its DNS rule active, the UPF answers the UE's DNS query itself;
#   7. deletes the sessions (final usage reports), prints a summary table and
#      tears everything down, also on Ctrl-C or failure.
#
# Environment: LAB_SESSIONS (default 1000), LAB_RATE (pps per direction,
# default 20k), LAB_SECONDS (default 10), LAB_OUT (results, default out/lab),
# LAB_NO_BUILD=1 (use the binaries already in target/release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sessions=${LAB_SESSIONS:-1000}
rate=${LAB_RATE:-20k}
seconds=${LAB_SECONDS:-10}
out=${LAB_OUT:-$root/out/lab}
cfg=$root/scripts/configs/lab.toml
bin=$root/target/release
app=5f3c0000-0000-4000-8000-00000000a001
mp1=http://198.18.8.2:8081/mec_app_support/v1/applications/$app

if [ "$(id -u)" != 0 ]; then
  echo "lab: run as root (network namespaces, AF_PACKET)" >&2
  exit 1
fi

step() { printf '\n== %s\n' "$*"; }
fail() { echo "lab: FAILED: $*" >&2; exit 1; }

step "installing what is missing"
"$root/scripts/install-deps.sh" >/dev/null
if [ "${LAB_NO_BUILD:-}" != 1 ]; then
  step "building release binaries (a few minutes on a fresh machine)"
  cargo build --release --locked -q -p upf-dataplane -p pfcp-ctl -p mec-services \
    -p upf-smfsim -p upf-pktgen -p upfctl
fi

# shellcheck source=lab/netns.sh
. "$root/scripts/lab/netns.sh"
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  lab_down
  rm -rf /run/edge-upf-lab
  if [ $rc -ne 0 ]; then
    echo "lab: logs and results are in $out" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'echo "lab: interrupted" >&2; exit 130' INT TERM

rm -rf "$out" /run/edge-upf-lab /var/lib/edge-upf-lab
mkdir -p "$out"

step "namespaces $LAB-{gnb,smf,upf,dn,mec}"
lab_up
# pktgen owns the gNB and data network addresses during the traffic run
# (it answers ARP itself), so those interfaces start without kernel ones.
ip -n "$(lab_ns gnb)" addr flush dev n3
ip -n "$(lab_ns dn)" addr flush dev n6
ip -n "$(lab_ns mec)" addr add 203.0.113.10/32 dev lo

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "$what did not come up within ${t}s"
    sleep 0.2
  done
}
upfctl() { "$bin/upfctl" --config "$cfg" "$@"; }
# Background processes are started with `$in_X cmd &` (not through a shell
# function) so that $! is the process itself.
in_upf="ip netns exec $(lab_ns upf)"
in_smf="ip netns exec $(lab_ns smf)"
in_mec="ip netns exec $(lab_ns mec)"
in_dn="ip netns exec $(lab_ns dn)"

step "starting upf-dataplane, pfcp-ctl and mec-services in $(lab_ns upf)"
$in_upf "$bin/upf-dataplane" run --config "$cfg" >"$out/dataplane.log" 2>&1 &
pids+=($!)
wait_for 20 "upf-dataplane" upfctl workers
$in_upf "$bin/pfcp-ctl" run --config "$cfg" >"$out/pfcp-ctl.log" 2>&1 &
pids+=($!)
wait_for 20 "pfcp-ctl" upfctl sessions
$in_upf "$bin/mec-services" run --config "$cfg" >"$out/mec-services.log" 2>&1 &
pids+=($!)
wait_for 20 "mec-services" lab_exec mec curl -sf "$mp1/traffic_rules"
upfctl ports

step "smfsim: association and $sessions sessions over N4 (198.18.4.1 -> 198.18.4.2:8805)"
$in_smf "$bin/smfsim" --upf 198.18.4.2:8805 --bind 198.18.4.1:0 -n "$sessions" --rate 5000 \
  --hold 900s --gnb-ip 198.18.3.1 --urr-period 5 -q -o "$out/sessions.json" \
  --json "$out/smfsim.json" >"$out/smfsim.log" 2>&1 &
smf_pid=$!
pids+=($smf_pid)
wait_for 60 "session establishment" test -s "$out/sessions.json"
upfctl status | grep -E '^\s+sessions:' | head -2

step "pktgen: $rate pps each way for ${seconds}s (uplink GTP-U with QFI, downlink IP)"
set +e
"$bin/pktgen" run -s "$out/sessions.json" --n3 "n3@$(lab_ns gnb)" --n6 "n6@$(lab_ns dn)" \
  --n6-peer-ip 198.18.6.2 --rate "$rate" --duration "${seconds}s" --progress 2s \
  --json "$out/pktgen.json" 2>&1 | tee "$out/pktgen.log" | grep -vE '^\s*$' | tail -n 25
pg_rc=${PIPESTATUS[0]}
set -e
[ -s "$out/pktgen.json" ] || fail "pktgen wrote no report (exit $pg_rc; see $out/pktgen.log)"
# The Prometheus endpoints while the sessions are up (checked in the summary).
$in_upf curl -sf http://127.0.0.1:9100/metrics >"$out/metrics-dataplane.txt" || true
$in_upf curl -sf http://127.0.0.1:9101/metrics >"$out/metrics-pfcp.txt" || true

step "local breakout to the MEC app (Mp1 traffic rule) and edge DNS (Mp1 DNS rule)"
# Kernel addresses back for the scapy probes (the UPF resolves them by ARP).
ip -n "$(lab_ns gnb)" addr add 198.18.3.1/24 dev n3
ip -n "$(lab_ns dn)" addr add 198.18.6.1/24 dev n6
probe=(python3 "$root/scripts/lab/mec_probe.py")
$in_mec "${probe[@]}" echo --addr 203.0.113.10 --port 7000 --seconds 60 --out "$out/mec-app.json" &
pids+=($!)
breakout() { # breakout TAG: one probe flow, counted at the DN and at the MEC app
  echo '{"answered": 0}' >"$out/mec-app.json"
  $in_dn "${probe[@]}" count --iface n6 --dst 203.0.113.10 --port 7000 --seconds 4 >"$out/dn-$1.json" &
  local c=$!
  sleep 1
  lab_exec gnb "${probe[@]}" flow --sessions "$out/sessions.json" --iface n3 --dst 203.0.113.10 \
    --port 7000 --count 5 >"$out/flow-$1.json"
  wait $c
  cp "$out/mec-app.json" "$out/mec-$1.json"
}
set_rule() { # set_rule KIND ID STATE
  local body
  body=$(lab_exec mec curl -sf "$mp1/$1/$2") || fail "GET $1/$2"
  body=$(jq -c --arg s "$3" '.state = $s' <<<"$body")
  lab_exec mec curl -sf -X PUT -H 'Content-Type: application/json' -d "$body" "$mp1/$1/$2" >/dev/null ||
    fail "PUT $1/$2 state $3"
}
breakout before
set_rule traffic_rules to-edge-cache ACTIVE
breakout active
set_rule traffic_rules to-edge-cache INACTIVE
breakout after
set_rule dns_rules edge-cache-name ACTIVE
lab_exec gnb "${probe[@]}" dns --sessions "$out/sessions.json" --iface n3 --name cache.edge.lab >"$out/dns.json"
set_rule dns_rules edge-cache-name INACTIVE

step "deleting the sessions (final usage reports) and releasing the association"
kill -TERM "$smf_pid"
for _ in $(seq 1 150); do kill -0 "$smf_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$smf_pid" 2>/dev/null && fail "smfsim did not finish its deletions"
wait "$smf_pid" || true
[ -s "$out/smfsim.json" ] || fail "smfsim wrote no report (see $out/smfsim.log)"

step "summary"
python3 "$root/scripts/lab/summary.py" "$out"
