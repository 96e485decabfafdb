#!/usr/bin/env python3
"""Prints the lab's summary table from the JSON results in OUT and exits
non-zero when a check failed.   usage: summary.py OUT"""
import json
import os
import sys

out = sys.argv[1]


def load(name, default=None):
    p = os.path.join(out, name)
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


smf = load("smfsim.json", {})
pg = load("pktgen.json", {})
rows = []
failures = []


def row(what, value, ok=True, expect=""):
    rows.append((what, value, "ok" if ok else "FAIL " + expect))
    if not ok:
        failures.append(what)


est = smf.get("establishment", {})
lat = est.get("latency", {})
row("sessions established over N4", f'{smf.get("established", 0)} of {smf.get("sessions", 0)}',
    smf.get("established", 0) == smf.get("sessions", -1) and smf.get("sessions", 0) > 0,
    "(all)")
row("establishment rate / latency p50, p99",
    f'{est.get("achieved_rate", 0):,.0f}/s  {lat.get("p50_us", 0):,.0f} us, {lat.get("p99_us", 0):,.0f} us')
for d in pg.get("directions", []):
    tx, rx = d["tx"], d["rx"]
    name = {"ul": "uplink   (gNB -> N3 -> N6)", "dl": "downlink (N6 -> N3 -> gNB)"}.get(d["dir"], d["dir"])
    row(f"{name} packets sent / received", f'{tx["packets"]:,} / {rx["unique"]:,} at {tx["pps"]:,.0f} pps')
    row(f"{name} lost, duplicates, reordered",
        f'{rx["lost"]:,} ({rx["loss_ratio"]:.4%}), {rx["duplicates"]}, {rx["reordered"]}',
        rx["lost"] == 0 and rx["duplicates"] == 0, "(no loss, no duplicates)")
    l = rx.get("latency_ns", {})
    row(f"{name} one-way latency p50/p99/p99.9/max",
        " / ".join(f'{l.get(k, 0) / 1000:,.0f}' for k in ("p50", "p99", "p99_9", "max")) + " us")
row("pktgen checks (TEIDs, UE addresses, QFI)", "no mismatches" if pg.get("ok") else
    "; ".join(pg.get("errors", [])[:3]) or "failed", bool(pg.get("ok")))

for tag, want_dn, want_mec in (("before", 5, 0), ("active", 0, 5), ("after", 5, 0)):
    dn = load(f"dn-{tag}.json", {}).get("received", -1)
    mec = load(f"mec-{tag}.json", {}).get("answered", -1)
    fl = load(f"flow-{tag}.json", {})
    replies = fl.get("replies", -1)
    label = {"before": "flow to 203.0.113.10:7000, no rule",
             "active": "same flow, Mp1 traffic rule ACTIVE",
             "after": "same flow, rule INACTIVE again"}[tag]
    ok = dn == want_dn and mec == want_mec and replies == want_mec
    row(label, f"data network {dn}, MEC app {mec}, replies to the gNB {replies}"
        + (f' (TEID {fl.get("teid")}, QFI {fl.get("reply_qfis")})' if replies > 0 else ""),
        ok, f"(want data network {want_dn}, MEC app {want_mec}, replies {want_mec})")
dns = load("dns.json", {})
ans = dns.get("answers", [])
row("UE DNS query cache.edge.lab, Mp1 DNS rule ACTIVE",
    ", ".join(f'{a["address"]} ttl {a["ttl"]}' for a in ans) or "no answer",
    any(a["address"] == "203.0.113.10" for a in ans), "(want the edge answer 203.0.113.10)")



def metrics(name):
    """Prometheus text exposition -> {(metric, frozenset(labels)): value}."""
    got = {}
    try:
        with open(os.path.join(out, name)) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                key, _, val = line.rpartition(" ")
                metric, _, rest = key.partition("{")
                labels = frozenset(p.strip() for p in rest.rstrip("}").split(",") if p.strip())
                got[(metric, labels)] = float(val)
    except (OSError, ValueError):
        pass
    return got


def msum(m, metric, **want):
    w = {f'{k}="{v}"' for k, v in want.items()}
    vals = [v for (n, l), v in m.items() if n == metric and w <= l]
    return int(sum(vals)) if vals else None


dpm = metrics("metrics-dataplane.txt")
pfm = metrics("metrics-pfcp.txt")
n_est = smf.get("established", 0)
pdrs, urrs = msum(dpm, "upf_rules", kind="pdr"), msum(dpm, "upf_rules", kind="urr")
row("dataplane metrics: sessions, PDRs, URRs installed",
    f"{msum(dpm, 'upf_sessions')}, {pdrs}, {urrs}",
    msum(dpm, "upf_sessions") == n_est and (pdrs or 0) >= 2 * n_est and (urrs or 0) >= n_est > 0,
    "(one session each, at least 2 PDRs and 1 URR per session)")
rx = msum(dpm, "upf_port_rx_packets_total") or 0
tx_all = sum(d["tx"]["packets"] for d in pg.get("directions", []))
cpp = [v for (n, _), v in dpm.items() if n == "upf_worker_cycles_per_packet"]
row("dataplane metrics: packets received, cycles per packet",
    f"{rx:,.0f} received (pktgen sent {tx_all:,}), cycles/packet " + ", ".join(f"{v:,.0f}" for v in cpp),
    rx >= tx_all > 0 and bool(cpp) and all(v > 0 for v in cpp),
    "(every pktgen packet counted; a cycle figure per worker)")
est_rx = msum(pfm, "pfcp_messages_received_total", type="session_establishment_request")
row("pfcp-ctl metrics: establishment requests, sessions",
    f"{est_rx}, {msum(pfm, 'pfcp_sessions')}",
    est_rx is not None and est_rx >= n_est and msum(pfm, "pfcp_sessions") == n_est,
    "(every request counted by type; the sessions up)")

fin = smf.get("usage_final", {})
per = smf.get("usage_periodic", {})
sent = {d["dir"]: d["tx"]["packets"] + d["tx"].get("warmup_packets", 0) for d in pg.get("directions", [])}
# The probes of the breakout and DNS checks travel through session 0 too.
probes_ul = sum(load(f"flow-{t}.json", {}).get("sent", 0) for t in ("before", "active", "after")) + 1
probes_dl = sum(load(f"flow-{t}.json", {}).get("replies", 0) for t in ("before", "active", "after")) \
    + len(dns.get("answers", []))
rep_ul = per.get("ul_packets", 0) + fin.get("ul_packets", 0)
rep_dl = per.get("dl_packets", 0) + fin.get("dl_packets", 0)
want_ul = sent.get("ul", 0) + probes_ul
want_dl = sent.get("dl", 0) + probes_dl
row("packets counted by the URRs (periodic + final reports)",
    f"UL {rep_ul:,}, DL {rep_dl:,} (sent UL {want_ul:,}, DL {want_dl:,} incl. warm-up and probes)",
    rep_ul == want_ul and rep_dl == want_dl, "(exactly what was sent)")
row("sessions deleted; final usage reports", f'{smf.get("deletion", {}).get("accepted", 0)} deleted, '
    f'{fin.get("reports", 0)} final reports',
    fin.get("reports", 0) >= smf.get("established", 1) and smf.get("deletion", {}).get("accepted", 0) == smf.get("established", -1),
    "(every session deleted, one final report each)")
row("N4 causes other than Request accepted", str({k: v for k, v in smf.get("causes", {}).items() if k != "1"} or "none"),
    all(k == "1" for k in smf.get("causes", {})))

w = max(len(r[0]) for r in rows)
v = max(len(r[1]) for r in rows)
print(f'{"what":<{w}}  {"result":<{v}}  check')
print("-" * (w + v + 10))
for r in rows:
    print(f"{r[0]:<{w}}  {r[1]:<{v}}  {r[2]}")
print()
if failures:
    print(f"lab: {len(failures)} check(s) failed: " + "; ".join(failures))
    sys.exit(1)
print("lab: all checks passed")
